"""`vinylprice ingest` and `vinylprice rebuild`: fill the catalogue and build its index."""

from __future__ import annotations

import argparse

from vinylprice.cli.main import CommandError
from vinylprice.settings import Settings
from vinylprice.store import open_database


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    ingest = subparsers.add_parser(
        "ingest", help="read eBay JSON/CSV exports or a manifest CSV into the catalogue"
    )
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="files to read, in order")
    ingest.add_argument("--images", metavar="DIR", help="folder holding the listed image files")
    ingest.add_argument("--albums", metavar="CSV",
                        help="album map (keyword, label, artist, title); default albums.csv "
                        "beside each input")
    ingest.set_defaults(run=run_ingest)

    rebuild = subparsers.add_parser("rebuild", help="embed reference images into a new index")
    rebuild.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    rebuild.set_defaults(run=run_rebuild)


def run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from vinylprice.catalog.ingest import IngestError, ingest_file

    database = _open(settings)
    for path in args.paths:
        try:
            report = ingest_file(database, path, settings.reference_dir, args.images, args.albums)
        except IngestError as error:
            raise CommandError(str(error)) from error
        print(report.summary())
    return 0


def run_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from vinylprice.embed import EmbedderError, embedder_from_settings
    from vinylprice.rebuild import rebuild_index

    database = _open(settings)
    try:
        embedder = embedder_from_settings(settings)
        report = rebuild_index(database, embedder, settings.builds_dir,
                               progress=not args.no_progress)
    except (EmbedderError, ValueError) as error:
        raise CommandError(str(error)) from error
    print(report.summary())
    return 0


def _open(settings: Settings):  # type: ignore[no-untyped-def]
    database = open_database(settings.resolved_database_url)
    database.check_schema()
    return database
