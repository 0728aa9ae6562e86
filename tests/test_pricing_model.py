"""The regression pricer on the bundled seed sample: evidence, grades, currency, persistence."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from vinylprice.catalog.ingest import ingest_file
from vinylprice.pricing import MedianPricer, load_pricer
from vinylprice.pricing.currency import Rates
from vinylprice.pricing.evaluate import ALBUM_MEDIAN, GLOBAL_MEDIAN, MODEL_SOLD_ONLY, evaluate
from vinylprice.pricing.features import load_listings
from vinylprice.pricing.grades import parse_grade
from vinylprice.pricing.regression import (
    MODEL_FILE,
    RegressionPricer,
    SalesData,
    fit_grade_prior,
    prepare_sales,
)
from vinylprice.settings import Settings
from vinylprice.store import Database, open_database

LADDER = ["G", "G+", "VG", "VG+", "EX", "NM", "M"]
USD = Rates("USD", {"EUR": 1.08}, date="2024-05-10")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    home = tmp_path_factory.mktemp("pricing-home")
    database = _database(home)
    database.create_schema()
    for name in ("ebay_json-vinyl.json", "EBAY_images_2024-05-20-.csv"):
        ingest_file(database, sample_dir / name, home / "references")
    database.dispose()
    return home


@pytest.fixture(scope="module")
def database(home: Path) -> Database:
    return _database(home)


@pytest.fixture(scope="module")
def sales(database: Database) -> SalesData:
    return prepare_sales(load_listings(database, "sold"), USD)


@pytest.fixture(scope="module")
def pricer(sales: SalesData) -> RegressionPricer:
    return RegressionPricer.train(sales, USD, "USD")


def _database(home: Path) -> Database:
    return open_database(f"sqlite:///{home / 'vinylprice.db'}")


def _albums(sales: SalesData) -> list[int]:
    comparable = sales.inputs["comparable"].to_numpy(dtype=bool)
    return sorted({int(album) for album in sales.inputs["album_id"][comparable]})


def test_a_quote_carries_its_evidence(pricer: RegressionPricer, sales: SalesData) -> None:
    album = _albums(sales)[0]
    expected = int((sales.inputs["comparable"] & (sales.inputs["album_id"] == album)).sum())

    price = pricer.quote(album)

    assert price is not None
    assert price.comparables == expected
    assert not price.rough
    assert len(price.closest) == 3
    assert price.low <= price.suggested <= price.high
    assert price.currency == "USD"
    assert price.note is not None and "typical copy" in price.note
    assert all(sale.price > 0 and sale.title for sale in price.closest)


def test_closest_sales_without_grades_say_none(pricer: RegressionPricer,
                                               sales: SalesData) -> None:
    # Blank grades come from pandas as NaN; answers are JSON and a CLI line joins grade texts.
    closest = [sale for album in _albums(sales)
               for sleeve in (None, "G", "NM") for record in (None, "VG")
               for sale in pricer.quote(album, sleeve, record).closest]

    assert all(isinstance(sale.sleeve_grade, str | None) for sale in closest)
    assert all(isinstance(sale.record_grade, str | None) for sale in closest)
    assert any(sale.sleeve_grade is None or sale.record_grade is None for sale in closest)
    json.dumps([dataclasses.asdict(sale) for sale in closest], allow_nan=False)


@pytest.mark.parametrize("record", [None, "VG", "NM"])
def test_a_better_sleeve_never_lowers_the_price(
    pricer: RegressionPricer, sales: SalesData, record: str | None
) -> None:
    for album in _albums(sales):
        quotes = [pricer.quote(album, sleeve, record) for sleeve in LADDER]
        _assert_never_lower(quotes)


@pytest.mark.parametrize("sleeve", [None, "G+", "VG+"])
def test_a_better_record_never_lowers_the_price(
    pricer: RegressionPricer, sales: SalesData, sleeve: str | None
) -> None:
    for album in _albums(sales):
        quotes = [pricer.quote(album, sleeve, record) for record in LADDER]
        _assert_never_lower(quotes)


def test_grades_move_the_price(pricer: RegressionPricer, sales: SalesData) -> None:
    moved = [pricer.quote(album, "M", "M").suggested > pricer.quote(album, "G", "G").suggested
             for album in _albums(sales)]
    assert any(moved)


def test_with_the_discogs_prior_a_better_grade_never_lowers_the_price(
    shared_dir: Path, sales: SalesData, tmp_path: Path
) -> None:
    discogs = shared_dir / "data" / "discogs_listings" / "discogs_listings.csv"
    if not discogs.is_file():
        pytest.skip(f"needs the Discogs listings at {discogs}")
    database = _database(tmp_path)
    database.create_schema()
    ingest_file(database, discogs, tmp_path / "references")
    prior = fit_grade_prior(database, USD)
    assert prior is not None

    priced = RegressionPricer.train(sales, USD, "USD", prior)

    for album in _albums(sales):
        _assert_never_lower([priced.quote(album, grade, grade) for grade in LADDER])
        _assert_never_lower([priced.quote(album, "VG+", grade) for grade in LADDER])


def _assert_never_lower(quotes: list[object]) -> None:
    for worse, better in itertools.pairwise(quotes):
        assert worse is not None and better is not None
        assert better.suggested >= worse.suggested
        assert better.low >= worse.low
        assert better.high >= worse.high


def test_closest_sales_follow_the_asked_grades(pricer: RegressionPricer,
                                               sales: SalesData) -> None:
    price = pricer.quote(_albums(sales)[0], "VG+", "VG+")

    assert price is not None
    assert price.note is not None and "priced for sleeve VG+ and record VG+" in price.note
    for sale in price.closest:
        assert parse_grade(sale.sleeve_grade) is not None or parse_grade(sale.record_grade)


def test_a_grade_between_two_is_priced_and_named_as_the_lower(
    pricer: RegressionPricer, sales: SalesData
) -> None:
    album = _albums(sales)[0]

    between = pricer.quote(album, "VG+~EX")
    whole = pricer.quote(album, "VG+")

    assert between is not None and whole is not None
    assert between.suggested == whole.suggested
    assert between.note is not None
    assert "priced for sleeve VG+ ('VG+~EX' is between grades; priced as the lower)" in between.note


def test_an_unreadable_grade_is_said_and_ignored(pricer: RegressionPricer,
                                                 sales: SalesData) -> None:
    album = _albums(sales)[0]

    price = pricer.quote(album, "superb", None)

    assert price is not None and price.note is not None
    assert "sleeve grade 'superb' not understood" in price.note
    assert price.suggested == pricer.quote(album).suggested


def test_no_comparables_gives_no_price(pricer: RegressionPricer) -> None:
    assert pricer.quote(987654) is None


def test_fewer_than_three_comparables_is_a_rough_guess(
    pricer: RegressionPricer, sample_dir: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "few.csv"
    manifest.write_text(
        "image_file,artist,title,price,sleeve_grade,record_grade\n"
        "a.jpg,Test Artist,Rare Album,40,VG+,VG+\n"
        "b.jpg,Test Artist,Rare Album,60,NM,NM\n",
        encoding="utf-8",
    )
    database = _database(tmp_path)
    database.create_schema()
    for path in (sample_dir / "ebay_json-vinyl.json", manifest):
        ingest_file(database, path, tmp_path / "references")
    refreshed = RegressionPricer(copy.deepcopy(pricer.model), USD, "USD", pricer.metadata)

    refreshed.refresh(database)

    album = max(refreshed._by_album)
    price = refreshed.quote(album)
    assert price is not None
    assert price.rough
    assert price.comparables == 2
    assert len(price.closest) == 2
    assert price.low <= price.suggested <= price.high


def test_prices_are_shown_in_the_display_currency(pricer: RegressionPricer,
                                                  sales: SalesData) -> None:
    in_euros = RegressionPricer(pricer.model, USD, "EUR", pricer.metadata)
    in_euros._use_sales(sales)
    album = _albums(sales)[1]

    dollars, euros = pricer.quote(album, "VG+", "EX"), in_euros.quote(album, "VG+", "EX")

    assert euros is not None and dollars is not None
    assert euros.currency == "EUR"
    assert euros.suggested == pytest.approx(dollars.suggested / 1.08, abs=0.01)
    assert euros.closest[0].price == pytest.approx(dollars.closest[0].price / 1.08, abs=0.01)


def test_an_unknown_display_currency_is_refused(pricer: RegressionPricer) -> None:
    with pytest.raises(ValueError, match="no exchange rate for CHF"):
        RegressionPricer(pricer.model, USD, "CHF", pricer.metadata)


def test_load_pricer_prefers_the_saved_model(
    pricer: RegressionPricer, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(home=home, _env_file=None)
    database = _database(home)
    assert isinstance(load_pricer(settings, database), MedianPricer)

    path = pricer.save(settings.models_dir / MODEL_FILE)
    loaded = load_pricer(settings, database)
    assert isinstance(loaded, RegressionPricer)
    assert loaded.metadata["training_data_version"] == pricer.metadata["training_data_version"]
    assert "listing_ridge" in loaded.metadata["features"]
    album = next(iter(pricer._by_album))
    assert loaded.quote(album, "EX", "EX") == pricer.quote(album, "EX", "EX")

    path.write_bytes(b"not a model")
    with caplog.at_level(logging.WARNING):
        assert isinstance(load_pricer(settings, database), MedianPricer)
    assert "cannot read the pricing model" in caplog.text
    path.unlink()


@pytest.mark.slow
def test_the_evaluation_scores_every_method(sales: SalesData) -> None:
    evaluation = evaluate(sales, "USD", None, folds=3, repeats=1)

    table = evaluation.table()
    for method in (MODEL_SOLD_ONLY, ALBUM_MEDIAN, GLOBAL_MEDIAN):
        assert method in table
        score = evaluation.score(method)
        assert score.count == len(sales.log_price)
        assert np.isfinite([score.mae, score.mdape]).all()
        assert 0.0 <= score.coverage <= 1.0
    assert evaluation.groups < evaluation.listings
    assert set(evaluation.metrics()) >= {"model_mdape", "album_median_mdape", "model_coverage"}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"folds": 1}, "folds must be at least 2"),
        ({"repeats": 0}, "repeats and jobs at least 1"),
        ({"jobs": 0}, "repeats and jobs at least 1"),
        ({"folds": 1000}, "need at least 2000 for 1000 folds"),
    ],
)
def test_the_evaluation_refuses_impossible_arguments(sales: SalesData, options: dict[str, int],
                                                      expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        evaluate(sales, "USD", None, **options)
