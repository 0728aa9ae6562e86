"""`vinylprice finetune`: train an embedding head with a triplet loss on the catalogue's covers."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vinylprice.cli.main import CommandError
from vinylprice.settings import Settings

# Literal here so that `vinylprice --help` does not import TensorFlow; FinetuneConfig checks them.
HEADS = ("attention", "average")
MINING = ("batch_hard", "semi_hard")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    finetune = subparsers.add_parser(
        "finetune",
        help="fine-tune the embedding (a projection head) with a triplet loss on photo-like "
        "views of the catalogue's covers and on confirmed user photos",
    )
    finetune.add_argument("--folder", action="append", type=Path, default=[], metavar="DIR",
                          help="also learn the covers in DIR, one album per image file "
                          "(repeatable)")
    finetune.add_argument("--no-catalogue", action="store_true",
                          help="learn only the --folder covers, not the catalogue's albums")
    finetune.add_argument("--epochs", type=int, help="training epochs (default 10)")
    finetune.add_argument("--augmented-views", type=int, metavar="N",
                          help="photo-like views made of each album (default 1)")
    finetune.add_argument("--head", choices=HEADS,
                          help="pooling of the head: learned attention (default) or average")
    finetune.add_argument("--mining", choices=MINING, help="triplet mining (default batch_hard)")
    finetune.add_argument("--margin", type=float, help="triplet margin (default 0.2)")
    finetune.add_argument("--dimension", type=int,
                          help="length of the fine-tuned vectors (default 512)")
    finetune.add_argument("--tune-from", metavar="LAYER",
                          help="also train the backbone's layers from LAYER on "
                          "(e.g. block_16_expand of mobilenet_v2); default: head only")
    finetune.add_argument("--seed", type=int, help="seed of every random choice (default 0)")
    finetune.add_argument("--name", metavar="VERSION",
                          help="version name of the result (default: ft-<UTC time>)")
    finetune.add_argument("--cache-dir", type=Path, metavar="DIR",
                          help="where view features and checkpoints are kept for resuming "
                          "(default: <home>/cache/finetune)")
    finetune.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    finetune.set_defaults(run=run_finetune, log_level=logging.INFO)


def run_finetune(args: argparse.Namespace, settings: Settings) -> int:
    from vinylprice.embed import Embedder, EmbedderError
    from vinylprice.learn.finetune import FinetuneConfig, collect_albums, finetune
    from vinylprice.store import open_database

    chosen = {
        "seed": args.seed, "epochs": args.epochs, "augmented_views": args.augmented_views,
        "head": args.head, "mining": args.mining, "margin": args.margin,
        "dimension": args.dimension, "split_layer": args.tune_from,
    }
    try:
        config = FinetuneConfig(**{name: value for name, value in chosen.items()
                                   if value is not None})
    except ValueError as error:
        raise CommandError(str(error)) from error

    database = None
    if not args.no_catalogue:
        database = open_database(settings.resolved_database_url)
        database.check_schema()
    try:
        albums = collect_albums(database, args.folder)
    except FileNotFoundError as error:
        raise CommandError(str(error)) from error
    if len(albums) < 2:
        raise CommandError(
            f"Found {len(albums)} albums to learn; need at least 2. Run `vinylprice ingest` "
            "first or pass --folder DIR."
        )

    cache_dir = args.cache_dir or settings.home / "cache" / "finetune"
    try:
        embedder = Embedder(settings.backbone, settings.weights, settings.embed_batch_size)
        report = finetune(albums, embedder, settings.models_dir, cache_dir, config,
                          version=args.name, progress=not args.no_progress)
    except (EmbedderError, ValueError, FileExistsError) as error:
        raise CommandError(str(error)) from error
    print(report.summary())
    print(f"To use it: VINYLPRICE_EMBEDDING_HEAD={report.version} vinylprice rebuild "
          "(and restart bots with the same setting).")
    return 0
