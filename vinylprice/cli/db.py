"""`vinylprice db upgrade` and `vinylprice db status`: the database schema's version."""

from __future__ import annotations

import argparse

from vinylprice.settings import Settings
from vinylprice.store import open_database, sqlite_file


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("db", help="database schema commands")
    actions = parser.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = actions.add_parser("upgrade", help="create or upgrade the database schema")
    upgrade.set_defaults(run=run_upgrade)
    status = actions.add_parser("status", help="show the schema revision and whether it is current")
    status.set_defaults(run=run_status)


def run_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from vinylprice.store.schema import current_revision, upgrade_schema

    database = open_database(settings.resolved_database_url)
    before = current_revision(database)
    after = upgrade_schema(database)
    where = database.engine.url.render_as_string(hide_password=True)
    change = "already current" if before == after else f"upgraded from {before or 'empty'}"
    print(f"database ready: {where} at schema revision {after} ({change})")
    return 0


def run_status(args: argparse.Namespace, settings: Settings) -> int:
    from vinylprice.store.schema import current_revision, head_revision

    # Connecting to SQLite would create an empty file; a status check must not make one.
    file = sqlite_file(settings.resolved_database_url)
    if file is not None and not file.is_file():
        print(f"No database at {file}. Run `vinylprice db upgrade` to create one.")
        return 1

    database = open_database(settings.resolved_database_url)
    current, head = current_revision(database), head_revision()
    where = database.engine.url.render_as_string(hide_password=True)
    print(f"{where}: schema revision {current or 'none'}, this vinylprice needs {head}")
    if current != head:
        print("Run `vinylprice db upgrade`.")
        return 1
    return 0
