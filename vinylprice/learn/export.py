"""Feedback export: one CSV row per piece of feedback, with the query it is about, for
offline training and review. No user keys are exported."""

from __future__ import annotations

import csv
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import aliased

from vinylprice.store import Album, Database, Feedback, Query

EXPORT_COLUMNS = [
    "feedback_id",
    "created_at",
    "query_id",
    "kind",
    "album_id",
    "artist",
    "title",
    "album_pending_review",
    "text",
    "sleeve_grade",
    "record_grade",
    "query_created_at",
    "query_source",
    "query_decision",
    "query_album_id",
    "query_confidence",
    "query_build_id",
    "photo_sha256",
    "photo_path",
]


def export_feedback(database: Database, output: TextIO) -> int:
    """Write every feedback row as CSV to `output`, oldest first; returns the row count."""
    chosen = aliased(Album)
    statement = (
        select(Feedback, Query, chosen)
        .join(Query, Feedback.query_id == Query.id)
        .outerjoin(chosen, Feedback.album_id == chosen.id)
        .order_by(Feedback.id)
    )
    writer = csv.writer(output)
    writer.writerow(EXPORT_COLUMNS)
    rows = 0
    with database.session() as session:
        for feedback, query, album in session.execute(statement).yield_per(1000):
            writer.writerow([
                feedback.id,
                feedback.created_at.isoformat(),
                query.id,
                feedback.kind,
                feedback.album_id,
                album.artist if album else None,
                album.title if album else None,
                album.pending_review if album else None,
                feedback.text,
                feedback.sleeve_grade,
                feedback.record_grade,
                query.created_at.isoformat(),
                query.source,
                query.decision,
                query.album_id,
                round(query.confidence, 4),
                query.build_id,
                query.photo_sha256,
                query.photo_path,
            ])
            rows += 1
    return rows
