"""The regression pricer: train the sold-price model, save it, load it and quote with it.

A quote prices the album's comparable sales again with the asked grades put in their place
(grades not given keep each sale's own), and takes the median of those predictions: the price
of a copy like the ones that sold, in the condition asked for. Without grades that is a
typical copy of the album's sales. Quotes for every grade pair are computed at once per album
and made non-decreasing in each grade (`GradeSurface`).
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn

from vinylprice.answer import Comparable, Price
from vinylprice.pricing.currency import Rates
from vinylprice.pricing.features import (
    CATEGORICAL_FEATURES,
    NUMERIC_FEATURES,
    describe_listings,
    listing_groups,
    load_listings,
    price_in_base,
)
from vinylprice.pricing.grade_prior import GradePrior
from vinylprice.pricing.grades import grade_label, parse_grade
from vinylprice.pricing.model import (
    ALBUM_COLUMN,
    COMPARABLE_COLUMN,
    GROUP_COLUMN,
    TITLE_COLUMN,
    AlbumPriceModel,
)
from vinylprice.store import Database

log = logging.getLogger(__name__)

MODEL_FILE = "pricing.joblib"
FORMAT_VERSION = 1
ROUGH_BELOW = 3
MIN_SALES = 20
CLOSEST = 3
MARGINAL_SALES = 40
# A comparable without a grade is this many grade steps from any asked grade.
UNKNOWN_GRADE_DISTANCE = 2.0
# Quotes are made for whole grades, P (1) to M (9); a half step is quoted as the grade below.
GRADE_STEPS = np.arange(1.0, 10.0)


class PricingModelError(RuntimeError):
    """A saved pricing model that cannot be used (missing, unreadable or incompatible)."""


@dataclass
class SalesData:
    """Sold listings ready for the model: raw rows, model inputs and log prices (base)."""

    listings: pd.DataFrame
    inputs: pd.DataFrame
    log_price: np.ndarray

    @property
    def version(self) -> str:
        """A short hash of what the model learns from; changes when any sale changes."""
        columns = ["source", "external_id", "price", "currency", "shipping", "sleeve_grade",
                   "record_grade", "album_id", "excluded"]
        text = self.listings[columns].astype(str).sort_values(columns).to_csv(index=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def prepare_sales(listings: pd.DataFrame, rates: Rates) -> SalesData:
    """Model inputs for sold listings (from `features.load_listings`) whose price is known."""
    base_prices = price_in_base(listings, rates)
    usable = base_prices.notna() & (base_prices > 0) & listings["album_id"].notna()
    skipped = int((~usable).sum())
    if skipped:
        log.info("pricing: %d sold listings skipped (no album, no price or unknown currency)",
                 skipped)
    listings = listings[usable].reset_index(drop=True)
    inputs = describe_listings(listings, rates)
    inputs[ALBUM_COLUMN] = listings["album_id"].astype(int).to_numpy()
    inputs[GROUP_COLUMN] = listing_groups(listings).to_numpy()
    inputs[COMPARABLE_COLUMN] = (~listings["excluded"]).to_numpy()
    inputs[TITLE_COLUMN] = listings["title"].fillna("").astype(str).to_numpy()
    return SalesData(listings, inputs, np.log(base_prices[usable].to_numpy()))


def default_model(grade_prior: GradePrior | None = None) -> AlbumPriceModel:
    """The model configuration `train-pricing` fits and `evaluate-pricing` measures."""
    return AlbumPriceModel(grade_prior=grade_prior)


def require_enough_sales(sales: SalesData) -> None:
    """Raise ValueError, saying what to do, when there are too few sales to train on."""
    if len(sales.log_price) < MIN_SALES:
        raise ValueError(
            f"pricing needs at least {MIN_SALES} sold listings with an album and a price; "
            f"found {len(sales.log_price)} (ingest sold listings first)"
        )


class RegressionPricer:
    """Quotes prices with a fitted `AlbumPriceModel`; `refresh` loads the current sales."""

    def __init__(self, model: AlbumPriceModel, rates: Rates, currency: str,
                 metadata: dict[str, Any]) -> None:
        rates.from_base(1.0, currency)  # an unknown display currency fails here, not per quote
        self.model = model
        self.rates = rates
        self.currency = currency.upper()
        self.metadata = metadata
        self._sales: SalesData | None = None
        self._by_album: dict[int, np.ndarray] = {}
        self._surfaces: dict[int, GradeSurface] = {}

    @classmethod
    def train(
        cls,
        sales: SalesData,
        rates: Rates,
        currency: str,
        grade_prior: GradePrior | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> RegressionPricer:
        """Fit the model on every sold listing in `sales`."""
        require_enough_sales(sales)
        model = default_model(grade_prior).fit(sales.inputs, sales.log_price)
        metadata = {
            "format": FORMAT_VERSION,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "training_data_version": sales.version,
            "sold_listings": len(sales.log_price),
            "albums": int(sales.inputs[ALBUM_COLUMN].nunique()),
            "asking_prices": grade_prior.listings_ if grade_prior is not None else 0,
            "features": NUMERIC_FEATURES + CATEGORICAL_FEATURES + model.extra_features(),
            "base_currency": rates.base,
            "rates_date": rates.date,
            "target": "log item price (shipping excluded) in the base currency",
            "sklearn": sklearn.__version__,
            "metrics": metrics or {},
        }
        pricer = cls(model, rates, currency, metadata)
        pricer._use_sales(sales)
        return pricer

    def save(self, path: Path) -> Path:
        """Write the model and its metadata with joblib (atomically) and return the path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".part")
        joblib.dump({"model": self.model, "metadata": self.metadata}, partial)
        partial.replace(path)
        return path

    @classmethod
    def load(cls, path: Path, rates: Rates, currency: str) -> RegressionPricer:
        """A pricer from a file `save` wrote; call `refresh` before quoting."""
        try:
            saved = joblib.load(path)
        except FileNotFoundError as error:
            raise PricingModelError(f"{path}: no saved pricing model") from error
        except Exception as error:  # joblib raises many kinds for damaged or foreign files
            raise PricingModelError(f"{path}: cannot read the pricing model "
                                   f"({type(error).__name__}: {error})") from error
        if not isinstance(saved, dict) or saved.get("metadata", {}).get("format") != FORMAT_VERSION:
            raise PricingModelError(
                f"{path}: not a pricing model of format {FORMAT_VERSION}; run "
                "`vinylprice train-pricing` again"
            )
        metadata = saved["metadata"]
        if metadata.get("base_currency") != rates.base:
            raise PricingModelError(
                f"{path}: trained in {metadata.get('base_currency')}, but the base currency is "
                f"now {rates.base}; run `vinylprice train-pricing` again"
            )
        return cls(saved["model"], rates, currency, metadata)

    def refresh(self, database: Database) -> RegressionPricer:
        """Load the current sold listings: the comparables quotes start from."""
        sales = prepare_sales(load_listings(database, "sold"), self.rates)
        self.model.remember_albums(sales.inputs, sales.log_price)
        self._use_sales(sales)
        return self

    def quote(
        self,
        album_id: int,
        sleeve_grade: str | None = None,
        record_grade: str | None = None,
    ) -> Price | None:
        if self._sales is None:
            raise RuntimeError("RegressionPricer.quote before refresh(database) or train(...)")
        positions = self._by_album.get(album_id)
        if positions is None or len(positions) == 0:
            return None

        sleeve, record = parse_grade(sleeve_grade), parse_grade(record_grade)
        quantiles = self._surface(album_id).quote(sleeve, record)
        low, suggested, high = (self._display(value) for value in quantiles)
        closest = self._closest(positions, sleeve, record, float(np.log(quantiles[1])))
        return Price(
            suggested=suggested,
            low=low,
            high=high,
            currency=self.currency,
            comparables=len(positions),
            method=f"gradient-boosted model on {self.metadata.get('sold_listings')} sold "
            f"listings (data {self.metadata.get('training_data_version')})",
            rough=len(positions) < ROUGH_BELOW,
            closest=closest,
            note=_note(sleeve_grade, record_grade, sleeve, record),
        )

    def _use_sales(self, sales: SalesData) -> None:
        self._sales = sales
        self._surfaces = {}
        comparable = sales.inputs[COMPARABLE_COLUMN].to_numpy(dtype=bool)
        albums = sales.inputs[ALBUM_COLUMN].to_numpy()
        self._by_album = {
            int(album): np.flatnonzero(comparable & (albums == album))
            for album in np.unique(albums[comparable])
        }

    def _surface(self, album_id: int) -> GradeSurface:
        if album_id not in self._surfaces:
            assert self._sales is not None
            comparables = self._sales.inputs.iloc[self._marginal_sample(album_id)]
            self._surfaces[album_id] = GradeSurface.compute(self.model, comparables)
        return self._surfaces[album_id]

    def _marginal_sample(self, album_id: int) -> np.ndarray:
        # The quote is a median over comparables; beyond a few dozen, an even spread of them
        # along the price order gives the same median for a fraction of the work.
        assert self._sales is not None
        positions = self._by_album[album_id]
        if len(positions) <= MARGINAL_SALES:
            return positions
        by_price = positions[np.argsort(self._sales.log_price[positions], kind="stable")]
        return by_price[np.linspace(0, len(by_price) - 1, MARGINAL_SALES).round().astype(int)]

    def _closest(self, positions: np.ndarray, sleeve: float | None, record: float | None,
                 suggested_log: float) -> tuple[Comparable, ...]:
        assert self._sales is not None
        inputs = self._sales.inputs.iloc[positions]
        distance = np.zeros(len(positions))
        for asked, column in ((sleeve, "sleeve_rank"), (record, "record_rank")):
            if asked is not None:
                ranks = inputs[column].to_numpy(dtype=float)
                distance += np.where(np.isnan(ranks), UNKNOWN_GRADE_DISTANCE, abs(ranks - asked))
        price_gap = abs(self._sales.log_price[positions] - suggested_log)
        order = np.lexsort((price_gap, distance))[:CLOSEST]
        return tuple(self._comparable(int(positions[index])) for index in order)

    def _comparable(self, position: int) -> Comparable:
        assert self._sales is not None
        row = self._sales.listings.iloc[position]
        sold = row["sold_date"]
        return Comparable(
            title=str(row["title"] or ""),
            price=self._display(float(np.exp(self._sales.log_price[position]))),
            currency=self.currency,
            sleeve_grade=str(row["sleeve_grade"]) if _present(row["sleeve_grade"]) else None,
            record_grade=str(row["record_grade"]) if _present(row["record_grade"]) else None,
            sold_date=pd.Timestamp(sold).date().isoformat() if _present(sold) else None,
        )

    def _display(self, base_amount: float) -> float:
        return round(self.rates.from_base(float(base_amount), self.currency), 2)


