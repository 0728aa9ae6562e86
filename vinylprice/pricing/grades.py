"""Condition grades: every form scrapers produce, parsed onto one ordinal scale.

The scale follows the Goldmine/Discogs order, Poor (1) to Mint (9); a '+' or '-' moves half a
step and a range such as 'VG~VG+' or 'VG+ to EX' takes the middle. Japanese sellers' 'E'
(excellent) is EX; 'M-' is the usual spelling of NM. Text that names no grade ('See Item
Description', blanks, 'Generic' sleeves) is unknown: None.
"""

from __future__ import annotations

import math
import re

POOR, FAIR, GOOD, GOOD_PLUS, VERY_GOOD, VERY_GOOD_PLUS, EXCELLENT, NEAR_MINT, MINT = (
    1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0
)

GRADE_LABELS: dict[float, str] = {
    POOR: "P",
    FAIR: "F",
    GOOD: "G",
    GOOD_PLUS: "G+",
    VERY_GOOD: "VG",
    VERY_GOOD_PLUS: "VG+",
    EXCELLENT: "EX",
    NEAR_MINT: "NM",
    MINT: "M",
}

_SPELLED = [
    ("VERY GOOD PLUS", VERY_GOOD_PLUS),
    ("VERY GOOD", VERY_GOOD),
    ("GOOD PLUS", GOOD_PLUS),
    ("NEAR MINT", NEAR_MINT),
    ("NMINT", NEAR_MINT),
    ("LIKE NEW", NEAR_MINT),
    ("EXCELLENT", EXCELLENT),
    ("MINT", MINT),
    ("GOOD", GOOD),
    ("FAIR", FAIR),
    ("WORN", FAIR),
    ("POOR", POOR),
]
_ABBREVIATED = {
    "NM": NEAR_MINT,
    "EXC": EXCELLENT,
    "EX": EXCELLENT,
    "VG": VERY_GOOD,
    "M": MINT,
    "E": EXCELLENT,
    "G": GOOD,
    "F": FAIR,
    "P": POOR,
}
_SPELLED_PATTERN = "|".join(re.escape(words).replace(r"\ ", r"\s+") for words, _ in _SPELLED)
_ABBREVIATED_PATTERN = "|".join(sorted(_ABBREVIATED, key=len, reverse=True))
_TOKEN = re.compile(
    rf"(?<![A-Z])(?:(?P<spelled>{_SPELLED_PATTERN})|(?P<abbr>{_ABBREVIATED_PATTERN}))"
    rf"(?P<sign>\s?\+{{1,3}}|-(?![A-Z0-9])|\s(?:PLUS|MINUS)\b)?(?![A-Z])"
)
_RANGE_JOINER = re.compile(r"^\s*(?:~|TO|-)\s*$")
_PARENTHESISED = re.compile(r"\(([^()]*)\)")
_SPELLED_VALUES = {" ".join(words.split()): value for words, value in _SPELLED}
# In free titles single letters and plain words are too ambiguous ('LP G', 'SEALED m', 'Good
# Vibrations'); there only these count, and any abbreviation with a sign ('G+', 'M-').
_TITLE_SAFE_ABBREVIATIONS = {"NM", "EX", "EXC", "VG"}
_TITLE_UNSAFE_WORDS = {"GOOD", "FAIR", "WORN", "POOR"}


def parse_grade(text: object) -> float | None:
    """A condition grade on the 1 (Poor) – 9 (Mint) scale, or None when the text names none."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    normalised = " ".join(str(text).upper().replace("’", "'").split())
    if not normalised:
        return None

    # eBay writes 'Very Good Plus (VG+)'; the code in parentheses is the grade proper.
    for inner in _PARENTHESISED.findall(normalised):
        grade = _first_grade(inner, strict=False)
        if grade is not None:
            return grade
    return _first_grade(normalised, strict=False)


def grades_in_title(title: str) -> list[float]:
    """Grades a seller wrote into a listing title ('VG+/EX', 'NM', 'NEAR MINT'), in order."""
    normalised = " ".join(title.upper().split())
    grades = []
    for match in _TOKEN.finditer(normalised):
        value = _token_value(match, strict=True)
        if value is not None:
            grades.append(value)
    return grades


def grade_label(rank: float | None) -> str | None:
    """The short label of a rank ('VG+'); a half step shows as its neighbours ('VG+~EX')."""
    if rank is None or (isinstance(rank, float) and math.isnan(rank)):
        return None
    if rank in GRADE_LABELS:
        return GRADE_LABELS[rank]
    below, above = GRADE_LABELS.get(math.floor(rank)), GRADE_LABELS.get(math.ceil(rank))
    return f"{below}~{above}" if below and above else None


def _first_grade(text: str, strict: bool) -> float | None:
    matches = list(_TOKEN.finditer(text))
    for index, match in enumerate(matches):
        value = _token_value(match, strict)
        if value is None:
            continue
        following = matches[index + 1] if index + 1 < len(matches) else None
        if following is not None and _RANGE_JOINER.match(text[match.end() : following.start()]):
            upper = _token_value(following, strict)
            if upper is not None:
                return (value + upper) / 2
        return value
    return None


def _token_value(match: re.Match[str], strict: bool) -> float | None:
    spelled, abbreviation = match.group("spelled"), match.group("abbr")
    if abbreviation is not None:
        if strict and abbreviation not in _TITLE_SAFE_ABBREVIATIONS and not match.group("sign"):
            return None
        value = _ABBREVIATED[abbreviation]
    else:
        words = " ".join(spelled.split())
        if strict and words in _TITLE_UNSAFE_WORDS:
            return None
        value = _SPELLED_VALUES[words]
    return _apply_sign(value, (match.group("sign") or "").strip(), abbreviation)


def _apply_sign(value: float, sign: str, abbreviation: str | None) -> float:
    if not sign:
        return value
    if sign.startswith("+") or sign == "PLUS":
        pluses = len(sign) if sign.startswith("+") else 1
        # G+ and VG+ are grades of their own, a full step up; every further '+' is half a step.
        first_step = 1.0 if value in (GOOD, VERY_GOOD) else 0.5
        return min(MINT, value + first_step + 0.5 * (pluses - 1))
    if abbreviation == "M":
        return NEAR_MINT
    return max(POOR, value - 0.5)
