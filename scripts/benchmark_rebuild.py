"""Benchmark `rebuild` against the bare batched forward pass of the same backbone, in one run.

Both embed the same image files with the same `Embedder`. The bare pass gets the images
already decoded and resized, and times only `Embedder.embed_batch` over fixed-size batches;
the rebuild times `rebuild_index` end to end: reading the catalogue, decoding, embedding,
writing the build and switching to it. Goal: rebuild ≥ 0.7 × bare images/s.

    nice .venv/bin/python scripts/benchmark_rebuild.py --images 256

Images come from ../shared/data/covers_discogs when present, else the bundled sample photos.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path

import numpy as np

from vinylprice.embed import Embedder
from vinylprice.images import load_image
from vinylprice.rebuild import rebuild_index
from vinylprice.store import Album, Database, ReferenceImage, open_database

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VINYLPRICE_SHARED", ROOT.parent / "shared"))
GOAL = 0.7


def pick_images(count: int) -> list[Path]:
    """`count` image files: Discogs covers if ../shared has them, else the sample repeated."""
    covers = sorted((SHARED / "data" / "covers_discogs").glob("*.jpg"))
    pool = covers or sorted((ROOT / "sample" / "seed_ebay" / "images").iterdir())
    if not pool:
        sys.exit("No images found: need ../shared/data/covers_discogs or sample/seed_ebay/images")
    return list(islice(cycle(pool), count))


def catalogue_of(images: list[Path], home: Path) -> Database:
    """A database whose albums have `images` as reference images, eight images per album."""
    database = open_database(f"sqlite:///{home / 'benchmark.db'}")
    database.create_schema()
    with database.session() as session:
        for start in range(0, len(images), 8):
            album = Album(artist="Benchmark", title=f"Album {start // 8}")
            session.add(album)
            session.flush()
            for number, path in enumerate(images[start:start + 8], start):
                session.add(ReferenceImage(album_id=album.id, sha256=f"{number:064x}",
                                           path=str(path.resolve()), origin="benchmark"))
    return database


def bare_forward_pass(embedder: Embedder, images: list[Path]) -> float:
    """Images/s of `embed_batch` alone over pre-decoded, pre-resized batches."""
    arrays = np.stack([embedder.prepare(load_image(path)) for path in images])
    batches = [arrays[start:start + embedder.batch_size]
               for start in range(0, len(arrays), embedder.batch_size)]
    started = time.perf_counter()
    for batch in batches:
        embedder.embed_batch(batch)
    return len(arrays) / (time.perf_counter() - started)


def full_rebuild(embedder: Embedder, database: Database, builds_dir: Path) -> tuple[float, int]:
    """(images/s of `rebuild_index` end to end, images embedded)."""
    started = time.perf_counter()
    report = rebuild_index(database, embedder, builds_dir, progress=False)
    return report.images / (time.perf_counter() - started), report.images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; best is kept")
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument("--weights", default=None,
                        help="weights file (default: ../shared's MobileNetV2 file, else imagenet)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    shared_weights = SHARED / "models" / "mobilenet_v2_1.0_224_no_top.weights.h5"
    weights = args.weights or (str(shared_weights) if shared_weights.is_file() else "imagenet")
    embedder = Embedder(args.backbone, weights, args.batch_size)
    images = pick_images(args.images)
    print(f"{embedder.fingerprint}, batch {args.batch_size}, {len(images)} images from "
          f"{images[0].parent}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}")

    bare_rates, rebuild_rates = [], []
    with tempfile.TemporaryDirectory(prefix="vinylprice-benchmark-") as home:
        database = catalogue_of(images, Path(home))
        for round_number in range(1, args.rounds + 1):
            bare_rates.append(bare_forward_pass(embedder, images))
            rate, embedded = full_rebuild(embedder, database, Path(home) / "builds")
            rebuild_rates.append(rate)
            print(f"round {round_number}: bare forward pass {bare_rates[-1]:.1f} images/s, "
                  f"rebuild {rate:.1f} images/s ({embedded} embedded)")
        database.dispose()

    bare, rebuild = max(bare_rates), max(rebuild_rates)
    ratio = rebuild / bare
    print(f"\nbest of {args.rounds}: bare forward pass {bare:.1f} images/s "
          f"({1000 / bare:.1f} ms/image), rebuild {rebuild:.1f} images/s "
          f"({1000 / rebuild:.1f} ms/image)")
    verdict = "met" if ratio >= GOAL else "NOT met"
    print(f"rebuild / bare = {ratio:.2f} (goal ≥ {GOAL}): {verdict}")


if __name__ == "__main__":
    main()
