"""The median pricer, used until a regression model is trained: item prices, converted."""

from __future__ import annotations

from pathlib import Path

import pytest

from vinylprice.pricing import MedianPricer
from vinylprice.pricing.currency import Rates
from vinylprice.settings import Settings
from vinylprice.store import Album, Database, Listing, open_database

RATES = Rates("USD", {"EUR": 1.25, "GBP": 1.5}, date="2024-05-10")


@pytest.fixture
def database(tmp_path: Path) -> Database:
    database = open_database(f"sqlite:///{tmp_path / 'vinylprice.db'}")
    database.create_schema()
    sales = [(10.0, "USD", 5.0, False), (16.0, "EUR", 30.0, False), (20.0, "GBP", None, False),
             (900.0, "USD", 0.0, True), (50.0, "JPY", 0.0, False)]
    with database.session() as session:
        album = Album(artist="Fleetwood Mac", title="Rumours")
        session.add(album)
        session.flush()
        for number, (price, currency, shipping, excluded) in enumerate(sales):
            session.add(Listing(source="test", external_id=str(number), title=f"Rumours {number}",
                                price=price, currency=currency, shipping=shipping,
                                album_id=album.id, excluded=excluded))
        session.commit()
    return database


def test_quotes_the_median_item_price_in_the_display_currency(database: Database) -> None:
    price = MedianPricer("EUR", RATES).fit(database).quote(1)

    # Item prices in USD: 10, 20, 30 (shipping left out; the excluded lot and the listing in a
    # currency without a rate are not comparables). In EUR: 8, 16, 24.
    assert price is not None
    assert (price.low, price.suggested, price.high) == pytest.approx((12.0, 16.0, 20.0))
    assert price.currency == "EUR"
    assert price.comparables == 3
    assert price.note is not None and "shipping extra" in price.note
    assert sorted(sale.price for sale in price.closest) == pytest.approx([8.0, 16.0, 24.0])


def test_an_album_without_sales_gets_no_price(database: Database) -> None:
    assert MedianPricer("USD", RATES).fit(database).quote(2) is None


def test_plot_prices_compares_item_prices_in_the_display_currency(database: Database,
                                                                  tmp_path: Path) -> None:
    from vinylprice.cli.admin import _leave_one_out_medians

    settings = Settings(_env_file=None, home=tmp_path, currency="EUR",
                        currency_rates={"USD": 1.0, "EUR": 1.25, "GBP": 1.5})

    actual, predicted = _leave_one_out_medians(database, settings)

    assert actual == pytest.approx([8.0, 16.0, 24.0])
    assert predicted == pytest.approx([20.0, 16.0, 12.0])
