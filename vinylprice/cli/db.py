"""`vinylprice db upgrade`: create or upgrade the database schema."""

from __future__ import annotations

import argparse

from vinylprice.settings import Settings
from vinylprice.store import open_database


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("db", help="database schema commands")
    actions = parser.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = actions.add_parser("upgrade", help="create or upgrade the database schema")
    upgrade.set_defaults(run=run_upgrade)


def run_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings.resolved_database_url)
    database.create_schema()
    print(f"database ready: {database.engine.url.render_as_string(hide_password=True)}")
    return 0
