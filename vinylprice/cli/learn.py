"""`vinylprice retrain` and `vinylprice feedback export`: learn from what users told us."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vinylprice.cli.main import CommandError
from vinylprice.settings import Settings
from vinylprice.store import Database, open_database


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    retrain = subparsers.add_parser(
        "retrain",
        help="make confirmed and corrected query photos reference images, rebuild the index "
        "and refit pricing",
    )
    retrain.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    retrain.set_defaults(run=run_retrain)

    feedback = subparsers.add_parser("feedback", help="users' feedback on answers")
    actions = feedback.add_subparsers(dest="feedback_command", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="write all feedback as CSV")
    export.add_argument("-o", "--output", metavar="CSV", help="file to write (default: stdout)")
    export.set_defaults(run=run_export)


def run_retrain(args: argparse.Namespace, settings: Settings) -> int:
    from vinylprice.embed import Embedder, EmbedderError
    from vinylprice.learn.retrain import retrain

    database = _open(settings)
    try:
        embedder = Embedder(settings.backbone, settings.weights, settings.embed_batch_size)
        report = retrain(settings, database, embedder, progress=not args.no_progress)
    except (EmbedderError, ValueError) as error:
        raise CommandError(str(error)) from error
    print(report.summary())
    print("Send /reload to running bots (or restart them) to use the new build.")
    return 0


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    from vinylprice.learn.export import export_feedback

    database = _open(settings)
    if args.output is None:
        rows = export_feedback(database, sys.stdout)
    else:
        path = Path(args.output)
        try:
            with path.open("w", newline="", encoding="utf-8") as output:
                rows = export_feedback(database, output)
        except OSError as error:
            raise CommandError(f"cannot write {path}: {error.strerror}") from error
    print(f"{rows} feedback rows exported", file=sys.stderr)
    return 0


def _open(settings: Settings) -> Database:
    database = open_database(settings.resolved_database_url)
    database.check_schema()
    return database
