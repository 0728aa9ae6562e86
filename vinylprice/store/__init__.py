"""Storage: SQLAlchemy models, the engine and sessions."""

from vinylprice.store.db import Database, open_database
from vinylprice.store.models import Album, Base, Listing, ReferenceImage

__all__ = ["Album", "Base", "Database", "Listing", "ReferenceImage", "open_database"]
