"""Discogs asking prices: read as their own kind of listing, and the grade prior they teach."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from vinylprice.catalog.discogs import read_discogs_csv
from vinylprice.catalog.ingest import detect_format, ingest_file
from vinylprice.pricing import MedianPricer
from vinylprice.pricing.currency import Rates
from vinylprice.pricing.features import LISTING_COLUMNS, load_listings
from vinylprice.pricing.grade_prior import GradePrior
from vinylprice.store import Listing, open_database

HEADER = (
    "artist,title,release_format,number_of_tracks,price,rating,votes,have,want,"
    "limited_edition,media_condition,sleeve_condition,release_page,genre,year,label_name,"
    "label_code\n"
)
ROWS = (
    "Tom Misch,Beat Tape 2,LP,12,27.97,4.54,141.0,1899,1125,0,M,M,"
    "https://discogs.com/release/8348582-Tom-Misch-Beat-Tape-2?ev=item-vc,hip hop,2016,"
    "Beyond The Groove \u200e,BTG004VL\n"
    "Tom Misch,Beat Tape 2,LP,12,18.50,4.54,141.0,1899,1125,0,VG+,,"
    "https://discogs.com/release/8348582-Tom-Misch-Beat-Tape-2?ev=item-vc,hip hop,2016,"
    "Beyond The Groove \u200e,BTG004VL\n"
    "Somebody,Unpriced,LP,9,,4.0,3.0,10,2,0,NM ,VG,"
    "https://discogs.com/release/1-Somebody-Unpriced,funk,Unknown,Label,L1\n"
)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "discogs_listings.csv"
    path.write_text(HEADER + ROWS, encoding="utf-8")
    return path


def test_the_export_is_recognised_and_read_as_asking_prices(export: Path) -> None:
    assert detect_format(export) == "discogs-csv"

    records = read_discogs_csv(export)

    assert len(records) == 2
    first, second = records
    assert (first.kind, first.source, first.price, first.currency) == ("asking", "discogs",
                                                                       27.97, "USD")
    assert first.title == "Tom Misch – Beat Tape 2"
    assert (first.record_grade, first.sleeve_grade) == ("M", "M")
    assert (second.record_grade, second.sleeve_grade) == ("VG+", None)
    assert first.extra is not None and first.extra["release_id"] == "8348582"
    assert first.extra["label_name"] == "Beyond The Groove"
    assert first.external_id.startswith("8348582-") and first.external_id != second.external_id
    assert [r.external_id for r in read_discogs_csv(export)] == [first.external_id,
                                                                 second.external_id]


def test_asking_prices_are_kept_apart_from_sales(export: Path, tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'vinylprice.db'}")
    database.create_schema()

    report = ingest_file(database, export, tmp_path / "references")
    again = ingest_file(database, export, tmp_path / "references")

    assert report.format == "discogs-csv"
    assert (report.listings_added, again.listings_added, again.listings_updated) == (2, 0, 2)
    with database.session() as session:
        kinds = session.scalars(select(Listing.kind)).all()
    assert kinds == ["asking", "asking"]
    assert len(load_listings(database, "asking")) == 2
    assert load_listings(database, "sold").empty
    assert MedianPricer().fit(database).quote(1) is None


def _asking(count: int, seed: int = 0) -> pd.DataFrame:
    # Popular releases cost more, and so does every better grade: 15 % a grade step.
    random = np.random.default_rng(seed)
    grades = ["G", "G+", "VG", "VG+", "NM", "M"]
    media = random.integers(0, len(grades), count)
    sleeve = random.integers(0, len(grades), count)
    want = random.integers(1, 2000, count)
    price = 5 * (1 + want / 500) * 1.15 ** (media + sleeve) * random.lognormal(0, 0.1, count)
    rows = []
    for index in range(count):
        rows.append({column: None for column in LISTING_COLUMNS} | {
            "source": "discogs", "external_id": str(index), "kind": "asking",
            "price": float(price[index]), "currency": "USD",
            "record_grade": grades[media[index]], "sleeve_grade": grades[sleeve[index]],
            "year": 2000, "excluded": True,
            "extra": f'{{"want": "{want[index]}", "have": "100", "genre": "funk"}}',
        })
    return pd.DataFrame(rows, columns=LISTING_COLUMNS)


def test_the_grade_prior_learns_that_better_grades_cost_more() -> None:
    prior = GradePrior(max_iter=100).fit(_asking(600), Rates("USD"))

    effects = prior.effect(pd.Series([3.0, 5.0, 6.0, 8.0, np.nan]),
                           pd.Series([3.0, 5.0, 6.0, 8.0, np.nan]))

    assert effects.iloc[2] == pytest.approx(0.0, abs=1e-9)
    assert effects.iloc[0] < effects.iloc[1] < effects.iloc[2] < effects.iloc[3]
    assert np.isnan(effects.iloc[4])
    assert np.all(np.diff(prior.sleeve_effect_) >= 0)
    assert np.all(np.diff(prior.record_effect_) >= 0)
    grades = [grade for grade, _, _ in prior.table()]
    assert grades == ["P", "F", "G", "G+", "VG", "VG+", "EX", "NM", "M"]


def test_the_grade_prior_needs_enough_asking_prices() -> None:
    with pytest.raises(ValueError, match="at least 100 graded asking prices; found 50"):
        GradePrior().fit(_asking(50), Rates("USD"))
