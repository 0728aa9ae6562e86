"""Concurrent writers lose nothing: 50 threads × 20 feedback rows, on SQLite and PostgreSQL,
with an admin job writing (typed corrections adding albums, query photos adopted) alongside."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select
from store_helpers import add_catalogue, make_answer

from vinylprice.corrections import resolve_correction
from vinylprice.store import Album, Database, Feedback, Query
from vinylprice.store.queries import QueryLog, UserKeys

WRITERS = 50
ROWS_EACH = 20


def test_fifty_writers_lose_no_feedback(database: Database, tmp_path: Path) -> None:
    albums = add_catalogue(database)
    log = QueryLog(database, tmp_path / "queries", UserKeys(tmp_path / "secret"))
    for writer in range(WRITERS):
        log.record(make_answer(f"query-{writer}", albums), None, source="bot", user=writer)
    start = threading.Barrier(WRITERS + 1)
    admin_done = threading.Event()

    def write_feedback(writer: int) -> int:
        start.wait()
        for row in range(ROWS_EACH):
            kind = ("confirmed", "grade", "picked", "not_in_catalogue")[row % 4]
            album_id = albums["Goodbye"].album_id if kind in ("confirmed", "picked") else None
            log.add_feedback(f"query-{writer}", kind, album_id=album_id,
                             text=f"writer {writer} row {row}", sleeve_grade="VG+")
        return ROWS_EACH

    def admin_job() -> None:
        start.wait()
        for number in range(10):
            resolve_correction(database, f"Unheard Album {number} by New Artist")
        admin_done.set()

    with ThreadPoolExecutor(WRITERS + 1) as pool:
        admin = pool.submit(admin_job)
        written = sum(pool.map(write_feedback, range(WRITERS)))
        admin.result()

    with database.session() as session:
        stored = session.scalar(select(func.count()).select_from(Feedback))
        texts = set(session.scalars(select(Feedback.text)))
        per_query = dict(
            session.execute(
                select(Feedback.query_id, func.count()).group_by(Feedback.query_id)
            ).all()
        )
        pending = session.scalar(
            select(func.count()).select_from(Album).where(Album.pending_review.is_(True))
        )
        queries = session.scalar(select(func.count()).select_from(Query))

    assert written == stored == WRITERS * ROWS_EACH == 1000
    assert texts == {f"writer {w} row {r}" for w in range(WRITERS) for r in range(ROWS_EACH)}
    assert set(per_query.values()) == {ROWS_EACH}
    assert admin_done.is_set() and pending == 10
    assert queries == WRITERS


def test_concurrent_corrections_naming_one_new_album_add_it_once(
    database: Database,
) -> None:
    add_catalogue(database)
    start = threading.Barrier(16)

    def correct(_: int) -> int:
        start.wait()
        return resolve_correction(database, "Kind of Blue by Miles Davis").album_id

    with ThreadPoolExecutor(16) as pool:
        album_ids = set(pool.map(correct, range(16)))

    with database.session() as session:
        matching = session.scalars(select(Album).where(Album.title == "Kind of Blue")).all()
    assert len(album_ids) == 1
    assert [(album.id, album.artist, album.pending_review) for album in matching] == [
        (album_ids.pop(), "Miles Davis", True)
    ]
