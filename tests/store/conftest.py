"""Storage tests run on SQLite and on PostgreSQL.

PostgreSQL needs `VINYLPRICE_TEST_POSTGRES_URL` (a role allowed to create databases, e.g.
`postgresql+psycopg://vinylprice:vinylprice@localhost:5432/vinylprice`); `.ci/run` starts a
server and sets it. Each test gets a fresh, empty database that is dropped afterwards.
"""

from __future__ import annotations

import os
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from vinylprice.store import Database, open_database
from vinylprice.store.db import normalise_url

POSTGRES_URL_VARIABLE = "VINYLPRICE_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]
DROP_ATTEMPTS = 5


def fresh_postgres_url() -> Iterator[str]:
    """Create an empty PostgreSQL database for one test; drop it afterwards."""
    admin_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not admin_url:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_URL_VARIABLE} (set by .ci/run)")

    admin = create_engine(normalise_url(admin_url), poolclass=NullPool,
                          isolation_level="AUTOCOMMIT")
    name = f"vinylprice_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(normalise_url(admin_url)).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        _drop(admin, name)
        admin.dispose()


def _drop(admin: Engine, name: str) -> None:
    # FORCE ends the test's own connections, but the CI role may not end a server process such
    # as an autovacuum worker visiting the new database; those finish within moments.
    for attempt in range(DROP_ATTEMPTS):
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError as error:
            if attempt == DROP_ATTEMPTS - 1:
                warnings.warn(f"test database {name} left behind: {error.orig}", stacklevel=2)
                return
            time.sleep(1.0)


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vinylprice.db'}"
    else:
        yield from fresh_postgres_url()


@pytest.fixture
def empty_database(empty_url: str) -> Iterator[Database]:
    database = open_database(empty_url)
    yield database
    database.dispose()


@pytest.fixture
def database(empty_database: Database) -> Database:
    """A database migrated to the newest schema, once per backend."""
    empty_database.create_schema()
    return empty_database
