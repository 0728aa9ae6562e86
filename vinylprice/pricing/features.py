"""Listing features for pricing: load listings, then describe each one as numbers.

Everything here is per listing and needs no other listing; the album-level signal (what the
album's other comparables sold for) is computed inside the model, fold by fold, so that it
never sees the price it is asked to predict.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import select

from vinylprice.catalog import parsing
from vinylprice.pricing.currency import Rates
from vinylprice.pricing.grades import grades_in_title, parse_grade
from vinylprice.store import Database, Listing

LISTING_COLUMNS = [
    "listing_id", "source", "external_id", "kind", "album_id", "title", "price", "currency",
    "shipping", "shipping_text", "sleeve_grade", "record_grade", "year", "sold_date",
    "image_url", "hand_label", "excluded", "excluded_reason", "extra",
]

_FLAGS = re.IGNORECASE
TITLE_HINTS: dict[str, re.Pattern[str]] = {
    "first_press": re.compile(
        r"\b(?:1st|first|ist)\s*(?:uk\s+|us\s+|japanese\s+)?(?:press|pressing|print|ed\b|"
        r"edition|run|issue)", _FLAGS
    ),
    "original": re.compile(r"\b(?:orig|original|originals|og)\b", _FLAGS),
    "reissue": re.compile(
        r"\b(?:re-?issue|re-?press(?:ed)?|remaster(?:ed)?|reprint|2nd\s+(?:press|edition))",
        _FLAGS,
    ),
    "sealed": re.compile(r"\b(?:sealed|shrink|shrinkwrap|unopened)\b", _FLAGS),
    "club_edition": re.compile(
        r"\b(?:club\s+edition|record\s+club|columbia\s+house|music\s+service|crc)\b", _FLAGS
    ),
    "japan": re.compile(r"\b(?:japan|japanese|obi)\b", _FLAGS),
    "uk": re.compile(r"\b(?:uk|u\.k\.|england|british)\b", _FLAGS),
    "other_country": re.compile(
        r"\b(?:german|germany|french|france|holland|dutch|italy|italian|brazil|mexico|mexican|"
        r"canada|canadian|australia|new\s+zealand|eu|europe)\b", _FLAGS
    ),
    "audiophile": re.compile(
        r"\b(?:180\s?g(?:ram|r)?|half\s+speed|mfsl|mobile\s+fidelity|audiophile|super\s?dis[ck]s?|"
        r"quiex|dbx|hot\s+stamper|nautilus)\b", _FLAGS
    ),
    "insert_poster": re.compile(
        r"\b(?:insert|poster|inners?|lyrics?|booklet|obi|hype\s+sticker)\b", _FLAGS
    ),
    "promo": re.compile(r"\b(?:promo|white\s+label|test\s+pressing|dj)\b", _FLAGS),
    "coloured_vinyl": re.compile(
        r"\b(?:picture\s+disc|colou?red|clear|splatter|(?:red|blue|green|gold|white)\s+viny?l?)\b",
        _FLAGS,
    ),
    "mono": re.compile(r"\bmono\b", _FLAGS),
    "rare": re.compile(r"\b(?:rare|misaligned|error|signed|autographed|numbered)\b", _FLAGS),
    "pick_listing": re.compile(
        r"\b(?:you\s+pick|pick\s*(?:&|and)?\s*choose|your\s+choice|pick\s*'?em|each)\b", _FLAGS
    ),
    "single": re.compile(r"\b(?:45\s*rpm|45s?|7\s*(?:\"|”|''|inch))(?!\w)", _FLAGS),
}
# A catalogue number: letters then digits, e.g. 'BSK 3010', 'SO-383', 'AP8815', '2PS 606/7'.
_CATALOGUE_NUMBER = re.compile(
    r"\b(?!LP\b)(?:\d?[A-Z]{1,5}[- ]?\d{3,6}[A-Z]?|[A-Z]{2,5}\s?\d{2}-?\d{3})\b"
)
_YEAR_ONLY = re.compile(r"^[A-Z]{1,3}[- ]?(?:19|20)\d\d$")
_LOCATED_IN = re.compile(r"Located in:\s*(?P<place>[^\n]+)$", _FLAGS)
COUNTRIES = ("United States", "Japan", "United Kingdom", "Canada")

NUMERIC_FEATURES = [
    "sleeve_rank", "record_rank", "shipping_base", "free_shipping",
    "release_year", "sold_day", "lot_size", "not_album", "has_catalogue_number",
    *TITLE_HINTS,
]
CATEGORICAL_FEATURES = ["seller_country", "currency"]
EPOCH = datetime(2024, 1, 1)


def load_listings(database: Database, kind: str = "sold") -> pd.DataFrame:
    """Every listing of `kind` that has a price, one row each, in `LISTING_COLUMNS`."""
    with database.session() as session:
        rows = session.scalars(
            select(Listing).where(Listing.kind == kind, Listing.price.is_not(None))
        ).all()
        records = [{name: getattr(row, _attribute(name)) for name in LISTING_COLUMNS}
                   for row in rows]
    frame = pd.DataFrame.from_records(records, columns=LISTING_COLUMNS)
    frame["excluded"] = frame["excluded"].astype(bool)
    return frame.sort_values("listing_id", kind="stable").reset_index(drop=True)


def describe_listings(frame: pd.DataFrame, rates: Rates) -> pd.DataFrame:
    """The model's inputs for each listing: grades, shipping, dates, title hints, lots."""
    titles = frame["title"].fillna("").astype(str)
    features = pd.DataFrame(index=frame.index)

    # Sellers who leave the grade fields blank often write 'VG+/EX' (record/sleeve) in the title.
    title_grades = titles.map(grades_in_title)
    record_from_title = title_grades.map(lambda found: found[0] if found else np.nan)
    sleeve_from_title = title_grades.map(lambda found: found[-1] if len(found) > 1 else np.nan)
    features["sleeve_rank"] = frame["sleeve_grade"].map(parse_grade).astype(float)
    features["sleeve_rank"] = features["sleeve_rank"].fillna(sleeve_from_title.astype(float))
    features["record_rank"] = frame["record_grade"].map(parse_grade).astype(float)
    features["record_rank"] = features["record_rank"].fillna(record_from_title.astype(float))

    features["shipping_base"] = [
        rates.to_base(float(cost), currency) if _present(cost) and rates.knows(currency)
        else np.nan
        for cost, currency in zip(frame["shipping"], frame["currency"], strict=True)
    ]
    features["free_shipping"] = (features["shipping_base"] == 0).astype(float)
    features["release_year"] = frame["year"].astype(float)
    features["sold_day"] = [_days_since_epoch(value) for value in frame["sold_date"]]

    features["lot_size"] = titles.map(parsing.lot_size).astype(float)
    features["not_album"] = (frame["excluded_reason"] == "not the searched album").astype(float)
    features["has_catalogue_number"] = titles.map(_has_catalogue_number).astype(float)
    for name, pattern in TITLE_HINTS.items():
        features[name] = titles.map(lambda title, p=pattern: bool(p.search(title))).astype(float)

    features["seller_country"] = frame["shipping_text"].map(seller_country)
    features["currency"] = frame["currency"].fillna(rates.base).astype(str).str.upper()
    return features


