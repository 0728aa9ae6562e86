"""Small real catalogues and answers for the storage tests."""

from __future__ import annotations

from vinylprice.answer import Album as AnswerAlbum
from vinylprice.answer import Answer, Candidate
from vinylprice.store import Album, Database

CATALOGUE = [
    ("Fleetwood Mac", "Rumours"),
    ("The Beatles", "Abbey Road"),
    ("Cream", "Goodbye"),
    ("Pink Floyd", "The Dark Side of the Moon"),
]


def add_catalogue(database: Database) -> dict[str, AnswerAlbum]:
    """Add the albums above; returns them by title as answer albums."""
    with database.session() as session:
        rows = [Album(artist=artist, title=title) for artist, title in CATALOGUE]
        session.add_all(rows)
    return {row.title: AnswerAlbum(row.id, row.artist, row.title) for row in rows}


def make_answer(query_id: str, albums: dict[str, AnswerAlbum], decision: str = "matched",
                best: str = "Rumours", runner_up: str = "Goodbye") -> Answer:
    """An answer as the recognizer gives it, ranking `best` over `runner_up`."""
    candidates = [
        Candidate(albums[best], 0.81, reference_image="/refs/a.jpg", cosine=0.81, inliers=40),
        Candidate(albums[runner_up], 0.62, cosine=0.62),
    ]
    return Answer(
        photo="<upload>",
        decision=decision,
        album=albums[best] if decision == "matched" else None,
        confidence=0.81,
        candidates=candidates,
        query_id=query_id,
        build_id="20240520T000000Z-abc123",
        timings_ms={"load": 3.2, "embed": 41.0},
    )
