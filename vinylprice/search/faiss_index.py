"""FAISS shortlist backend for catalogues too big for exact numpy search.

Small catalogues get an exact flat inner-product index. From `IVF_FROM` vectors on, vectors
are clustered into inverted lists (IVF), stored as 8-bit codes (a quarter of float32), and a
query scans only the `probes` lists nearest to it. The best `RERANK_FACTOR × k` codes found
are then scored again exactly against the float vectors, so the scores returned are true
cosines (the match thresholds stay valid) and only which rows are found is approximate:
`scripts/benchmark_faiss.py` measures recall against exact search. Building the lists takes
minutes for a million vectors, so the trained index is cached beside the build it belongs to
and loaded from there on the next start or reload.
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
from pathlib import Path

import faiss
import numpy as np

from vinylprice.search.exact import no_neighbours, query_matrix, reference_matrix

log = logging.getLogger(__name__)

IVF_FROM = 50_000
TRAINING_POINTS_PER_LIST = 64
RERANK_FACTOR = 2


class FaissIndex:
    """Inner product over unit vectors (cosine) with FAISS; flat when small, IVF-SQ8 when large.

    Keeps a reference to `vectors` (no copy) to re-score the IVF candidates exactly.
    """

    def __init__(
        self,
        vectors: np.ndarray,
        *,
        lists: int | None = None,
        probes: int | None = None,
        cache_dir: Path | None = None,
        seed: int = 0,
    ) -> None:
        vectors = reference_matrix(vectors)
        self.size, self.dimension = vectors.shape
        self.vectors = vectors
        self.lists = lists if lists is not None else default_lists(self.size)
        self.probes = min(probes or default_probes(self.lists), max(self.lists, 1))
        self.seed = seed

        cache = self._cache_path(cache_dir)
        self.index = self._load_cached(cache) if cache else None
        if self.index is None:
            self.index = self._build(vectors)
            if cache:
                _write_atomically(self.index, cache)
        self.set_probes(self.probes)

    def set_probes(self, probes: int) -> None:
        """Scan `probes` lists per query: more is slower and closer to exact."""
        if self.lists:
            self.probes = max(1, min(probes, self.lists))
            faiss.extract_index_ivf(self.index).nprobe = self.probes

    @property
    def kind(self) -> str:
        if not self.lists:
            return "Flat"
        return f"IVF{self.lists},SQ8 nprobe={self.probes}, exact re-rank"

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), each (len(queries), ≤ k), best first; see `ExactIndex.search`."""
        queries = query_matrix(queries, self.dimension)
        k = min(k, self.size)
        if k == 0:
            return no_neighbours(queries)

        if not self.lists:
            scores, rows = self.index.search(queries, k)
            return scores, rows.astype(np.int64)

        _, candidates = self.index.search(queries, min(self.size, RERANK_FACTOR * k))
        scores, rows = self._rerank(queries, candidates.astype(np.int64), k)

        # IVF marks slots it found no vector for with -1; keep the columns every query filled
        # so that callers get real rows only.
        filled = int((rows >= 0).sum(axis=1).min())
        return scores[:, :filled], rows[:, :filled]

    def _rerank(
        self, queries: np.ndarray, candidates: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        found = candidates >= 0
        exact = np.einsum("qd,qcd->qc", queries, self.vectors[np.where(found, candidates, 0)])
        exact = np.where(found, exact, -np.inf).astype(np.float32)
        order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(exact, order, axis=1), np.take_along_axis(candidates, order, 1)

    def _build(self, vectors: np.ndarray) -> faiss.Index:
        started = time.perf_counter()
        if not self.lists:
            index = faiss.IndexFlatIP(self.dimension)
            index.add(vectors)
            return index

        quantizer = faiss.IndexFlatIP(self.dimension)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, self.dimension, self.lists, faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT,
        )
        index.cp.seed = self.seed
        index.train(self._training_sample(vectors))
        index.add(vectors)
        log.info("faiss index %s over %d vectors built in %.1f s",
                 self.kind, self.size, time.perf_counter() - started)
        return index

    def _training_sample(self, vectors: np.ndarray) -> np.ndarray:
        wanted = self.lists * TRAINING_POINTS_PER_LIST
        if self.size <= wanted:
            return vectors
        rows = np.random.default_rng(self.seed).choice(self.size, wanted, replace=False)
        return vectors[np.sort(rows)]

    def _cache_path(self, cache_dir: Path | None) -> Path | None:
        if cache_dir is None or not self.lists:
            return None
        return Path(cache_dir) / f"faiss-ivf{self.lists}-sq8-seed{self.seed}.index"

    def _load_cached(self, path: Path) -> faiss.Index | None:
        if not path.is_file():
            return None
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as error:
            log.warning("faiss cache %s unreadable, training again: %s", path, error)
            return None
        if index.ntotal != self.size or index.d != self.dimension:
            log.warning("faiss cache %s holds %d×%d vectors, expected %d×%d; training again",
                        path, index.ntotal, index.d, self.size, self.dimension)
            return None
        return index


def default_lists(size: int) -> int:
    """Inverted lists for `size` vectors: 0 (flat, exact) below `IVF_FROM`, else ≈ √size."""
    if size < IVF_FROM:
        return 0
    return 2 ** round(math.log2(math.sqrt(size)))


def default_probes(lists: int) -> int:
    """Lists scanned per query: 1/64 of them, at least 8 (see scripts/benchmark_faiss.py)."""
    return max(8, lists // 64) if lists else 0


def _write_atomically(index: faiss.Index, path: Path) -> None:
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        faiss.write_index(index, str(partial))
        os.replace(partial, path)
    except (OSError, RuntimeError) as error:
        partial.unlink(missing_ok=True)
        log.warning("could not cache the faiss index at %s: %s", path, error)
