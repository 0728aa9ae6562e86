"""Parsers for the free-text fields scrapers produce: text, amounts, shipping, dates, ids,
lots."""

from __future__ import annotations

import math
import re
from datetime import datetime

_CURRENCY_PREFIXES = {"US $": "USD", "GBP": "GBP", "EUR": "EUR", "AU $": "AUD", "C $": "CAD"}
_AMOUNT = r"([0-9][0-9,]*(?:\.[0-9]+)?)"
_APPROX_USD = re.compile(r"approx\.?\s*US\s*\$\s*" + _AMOUNT, re.IGNORECASE)
_PREFIXED = re.compile(r"(US \$|GBP|EUR|AU \$|C \$)\s*" + _AMOUNT)
_LOT_PATTERNS = [
    re.compile(r"\blot\s+of\s+(\d+)", re.IGNORECASE),
    re.compile(r"\b(\d+)\s*(?:lp|vinyl|record|album)?s?\s*(?:job\s*)?lot\b", re.IGNORECASE),
    re.compile(r"\blp'?s?\s*x\s*(\d+)\b", re.IGNORECASE),
    re.compile(r"\((\d+)\)\s*lot\b", re.IGNORECASE),
    re.compile(r"\blot\s+(\d+)\s*(?:lp|record|album)s\b", re.IGNORECASE),
]
_LOT_WORDS = re.compile(r"\b(?:job\s*lot|joblot|lot|bundle)\b", re.IGNORECASE)


def parse_text(value: object) -> str | None:
    """Text with the ends stripped; None for a missing, NaN (pandas' empty cell) or blank value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def parse_amount(value: object, allow_zero: bool = True) -> float | None:
    """A finite amount from '1,234.50' or '$12'; None when missing, unreadable or negative.

    With `allow_zero` False, 0 is refused too (an asking price of nothing is no price).
    """
    text = parse_text(value)
    if text is None:
        return None
    try:
        number = float(text.replace(",", "").lstrip("$"))
    except ValueError:
        return None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        return None
    return number


def parse_shipping(text: str | None) -> tuple[float | None, str | None]:
    """Shipping cost and its currency from eBay's free text; (0, None) for free shipping.

    The US-dollar approximation eBay prints for foreign sellers is preferred over the
    seller's own currency. Unknown or missing text gives (None, None).
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None, None
    text = str(text).replace("\xa0", " ").strip()
    if not text:
        return None, None
    if text.lower().startswith("free"):
        return 0.0, None

    approx = _APPROX_USD.search(text)
    if approx:
        return _to_float(approx.group(1)), "USD"
    prefixed = _PREFIXED.search(text)
    if prefixed:
        return _to_float(prefixed.group(2)), _CURRENCY_PREFIXES[prefixed.group(1)]
    return None, None


def parse_sold_date(text: str | None) -> datetime | None:
    """eBay's 'May 06, 2024 16:11:12 PDT' (time zone dropped) or an ISO date; else None."""
    if not text or (isinstance(text, float) and math.isnan(text)):
        return None
    text = str(text).strip()
    for pattern, width in (("%b %d, %Y %H:%M:%S", 21), ("%Y-%m-%d %H:%M:%S", 19), ("%Y-%m-%d", 10)):
        try:
            return datetime.strptime(text[:width], pattern)
        except ValueError:
            continue
    return None


def parse_year(value: object) -> int | None:
    """A four-digit release year between 1900 and 2100, else None."""
    match = re.search(r"\b(19\d\d|20\d\d)\b", str(value)) if value is not None else None
    return int(match.group(1)) if match else None


def normalise_external_id(value: object) -> str | None:
    """Listing ids as text; pandas turns '404946678122' into 404946678122.0."""
    text = parse_text(value)
    if text is not None and re.fullmatch(r"\d+\.0+", text):
        text = text.split(".")[0]
    return text


def lot_size(title: str) -> int:
    """How many records a listing title offers: 1 unless it reads as a lot or bundle.

    A lot whose count is not stated counts as 2; a double album ('2 LP set') is one record.
    """
    for pattern in _LOT_PATTERNS:
        match = pattern.search(title)
        if match and int(match.group(1)) >= 2:
            return int(match.group(1))
    return 2 if _LOT_WORDS.search(title) else 1


def _to_float(text: str) -> float:
    return float(text.replace(",", ""))
