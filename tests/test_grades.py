"""The grade parser on every form found in the seed eBay files and the Discogs export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from vinylprice.pricing.grades import grade_label, grades_in_title, parse_grade

# Every distinct grade text in sample/seed_ebay (JSON and both CSVs) and in
# ../shared/data/discogs_listings, with the rank it must get (None: names no grade).
EVERY_FORM = {
    "Acceptable (VG)": 5.0,
    "E": 7.0,
    "E+,DJ": 7.5,
    "E-": 6.5,
    "E-,SP": 6.5,
    "Excellent (EX)": 7.0,
    "F": 2.0,
    "Fair (F)": 2.0,
    "G": 3.0,
    "G+": 4.0,
    "Generic": None,
    "Good (G)": 3.0,
    "Good Plus (G+)": 4.0,
    "M": 9.0,
    "M-": 8.0,
    "Mint (M)": 9.0,
    "Mint(M)": 9.0,
    "NM ": 8.0,
    "Near Mint (NM or M-)": 8.0,
    "Near Mint (NM or M-)  -  EX to NM": 8.0,
    "Near Mint (NM or M-)  -  slightly mark, EX to NM": 8.0,
    "P": 1.0,
    "Please see Description below": None,
    "SEE DISCRIPTION": None,
    "See Chart Below": None,
    "See Description": None,
    "See Item Description": None,
    "VERY  GOOD": 5.0,
    "VG": 5.0,
    "VG+": 6.0,
    "VG+,SP": 6.0,
    "VG+,W": 6.0,
    "Very Good (VG)": 5.0,
    "Very Good Plus (VG+)": 6.0,
    "Very Good Plus (VG+)  -  mark": 6.0,
    "Very Good Plus (VG+)  -  mark, light cloudy, VG~VG+": 6.0,
    "Very Good Plus (VG+)  -  slightly mark": 6.0,
    "Very Good Plus (VG+)  -  slightly mark, EX": 6.0,
    "Very Good Plus (VG+)  -  slightly mark, VG+ to EX": 6.0,
    "Very Good Plus (VG+)  -  slightly mark, paper marks": 6.0,
    "Very Good Plus (VG+)  -  slightly mark, slight scuffs": 6.0,
    "Very Good Plus (VG+)  -  stain": 6.0,
    "Very Good Plus (VG+)  -  wear, VG+ to EX": 6.0,
    "Very Good Plus (VG+)  -  wear, stain": 6.0,
    "Worn (W)": 2.0,
    "see description": None,
    "see item description": None,
}


@pytest.mark.parametrize(("text", "rank"), sorted(EVERY_FORM.items()))
def test_every_seed_and_discogs_form_parses_to_its_rank(text: str, rank: float | None) -> None:
    assert parse_grade(text) == rank


@pytest.mark.parametrize(
    ("text", "rank"),
    [
        ("VG~VG+", 5.5),
        ("VG+ to EX", 6.5),
        ("VG - EX", 6.0),
        ("VG++", 6.5),
        ("VG +++", 7.0),
        ("NM-", 7.5),
        ("EX+", 7.5),
        ("vg+", 6.0),
        ("Very Good Plus", 6.0),
        ("Near Mint", 8.0),
        ("Poor (P)", 1.0),
    ],
)
def test_signed_spelled_and_range_forms(text: str, rank: float) -> None:
    assert parse_grade(text) == rank


@pytest.mark.parametrize("blank", [None, "", "   ", float("nan")])
def test_blanks_are_unknown(blank: object) -> None:
    assert parse_grade(blank) is None


def test_the_scale_orders_the_grades() -> None:
    ladder = ["P", "F", "G", "G+", "VG", "VG+", "EX", "NM", "M"]
    ranks = [parse_grade(grade) for grade in ladder]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == len(ranks)


def test_grades_written_in_titles() -> None:
    assert grades_in_title("Fleetwood Mac Rumours VG+/EX LP BSK 3010") == [6.0, 7.0]
    assert grades_in_title("CREAM GOODBYE NMint w POSTER") == [8.0]
    assert grades_in_title("The Who - Who Are You 1978 - Excellent Condition!") == [7.0]
    # Bare letters and plain words are not grades in a title.
    assert grades_in_title("WHO Who Are You MCA LP SEALED m") == []
    assert grades_in_title("Good Vibrations LP G") == []


def test_labels_round_trip() -> None:
    for label in ["P", "F", "G", "G+", "VG", "VG+", "EX", "NM", "M"]:
        assert grade_label(parse_grade(label)) == label
    assert grade_label(6.5) == "VG+~EX"
    assert grade_label(None) is None


def _grade_texts_in_sample(sample_dir: Path) -> set[str]:
    texts = set()
    for record in json.loads((sample_dir / "ebay_json-vinyl.json").read_text(encoding="utf-8")):
        texts.update(record.get(key) or "" for key in ("sleeve_grading", "record_grading"))
    for name in ("EBAY_images_2024-05-20-.csv", "EBAY_vinyl-records_2024-05-10-.csv"):
        with (sample_dir / name).open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                texts.update(row.get(key) or "" for key in ("sleeve_grading", "record_grading"))
    return texts - {""}


def test_the_table_covers_every_form_in_the_sample(sample_dir: Path) -> None:
    assert _grade_texts_in_sample(sample_dir) <= set(EVERY_FORM)


def test_the_table_covers_every_form_in_the_discogs_export(shared_dir: Path) -> None:
    path = shared_dir / "data" / "discogs_listings" / "discogs_listings.csv"
    if not path.is_file():
        pytest.skip(f"needs the Discogs listings at {path}")
    with path.open(encoding="utf-8") as handle:
        texts = {row[key] for row in csv.DictReader(handle)
                 for key in ("media_condition", "sleeve_condition")} - {""}
    assert texts <= set(EVERY_FORM)
    assert all(parse_grade(text) is not None for text in texts)
