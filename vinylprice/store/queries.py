"""The query log: every photo asked about, the answer given, and what the user told us back.

Photos are kept under the data home by content hash. The requesting chat is stored only as a
keyed hash (`user_key`): the same chat gets the same key, but the key cannot be turned back
into a chat id without the secret kept beside the database.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from vinylprice.answer import Album as AnswerAlbum
from vinylprice.answer import Answer, Candidate
from vinylprice.catalog.ingest import store_image_file
from vinylprice.store.db import Database
from vinylprice.store.models import (
    Album,
    Feedback,
    FeedbackKind,
    Query,
    QueryCandidate,
)

log = logging.getLogger(__name__)

# Kinds the callers may spell out in words ("picked candidate", "not in catalogue").
_KIND_ALIASES = {
    "picked_candidate": FeedbackKind.PICKED,
    "typed_correction": FeedbackKind.TYPED,
    "correction": FeedbackKind.TYPED,
    "grade_given": FeedbackKind.GRADE,
    "grades": FeedbackKind.GRADE,
    "none": FeedbackKind.NOT_IN_CATALOGUE,
    "none_of_these": FeedbackKind.NOT_IN_CATALOGUE,
}
_PHOTO_SIGNATURES = [
    (b"\xff\xd8\xff", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"GIF8", ".gif"),
    (b"BM", ".bmp"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
]


class UnknownQueryError(LookupError):
    """No query with this id was recorded."""


def feedback_kind(kind: str | FeedbackKind) -> FeedbackKind:
    """The FeedbackKind for `kind`, accepting words such as 'picked candidate'."""
    key = str(kind).strip().lower().replace("-", "_").replace(" ", "_")
    try:
        return _KIND_ALIASES.get(key) or FeedbackKind(key)
    except ValueError:
        known = ", ".join(kind.value for kind in FeedbackKind)
        raise ValueError(f"unknown feedback kind {kind!r}; expected one of {known}") from None


def photo_suffix(data: bytes) -> str:
    """The file suffix for image bytes, from their signature ('.img' when unrecognised)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    for signature, suffix in _PHOTO_SIGNATURES:
        if data.startswith(signature):
            return suffix
    return ".img"


class UserKeys:
    """Turns a chat id into a stable keyed hash; the secret lives in a file in the data home."""

    def __init__(self, secret_path: Path) -> None:
        self.secret_path = Path(secret_path)
        self._secret: bytes | None = None

    def key(self, user: object) -> str:
        return hmac.new(self._load_secret(), str(user).encode(), hashlib.sha256).hexdigest()

    def _load_secret(self) -> bytes:
        if self._secret is None:
            self._secret = _read_or_create_secret(self.secret_path)
        return self._secret


