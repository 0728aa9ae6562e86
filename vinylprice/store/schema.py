"""Schema versions: Alembic migrations in `migrations/`, applied and checked from code.

`vinylprice db upgrade` calls `upgrade_schema`; the recognizer and the CLI commands call
`check_schema` and refuse to run against a database that is behind (or ahead of) the code.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect

from vinylprice.store.db import Database

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# Databases made with `create_all` before migrations existed hold exactly this revision.
FIRST_REVISION = "0001"


class SchemaError(RuntimeError):
    """The database schema does not match this version of vinylprice."""


def alembic_config(database: Database | None = None) -> Config:
    """An Alembic configuration pointing at `migrations/` (and at `database` when given)."""
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise SchemaError(
            f"The migrations folder {MIGRATIONS_DIR} is missing; install vinylprice from its "
            "source tree (pip install -e .) so that `migrations/` sits beside the package."
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database is not None:
        url = database.engine.url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest migration this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise SchemaError(f"No migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(database: Database) -> str | None:
    """The migration the database is at; None for a database Alembic has never touched."""
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_schema(database: Database, revision: str = "head") -> str | None:
    """Create or upgrade the schema to `revision`; returns the revision reached."""
    config = alembic_config(database)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        if _made_before_migrations(connection):
            log.info("database predates migrations; marking it as revision %s", FIRST_REVISION)
            command.stamp(config, FIRST_REVISION)
        command.upgrade(config, revision)
    return current_revision(database)


def downgrade_schema(database: Database, revision: str) -> str | None:
    """Undo migrations down to `revision` ('base' removes every table)."""
    config = alembic_config(database)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
    return current_revision(database)


def check_schema(database: Database) -> None:
    """Raise SchemaError, naming the fix, unless the database is at this code's revision."""
    current, head = current_revision(database), head_revision()
    if current == head:
        return

    where = database.engine.url.render_as_string(hide_password=True)
    if current is None:
        raise SchemaError(f"The database {where} has no vinylprice schema yet. "
                          "Run `vinylprice db upgrade`.")
    if _is_known(current):
        raise SchemaError(f"The database {where} is at schema revision {current}, older than "
                          f"this vinylprice's {head}. Run `vinylprice db upgrade`.")
    raise SchemaError(
        f"The database {where} is at schema revision {current}, which this vinylprice does not "
        f"know (it expects {head}): a newer vinylprice has upgraded it. Run that version; "
        "`vinylprice db upgrade` only moves a schema forward."
    )


def _made_before_migrations(connection) -> bool:  # type: ignore[no-untyped-def]
    tables = set(inspect(connection).get_table_names())
    return "albums" in tables and "alembic_version" not in tables


def _is_known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False
