"""How much condition moves a price, learnt from Discogs asking prices.

Sold listings are few and their grades patchy; the Discogs export holds thousands of asking
prices with both grades. A gradient-boosted model of log asking price on the release's
popularity (have, want, rating), format, genre, year and the two grades, constrained to rise
with each grade, is averaged over every listing with one grade set to each value: that partial
dependence, relative to VG+, is the grade effect the sold-price model can lean on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from vinylprice.pricing._threads import one_thread
from vinylprice.pricing.currency import Rates
from vinylprice.pricing.features import extra_field, price_in_base
from vinylprice.pricing.grades import VERY_GOOD_PLUS, grade_label, parse_grade

GRADE_GRID = np.arange(1.0, 9.01, 0.5)
_COUNTS = ["have", "want", "votes", "number_of_tracks"]
_NUMBERS = ["rating", "limited_edition"]
_CATEGORIES = ["release_format", "genre"]


class GradePrior:
    """Log-price effect of sleeve and record grades, relative to VG+, from asking prices."""

    def __init__(self, max_iter: int = 300, learning_rate: float = 0.05) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate

    def fit(self, asking: pd.DataFrame, rates: Rates) -> GradePrior:
        """Learn the effects from asking-price listings (as `features.load_listings` gives)."""
        inputs = _release_inputs(asking)
        target = np.log(price_in_base(asking, rates))
        usable = target.notna() & inputs["record_rank"].notna()
        if usable.sum() < 100:
            raise ValueError(
                f"a grade prior needs at least 100 graded asking prices; found {int(usable.sum())}"
            )
        inputs, target = inputs[usable], target[usable]
        # An export without, say, vote counts leaves an empty column the booster cannot bin.
        inputs = inputs.loc[:, inputs.notna().any()]

        columns = list(inputs.columns)
        model = HistGradientBoostingRegressor(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            min_samples_leaf=30,
            categorical_features=[columns.index(name) for name in _CATEGORIES
                                  if name in columns],
            monotonic_cst=[1 if name in ("sleeve_rank", "record_rank") else 0 for name in columns],
            random_state=0,
        )
        with one_thread():
            model.fit(inputs, target)
            self.sleeve_effect_ = _partial_dependence(model, inputs, "sleeve_rank")
            self.record_effect_ = _partial_dependence(model, inputs, "record_rank")
        self.listings_ = int(usable.sum())
        return self

    def effect(self, sleeve_rank: pd.Series, record_rank: pd.Series) -> pd.Series:
        """Log-price effect of each (sleeve, record) pair; an unknown grade adds nothing, and
        NaN when both are unknown."""
        sleeve = _interpolate(self.sleeve_effect_, sleeve_rank)
        record = _interpolate(self.record_effect_, record_rank)
        both_unknown = np.isnan(sleeve) & np.isnan(record)
        total = np.nan_to_num(sleeve) + np.nan_to_num(record)
        return pd.Series(np.where(both_unknown, np.nan, total), index=sleeve_rank.index)

    def table(self) -> list[tuple[str, float, float]]:
        """(grade, sleeve price factor, record price factor) for each whole grade."""
        rows = []
        for rank in GRADE_GRID[::2]:
            position = int(np.searchsorted(GRADE_GRID, rank))
            rows.append((
                grade_label(float(rank)) or str(rank),
                float(np.exp(self.sleeve_effect_[position])),
                float(np.exp(self.record_effect_[position])),
            ))
        return rows


def _release_inputs(asking: pd.DataFrame) -> pd.DataFrame:
    inputs = pd.DataFrame(index=asking.index)
    inputs["sleeve_rank"] = asking["sleeve_grade"].map(parse_grade).astype(float)
    inputs["record_rank"] = asking["record_grade"].map(parse_grade).astype(float)
    inputs["year"] = asking["year"].astype(float)
    for name in _COUNTS:
        inputs[name] = np.log1p(_extra_numbers(asking, name))
    for name in _NUMBERS:
        inputs[name] = _extra_numbers(asking, name)
    for name in _CATEGORIES:
        values = asking["extra"].map(lambda extra, n=name: extra_field(extra, n))
        inputs[name] = pd.Categorical(values.fillna("unknown").astype(str))
    return inputs


def _extra_numbers(asking: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(asking["extra"].map(lambda extra: extra_field(extra, name)),
                         errors="coerce").astype(float)


def _partial_dependence(
    model: HistGradientBoostingRegressor, inputs: pd.DataFrame, column: str
) -> np.ndarray:
    if column not in inputs.columns:
        return np.zeros(len(GRADE_GRID))
    sample = inputs.sample(n=min(len(inputs), 2000), random_state=0)
    averages = []
    for rank in GRADE_GRID:
        varied = sample.copy()
        varied[column] = rank
        averages.append(float(np.mean(model.predict(varied))))
    averages_array = np.maximum.accumulate(np.array(averages))
    reference = averages_array[int(np.searchsorted(GRADE_GRID, VERY_GOOD_PLUS))]
    return averages_array - reference


def _interpolate(curve: np.ndarray, ranks: pd.Series) -> np.ndarray:
    values = ranks.to_numpy(dtype=float)
    result = np.interp(values, GRADE_GRID, curve)
    return np.where(np.isnan(values), np.nan, result)
