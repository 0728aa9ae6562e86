"""The learning loop for real: a photo answered wrongly or unsure, a correction stored, retrain,
and the same photo and a second photo of the same jacket come back as the corrected album.

Also: the recognizer records every query, reprices and takes corrections without re-running
recognition, refuses an out-of-date schema, and a crash mid-retrain leaves the previous index
and the database usable.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from vinylprice.answer import Album as AnswerAlbum
from vinylprice.cli.main import main
from vinylprice.learn.retrain import adopt_query_photos, retrain
from vinylprice.search.builds import current_build_id
from vinylprice.service import Recognizer
from vinylprice.settings import Settings
from vinylprice.store import (
    Album,
    Feedback,
    IndexBuild,
    Query,
    ReferenceImage,
    SchemaError,
    open_database,
)
from vinylprice.store.schema import downgrade_schema

pytestmark = pytest.mark.slow

# Phone photos of one DVD cover whose reference is not in the sample catalogue: Canon is the
# photo a user sends first, Droid a second photo of the same jacket taken later.
SMVS_COVER = "048.jpg"


def copy_home(settings: Settings, target: Path) -> Settings:
    """A private copy of a session-wide data home with an empty query log, so a test may
    change it freely and count what it recorded whatever ran before it."""
    shutil.copytree(settings.home, target)
    copy = Settings(home=target, weights=settings.weights, backbone=settings.backbone,
                    _env_file=None)
    database = open_database(copy.resolved_database_url)
    with database.session() as session:
        for table in ("feedback", "query_candidates", "queries"):
            session.execute(text(f"DELETE FROM {table}"))
    database.dispose()
    return copy


@pytest.fixture
def home(sample_catalogue: Settings, tmp_path: Path) -> Settings:
    return copy_home(sample_catalogue, tmp_path / "home")


@pytest.fixture
def small_home(small_sample_catalogue: Settings, tmp_path: Path) -> Settings:
    return copy_home(small_sample_catalogue, tmp_path / "home")


@pytest.fixture
def jacket_photos(shared_dir: Path) -> tuple[Path, Path]:
    folder = shared_dir / "data" / "smvs_dvd"
    first, second = folder / "Canon" / SMVS_COVER, folder / "Droid" / SMVS_COVER
    if not (first.is_file() and second.is_file()):
        pytest.skip(f"needs the SMVS phone photos {first} and {second}")
    return first, second


def test_a_correction_and_retrain_teach_the_recognizer_a_jacket(
    home: Settings, full_embedder, jacket_photos: tuple[Path, Path]  # type: ignore[no-untyped-def]
) -> None:
    first_photo, second_photo = jacket_photos
    database = open_database(home.resolved_database_url)
    recognizer = Recognizer(home, database, full_embedder)
    builds_before = current_build_id(home.builds_dir)

    before = recognizer.identify(first_photo.read_bytes(), source="bot", user_key="chat-1")
    assert before.decision in ("unsure", "unknown") or before.album.title != "Rumours"

    understood = recognizer.correct(before.query_id, kind="typed correction",
                                    text="it's Rumours - Fleetwood Mac")
    assert understood == "Understood as Fleetwood Mac – Rumours."

    report = retrain(home, database, full_embedder, progress=False)
    assert report.adoption.added == 1
    assert report.rebuild.build_id != builds_before
    assert current_build_id(home.builds_dir) == report.rebuild.build_id

    recognizer.reload()
    again = recognizer.identify(first_photo)
    second = recognizer.identify(second_photo)

    assert again.build_id == second.build_id == report.rebuild.build_id
    for answer in (again, second):
        assert answer.decision == "matched", answer.to_json()
        assert (answer.album.artist, answer.album.title) == ("Fleetwood Mac", "Rumours")
        assert answer.price is not None and answer.price.comparables > 0


def test_every_query_is_recorded_with_its_photo_and_a_hashed_user(
    small_home: Settings, small_embedder, sample_dir: Path  # type: ignore[no-untyped-def]
) -> None:
    database = open_database(small_home.resolved_database_url)
    recognizer = Recognizer(small_home, database, small_embedder)
    photo = (sample_dir / "origin-image.webp").read_bytes()

    answer = recognizer.identify(photo, source="bot", user_key="123456789")
    failed = recognizer.identify(b"not an image at all", source="bot", user_key="123456789")

    with database.session() as session:
        row = session.get(Query, answer.query_id)
        error_row = session.get(Query, failed.query_id)
        candidates = len(row.candidates)
    assert row.photo_sha256 == hashlib.sha256(photo).hexdigest()
    assert Path(row.photo_path).parent == small_home.query_dir
    assert Path(row.photo_path).read_bytes() == photo
    assert row.user_key and "123456789" not in row.user_key
    assert row.user_key == error_row.user_key
    assert row.answer == answer.to_json()
    assert row.build_id == recognizer.build_id
    assert "load" in row.timings_ms
    assert candidates == len(answer.candidates)
    assert error_row.decision == "error"
    assert Path(error_row.photo_path).read_bytes() == b"not an image at all"


def test_reprice_prices_the_stored_answer_and_records_the_grades(
    small_home: Settings, small_embedder, sample_dir: Path  # type: ignore[no-untyped-def]
) -> None:
    database = open_database(small_home.resolved_database_url)
    recognizer = Recognizer(small_home, database, small_embedder)
    answer = recognizer.identify(sample_dir / "origin-image.webp")
    rumours = _album_id(database, "Rumours")
    recognizer.correct(answer.query_id, kind="picked", album_id=rumours)

    repriced = recognizer.reprice(answer.query_id, "VG+", None)
    both = recognizer.reprice(answer.query_id, None, "NM")

    assert repriced.query_id == answer.query_id
    assert repriced.album.album_id == rumours and repriced.price is not None
    assert (both.sleeve_grade, both.record_grade) == ("VG+", "NM")
    assert both.price == recognizer.pricer.quote(rumours, "VG+", "NM")
    with database.session() as session:
        grades = session.execute(
            select(Feedback.sleeve_grade, Feedback.record_grade)
            .where(Feedback.query_id == answer.query_id, Feedback.kind == "grade")
            .order_by(Feedback.id)
        ).all()
        queries = session.scalar(select(func.count()).select_from(Query))
    assert [tuple(grade) for grade in grades] == [("VG+", None), ("VG+", "NM")]
    assert queries == 1


def test_corrections_say_what_was_understood_and_stats_judge_them(
    small_home: Settings, small_embedder, sample_dir: Path  # type: ignore[no-untyped-def]
) -> None:
    database = open_database(small_home.resolved_database_url)
    recognizer = Recognizer(small_home, database, small_embedder)
    photo = sample_dir / "origin-image.webp"
    rumours = _album_id(database, "Rumours")
    queries = [recognizer.identify(photo).query_id for _ in range(4)]

    confirmed = recognizer.correct(queries[0], kind="confirmed", album_id=rumours)
    picked = recognizer.correct(queries[1], kind="picked candidate", album_id=rumours)
    new_album = recognizer.correct(queries[2], kind="typed", text="Kind of Blue by Miles Davis")
    absent = recognizer.correct(queries[3], kind="not in catalogue")

    assert confirmed == "Thanks, confirmed as Fleetwood Mac – Rumours."
    assert picked == "Understood as Fleetwood Mac – Rumours."
    assert new_album == ("Understood as Miles Davis – Kind of Blue. It is not in the catalogue "
                         "yet; it has been saved for review.")
    assert absent == "Noted: this record is not in the catalogue yet."

    stats = recognizer.stats()
    assert stats["queries"] == 4
    assert stats["confirmed"] == 1 and stats["corrections"] == 3
    assert stats["albums_pending_review"] == 1
    assert stats["build_id"] == recognizer.build_id == current_build_id(small_home.builds_dir)
    assert stats["index_vectors"] > 0


def test_corrections_that_cannot_be_understood_are_refused(
    small_home: Settings, small_embedder  # type: ignore[no-untyped-def]
) -> None:
    from vinylprice.store.queries import UnknownQueryError

    database = open_database(small_home.resolved_database_url)
    recognizer = Recognizer(small_home, database, small_embedder)
    bad = recognizer.identify(b"garbage").query_id

    with pytest.raises(UnknownQueryError, match="no recorded query"):
        recognizer.correct("missing", kind="confirmed")
    with pytest.raises(ValueError, match="nothing to confirm"):
        recognizer.correct(bad, kind="confirmed")
    with pytest.raises(ValueError, match="needs its album_id"):
        recognizer.correct(bad, kind="picked")
    with pytest.raises(ValueError, match="no album with id 999999"):
        recognizer.correct(bad, kind="picked", album_id=999999)
    with pytest.raises(ValueError, match="unknown feedback kind"):
        recognizer.correct(bad, kind="liked")
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Feedback)) == 0


def test_the_recognizer_refuses_an_out_of_date_schema(
    small_home: Settings, small_embedder  # type: ignore[no-untyped-def]
) -> None:
    database = open_database(small_home.resolved_database_url)
    downgrade_schema(database, "0001")

    with pytest.raises(SchemaError, match="older than.*Run `vinylprice db upgrade`"):
        Recognizer(small_home, database, small_embedder)
    with pytest.raises(SchemaError, match="vinylprice db upgrade"):
        Recognizer.from_settings(small_home)


def test_rebuild_records_the_index_build(small_sample_catalogue: Settings) -> None:
    database = open_database(small_sample_catalogue.resolved_database_url)

    with database.session() as session:
        builds = session.scalars(select(IndexBuild)).all()

    current = current_build_id(small_sample_catalogue.builds_dir)
    recorded = {build.build_id: build for build in builds}
    assert current in recorded
    assert recorded[current].reference_images > 0 and recorded[current].albums > 0
    assert recorded[current].embedder.startswith("mobilenet_0.25:")


def test_a_verdict_changed_after_retrain_withdraws_the_reference(
    small_home: Settings, small_embedder, sample_dir: Path  # type: ignore[no-untyped-def]
) -> None:
    database = open_database(small_home.resolved_database_url)
    recognizer = Recognizer(small_home, database, small_embedder)
    query_id = recognizer.identify(sample_dir / "origin-image.webp").query_id
    recognizer.correct(query_id, kind="typed", text="Goodbye by Cream")

    added = adopt_query_photos(database)
    recognizer.correct(query_id, kind="typed", text="Rumours - Fleetwood Mac")
    moved = adopt_query_photos(database)
    recognizer.correct(query_id, kind="not_in_catalogue")
    withdrawn = adopt_query_photos(database)

    assert (added.added, added.withdrawn) == (1, 0)
    assert (moved.added, moved.withdrawn) == (1, 1)
    assert (withdrawn.added, withdrawn.withdrawn) == (0, 1)
    with database.session() as session:
        left = session.scalar(
            select(func.count()).select_from(ReferenceImage)
            .where(ReferenceImage.query_id == query_id)
        )
    assert left == 0


class CrashingEmbedder:
    """The real embedder, except that its second batch raises as if the process died."""

    batch_size = 4

    def __init__(self, embedder) -> None:  # type: ignore[no-untyped-def]
        self._embedder = embedder
        self._batches = 0

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._embedder, name)

    def embed_batch(self, batch):  # type: ignore[no-untyped-def]
        self._batches += 1
        if self._batches == 2:
            raise MemoryError("simulated crash in the middle of embedding")
        return self._embedder.embed_batch(batch)


def test_a_crash_mid_retrain_leaves_the_previous_index_and_database_usable(
    small_home: Settings, small_embedder, sample_dir: Path  # type: ignore[no-untyped-def]
) -> None:
    database = open_database(small_home.resolved_database_url)
    recognizer = Recognizer(small_home, database, small_embedder)
    answer = recognizer.identify(sample_dir / "origin-image.webp")
    recognizer.correct(answer.query_id, kind="typed", text="Rumours by Fleetwood Mac")
    build_before = current_build_id(small_home.builds_dir)
    folders_before = sorted(path.name for path in small_home.builds_dir.iterdir())

    with pytest.raises(MemoryError, match="simulated crash"):
        retrain(small_home, database, CrashingEmbedder(small_embedder), progress=False)

    assert current_build_id(small_home.builds_dir) == build_before
    assert sorted(path.name for path in small_home.builds_dir.iterdir()) == folders_before
    after_crash = Recognizer(small_home, database, small_embedder)
    again = after_crash.identify(sample_dir / "origin-image.webp")
    assert again.build_id == build_before
    assert [c.album for c in again.candidates] == [c.album for c in answer.candidates]
    assert after_crash.stats()["queries"] == 2

    report = retrain(small_home, database, small_embedder, progress=False)
    assert current_build_id(small_home.builds_dir) == report.rebuild.build_id != build_before


def test_a_killed_retrain_process_leaves_the_previous_index_and_database_usable(
    small_home: Settings, small_embedder, sample_dir: Path  # type: ignore[no-untyped-def]
) -> None:
    database = open_database(small_home.resolved_database_url)
    recognizer = Recognizer(small_home, database, small_embedder)
    answer = recognizer.identify(sample_dir / "origin-image.webp")
    recognizer.correct(answer.query_id, kind="confirmed", album_id=_album_id(database, "Rumours"))
    build_before = current_build_id(small_home.builds_dir)
    environment = {
        **os.environ,
        "VINYLPRICE_HOME": str(small_home.home),
        "VINYLPRICE_WEIGHTS": small_home.weights,
        "VINYLPRICE_BACKBONE": small_home.backbone,
        "VINYLPRICE_EMBED_BATCH_SIZE": "1",
    }

    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from vinylprice.cli import main; sys.exit(main())",
         "retrain"],
        env=environment, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
    )
    _wait_for_output(process, b"embedding:")
    process.send_signal(signal.SIGKILL)
    process.wait()

    assert process.returncode == -signal.SIGKILL
    assert current_build_id(small_home.builds_dir) == build_before
    with database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    after_kill = Recognizer(small_home, database, small_embedder)
    assert after_kill.identify(sample_dir / "origin-image.webp").build_id == build_before


def test_retrain_and_feedback_export_commands(  # type: ignore[no-untyped-def]
    small_home: Settings, small_embedder, sample_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    database = open_database(small_home.resolved_database_url)
    recognizer = Recognizer(small_home, database, small_embedder)
    query_id = recognizer.identify(sample_dir / "origin-image.webp").query_id
    recognizer.correct(query_id, kind="typed", text="Rumours, Fleetwood Mac")
    monkeypatch.setenv("VINYLPRICE_HOME", str(small_home.home))
    monkeypatch.setenv("VINYLPRICE_WEIGHTS", small_home.weights)
    monkeypatch.setenv("VINYLPRICE_BACKBONE", small_home.backbone)
    monkeypatch.delenv("VINYLPRICE_DATABASE_URL", raising=False)

    assert main(["retrain", "--no-progress"]) == 0
    retrained = capsys.readouterr().out
    assert main(["feedback", "export", "--output", str(tmp_path / "feedback.csv")]) == 0

    assert "query photos: +1 reference images" in retrained
    assert current_build_id(small_home.builds_dir) in retrained
    with (tmp_path / "feedback.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["query_id"], row["kind"], row["title"]) for row in rows] == [
        (query_id, "typed", "Rumours")
    ]


def test_an_album_the_catalogue_lacked_is_learned_once_approved(
    small_home: Settings, small_embedder, sample_dir: Path,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    database = open_database(small_home.resolved_database_url)
    recognizer = Recognizer(small_home, database, small_embedder)
    photo = sample_dir / "origin-image.webp"
    query_id = recognizer.identify(photo).query_id
    recognizer.correct(query_id, kind="typed", text="it's Kind of Blue by Miles Davis")
    monkeypatch.setenv("VINYLPRICE_HOME", str(small_home.home))
    monkeypatch.delenv("VINYLPRICE_DATABASE_URL", raising=False)

    while_pending = retrain(small_home, database, small_embedder, progress=False)
    recognizer.reload()
    unreviewed = recognizer.identify(photo)
    assert main(["feedback", "review"]) == 0
    listed = capsys.readouterr().out
    album_id = int(listed.split()[0])
    assert main(["feedback", "approve", str(album_id), "--title", "Kind Of Blue"]) == 0
    assert main(["feedback", "approve", str(album_id)]) == 2
    retrain(small_home, database, small_embedder, progress=False)
    recognizer.reload()
    approved = recognizer.identify(photo)

    assert while_pending.adoption.added == 1
    assert "Kind of Blue" not in {c.album.title for c in unreviewed.candidates}
    assert "Miles Davis – Kind of Blue" in listed and "it's Kind of Blue by Miles Davis" in listed
    assert "is not pending review" in capsys.readouterr().err
    assert approved.candidates[0].album == AnswerAlbum(album_id, "Miles Davis", "Kind Of Blue")


def test_commands_refuse_an_out_of_date_schema(
    small_home: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    downgrade_schema(open_database(small_home.resolved_database_url), "0001")
    monkeypatch.setenv("VINYLPRICE_HOME", str(small_home.home))
    monkeypatch.delenv("VINYLPRICE_DATABASE_URL", raising=False)

    assert main(["feedback", "export"]) == 2
    assert "Run `vinylprice db upgrade`" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    assert "upgraded from 0001" in capsys.readouterr().out
    assert main(["feedback", "export"]) == 0


def _album_id(database, title: str) -> int:  # type: ignore[no-untyped-def]
    with database.session() as session:
        return session.scalar(select(Album.id).where(Album.title == title))


def _wait_for_output(process: subprocess.Popen, marker: bytes) -> None:
    # The progress bar appears when embedding starts; it redraws with \r, not line by line.
    seen = b""
    while marker not in seen:
        chunk = os.read(process.stderr.fileno(), 4096)
        if not chunk:
            process.wait()
            pytest.fail(f"retrain ended before {marker!r}: {seen[-2000:].decode(errors='replace')}")
        seen += chunk
