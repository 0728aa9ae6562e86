"""Admin commands: `download-images`, `plot-embeddings` and `plot-prices`."""

from __future__ import annotations

import argparse
from pathlib import Path

from vinylprice.cli.main import CommandError
from vinylprice.settings import Settings
from vinylprice.store import Database, open_database


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    download = subparsers.add_parser(
        "download-images",
        help="fetch the photos of ingested listings by their image_url and add them as "
        "reference images (proxy from HTTP_PROXY/HTTPS_PROXY)",
    )
    download.add_argument("--dest", metavar="DIR",
                          help="folder for the photos (default: <home>/images/listings)")
    download.add_argument("--concurrency", type=int, default=8, metavar="N",
                          help="parallel requests (default 8)")
    download.add_argument("--retries", type=int, default=3, metavar="N",
                          help="retries after a timeout, dropped connection or 5xx (default 3)")
    download.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS",
                          help="per-request timeout (default 20)")
    download.add_argument("--no-references", action="store_true",
                          help="only download; do not add reference images")
    download.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    download.set_defaults(run=run_download)

    plot = subparsers.add_parser(
        "plot-embeddings",
        help="draw the current index build's embeddings in 2-D, coloured by album (PNG)",
    )
    plot.add_argument("-o", "--output", metavar="PNG",
                      help="file to write (default: <home>/plots/embeddings-<method>.png)")
    plot.add_argument("--method", choices=("pca", "tsne"), default="pca",
                      help="projection (default pca)")
    plot.add_argument("--query", metavar="PHOTO", help="a photo to mark on the map")
    plot.set_defaults(run=run_plot_embeddings)

    prices = subparsers.add_parser(
        "plot-prices",
        help="draw each sold comparable's price against the median of its album's other sales "
        "(leave-one-out, the baseline pricer) as a PNG",
    )
    prices.add_argument("-o", "--output", metavar="PNG",
                        help="file to write (default: <home>/plots/prices-median.png)")
    prices.set_defaults(run=run_plot_prices)


def run_download(args: argparse.Namespace, settings: Settings) -> int:
    from vinylprice.catalog.download import DownloadPolicy, download_images

    if args.concurrency < 1 or args.retries < 0 or args.timeout <= 0:
        raise CommandError("--concurrency must be ≥ 1, --retries ≥ 0 and --timeout > 0")
    database = _open(settings)
    dest = Path(args.dest) if args.dest else settings.home / "images" / "listings"
    policy = DownloadPolicy(concurrency=args.concurrency, retries=args.retries,
                            timeout_s=args.timeout, max_bytes=settings.max_photo_bytes)
    try:
        report = download_images(database, dest,
                                 None if args.no_references else settings.reference_dir,
                                 policy, progress=not args.no_progress)
    except OSError as error:
        raise CommandError(f"cannot write to {dest}: {error.strerror}") from error
    print(report.summary())
    if report.references_added:
        print("Run `vinylprice rebuild` to add the new reference images to the index.")
    return 0 if report.downloaded + report.already_present or not report.listings else 1


def run_plot_embeddings(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from vinylprice.plots import plot_embeddings, project_embeddings
    from vinylprice.search import BuildError, load_build
    from vinylprice.store import Album

    try:
        build = load_build(settings.builds_dir)
    except BuildError as error:
        raise CommandError(str(error)) from error
    database = _open(settings)
    with database.session() as session:
        names = {album.id: album.name for album in session.scalars(select(Album))}

    query, label = (None, None) if not args.query else _embed_query(args.query, build, settings,
                                                                   names)
    album_ids = [int(entry["album_id"]) for entry in build.entries]
    try:
        embedding_map = project_embeddings(build.vectors, album_ids, args.method, query)
    except ValueError as error:
        raise CommandError(str(error)) from error
    output = Path(args.output or settings.home / "plots" / f"embeddings-{args.method}.png")
    plot_embeddings(embedding_map, names, output, title=f"Build {build.build_id}",
                    query_label=label)
    print(f"wrote {output}")
    return 0


def run_plot_prices(args: argparse.Namespace, settings: Settings) -> int:
    from vinylprice.plots import plot_price_predictions

    actual, predicted = _leave_one_out_medians(_open(settings), settings)
    if len(actual) < 2:
        raise CommandError("Need at least 2 albums' worth of sold listings; run `vinylprice "
                           "ingest` with sold listings first.")
    output = Path(args.output or settings.home / "plots" / "prices-median.png")
    plot_price_predictions(actual, predicted, output, settings.currency,
                           title="Median item price of the album's other sales (leave-one-out)")
    print(f"wrote {output} ({len(actual)} sold listings)")
    return 0


def _leave_one_out_medians(database: Database,
                           settings: Settings) -> tuple[list[float], list[float]]:
    """Each comparable sale's item price next to the median of its album's other sales, both
    in the display currency (shipping extra, as quotes are)."""
    import numpy as np

    from vinylprice.pricing import MedianPricer
    from vinylprice.pricing.currency import Rates

    pricer = MedianPricer(settings.currency, Rates.from_settings(settings)).fit(database)
    actual, predicted = [], []
    for album_prices in pricer.item_prices_by_album().values():
        for position, price in enumerate(album_prices):
            others = album_prices[:position] + album_prices[position + 1:]
            if others:
                actual.append(price)
                predicted.append(float(np.median(others)))
    return actual, predicted


def _embed_query(photo: str, build, settings: Settings,  # type: ignore[no-untyped-def]
                 names: dict[int, str]) -> tuple[object, str]:
    from vinylprice.embed import EmbedderError, embedder_from_settings
    from vinylprice.images import ImageError, load_image
    from vinylprice.search import ExactIndex

    try:
        image = load_image(photo, settings.max_photo_bytes, settings.max_photo_pixels)
        embedder = embedder_from_settings(settings)
    except (ImageError, EmbedderError) as error:
        raise CommandError(f"{photo}: {error}") from error
    if embedder.fingerprint != build.fingerprint:
        raise CommandError(
            f"Build {build.build_id} was made with {build.fingerprint}, the configured embedder "
            f"is {embedder.fingerprint}; run `vinylprice rebuild` or set the backbone back."
        )
    vector = embedder.embed([image])[0]
    scores, rows = ExactIndex(build.vectors).search(vector, 1)
    nearest = names.get(int(build.entries[rows[0, 0]]["album_id"]), "?")
    return vector, f"{Path(photo).name}\nnearest: {nearest} ({scores[0, 0]:.2f})"


def _open(settings: Settings) -> Database:
    database = open_database(settings.resolved_database_url)
    database.check_schema()
    return database