def price_in_base(frame: pd.DataFrame, rates: Rates) -> pd.Series:
    """Each listing's item price in the base currency (NaN where the currency is unknown)."""
    return pd.Series(
        [rates.to_base(float(price), currency) if rates.knows(currency) else np.nan
         for price, currency in zip(frame["price"], frame["currency"], strict=True)],
        index=frame.index,
    )


def listing_groups(frame: pd.DataFrame) -> pd.Series:
    """A group id per listing: rows that are the same item (same id, same photo, or the same
    title sold at the same price) share one, so evaluation never trains and tests on it."""
    parent = list(range(len(frame)))

    def find(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    keys: dict[tuple[str, str], int] = {}
    rows = list(frame.itertuples(index=False))
    for position, row in enumerate(rows):
        for key in _identity_keys(row):
            if key in keys:
                parent[find(position)] = find(keys[key])
            else:
                keys[key] = position

    # Named after the group's smallest listing key, so ids survive reloading the listings.
    names: dict[int, str] = {}
    for position, row in enumerate(rows):
        root, name = find(position), f"{row.source}:{row.external_id}"
        names[root] = min(names.get(root, name), name)
    return pd.Series([names[find(position)] for position in range(len(rows))], index=frame.index)


def seller_country(shipping_text: object) -> str:
    """The seller's country from eBay's shipping text ('Located in: Town, Region, Country');
    'abroad' when it only says the item ships from outside the US."""
    if not isinstance(shipping_text, str):
        return "unknown"
    text = shipping_text.replace("\xa0", " ").strip()
    match = _LOCATED_IN.search(text)
    if match:
        country = match.group("place").rsplit(",", 1)[-1].strip()
        return country if country in COUNTRIES else "other"
    if text.startswith("GBP"):
        return "United Kingdom"
    return "abroad" if "outside us" in text.lower() else "unknown"


def extra_field(value: object, name: str) -> object:
    """One field of a listing's `extra` JSON, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return json.loads(value).get(name)
    except (json.JSONDecodeError, AttributeError):
        return None


def _identity_keys(row: object) -> list[tuple[str, str]]:
    keys = [("id", f"{row.source}:{row.external_id}")]
    image = _image_key(row.image_url)
    if image:
        keys.append(("image", image))
    if row.title:
        keys.append(("title-price", f"{' '.join(str(row.title).lower().split())}|{row.price}"))
    return keys


def _image_key(url: object) -> str | None:
    # eBay image URLs name the picture in the segment after '/g/'; sizes differ per page.
    if not isinstance(url, str):
        return None
    match = re.search(r"/g/([^/]+)/", url)
    return match.group(1) if match else None


def _has_catalogue_number(title: str) -> bool:
    upper = title.upper()
    return any(not _YEAR_ONLY.match(found) for found in _CATALOGUE_NUMBER.findall(upper))


def _days_since_epoch(value: object) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return np.nan
    timestamp = pd.Timestamp(value)
    return np.nan if pd.isna(timestamp) else float((timestamp - pd.Timestamp(EPOCH)).days)


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _attribute(column: str) -> str:
    return "id" if column == "listing_id" else column
