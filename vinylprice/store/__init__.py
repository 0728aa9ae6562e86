"""Storage: SQLAlchemy models, the engine and sessions, schema migrations."""

from vinylprice.store.db import Database, open_database, sqlite_file
from vinylprice.store.models import (
    Album,
    Base,
    Feedback,
    FeedbackKind,
    IndexBuild,
    Listing,
    Query,
    QueryCandidate,
    ReferenceImage,
)
from vinylprice.store.schema import SchemaError, check_schema, upgrade_schema

__all__ = [
    "Album",
    "Base",
    "Database",
    "Feedback",
    "FeedbackKind",
    "IndexBuild",
    "Listing",
    "Query",
    "QueryCandidate",
    "ReferenceImage",
    "SchemaError",
    "check_schema",
    "open_database",
    "sqlite_file",
    "upgrade_schema",
]
