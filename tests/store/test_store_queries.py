"""The query log on SQLite and PostgreSQL: queries, photos, user keys, feedback, stats, export."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pytest
from sqlalchemy import select
from store_helpers import add_catalogue, make_answer

from vinylprice.learn.export import EXPORT_COLUMNS, export_feedback
from vinylprice.store import Database, Feedback, FeedbackKind, Query, QueryCandidate
from vinylprice.store.queries import (
    QueryLog,
    UnknownQueryError,
    UserKeys,
    feedback_kind,
    photo_suffix,
)


@pytest.fixture
def log(database: Database, tmp_path: Path) -> QueryLog:
    return QueryLog(database, tmp_path / "queries", UserKeys(tmp_path / "user-key.secret"))


@pytest.fixture
def photo(sample_dir: Path) -> bytes:
    return (sample_dir / "origin-image.webp").read_bytes()


def test_a_query_is_recorded_with_photo_candidates_and_hashed_user(
    log: QueryLog, database: Database, photo: bytes
) -> None:
    albums = add_catalogue(database)

    log.record(make_answer("q1", albums), photo, source="bot", user=123456789)

    with database.session() as session:
        row = session.get(Query, "q1")
        candidates = session.scalars(
            select(QueryCandidate).where(QueryCandidate.query_id == "q1")
            .order_by(QueryCandidate.rank)
        ).all()
    digest = hashlib.sha256(photo).hexdigest()
    assert row.photo_sha256 == digest
    assert Path(row.photo_path).name == f"{digest}.webp"
    assert Path(row.photo_path).read_bytes() == photo
    assert row.user_key is not None and "123456789" not in row.user_key
    assert row.user_key == log.user_keys.key(123456789)
    assert row.decision == "matched" and row.album_id == albums["Rumours"].album_id
    assert row.answer["album"]["title"] == "Rumours"
    assert row.timings_ms == {"load": 3.2, "embed": 41.0}
    assert row.build_id == "20240520T000000Z-abc123"
    assert [(c.rank, c.album_id, c.inliers) for c in candidates] == [
        (1, albums["Rumours"].album_id, 40), (2, albums["Goodbye"].album_id, None)
    ]


def test_user_keys_are_stable_and_differ_per_secret(tmp_path: Path) -> None:
    first = UserKeys(tmp_path / "a.secret")
    again = UserKeys(tmp_path / "a.secret")
    other = UserKeys(tmp_path / "b.secret")

    assert first.key(42) == again.key(42)
    assert first.key(42) != first.key(43)
    assert first.key(42) != other.key(42)
    assert (tmp_path / "a.secret").stat().st_mode & 0o077 == 0


def test_an_error_answer_keeps_what_the_user_sent(log: QueryLog, database: Database) -> None:
    answer = make_answer("bad", add_catalogue(database), decision="unknown")
    answer.decision, answer.candidates, answer.error = "error", [], "That file is not an image."

    log.record(answer, b"%PDF-1.4 not a photo", source="bot", user=7)

    row = log.query("bad")
    assert row.decision == "error"
    assert row.photo_sha256 == hashlib.sha256(b"%PDF-1.4 not a photo").hexdigest()
    assert Path(row.photo_path).read_bytes() == b"%PDF-1.4 not a photo"


def test_the_recorded_answer_follows_the_users_latest_verdict(
    log: QueryLog, database: Database
) -> None:
    albums = add_catalogue(database)
    log.record(make_answer("q2", albums, decision="unsure"), None, source="cli")

    assert log.answer("q2").album is None
    assert log.answer("q2").decision == "unsure"

    log.add_feedback("q2", "picked candidate", album_id=albums["Goodbye"].album_id)
    assert log.answer("q2").album == albums["Goodbye"]
    assert log.answer("q2").decision == "matched"

    log.add_feedback("q2", FeedbackKind.GRADE, sleeve_grade="VG+")
    assert log.answer("q2").album == albums["Goodbye"]

    log.add_feedback("q2", "not in catalogue")
    assert log.answer("q2").album is None
    assert [c.album for c in log.answer("q2").candidates] == [albums["Rumours"], albums["Goodbye"]]


def test_feedback_on_an_unknown_query_is_refused(log: QueryLog) -> None:
    with pytest.raises(UnknownQueryError, match="no recorded query with id 'nope'"):
        log.add_feedback("nope", "confirmed")


@pytest.mark.parametrize(
    ("spelled", "kind"),
    [
        ("confirmed", FeedbackKind.CONFIRMED),
        ("picked candidate", FeedbackKind.PICKED),
        ("Typed-Correction", FeedbackKind.TYPED),
        ("not in catalogue", FeedbackKind.NOT_IN_CATALOGUE),
        ("grade given", FeedbackKind.GRADE),
    ],
)
def test_feedback_kinds_may_be_spelled_out(spelled: str, kind: FeedbackKind) -> None:
    assert feedback_kind(spelled) is kind


def test_an_unknown_feedback_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown feedback kind 'liked'; expected one of"):
        feedback_kind("liked")


def test_stats_count_and_judge_from_the_latest_verdict(
    log: QueryLog, database: Database
) -> None:
    albums = add_catalogue(database)
    for query_id in ("right", "wrong", "unjudged", "changed"):
        log.record(make_answer(query_id, albums), None, source="bot", user=1)
    log.record(make_answer("unsure", albums, decision="unsure"), None, source="bot", user=1)

    log.add_feedback("right", "confirmed", album_id=albums["Rumours"].album_id)
    log.add_feedback("wrong", "typed", album_id=albums["Abbey Road"].album_id, text="abbey road")
    log.add_feedback("changed", "confirmed", album_id=albums["Rumours"].album_id)
    log.add_feedback("changed", "not_in_catalogue")
    log.add_feedback("unsure", "picked", album_id=albums["Goodbye"].album_id)
    log.add_feedback("right", "grade", sleeve_grade="NM")

    stats = log.stats()

    assert stats["queries"] == 5
    assert stats["feedback"] == 6
    assert stats["confirmed"] == 2
    assert stats["corrections"] == 3
    assert stats["grades_given"] == 1
    assert stats["judged_answers"] == 3
    assert stats["accuracy"] == pytest.approx(1 / 3, abs=1e-4)


def test_feedback_export_writes_every_row_without_user_keys(
    log: QueryLog, database: Database, photo: bytes
) -> None:
    albums = add_catalogue(database)
    log.record(make_answer("q3", albums), photo, source="bot", user=99)
    log.add_feedback("q3", "typed", album_id=albums["Abbey Road"].album_id,
                     text="it's abbey road, by the beatles")
    log.add_feedback("q3", "grade", sleeve_grade="VG", record_grade="NM")

    output = io.StringIO()
    written = export_feedback(database, output)

    rows = list(csv.DictReader(io.StringIO(output.getvalue())))
    assert written == 2
    assert list(rows[0]) == EXPORT_COLUMNS
    assert rows[0]["kind"] == "typed" and rows[0]["title"] == "Abbey Road"
    assert rows[0]["text"] == "it's abbey road, by the beatles"
    assert rows[0]["query_album_id"] == str(albums["Rumours"].album_id)
    assert rows[1]["kind"] == "grade" and rows[1]["record_grade"] == "NM"
    assert log.user_keys.key(99) not in output.getvalue()
    with database.session() as session:
        assert session.scalar(select(Feedback.text).where(Feedback.kind == "typed"))


@pytest.mark.parametrize(
    ("head", "suffix"),
    [
        (b"\xff\xd8\xff\xe0", ".jpg"),
        (b"\x89PNG\r\n\x1a\n", ".png"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", ".webp"),
        (b"GIF89a", ".gif"),
        (b"hello", ".img"),
    ],
)
def test_photo_suffix_comes_from_the_bytes(head: bytes, suffix: str) -> None:
    assert photo_suffix(head + b"\x00" * 16) == suffix
