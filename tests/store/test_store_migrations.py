"""Every migration runs up and down on an empty database; the models match the migrated schema;
the app refuses a schema that is not current."""

from __future__ import annotations

from itertools import pairwise

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from vinylprice.store import Album, Base, Database, SchemaError, check_schema
from vinylprice.store.schema import (
    alembic_config,
    current_revision,
    downgrade_schema,
    head_revision,
    upgrade_schema,
)

ALL_TABLES = {
    "albums", "listings", "reference_images", "index_builds", "queries", "query_candidates",
    "feedback",
}


def revisions_oldest_first() -> list[str]:
    scripts = ScriptDirectory.from_config(alembic_config())
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def tables(database: Database) -> set[str]:
    with database.engine.connect() as connection:
        return set(inspect(connection).get_table_names()) - {"alembic_version"}


def test_the_migration_history_is_one_line_ending_at_head() -> None:
    revisions = revisions_oldest_first()

    assert revisions[0] == "0001"
    assert revisions[-1] == head_revision()
    assert len(set(revisions)) == len(revisions)


def test_each_migration_goes_up_and_down(empty_database: Database) -> None:
    revisions = revisions_oldest_first()
    seen_tables = [tables(empty_database)]

    for revision in revisions:
        assert upgrade_schema(empty_database, revision) == revision
        seen_tables.append(tables(empty_database))

    assert seen_tables[0] == set()
    assert seen_tables[-1] == ALL_TABLES
    assert all(before < after for before, after in pairwise(seen_tables))

    for index in range(len(revisions) - 1, -1, -1):
        target = revisions[index - 1] if index > 0 else "base"
        reached = downgrade_schema(empty_database, target)
        assert reached == (None if target == "base" else target)
        assert tables(empty_database) == seen_tables[index]

    assert upgrade_schema(empty_database) == head_revision()
    assert tables(empty_database) == ALL_TABLES


def test_models_match_the_migrated_schema(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)

    assert differences == []


def test_migrated_schema_enforces_foreign_keys(database: Database) -> None:
    from sqlalchemy.exc import IntegrityError

    from vinylprice.store import Feedback

    with pytest.raises(IntegrityError), database.session() as session:
        session.add(Feedback(query_id="no-such-query", kind="confirmed"))


def test_check_schema_names_the_upgrade_command(empty_database: Database) -> None:
    with pytest.raises(SchemaError, match="has no vinylprice schema yet.*vinylprice db upgrade"):
        check_schema(empty_database)

    upgrade_schema(empty_database, "0001")
    with pytest.raises(SchemaError, match="revision 0001, older.*`vinylprice db upgrade`"):
        check_schema(empty_database)

    upgrade_schema(empty_database)
    check_schema(empty_database)


def test_check_schema_refuses_a_revision_from_a_newer_vinylprice(database: Database) -> None:
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))

    with pytest.raises(SchemaError, match="9999, which this vinylprice does not know"):
        check_schema(database)


def test_upgrade_is_idempotent_and_keeps_data(database: Database) -> None:
    with database.session() as session:
        session.add(Album(artist="Fleetwood Mac", title="Rumours"))

    assert upgrade_schema(database) == head_revision()

    with database.session() as session:
        assert session.scalars(select(Album.title)).all() == ["Rumours"]


def test_a_database_made_before_migrations_is_adopted(empty_database: Database) -> None:
    # Before Alembic, `create_all` made the catalogue tables without a version table.
    catalogue = [Base.metadata.tables[name] for name in ("albums", "listings")]
    Base.metadata.create_all(empty_database.engine, tables=catalogue)
    with empty_database.engine.begin() as connection:
        connection.execute(text("CREATE TABLE reference_images (id INTEGER PRIMARY KEY, "
                                "album_id INTEGER NOT NULL, sha256 VARCHAR(64) NOT NULL, "
                                "path VARCHAR(400) NOT NULL, origin VARCHAR(40) NOT NULL, "
                                "listing_id INTEGER, width INTEGER, height INTEGER, "
                                "created_at TIMESTAMP NOT NULL)"))
    with empty_database.session() as session:
        session.add(Album(artist="Cream", title="Goodbye"))

    upgrade_schema(empty_database)

    assert current_revision(empty_database) == head_revision()
    assert tables(empty_database) == ALL_TABLES
    with empty_database.session() as session:
        assert session.scalars(select(Album.title)).all() == ["Goodbye"]
