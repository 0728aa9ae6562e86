"""The baseline: the median item price of an album's sold comparables, P25–P75 as the range.

Item prices, shipping extra, as the regression model quotes them, so that the two pricers
answer the same question."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from vinylprice.answer import Comparable, Price
from vinylprice.pricing.currency import Rates
from vinylprice.store import Database, Listing

ROUGH_BELOW = 3


class MedianPricer:
    """Quotes the median item price (shipping extra) of the album's sold comparables."""

    def __init__(self, currency: str = "USD", rates: Rates | None = None) -> None:
        self.currency = currency.upper()
        # Without a rates table every listing is taken to be in the display currency already.
        self.rates = rates
        if rates is not None:
            rates.from_base(1.0, self.currency)
        self._sales: dict[int, list[Listing]] = {}

    def fit(self, database: Database) -> MedianPricer:
        """Load every sold, non-excluded listing with a price, grouped by album."""
        with database.session() as session:
            rows = session.scalars(
                select(Listing).where(
                    Listing.kind == "sold",
                    Listing.excluded.is_(False),
                    Listing.album_id.is_not(None),
                    Listing.price.is_not(None),
                )
            ).all()
        self._sales = {}
        for row in rows:
            if self.rates is None or self.rates.knows(row.currency):
                self._sales.setdefault(row.album_id, []).append(row)
        return self

    def quote(
        self,
        album_id: int,
        sleeve_grade: str | None = None,
        record_grade: str | None = None,
    ) -> Price | None:
        sales = self._sales.get(album_id, [])
        if not sales:
            return None

        prices = np.array([self._item_price(sale) for sale in sales])
        low, median, high = np.percentile(prices, [25, 50, 75])
        closest = [sales[index] for index in np.argsort(abs(prices - median), kind="stable")[:3]]
        rough = len(sales) < ROUGH_BELOW
        return Price(
            suggested=round(float(median), 2),
            low=round(float(low), 2),
            high=round(float(high), 2),
            currency=self.currency,
            comparables=len(sales),
            method="median of sold comparables",
            rough=rough,
            closest=tuple(self._comparable(sale) for sale in closest),
            note="grades are not taken into account by this price; item price, shipping extra"
            if sleeve_grade or record_grade
            else "item price, shipping extra",
        )

    def item_prices_by_album(self) -> dict[int, list[float]]:
        """The item price of every sold comparable, in the display currency, by album."""
        return {album: [self._item_price(sale) for sale in sales]
                for album, sales in self._sales.items()}

    def _item_price(self, sale: Listing) -> float:
        price = float(sale.price or 0.0)
        if self.rates is None:
            return price
        return self.rates.convert(price, sale.currency or self.currency, self.currency)

    def _comparable(self, sale: Listing) -> Comparable:
        return Comparable(
            title=sale.title,
            price=round(self._item_price(sale), 2),
            currency=self.currency,
            sleeve_grade=sale.sleeve_grade,
            record_grade=sale.record_grade,
            sold_date=sale.sold_date.date().isoformat() if sale.sold_date else None,
        )
