"""Exact cosine search and index builds on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vinylprice.embed import l2_normalise
from vinylprice.search import BuildError, BuildWriter, ExactIndex, IndexMismatchError, load_build


def random_unit_vectors(count: int, dimension: int = 16, seed: int = 0) -> np.ndarray:
    return l2_normalise(np.random.default_rng(seed).normal(size=(count, dimension)))


def test_exact_search_matches_brute_force() -> None:
    references = random_unit_vectors(200)
    queries = random_unit_vectors(5, seed=1)

    scores, rows = ExactIndex(references).search(queries, 10)

    expected = np.argsort(-(queries @ references.T), axis=1)[:, :10]
    assert (rows == expected).all()
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_a_reference_finds_itself_first() -> None:
    references = random_unit_vectors(50)

    scores, rows = ExactIndex(references).search(references[7], 3)

    assert rows[0, 0] == 7
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_k_larger_than_index_returns_all() -> None:
    scores, rows = ExactIndex(random_unit_vectors(4)).search(random_unit_vectors(1), 10)

    assert rows.shape == (1, 4)


def test_dimension_mismatch_is_explained() -> None:
    with pytest.raises(ValueError, match="dimensions"):
        ExactIndex(random_unit_vectors(4, 16)).search(random_unit_vectors(1, 8), 2)


def test_queries_of_more_than_two_axes_are_refused() -> None:
    queries = random_unit_vectors(6, 16).reshape(2, 3, 16)

    with pytest.raises(ValueError, match=r"expected \(16,\) or \(n, 16\)"):
        ExactIndex(random_unit_vectors(4, 16)).search(queries, 2)


def test_an_empty_index_finds_nothing() -> None:
    scores, rows = ExactIndex(np.zeros((0, 16))).search(random_unit_vectors(3), 5)

    assert scores.shape == rows.shape == (3, 0)
    assert (scores.dtype, rows.dtype) == (np.float32, np.int64)


def write_build(builds: Path, fingerprint: str, count: int = 3) -> str:
    with BuildWriter(builds) as writer:
        writer.save_vectors(random_unit_vectors(count),
                            [{"reference_id": i, "album_id": i, "path": f"{i}.jpg"}
                             for i in range(count)])
        return writer.commit({"embedder": fingerprint})


def test_build_is_written_and_loaded(tmp_path: Path) -> None:
    build_id = write_build(tmp_path, "mobilenet_v2:abc")

    build = load_build(tmp_path, "mobilenet_v2:abc")

    assert build.build_id == build_id
    assert build.vectors.shape == (3, 16)
    assert build.entries[2]["album_id"] == 2


def test_new_build_is_written_beside_the_old_and_switched(tmp_path: Path) -> None:
    first = write_build(tmp_path, "m:1")
    second = write_build(tmp_path, "m:1", count=5)

    assert (tmp_path / first).is_dir() and (tmp_path / second).is_dir()
    assert load_build(tmp_path).build_id == second
    assert not list(tmp_path.glob(".*partial"))


def test_failed_build_leaves_the_current_one(tmp_path: Path) -> None:
    first = write_build(tmp_path, "m:1")

    with pytest.raises(RuntimeError), BuildWriter(tmp_path) as writer:
        writer.save_vectors(random_unit_vectors(2), [{"album_id": 1}, {"album_id": 2}])
        raise RuntimeError("crash mid-build")

    assert load_build(tmp_path).build_id == first
    assert not list(tmp_path.glob(".*partial"))


def test_index_built_with_other_weights_is_refused(tmp_path: Path) -> None:
    write_build(tmp_path, "mobilenet_v2:aaaa")

    with pytest.raises(IndexMismatchError, match="vinylprice rebuild"):
        load_build(tmp_path, "mobilenet_v2:bbbb")


def test_missing_build_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="vinylprice rebuild"):
        load_build(tmp_path)