class QueryLog:
    """Records queries and feedback in the database and query photos in `photo_dir`."""

    def __init__(self, database: Database, photo_dir: Path, user_keys: UserKeys) -> None:
        self.database = database
        self.photo_dir = Path(photo_dir)
        self.user_keys = user_keys

    def record(
        self,
        answer: Answer,
        photo: bytes | None,
        *,
        source: str,
        user: object | None = None,
    ) -> Query:
        """Store `answer` with its candidates and the bytes the user sent, even unreadable ones."""
        photo_path = photo_sha256 = None
        if photo:
            photo_sha256 = hashlib.sha256(photo).hexdigest()
            photo_path = str(store_image_file(photo, photo_suffix(photo), self.photo_dir))

        row = Query(
            id=answer.query_id,
            source=source[:20],
            user_key=self.user_keys.key(user) if user is not None else None,
            photo_sha256=photo_sha256,
            photo_path=photo_path,
            decision=answer.decision,
            album_id=answer.album.album_id if answer.album else None,
            confidence=float(answer.confidence),
            sleeve_grade=answer.sleeve_grade,
            record_grade=answer.record_grade,
            build_id=answer.build_id,
            answer=answer.to_json(),
            timings_ms={step: round(ms, 2) for step, ms in answer.timings_ms.items()},
        )
        row.candidates = [
            QueryCandidate(
                rank=rank,
                album_id=candidate.album.album_id,
                score=float(candidate.score),
                cosine=_optional_float(candidate.cosine),
                inliers=candidate.inliers,
                reference_image=candidate.reference_image,
            )
            for rank, candidate in enumerate(answer.candidates, start=1)
        ]
        with self.database.session() as session:
            session.add(row)
        return row

    def answer(self, query_id: str) -> Answer:
        """The recorded answer of `query_id`, with the user's named album and latest grades."""
        with self.database.session() as session:
            query = _get_query(session, query_id)
            candidates = [
                Candidate(
                    album=_answer_album(session.get(Album, row.album_id)),
                    score=row.score,
                    reference_image=row.reference_image,
                    cosine=row.cosine,
                    inliers=row.inliers,
                )
                for row in query.candidates
            ]
            verdict = _latest_verdict(query.feedback)
            decision, album_id = query.decision, query.album_id
            if verdict is not None and verdict.kind == FeedbackKind.NOT_IN_CATALOGUE.value:
                decision, album_id = "unknown", None
            elif verdict is not None and verdict.album_id is not None:
                decision, album_id = "matched", verdict.album_id
            album = _answer_album(session.get(Album, album_id)) if album_id is not None else None
            grades = [row for row in query.feedback if row.kind == FeedbackKind.GRADE.value]
            latest_grades = grades[-1] if grades else query

        return Answer(
            photo=query.answer.get("photo", ""),
            decision=decision,
            album=album,
            confidence=query.confidence,
            candidates=candidates,
            error=query.answer.get("error"),
            query_id=query.id,
            build_id=query.build_id,
            sleeve_grade=latest_grades.sleeve_grade,
            record_grade=latest_grades.record_grade,
            timings_ms=dict(query.timings_ms or {}),
        )

    def add_feedback(
        self,
        query_id: str,
        kind: str | FeedbackKind,
        *,
        album_id: int | None = None,
        text: str | None = None,
        sleeve_grade: str | None = None,
        record_grade: str | None = None,
    ) -> Feedback:
        """Store one piece of feedback about `query_id`."""
        row = Feedback(
            query_id=query_id,
            kind=feedback_kind(kind).value,
            album_id=album_id,
            text=text,
            sleeve_grade=sleeve_grade,
            record_grade=record_grade,
        )
        with self.database.session() as session:
            _get_query(session, query_id)
            session.add(row)
        return row

    def query(self, query_id: str) -> Query:
        """The recorded query row (detached), or UnknownQueryError."""
        with self.database.session() as session:
            return _get_query(session, query_id)

    def stats(self) -> dict[str, Any]:
        """Counts of queries and feedback, and accuracy judged by users' verdicts."""
        with self.database.session() as session:
            queries = session.scalar(select(func.count()).select_from(Query)) or 0
            by_kind = dict(
                session.execute(select(Feedback.kind, func.count()).group_by(Feedback.kind)).all()
            )
            pending = session.scalar(
                select(func.count()).select_from(Album).where(Album.pending_review.is_(True))
            ) or 0
            verdicts = session.execute(
                select(Feedback.query_id, Feedback.kind, Feedback.album_id, Query.album_id)
                .join(Query)
                .where(Feedback.kind != FeedbackKind.GRADE.value, Query.album_id.is_not(None))
                .order_by(Feedback.id)
            ).all()

        latest = {row[0]: row for row in verdicts}
        right = sum(
            kind == FeedbackKind.CONFIRMED.value or (album is not None and album == answered)
            for _, kind, album, answered in latest.values()
        )
        corrections = sum(
            by_kind.get(kind.value, 0)
            for kind in (FeedbackKind.PICKED, FeedbackKind.TYPED, FeedbackKind.NOT_IN_CATALOGUE)
        )
        return {
            "queries": queries,
            "feedback": sum(by_kind.values()),
            "confirmed": by_kind.get(FeedbackKind.CONFIRMED.value, 0),
            "corrections": corrections,
            "grades_given": by_kind.get(FeedbackKind.GRADE.value, 0),
            "judged_answers": len(latest),
            "accuracy": round(right / len(latest), 4) if latest else None,
            "albums_pending_review": pending,
        }


def latest_verdicts(database: Database) -> dict[str, Feedback]:
    """The last non-grade feedback of every query that has one, by query id."""
    with database.session() as session:
        rows = session.scalars(
            select(Feedback)
            .where(Feedback.kind != FeedbackKind.GRADE.value)
            .order_by(Feedback.id)
        ).all()
    return {row.query_id: row for row in rows}


def _latest_verdict(feedback: list[Feedback]) -> Feedback | None:
    verdicts = [row for row in feedback if row.kind != FeedbackKind.GRADE.value]
    return verdicts[-1] if verdicts else None


def _get_query(session, query_id: str) -> Query:  # type: ignore[no-untyped-def]
    query = session.get(Query, query_id) if query_id else None
    if query is None:
        raise UnknownQueryError(f"no recorded query with id {query_id!r}")
    return query


def _answer_album(row: Album) -> AnswerAlbum:
    return AnswerAlbum(row.id, row.artist, row.title)


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _read_or_create_secret(path: Path) -> bytes:
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass

    # Written aside and linked into place: when two workers start at once, both end up with
    # the one secret that was linked first, never with a half-written file.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    partial.write_text(secrets.token_hex(32))
    partial.chmod(0o600)
    try:
        os.link(partial, path)
    except FileExistsError:
        pass
    finally:
        partial.unlink()
    return bytes.fromhex(path.read_text().strip())
