"""Exact cosine search with numpy: the default index, exact for any catalogue that fits in RAM."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class VectorIndex(Protocol):
    """Nearest neighbours of unit query vectors among unit reference vectors, by cosine."""

    size: int

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), each of shape (len(queries), min(k, size)), best first."""
        ...


def reference_matrix(vectors: np.ndarray) -> np.ndarray:
    """The reference vectors an index holds, as a C-contiguous float32 (size, dimension) array."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be a 2-D array, got shape {vectors.shape}")
    return vectors


def query_matrix(queries: np.ndarray, dimension: int) -> np.ndarray:
    """One query vector or a 2-D array of them, as C-contiguous float32 rows of `dimension`."""
    queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    if queries.ndim != 2 or queries.shape[1] != dimension:
        raise ValueError(
            f"query vectors have shape {queries.shape}; the index has {dimension} dimensions, "
            f"so expected ({dimension},) or (n, {dimension})"
        )
    return queries


def no_neighbours(queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows) with no columns: what an empty index, or k = 0, finds for `queries`."""
    return (np.zeros((len(queries), 0), dtype=np.float32),
            np.zeros((len(queries), 0), dtype=np.int64))


class ExactIndex:
    """Brute-force inner product over L2-normalised float32 vectors."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = reference_matrix(vectors)
        self.size, self.dimension = self.vectors.shape

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = query_matrix(queries, self.dimension)
        k = min(k, self.size)
        if k == 0:
            return no_neighbours(queries)

        scores = queries @ self.vectors.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        return np.take_along_axis(top_scores, order, axis=1), np.take_along_axis(top, order, axis=1)