class GradeSurface:
    """An album's quotes for every grade pair, made non-decreasing in each grade.

    A quote is the median, over the album's comparables re-graded as asked, of the model's
    P25, P50 and P75. Computed for every pair of whole sleeve and record grades (and for 'keep
    each sale's own grade' on either side), a running maximum along each grade then guarantees
    that a better grade never quotes lower.
    """

    def __init__(self, both: np.ndarray, sleeve_only: np.ndarray, record_only: np.ndarray,
                 typical: np.ndarray) -> None:
        self.both, self.sleeve_only, self.record_only = both, sleeve_only, record_only
        self.typical = typical

    @classmethod
    def compute(cls, model: AlbumPriceModel, comparables: pd.DataFrame) -> GradeSurface:
        """Price `comparables` in every grade pair with `model` (one batched prediction)."""
        steps = len(GRADE_STEPS)
        pairs: list[tuple[float | None, float | None]] = [
            (float(sleeve), float(record)) for sleeve in GRADE_STEPS for record in GRADE_STEPS
        ]
        pairs += [(float(sleeve), None) for sleeve in GRADE_STEPS]
        pairs += [(None, float(record)) for record in GRADE_STEPS]
        pairs.append((None, None))
        medians = np.median(np.exp(model.predict_with_grades(comparables, pairs)), axis=1)

        both = medians[: steps * steps].reshape(steps, steps, 3)
        both = np.maximum.accumulate(np.maximum.accumulate(both, axis=0), axis=1)
        sleeve_only = np.maximum.accumulate(medians[steps * steps : steps * steps + steps], axis=0)
        record_only = np.maximum.accumulate(medians[steps * steps + steps : -1], axis=0)
        return cls(both, sleeve_only, record_only, medians[-1])

    def quote(self, sleeve: float | None, record: float | None) -> np.ndarray:
        """(P25, P50, P75) in the base currency for the grades; None keeps the sales' own."""
        if sleeve is not None and record is not None:
            return self.both[_step(sleeve), _step(record)]
        if sleeve is not None:
            return self.sleeve_only[_step(sleeve)]
        if record is not None:
            return self.record_only[_step(record)]
        return self.typical


