"""Benchmark fine-tuning: CNN shortlist recall on real phone photos, ImageNet vs fine-tuned.

In one run: fine-tune an embedding head (`vinylprice.learn.finetune`, default settings) on the
clean covers of ../shared — SMVS Reference (100), covers_named (106) and covers_discogs
(4,703) — with photo-like augmentation only; the SMVS Canon and Droid phone photos are never
seen in training. Then index Reference + covers_discogs (4,803 covers) and rank every phone
photo against them with the ImageNet embedding (average pooling, as `Embedder` without a head)
and with the fine-tuned one. Recall@K: the photo's own cover is among the K nearest.

    nice .venv/bin/python scripts/benchmark_finetune.py [--compare]

Features are cached under --work (default /tmp/vinylprice-finetune-bench), so a rerun with the
same settings only retrains. --compare also trains the other head and the other mining on the
same views.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from vinylprice.embed import Embedder, l2_normalise
from vinylprice.images import load_image
from vinylprice.learn.finetune import (
    CLEAN,
    FinetuneConfig,
    HeadTrainer,
    collect_albums,
    finetune,
    image_files,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VINYLPRICE_SHARED", ROOT.parent / "shared"))
WEIGHTS = SHARED / "models" / "mobilenet_v2_1.0_224_no_top.weights.h5"
KS = (1, 10, 50)


def recall_at(queries: np.ndarray, index: np.ndarray, truth: np.ndarray) -> dict[int, float]:
    """Share of queries whose true index row ranks within the top K by cosine similarity."""
    similarity = queries @ index.T
    true_score = similarity[np.arange(len(queries)), truth]
    rank = (similarity > true_score[:, None]).sum(axis=1)
    return {k: float(np.mean(rank < k)) for k in KS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/vinylprice-finetune-bench"))
    parser.add_argument("--epochs", type=int, default=FinetuneConfig.epochs)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare", action="store_true",
                        help="also train the other head and the other mining on the same views")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("absl", "tensorflow", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    data = SHARED / "data"
    smvs = data / "smvs_dvd"
    folders = [smvs / "Reference", data / "covers_named", data / "covers_discogs"]
    if not WEIGHTS.is_file() or not all(folder.is_dir() for folder in folders):
        sys.exit(f"Needs {WEIGHTS} and {', '.join(map(str, folders))}.")

    embedder = Embedder("mobilenet_v2", str(WEIGHTS), batch_size=32)
    config = FinetuneConfig(seed=args.seed, epochs=args.epochs)
    albums = collect_albums(None, folders)
    started = time.perf_counter()
    report = finetune(albums, embedder, args.work / "models", args.work / "cache", config,
                      version=f"bench-{int(time.time())}", progress=not args.no_progress)
    finetune_seconds = time.perf_counter() - started
    training_seconds = sum(entry.seconds for entry in report.history)
    print(report.summary())

    views = report.view_set
    catalogue = [str(path) for folder in (folders[0], folders[2]) for path in image_files(folder)]
    row_of_path = {path: row for row, path in enumerate(catalogue)}
    clean = [i for i in np.flatnonzero(views.kinds == CLEAN) if views.paths[i] in row_of_path]
    order = sorted(clean, key=lambda i: row_of_path[views.paths[i]])
    if len(order) != len(catalogue):
        sys.exit(f"Only {len(order)} of {len(catalogue)} catalogue covers have features.")
    index_features = views.features[order]

    cameras = {}
    for camera in ("Canon", "Droid"):
        photos = image_files(smvs / camera)
        truth = np.array([row_of_path[str(smvs / "Reference" / p.name)] for p in photos])
        cameras[camera] = (report.extractor.features_of(photos, camera.lower()), truth, photos)

    def imagenet(features: np.ndarray) -> np.ndarray:
        return l2_normalise(features.astype(np.float32).mean(axis=(1, 2)))

    embeddings = {"ImageNet (average pooling)": imagenet,
                  f"fine-tuned ({config.head}, {config.mining})": report.trainer.transform}
    if args.compare:
        for change in ({"head": "average" if config.head == "attention" else "attention"},
                       {"mining": "semi_hard" if config.mining == "batch_hard" else "batch_hard"}):
            variant = dataclasses.replace(config, **change)
            trainer = HeadTrainer(embedder, variant, progress=not args.no_progress).fit(views)
            embeddings[f"fine-tuned ({variant.head}, {variant.mining})"] = trainer.transform

    check_product_path(report, cameras["Canon"][2][:8], cameras["Canon"][0][:8])

    print(f"\nCNN shortlist recall on SMVS phone photos; index: {len(catalogue)} covers "
          f"(100 SMVS references + {len(catalogue) - 100} Discogs distractors)\n")
    header = "| embedding | " + " | ".join(
        f"{camera} R@{k}" for camera in ("Canon", "Droid", "both") for k in KS) + " |"
    print(header)
    print("|" + "---|" * (1 + 3 * len(KS)))
    for name, embed in embeddings.items():
        index = embed(index_features)
        per_camera = {}
        for camera, (features, truth, _) in cameras.items():
            per_camera[camera] = recall_at(embed(features), index, truth)
        per_camera["both"] = {k: (per_camera["Canon"][k] + per_camera["Droid"][k]) / 2
                              for k in KS}
        cells = [f"{per_camera[camera][k]:.3f}" for camera in ("Canon", "Droid", "both")
                 for k in KS]
        print(f"| {name} | " + " | ".join(cells) + " |")

    extraction = finetune_seconds - training_seconds
    print(f"\nfine-tune: {finetune_seconds / 60:.1f} min in all ({extraction / 60:.1f} min making "
          f"and embedding {len(views)} views, {training_seconds:.0f} s training "
          f"{len(report.history)} epochs); views {report.views}")
    return 0


def check_product_path(report, photos: list[Path],  # type: ignore[no-untyped-def]
                       features: np.ndarray) -> None:
    """`Embedder` as the product loads it, with and without the saved head, must give the
    vectors this benchmark ranks with."""
    images = [load_image(path) for path in photos]
    pairs = (
        (None, l2_normalise(features.astype(np.float32).mean(axis=(1, 2)))),
        (report.path, report.trainer.transform(features)),
    )
    for head, expected in pairs:
        embedder = Embedder("mobilenet_v2", str(WEIGHTS), batch_size=8, head=head)
        difference = float(np.abs(embedder.embed(images) - expected).max())
        print(f"Embedder {embedder.fingerprint} vs benchmark vectors: "
              f"max |difference| {difference:.1e}")

if __name__ == "__main__":
    sys.exit(main())
