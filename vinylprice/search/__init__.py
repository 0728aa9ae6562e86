"""Shortlist: nearest reference vectors by cosine, and the versioned index builds on disk."""

from vinylprice.search.builds import Build, BuildError, BuildWriter, IndexMismatchError, load_build
from vinylprice.search.exact import ExactIndex, VectorIndex

__all__ = [
    "Build",
    "BuildError",
    "BuildWriter",
    "ExactIndex",
    "IndexMismatchError",
    "VectorIndex",
    "load_build",
]
