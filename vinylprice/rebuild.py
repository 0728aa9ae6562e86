"""Rebuild: embed every catalogue reference image, store its local features (SIFT and their
descriptor index, for verification) and switch to the new index build."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from sqlalchemy import Row, select
from tqdm import tqdm

from vinylprice.embed import Embedder
from vinylprice.images import ImageError, load_image
from vinylprice.search import BuildWriter
from vinylprice.store import Album, Database, ReferenceImage
from vinylprice.store.builds import record_index_build
from vinylprice.verify import (
    FEATURES_FOLDER,
    REFERENCE_EXTRACTOR,
    LocalFeatures,
    save_reference_features,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class RebuildReport:
    build_id: str
    images: int
    skipped: int
    albums: int
    seconds: float

    def summary(self) -> str:
        rate = self.images / self.seconds if self.seconds else 0.0
        return (
            f"build {self.build_id}: {self.images} reference images of {self.albums} albums "
            f"embedded in {self.seconds:.1f} s ({rate:.1f} images/s); {self.skipped} skipped"
        )


def rebuild_index(
    database: Database,
    embedder: Embedder,
    builds_dir: Path,
    progress: bool = True,
    decode_workers: int = 2,
) -> RebuildReport:
    """Embed all reference images of non-pending albums into a new build and make it current."""
    started = time.perf_counter()
    with database.session() as session:
        rows = session.execute(
            select(ReferenceImage.id, ReferenceImage.album_id, ReferenceImage.path)
            .join(Album)
            .where(Album.pending_review.is_(False))
            .order_by(ReferenceImage.id)
        ).all()
    if not rows:
        raise ValueError("The catalogue has no reference images; run `vinylprice ingest` first.")

    entries, vectors, local_features, skipped = [], [], [], 0
    bar = tqdm(total=len(rows), desc="embedding", unit="img", disable=not progress)
    with ThreadPoolExecutor(decode_workers) as pool:
        prepared = _prefetch(pool, lambda row: _prepare(embedder, row), rows,
                             ahead=2 * embedder.batch_size)
        for batch in _batches(prepared, embedder.batch_size):
            usable = [item for item in batch if item[1] is not None]
            skipped += len(batch) - len(usable)
            if usable:
                vectors.append(embedder.embed_batch(np.stack([array for _, array, _ in usable])))
                entries.extend(
                    {"reference_id": row.id, "album_id": row.album_id, "path": row.path}
                    for row, _, _ in usable
                )
                local_features.extend(features for _, _, features in usable)
            bar.update(len(batch))
    bar.close()

    with BuildWriter(builds_dir) as writer:
        writer.save_vectors(np.concatenate(vectors), entries)
        features_summary = save_reference_features(
            local_features, writer.path(FEATURES_FOLDER), REFERENCE_EXTRACTOR
        )
        build_id = writer.commit(
            {
                "embedder": embedder.fingerprint,
                "backbone": embedder.spec.name,
                "weights": embedder.weights,
                "dimension": embedder.dimension,
                "reference_images": len(entries),
                "albums": len({entry["album_id"] for entry in entries}),
                "skipped_images": skipped,
                "local_features": features_summary,
            }
        )

    report = RebuildReport(
        build_id, len(entries), skipped, len({e["album_id"] for e in entries}),
        time.perf_counter() - started,
    )
    record_index_build(database, builds_dir / build_id, report.seconds)
    log.info("rebuild %s", report.summary())
    return report


def _prepare(embedder: Embedder, row: Row) -> tuple[Row, np.ndarray | None,
                                                    LocalFeatures | None]:
    # Decoded once: the backbone's input and the local features come from the same image.
    try:
        image = load_image(Path(row.path))
    except ImageError as error:
        log.warning("rebuild: skipping reference %s: %s", row.id, error)
        return row, None, None
    return row, embedder.prepare(image), REFERENCE_EXTRACTOR.extract(image)


def _prefetch(
    pool: ThreadPoolExecutor, function: Callable[[Row], T], rows: Sequence[Row], ahead: int
) -> Iterator[T]:
    """`pool.map` in input order, but decoding at most `ahead` rows before they are used.

    `Executor.map` would decode the whole catalogue as fast as it can and hold every decoded
    image in memory while the slower embedding catches up.
    """
    pending: deque[Future[T]] = deque()
    for row in rows:
        pending.append(pool.submit(function, row))
        if len(pending) > ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _batches(items: Iterator[tuple[Row, np.ndarray | None, LocalFeatures | None]],
             size: int) -> Iterator[list]:
    # _prefetch yields in input order, so rows and arrays stay paired.
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