def _step(rank: float) -> int:
    return int(np.clip(np.floor(rank) - GRADE_STEPS[0], 0, len(GRADE_STEPS) - 1))


def fit_grade_prior(database: Database, rates: Rates) -> GradePrior | None:
    """The grade prior from the asking prices in the database; None when there are too few."""
    asking = load_listings(database, "asking")
    if len(asking) < 100:
        log.info("pricing: %d asking prices, too few for a grade prior; none used", len(asking))
        return None
    return GradePrior().fit(asking, rates)


def model_path(models_dir: Path) -> Path:
    return models_dir / MODEL_FILE


def _note(sleeve_text: str | None, record_text: str | None, sleeve: float | None,
          record: float | None) -> str:
    parts = []
    for side, text, rank in (("sleeve", sleeve_text, sleeve), ("record", record_text, record)):
        if text and rank is None:
            parts.append(f"{side} grade '{text}' not understood (expected e.g. VG+, NM, EX)")
    asked = [_priced_grade(side, text, rank)
             for side, text, rank in (("sleeve", sleeve_text, sleeve),
                                      ("record", record_text, record))
             if rank is not None]
    if asked:
        parts.append(f"priced for {' and '.join(asked)}")
    else:
        parts.append("no grades given: priced as a typical copy of the album's sales")
    parts.append("item price, shipping extra")
    return "; ".join(parts)


def _priced_grade(side: str, text: str | None, rank: float) -> str:
    # Quotes exist for whole grades only; a grade between two is priced as the lower one.
    priced = grade_label(float(GRADE_STEPS[_step(rank)]))
    if priced == grade_label(rank):
        return f"{side} {priced}"
    return f"{side} {priced} ('{text}' is between grades; priced as the lower)"


def _present(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return not pd.isna(value)


__all__ = [
    "PricingModelError",
    "RegressionPricer",
    "SalesData",
    "default_model",
    "fit_grade_prior",
    "model_path",
    "prepare_sales",
    "require_enough_sales",
]
