"""Alembic environment: migrates the database the app is configured for, or the connection
`vinylprice.store.schema` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from vinylprice.store.db import normalise_url, open_database
from vinylprice.store.models import Base

config = context.config
target_metadata = Base.metadata


def configured_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return normalise_url(url)

    from vinylprice.settings import Settings

    return normalise_url(Settings().resolved_database_url)


def run_on(connection: Connection) -> None:
    # SQLite cannot alter constraints in place; batch mode rebuilds the table instead.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    url = configured_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return

    database = open_database(configured_url())
    with database.engine.begin() as connection:
        run_on(connection)
    database.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
