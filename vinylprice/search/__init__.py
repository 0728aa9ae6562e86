"""Shortlist: nearest reference vectors by cosine, and the versioned index builds on disk."""

from pathlib import Path

import numpy as np

from vinylprice.search.builds import Build, BuildError, BuildWriter, IndexMismatchError, load_build
from vinylprice.search.exact import ExactIndex, VectorIndex

INDEX_BACKENDS = ("exact", "faiss")


def make_index(vectors: np.ndarray, backend: str = "exact",
               cache_dir: Path | None = None) -> VectorIndex:
    """The vector index named by `settings.index_backend`; FAISS caches its lists in cache_dir."""
    if backend == "exact":
        return ExactIndex(vectors)
    if backend == "faiss":
        from vinylprice.search.faiss_index import FaissIndex

        return FaissIndex(vectors, cache_dir=cache_dir)
    raise ValueError(
        f"Unknown index backend {backend!r}; expected one of {', '.join(INDEX_BACKENDS)} "
        "(VINYLPRICE_INDEX_BACKEND)."
    )


__all__ = [
    "INDEX_BACKENDS",
    "Build",
    "BuildError",
    "BuildWriter",
    "ExactIndex",
    "IndexMismatchError",
    "VectorIndex",
    "load_build",
    "make_index",
]
