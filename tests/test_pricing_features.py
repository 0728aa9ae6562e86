"""Listing features for pricing: shipping, lots, title hints, seller country, listing groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vinylprice.catalog.parsing import lot_size, parse_shipping
from vinylprice.pricing.currency import Rates
from vinylprice.pricing.features import (
    LISTING_COLUMNS,
    TITLE_HINTS,
    describe_listings,
    listing_groups,
    seller_country,
)

LOCATED = "See detailsfor shippingLocated in: Henderson, North Carolina, United States"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"US $4.87\xa0Economy Shipping. {LOCATED}", (4.87, "USD")),
        ("US $18.00\xa0Expedited Shipping from outside US. See detailsfor shipping", (18.0, "USD")),
        (f"Free\xa0Economy Shipping. {LOCATED}", (0.0, None)),
        ("Free\xa0USPS Media MailTM. See detailsfor shipping", (0.0, None)),
        ("GBP 17.00 (approx US $21.27)\xa0Royal Mail International Tracked.", (21.27, "USD")),
        ("AU $38.00 (approx US $25.11)\xa0Australia Post International Standard.", (25.11, "USD")),
        ("C $0.01 (approx US $0.01)\xa0Standard Int'l Shipping.", (0.01, "USD")),
        ("GBP 21.44 International Priority Shipping", (21.44, "GBP")),
        ("US $1,204.50 Freight", (1204.5, "USD")),
        ("", (None, None)),
        (None, (None, None)),
        (float("nan"), (None, None)),
        ("Local pickup only", (None, None)),
    ],
)
def test_shipping_forms_in_the_seed(text: object, expected: tuple[object, object]) -> None:
    assert parse_shipping(text) == expected


@pytest.mark.parametrize(
    ("title", "records"),
    [
        ("Lot Of 11 Beatles and Solo Vinyl Lps Abbey Road Band On The Run Starting Over", 11),
        ("THE BEATLES 9 LP LOT w SGT PEPPER, ABBEY ROAD, MAGICAL MYSTERY TOUR", 9),
        ("Rolling Stones  Vinyl LP'S X2 Joblot It's Only Rock N Roll 1973 Brussels", 2),
        ("The Who Vinyl LP (6) Lot Next,By Numbers,Are You, its Hard, face Dances", 6),
        ("Cream 8 LP Lot Fresh Wheels Of Fire Goodbye Early Live Best Of Blind Faith", 8),
        ("The Beatles Vinyl Record Lot", 2),
        ("Fleetwood Mac Rumours Vinyl LP 1977 BSK 3010", 1),
        ("The Rolling Stones Hot Rocks 1964-1971 2 Lp Vinyl Record VG", 1),
        ("Rumours Live — Fleetwood Mac (Clear 2LP) Vinyl", 1),
    ],
)
def test_lot_detection(title: str, records: int) -> None:
    assert lot_size(title) == records


@pytest.mark.parametrize(
    ("title", "hints"),
    [
        ('Fleetwood Mac "Rumours" 1st 1977 First Press,W/Insert  BSK 3010',
         {"first_press", "insert_poster"}),
        ("THE BEATLES ABBEY ROAD original FACTORY SEALED 1969 PRESS", {"original", "sealed"}),
        ("Fleetwood Mac Rumours Vinyl Record VG+/EX LP BSK 3010 In Shrink", {"sealed"}),
        ("FLEETWOOD MAC Rumours WARNER BROS LP VG+/NM club edition with insert",
         {"club_edition", "insert_poster"}),
        ("CREAM GOODBYE RSO MW2083 JAPAN OBI VINYL LP", {"japan", "insert_poster"}),
        ("Cream Goodbye Cream 2019 Vinyl LP Record Reissue Repressed 180G Import",
         {"reissue", "audiophile"}),
        ("The Beatles Abbey Road Vinyl LP UK 1st Pressing 1969 VG Apple PCS 7088",
         {"uk", "first_press"}),
        ("THE WHO WHO ARE YOU LP WHITE LABEL PROMO MCA L331987 FROM 1978 VG+", {"promo"}),
        ("Lot of 45s-Rock, Pop, Soul, Misc.-All Are VG+ or Better-$2.49 Each-YOU PICK",
         {"single", "pick_listing"}),
    ],
)
def test_title_hints(title: str, hints: set[str]) -> None:
    found = {name for name, pattern in TITLE_HINTS.items() if pattern.search(title)}
    assert found == hints


@pytest.mark.parametrize(
    ("shipping_text", "country"),
    [
        (f"US $4.87 Economy Shipping. {LOCATED}", "United States"),
        ("US $18.00 Standard Shipping. Located in: Tokyo, Japan", "Japan"),
        ("US $9.00 Standard Shipping. Located in: Berlin, Germany", "other"),
        ("US $18.00 Expedited Shipping from outside US. See detailsfor shipping", "abroad"),
        ("GBP 17.00 (approx US $21.27) Royal Mail International Tracked.", "United Kingdom"),
        ("US $5.00 Economy Shipping. See detailsfor shipping", "unknown"),
        (None, "unknown"),
    ],
)
def test_seller_country(shipping_text: str | None, country: str) -> None:
    assert seller_country(shipping_text) == country


def _listings(rows: list[dict[str, object]]) -> pd.DataFrame:
    defaults = {column: None for column in LISTING_COLUMNS}
    defaults.update(source="ebay", kind="sold", currency="USD", excluded=False)
    return pd.DataFrame([{**defaults, **row} for row in rows], columns=LISTING_COLUMNS)


def test_the_same_item_seen_twice_is_one_group() -> None:
    listings = _listings([
        {"external_id": "1", "title": "Rumours LP", "price": 9.99,
         "image_url": "https://i.ebayimg.com/images/g/-JkAAOSwHzlmFGVL/s-l1600.webp"},
        {"external_id": "2", "title": "Rumours LP (relisted)", "price": 12.0,
         "image_url": "https://i.ebayimg.com/thumbs/images/g/-JkAAOSwHzlmFGVL/s-l300.webp"},
        {"external_id": "3", "title": "Rumours  lp", "price": 14.0},
        {"external_id": "4", "title": "RUMOURS LP", "price": 14.0},
        {"external_id": "5", "title": "Rumours LP", "price": 20.0},
    ])
    groups = listing_groups(listings).tolist()
    assert groups[0] == groups[1] == "ebay:1"
    assert groups[2] == groups[3] == "ebay:3"
    assert len(set(groups)) == 3


def test_describe_listings_converts_and_falls_back_to_title_grades() -> None:
    listings = _listings([
        {"external_id": "1", "title": "Rumours LP VG+/EX", "price": 10.0, "currency": "GBP",
         "shipping": 4.0, "shipping_text": "GBP 4.00 Royal Mail"},
        {"external_id": "2", "title": "Rumours LP", "price": 10.0, "shipping": 0.0,
         "sleeve_grade": "Near Mint (NM or M-)", "record_grade": "See Item Description",
         "year": 1977, "sold_date": pd.Timestamp("2024-05-06 16:11:12")},
    ])
    features = describe_listings(listings, Rates("USD", {"GBP": 1.25}))

    assert features.loc[0, "shipping_base"] == pytest.approx(5.0)
    assert features.loc[0, ["record_rank", "sleeve_rank"]].tolist() == [6.0, 7.0]
    assert features.loc[1, "sleeve_rank"] == 8.0
    assert np.isnan(features.loc[1, "record_rank"])
    assert features.loc[1, "free_shipping"] == 1.0
    assert features.loc[1, "sold_day"] == 126.0
    assert features["currency"].tolist() == ["GBP", "USD"]
