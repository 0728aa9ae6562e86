"""Rebuild is atomic and hot: a new build appears beside the old, CURRENT switches in one step,
a failed rebuild changes nothing, and a running recognizer reloads without failing a query."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from vinylprice.embed import Embedder
from vinylprice.rebuild import rebuild_index
from vinylprice.search.builds import CURRENT, current_build_id
from vinylprice.service import Recognizer
from vinylprice.settings import Settings
from vinylprice.store import open_database


@pytest.fixture
def home(small_sample_catalogue: Settings, tmp_path: Path) -> Settings:
    """A private copy of the small sample catalogue's data home, free to rebuild in."""
    copy = tmp_path / "home"
    shutil.copytree(small_sample_catalogue.home, copy)
    return Settings(home=copy, weights=small_sample_catalogue.weights,
                    backbone=small_sample_catalogue.backbone, _env_file=None)


def build_folders(builds_dir: Path) -> list[str]:
    return sorted(path.name for path in builds_dir.iterdir() if path.name != CURRENT)


def test_new_build_is_written_beside_the_old_and_made_current(
    home: Settings, small_embedder: Embedder
) -> None:
    old = current_build_id(home.builds_dir)
    old_vectors = np.load(home.builds_dir / old / "vectors.npy")
    database = open_database(home.resolved_database_url)

    report = rebuild_index(database, small_embedder, home.builds_dir, progress=False)

    assert current_build_id(home.builds_dir) == report.build_id != old
    assert build_folders(home.builds_dir) == sorted([old, report.build_id])
    np.testing.assert_array_equal(np.load(home.builds_dir / old / "vectors.npy"), old_vectors)
    manifest = json.loads((home.builds_dir / report.build_id / "manifest.json").read_text())
    assert manifest["reference_images"] == report.images == len(old_vectors)


def test_readers_only_ever_see_the_old_or_the_new_build(
    home: Settings, small_embedder: Embedder
) -> None:
    old = current_build_id(home.builds_dir)
    database = open_database(home.resolved_database_url)
    seen: set[str | None] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.add(current_build_id(home.builds_dir))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        new = rebuild_index(database, small_embedder, home.builds_dir, progress=False).build_id
    finally:
        stop.set()
        watcher.join()

    assert seen <= {old, new} and old in seen


def test_failure_mid_rebuild_leaves_the_old_build_current(
    home: Settings, small_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = current_build_id(home.builds_dir)
    before = build_folders(home.builds_dir)
    database = open_database(home.resolved_database_url)
    calls = []

    def embed_then_fail(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        if len(calls) == 2:
            raise MemoryError("out of memory in the second batch")
        return np.zeros((len(batch), small_embedder.dimension), np.float32)

    monkeypatch.setattr(small_embedder, "embed_batch", embed_then_fail)
    with pytest.raises(MemoryError):
        rebuild_index(database, small_embedder, home.builds_dir, progress=False)

    assert current_build_id(home.builds_dir) == old
    assert build_folders(home.builds_dir) == before
    assert not list(home.builds_dir.glob(".*"))


def test_failure_while_writing_leaves_the_old_build_current(
    home: Settings, small_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vinylprice.search import BuildWriter

    old = current_build_id(home.builds_dir)
    before = build_folders(home.builds_dir)
    database = open_database(home.resolved_database_url)

    def disk_full(self, vectors, entries) -> None:  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(BuildWriter, "save_vectors", disk_full)
    with pytest.raises(OSError, match="No space left"):
        rebuild_index(database, small_embedder, home.builds_dir, progress=False)

    assert current_build_id(home.builds_dir) == old
    assert build_folders(home.builds_dir) == before
    assert not list(home.builds_dir.glob(".*"))


def test_identify_never_fails_while_the_index_reloads(
    home: Settings, small_embedder: Embedder, sample_dir: Path
) -> None:
    database = open_database(home.resolved_database_url)
    recognizer = Recognizer(home, database, small_embedder)
    photo = (sample_dir / "origin-image.webp").read_bytes()
    expected = recognizer.identify(photo)
    answers, errors = [], []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            try:
                answers.append(recognizer.identify(photo))
            except Exception as error:  # noqa: BLE001 (the test is that nothing is raised)
                errors.append(error)

    askers = [threading.Thread(target=ask) for _ in range(3)]
    for asker in askers:
        asker.start()
    try:
        builds = {expected.build_id}
        for _ in range(3):
            builds.add(rebuild_index(database, small_embedder, home.builds_dir,
                                     progress=False).build_id)
            assert recognizer.reload_if_changed()
            assert recognizer.build_id == current_build_id(home.builds_dir)
            builds.add(recognizer.reload())
    finally:
        stop.set()
        for asker in askers:
            asker.join()

    assert errors == []
    assert len(answers) >= 3
    assert {answer.decision for answer in answers} == {expected.decision}
    assert {answer.candidates[0].album.album_id for answer in answers} == {
        expected.candidates[0].album.album_id
    }
    assert {answer.build_id for answer in answers} <= builds
    assert len(builds) == 4


def test_reload_if_changed_is_a_no_op_until_current_moves(
    home: Settings, small_embedder: Embedder
) -> None:
    database = open_database(home.resolved_database_url)
    recognizer = Recognizer(home, database, small_embedder)
    index = recognizer.index

    assert recognizer.reload_if_changed() is False
    assert recognizer.index is index

    rebuild_index(database, small_embedder, home.builds_dir, progress=False)
    assert recognizer.reload_if_changed() is True
    assert recognizer.index is not index


def test_a_broken_new_build_keeps_the_old_one_answering(
    home: Settings, small_embedder: Embedder, sample_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = open_database(home.resolved_database_url)
    recognizer = Recognizer(home, database, small_embedder)
    old = recognizer.build_id
    broken = home.builds_dir / "20990101T000000Z-broken"
    shutil.copytree(home.builds_dir / old, broken)
    (broken / "vectors.npy").write_bytes(b"not numpy")
    (home.builds_dir / CURRENT).write_text(broken.name)

    with caplog.at_level(logging.ERROR, logger="vinylprice.service"):
        assert recognizer.reload_if_changed() is False
        assert recognizer.reload_if_changed() is False

    assert recognizer.build_id == old
    assert len([r for r in caplog.records if "automatic reload" in r.getMessage()]) == 1
    assert recognizer.identify(sample_dir / "origin-image.webp").decision != "error"


def test_decoding_runs_a_bounded_distance_ahead_of_embedding() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from vinylprice.rebuild import _prefetch

    started, consumed, lead = [], [], []

    def decode(row: int) -> int:
        started.append(row)
        return row * 10

    with ThreadPoolExecutor(2) as pool:
        for value in _prefetch(pool, decode, list(range(200)), ahead=8):
            consumed.append(value)
            lead.append(len(started) - len(consumed))

    assert consumed == [row * 10 for row in range(200)]
    assert max(lead) <= 8
