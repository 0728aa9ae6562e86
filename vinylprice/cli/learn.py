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
    review = actions.add_parser("review", help="list albums users named that await review")
    review.set_defaults(run=run_review)
    approve = actions.add_parser(
        "approve", help="accept a pending album into the catalogue (indexed at the next retrain)"
    )
    approve.add_argument("album_id", type=int, metavar="ALBUM_ID")
    approve.add_argument("--artist", help="correct the artist before approving")
    approve.add_argument("--title", help="correct the title before approving")
    approve.set_defaults(run=run_approve)


def run_retrain(args: argparse.Namespace, settings: Settings) -> int:
    from vinylprice.embed import EmbedderError, embedder_from_settings
    from vinylprice.learn.retrain import retrain

    database = _open(settings)
    try:
        embedder = embedder_from_settings(settings)
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


def run_review(args: argparse.Namespace, settings: Settings) -> int:
    from vinylprice.learn.review import pending_albums

    pending = pending_albums(_open(settings))
    for album in pending:
        said = "; ".join(f"“{text}”" for text in album.corrections[:3]) or "no text"
        print(f"{album.album_id:>6}  {album.name}  ({len(album.corrections)} corrections: {said})")
    print(f"{len(pending)} albums pending review; accept one with "
          "`vinylprice feedback approve ALBUM_ID [--artist A] [--title T]`", file=sys.stderr)
    return 0


def run_approve(args: argparse.Namespace, settings: Settings) -> int:
    from vinylprice.learn.review import approve_album

    try:
        album = approve_album(_open(settings), args.album_id, args.artist, args.title)
    except ValueError as error:
        raise CommandError(str(error)) from error
    print(f"approved album {album.id}: {album.name}; run `vinylprice retrain` to index its photos")
    return 0


def _open(settings: Settings) -> Database:
    database = open_database(settings.resolved_database_url)
    database.check_schema()
    return database
