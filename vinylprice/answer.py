"""The one contract between recognition and its doors: the CLI, the bot and storage.

Recognition produces an `Answer`; the CLI prints it, the bot renders it and storage records
it. Nothing downstream re-runs recognition.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Decision = Literal["matched", "unsure", "unknown", "error"]


@dataclass(frozen=True)
class Album:
    """A catalogue album."""

    album_id: int
    artist: str
    title: str

    @property
    def name(self) -> str:
        return f"{self.artist} – {self.title}" if self.artist else self.title


@dataclass(frozen=True)
class Candidate:
    """One album the photo may show, with the score that ranked it (higher is better)."""

    album: Album
    score: float
    reference_image: str | None = None
    cosine: float | None = None
    inliers: int | None = None


@dataclass(frozen=True)
class Comparable:
    """A sold listing a price rests on."""

    title: str
    price: float
    currency: str
    sleeve_grade: str | None
    record_grade: str | None
    sold_date: str | None


@dataclass(frozen=True)
class Price:
    """A suggested price, its P25–P75 range and the evidence behind it."""

    suggested: float
    low: float
    high: float
    currency: str
    comparables: int
    method: str
    rough: bool = False
    closest: tuple[Comparable, ...] = ()
    note: str | None = None


@dataclass
class Answer:
    """What vinylprice says about one photo."""

    photo: str
    decision: Decision
    album: Album | None = None
    confidence: float = 0.0
    candidates: list[Candidate] = field(default_factory=list)
    price: Price | None = None
    error: str | None = None
    query_id: str | None = None
    build_id: str | None = None
    sleeve_grade: str | None = None
    record_grade: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The public JSON shape printed by `vinylprice identify --json`."""
        price = None
        if self.price is not None:
            price = asdict(self.price)
            price["closest"] = [asdict(c) for c in self.price.closest]
        return {
            "photo": self.photo,
            "album": _album_json(self.album),
            "decision": self.decision,
            "confidence": round(self.confidence, 4),
            "candidates": [
                {**_album_json(c.album), "score": round(c.score, 4)} for c in self.candidates
            ],
            "price": price,
            "error": self.error,
            "query_id": self.query_id,
            "build_id": self.build_id,
            "grades": {"sleeve": self.sleeve_grade, "record": self.record_grade},
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }


def _album_json(album: Album | None) -> dict[str, Any] | None:
    if album is None:
        return None
    return {"album_id": album.album_id, "artist": album.artist, "title": album.title}
