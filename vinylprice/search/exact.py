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


class ExactIndex:
    """Brute-force inner product over L2-normalised float32 vectors."""

    def __init__(self, vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be a 2-D array, got shape {vectors.shape}")
        self.vectors = vectors
        self.size = len(vectors)
        self.dimension = vectors.shape[1]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if queries.shape[1] != self.dimension:
            raise ValueError(
                f"query vectors have {queries.shape[1]} dimensions, the index has {self.dimension}"
            )
        k = min(k, self.size)
        if k == 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)

        scores = queries @ self.vectors.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        return np.take_along_axis(top_scores, order, axis=1), np.take_along_axis(top, order, axis=1)
