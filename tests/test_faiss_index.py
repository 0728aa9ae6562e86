"""The FAISS backend answers like exact search: same interface, same rows when exhaustive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vinylprice.embed import Embedder
from vinylprice.search import ExactIndex, make_index
from vinylprice.search.faiss_index import FaissIndex, default_lists, default_probes
from vinylprice.settings import Settings


def clustered_vectors(count: int, dimension: int = 64, clusters: int = 40,
                      seed: int = 7) -> np.ndarray:
    centres = np.random.default_rng(7).standard_normal((clusters, dimension)).astype(np.float32)
    rng = np.random.default_rng(seed)
    vectors = centres[rng.integers(0, clusters, count)] + 0.4 * rng.standard_normal(
        (count, dimension)
    ).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_small_catalogue_gets_exact_flat_search() -> None:
    vectors = clustered_vectors(500)
    queries = vectors[:7] + 0.05

    faiss_scores, faiss_rows = FaissIndex(vectors).search(queries, 10)
    exact_scores, exact_rows = ExactIndex(vectors).search(queries, 10)

    assert FaissIndex(vectors).kind == "Flat"
    np.testing.assert_array_equal(faiss_rows, exact_rows)
    np.testing.assert_allclose(faiss_scores, exact_scores, rtol=1e-5, atol=1e-5)


def test_ivf_probing_every_list_matches_exact_search() -> None:
    vectors = clustered_vectors(3000)
    queries = clustered_vectors(20, seed=8)

    index = FaissIndex(vectors, lists=16, probes=16)
    scores, rows = index.search(queries, 25)
    exact_scores, exact_rows = ExactIndex(vectors).search(queries, 25)

    assert index.kind == "IVF16,SQ8 nprobe=16, exact re-rank"
    assert rows.dtype == np.int64 and rows.shape == (20, 25)
    np.testing.assert_allclose(scores, exact_scores, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(rows, exact_rows)


def test_ivf_scores_are_exact_cosines_of_the_rows_found() -> None:
    vectors = clustered_vectors(3000)
    queries = clustered_vectors(10, seed=9)

    scores, rows = FaissIndex(vectors, lists=32, probes=2).search(queries, 10)

    exact = np.einsum("qd,qkd->qk", queries, vectors[rows])
    np.testing.assert_allclose(scores, exact, rtol=1e-5, atol=1e-6)


def test_ivf_with_few_probes_keeps_most_true_neighbours() -> None:
    vectors = clustered_vectors(5000)
    queries = vectors[::250] + 0.02

    _, rows = FaissIndex(vectors, lists=32, probes=4).search(queries, 20)
    _, exact_rows = ExactIndex(vectors).search(queries, 20)

    recall = np.mean([len(set(a) & set(b)) / 20 for a, b in zip(rows, exact_rows, strict=True)])
    assert recall >= 0.9
    assert np.all(np.diff(FaissIndex(vectors, lists=32, probes=4).search(queries, 20)[0]) <= 0)


def test_search_contract_edge_cases() -> None:
    vectors = clustered_vectors(30)
    index = FaissIndex(vectors)

    scores, rows = index.search(vectors[0], 100)
    assert rows.shape == (1, 30) and rows[0, 0] == 0
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-5)

    scores, rows = index.search(vectors[:2], 0)
    assert scores.shape == rows.shape == (2, 0)

    with pytest.raises(ValueError, match="the index has 64"):
        index.search(np.ones((1, 8), np.float32), 5)
    with pytest.raises(ValueError, match="2-D array"):
        FaissIndex(np.ones(5, np.float32))


def test_trained_lists_are_cached_beside_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors = clustered_vectors(2000)
    first = FaissIndex(vectors, lists=8, probes=2, cache_dir=tmp_path)
    cached = list(tmp_path.glob("faiss-ivf8-sq8-*.index"))
    assert len(cached) == 1

    def no_training(self, vectors):  # type: ignore[no-untyped-def]
        raise AssertionError("the cached index should have been loaded")

    monkeypatch.setattr(FaissIndex, "_build", no_training)
    second = FaissIndex(vectors, lists=8, probes=2, cache_dir=tmp_path)

    np.testing.assert_array_equal(second.search(vectors[:5], 10)[1],
                                  first.search(vectors[:5], 10)[1])


def test_stale_cache_of_another_size_is_ignored(tmp_path: Path) -> None:
    FaissIndex(clustered_vectors(2000), lists=8, cache_dir=tmp_path)

    rebuilt = FaissIndex(clustered_vectors(1500), lists=8, cache_dir=tmp_path)

    assert rebuilt.index.ntotal == 1500


def test_defaults_grow_with_the_catalogue() -> None:
    assert default_lists(10_000) == 0
    assert default_lists(1_000_000) == 1024
    assert default_probes(1024) == 16
    assert default_probes(0) == 0


def test_make_index_picks_the_backend_by_name() -> None:
    vectors = clustered_vectors(100)

    assert isinstance(make_index(vectors, "exact"), ExactIndex)
    assert isinstance(make_index(vectors, "faiss"), FaissIndex)
    with pytest.raises(ValueError, match="expected one of exact, faiss"):
        make_index(vectors, "annoy")


def test_recognizer_answers_the_same_with_the_faiss_backend(
    small_sample_catalogue: Settings, small_embedder: Embedder, sample_dir: Path
) -> None:
    from vinylprice.service import Recognizer
    from vinylprice.store import open_database

    database = open_database(small_sample_catalogue.resolved_database_url)
    photo = sample_dir / "origin-image.webp"
    exact = Recognizer(small_sample_catalogue, database, small_embedder).identify(photo)
    faiss_settings = small_sample_catalogue.model_copy(update={"index_backend": "faiss"})
    approximate = Recognizer(faiss_settings, database, small_embedder)

    answer = approximate.identify(photo)

    assert isinstance(approximate.index, FaissIndex)
    assert answer.decision == exact.decision
    assert [c.album.album_id for c in answer.candidates] == [
        c.album.album_id for c in exact.candidates
    ]
