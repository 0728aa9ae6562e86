"""Typed corrections: free text such as "it's Abbey Road by the Beatles" or "Rumours - Fleetwood
Mac" → a catalogue album by fuzzy matching; an album the catalogue lacks is added pending review.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from vinylprice.store import Album, Database

MATCH_THRESHOLD = 85.0
MAX_CORRECTION_CHARS = 300
TITLE_WEIGHT = 0.6

# "No" and "wrong" only count as lead-ins before punctuation: "No Jacket Required" is a title.
_LEAD_INS = re.compile(
    r"^(?:(?:no|wrong)\s*[,!.:;-]+|(?:nope|actually|sorry|i think|i believe|it's|its|it is|"
    r"this is|that's|thats|that is|the (?:album|record|lp) is)\b)[\s,:!.-]*",
    re.IGNORECASE,
)
_BY = re.compile(r"\s+by\s+", re.IGNORECASE)
_DASH = re.compile(r"\s+[-–—:/]\s+|\s*[–—]\s*")
_QUOTES = "\"'“”‘’«»`"
_YEAR = re.compile(r"(?:19|20)\d\d")
_TRAILING_YEAR = re.compile(r"[\s,(\[]+(?:19|20)\d\d[)\]]?$")
_NUMERALS = {"ii", "iii", "iv", "vi", "vii", "viii", "ix"}
_NOISE_WORDS = {"lp", "vinyl", "record", "album", "the", "a", "by", "original", "press"}


class CorrectionError(ValueError):
    """The correction text names no album."""


@dataclass(frozen=True)
class Reading:
    """One way to read a correction: which part is the artist and which the title."""

    artist: str
    title: str


@dataclass(frozen=True)
class Resolution:
    """The album a correction was resolved to."""

    album_id: int
    artist: str
    title: str
    score: float
    created: bool
    pending_review: bool

    @property
    def name(self) -> str:
        return f"{self.artist} – {self.title}" if self.artist else self.title


def clean_correction(text: str) -> str:
    """The correction without lead-ins ("it's", "no,"), quotes and end punctuation."""
    cleaned = " ".join(str(text).replace("’", "'").split())
    previous = None
    while previous != cleaned:
        previous = cleaned
        cleaned = _LEAD_INS.sub("", cleaned).strip().strip(_QUOTES).strip(" .!?,;").strip()
    return cleaned


def read_correction(text: str) -> list[Reading]:
    """The plausible readings of a correction, the likeliest first."""
    cleaned = clean_correction(text)
    if not cleaned:
        raise CorrectionError(
            "The correction names no album; write its title and artist, e.g. "
            "'Rumours by Fleetwood Mac'."
        )
    if len(cleaned) > MAX_CORRECTION_CHARS:
        raise CorrectionError(
            f"The correction is {len(cleaned)} characters long; name the album in at most "
            f"{MAX_CORRECTION_CHARS}."
        )

    by_parts = _BY.split(cleaned)
    if len(by_parts) >= 2:
        title, artist = " by ".join(by_parts[:-1]), by_parts[-1]
        return [Reading(_unquote(artist), _unquote(title))]

    dash_parts = _DASH.split(cleaned, maxsplit=1)
    if len(dash_parts) == 2 and all(part.strip() for part in dash_parts):
        first, second = (_unquote(part) for part in dash_parts)
        return [Reading(first, second), Reading(second, first)]

    return [Reading("", _unquote(cleaned))]


def match_album(
    text: str, albums: Iterable[tuple[int, str, str]], threshold: float = MATCH_THRESHOLD
) -> tuple[int, float] | None:
    """(album id, score 0–100) of the (id, artist, title) album `text` names best, or None."""
    cleaned = clean_correction(text)
    # A trailing year ("Rumours 1977") may be detail or the title itself (Prince – "1999").
    variants = {cleaned, _TRAILING_YEAR.sub("", cleaned).strip() or cleaned}
    readings = [reading for variant in variants for reading in read_correction(variant)]
    wholes = [_normalise(variant) for variant in variants]

    best: tuple[int, float] | None = None
    for album_id, artist, title in albums:
        score = max(
            [_whole_text_score(whole, artist, title) for whole in wholes]
            + [_reading_score(reading, artist, title) for reading in readings]
        )
        if score >= threshold and (best is None or score > best[1]):
            best = (album_id, score)
    return best


def resolve_correction(database: Database, text: str) -> Resolution:
    """The catalogue album `text` names; a new album pending review when there is none."""
    with database.session() as session:
        albums = session.execute(select(Album.id, Album.artist, Album.title)).all()
    found = match_album(text, albums)
    if found is not None:
        with database.session() as session:
            album = session.get(Album, found[0])
            return Resolution(album.id, album.artist, album.title, found[1], False,
                              album.pending_review)

    known_artists = {artist for _, artist, _ in albums if artist}
    return _add_pending_album(database, _likeliest_reading(read_correction(text), known_artists))


def _likeliest_reading(readings: list[Reading], known_artists: set[str]) -> Reading:
    # "Title - Artist" and "Artist - Title" are both common; an artist the catalogue already
    # knows decides, else the Discogs order (artist first) stands.
    def artist_score(reading: Reading) -> float:
        artist = _normalise(reading.artist)
        return max((fuzz.ratio(artist, _normalise(known)) for known in known_artists), default=0)

    best = max(readings, key=artist_score)
    return best if artist_score(best) >= MATCH_THRESHOLD else readings[0]


def _add_pending_album(database: Database, reading: Reading) -> Resolution:
    artist, title = reading.artist[:300], reading.title[:300]
    try:
        with database.session() as session:
            album = Album(artist=artist, title=title, pending_review=True)
            session.add(album)
        return Resolution(album.id, artist, title, 100.0, True, True)
    except IntegrityError:
        # Another worker added the same album a moment ago.
        pass

    with database.session() as session:
        album = session.scalar(
            select(Album).where(
                func.lower(Album.artist) == artist.lower(), func.lower(Album.title) == title.lower()
            )
        )
    if album is None:
        raise CorrectionError(f"could not record the album {artist!r} – {title!r}")
    return Resolution(album.id, album.artist, album.title, 100.0, False, album.pending_review)


def _reading_score(reading: Reading, artist: str, title: str) -> float:
    if _numbers(reading.title) != _numbers(title):
        return 0.0
    title_score = fuzz.ratio(_normalise(reading.title), _normalise(title))
    if not reading.artist:
        return title_score
    artist_score = fuzz.ratio(_normalise(reading.artist), _normalise(artist))
    return TITLE_WEIGHT * title_score + (1 - TITLE_WEIGHT) * artist_score


def _whole_text_score(whole: str, artist: str, title: str) -> float:
    if _numbers(whole) != _numbers(f"{artist} {title}"):
        return 0.0

    # Word order does not matter here: "beatles abbey road" names The Beatles – Abbey Road.
    return max(
        fuzz.token_sort_ratio(whole, _normalise(f"{artist} {title}")),
        fuzz.token_sort_ratio(whole, _normalise(title)),
    )


def _normalise(text: str) -> str:
    words = re.sub(r"[^\w\s]", " ", text.lower().replace("&", " and ")).split()
    return " ".join(word for word in words if word not in _NOISE_WORDS)


def _numbers(text: str) -> set[str]:
    # "Led Zeppelin II" is not "Led Zeppelin III", however alike the letters are; a year
    # ("Rumours 1977") is extra detail, not part of the name.
    return {
        word for word in _normalise(text).split()
        if (word.isdigit() and not _YEAR.fullmatch(word)) or word in _NUMERALS
    }


def _unquote(text: str) -> str:
    return text.strip().strip(_QUOTES).strip(" .!?,;").strip()
