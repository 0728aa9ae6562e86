"""Read Discogs marketplace exports: asking prices with media and sleeve grades.

Asking prices are not sales, so every row becomes a listing of kind 'asking', kept apart from
sold comparables. Rows carry no album of the catalogue; pricing uses them to learn how much
condition moves a price. The export does not state its currency; `currency` says which.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd

from vinylprice.catalog import parsing
from vinylprice.catalog.ingest import IngestError, ListingRecord

DISCOGS_COLUMNS = {"price", "media_condition", "sleeve_condition", "release_page"}
_RELEASE_ID = re.compile(r"/release/(\d+)")
_EXTRA_COLUMNS = [
    "release_format", "number_of_tracks", "rating", "votes", "have", "want", "limited_edition",
    "genre", "label_name", "label_code",
]


def is_discogs_header(columns: set[str]) -> bool:
    """Whether lower-cased CSV column names are those of a Discogs listings export."""
    return DISCOGS_COLUMNS <= columns


def read_discogs_csv(path: Path, currency: str = "USD") -> list[ListingRecord]:
    """One asking-price listing per priced row of a Discogs export at `path`."""
    try:
        frame = pd.read_csv(path, dtype=str)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise IngestError(f"{path}: not a readable Discogs CSV ({error})") from error
    frame.columns = frame.columns.str.strip().str.lower()
    missing = DISCOGS_COLUMNS - set(frame.columns)
    if missing:
        raise IngestError(f"{path}: a Discogs export needs columns {sorted(missing)}")

    records = []
    for row in frame.to_dict("records"):
        price = parsing.parse_amount(row.get("price"), allow_zero=False)
        if price is None:
            continue
        artist, album_title = _clean(row.get("artist")), _clean(row.get("title"))
        release_match = _RELEASE_ID.search(str(row.get("release_page") or ""))
        release_id = release_match.group(1) if release_match else None
        extra = {name: _clean(row.get(name)) for name in _EXTRA_COLUMNS}
        records.append(
            ListingRecord(
                source="discogs",
                external_id=_external_id(release_id, row),
                title=" – ".join(part for part in (artist, album_title) if part),
                price=price,
                currency=currency,
                kind="asking",
                listed_artist=artist,
                sleeve_grade=_clean(row.get("sleeve_condition")),
                record_grade=_clean(row.get("media_condition")),
                year=parsing.parse_year(row.get("year")),
                image_url=_clean(row.get("release_page")),
                extra={"release_id": release_id, **extra},
            )
        )
    return records


def _external_id(release_id: str | None, row: dict[str, object]) -> str:
    # A release is sold by many sellers; the row's own content tells its listings apart, and
    # reading the same export twice gives the same ids.
    content = "\x1f".join(f"{key}={row[key]}" for key in sorted(row))
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]
    return f"{release_id or 'release'}-{digest}"


def _clean(value: object) -> str | None:
    # Discogs pads its fields with runs of spaces and left-to-right marks.
    text = parsing.parse_text(value)
    if text is None:
        return None
    return " ".join(text.replace("\u200e", "").split()) or None
