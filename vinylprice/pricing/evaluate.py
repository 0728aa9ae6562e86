"""Grouped cross-validation of the pricing model against the median baselines.

Every method is scored on the same folds. The baseline is the album median of the median
pricer (the album's comparable sales); the median of every sale the album's search found,
the figure the pricing issue started from, is shown beside it. Folds are grouped by listing
(`listing_groups`): a listing seen twice (relisted, or in two exports) is always on one side
of a split. The folds are drawn `repeats` times with different shuffles and the scores
averaged, because one draw of 400 listings moves the median percentage error by a few points
on its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from joblib import Parallel, delayed
from sklearn.model_selection import GroupKFold

from vinylprice.pricing.grade_prior import GradePrior
from vinylprice.pricing.model import ALBUM_COLUMN, COMPARABLE_COLUMN, GROUP_COLUMN
from vinylprice.pricing.regression import SalesData, default_model

log = logging.getLogger(__name__)

MODEL_WITH_PRIOR = "model + Discogs grade prior"
MODEL_SOLD_ONLY = "model, sold listings only"
ALBUM_MEDIAN = "album median (baseline)"
SEARCH_MEDIAN = "album median, whole search"
GLOBAL_MEDIAN = "global median"


@dataclass(frozen=True)
class Score:
    """One method's errors on one set of listings, averaged over the repeats."""

    method: str
    listings: str
    count: int
    mae: float
    mdape: float
    coverage: float


@dataclass
class Evaluation:
    """Scores of every method, and what the Discogs grade prior changed."""

    folds: int
    repeats: int
    listings: int
    groups: int
    currency: str
    scores: list[Score] = field(default_factory=list)
    prior_table: list[tuple[str, float, float]] = field(default_factory=list)
    seconds: float = 0.0

    def score(self, method: str, listings: str = "all sold") -> Score:
        """The score of `method` on `listings` ('all sold' or 'album comparables')."""
        for score in self.scores:
            if score.method == method and score.listings == listings:
                return score
        raise KeyError(f"no score for {method!r} on {listings!r}")

    def shipped_model(self) -> str:
        """The variant `train-pricing` saves: with the grade prior whenever there is one."""
        with_prior = any(score.method == MODEL_WITH_PRIOR for score in self.scores)
        return MODEL_WITH_PRIOR if with_prior else MODEL_SOLD_ONLY

    def metrics(self) -> dict[str, object]:
        """The scores saved with a trained model: the variant it uses, against the baselines."""
        model_name = self.shipped_model()
        model, album, overall = (self.score(model_name), self.score(ALBUM_MEDIAN),
                                 self.score(GLOBAL_MEDIAN))
        return {
            "folds": self.folds,
            "repeats": self.repeats,
            "listings": self.listings,
            "currency": self.currency,
            "model": model_name,
            "model_mae": model.mae,
            "model_mdape": model.mdape,
            "model_coverage": model.coverage,
            "album_median_mae": album.mae,
            "album_median_mdape": album.mdape,
            "search_median_mdape": self.score(SEARCH_MEDIAN).mdape,
            "global_median_mae": overall.mae,
            "global_median_mdape": overall.mdape,
        }

    def targets(self) -> dict[str, bool]:
        """The acceptance checks, for the variant `train-pricing` saves."""
        model, baseline = self.score(self.shipped_model()), self.score(ALBUM_MEDIAN)
        return {
            "MdAPE >= 20% below the album-median baseline": model.mdape <= 0.8 * baseline.mdape,
            "MAE not worse than the baseline": model.mae <= baseline.mae,
            "P25-P75 coverage within 40-60%": 0.40 <= model.coverage <= 0.60,
        }

    def table(self) -> str:
        """The evaluation as a fixed-width text table with its verdicts."""
        lines = [
            (f"Grouped {self.folds}-fold cross-validation, "
             f"{'one shuffle' if self.repeats == 1 else f'{self.repeats} shuffles averaged'}; "
             f"{self.listings} sold listings in {self.groups} listing groups; item prices in "
             f"{self.currency}."),
            "",
            f"{'listings':<19} {'method':<29} {'n':>4} {'MAE':>7} {'MdAPE':>6} {'P25-P75':>8}",
        ]
        for score in self.scores:
            lines.append(
                f"{score.listings:<19} {score.method:<29} {score.count:>4} {score.mae:>7.2f} "
                f"{score.mdape:>6.3f} {score.coverage:>7.0%}"
            )
        lines += ["", *self._prior_lines(), "", *self._verdict_lines()]
        return "\n".join(lines)

    def _prior_lines(self) -> list[str]:
        if not self.prior_table:
            return ["No Discogs asking prices in the database: no grade prior evaluated."]
        with_prior, without = self.score(MODEL_WITH_PRIOR), self.score(MODEL_SOLD_ONLY)
        change = (with_prior.mdape - without.mdape) / without.mdape
        lines = [
            (f"Discogs grade prior: MdAPE {without.mdape:.3f} -> {with_prior.mdape:.3f} "
             f"({change:+.1%}), MAE {without.mae:.2f} -> {with_prior.mae:.2f}."),
            "Price factor vs VG+ learnt from asking prices:",
            "  grade  " + " ".join(f"{grade:>5}" for grade, _, _ in self.prior_table),
            "  sleeve " + " ".join(f"{sleeve:>5.2f}" for _, sleeve, _ in self.prior_table),
            "  record " + " ".join(f"{record:>5.2f}" for _, _, record in self.prior_table),
        ]
        return lines

    def _verdict_lines(self) -> list[str]:
        shipped = self.shipped_model()
        model, baseline = self.score(shipped), self.score(ALBUM_MEDIAN)
        lines = [
            (f"{shipped} vs album median: MdAPE "
             f"{model.mdape / baseline.mdape - 1:+.1%}, MAE {model.mae - baseline.mae:+.2f}, "
             f"coverage {model.coverage:.0%}.")
        ]
        for check, passed in self.targets().items():
            lines.append(f"  [{'met' if passed else 'NOT met'}] {check}")
        lines.append(f"({self.seconds:.0f} s)")
        return lines


def evaluate(
    sales: SalesData,
    currency: str,
    grade_prior: GradePrior | None = None,
    folds: int = 10,
    repeats: int = 3,
    jobs: int = 1,
) -> Evaluation:
    """Cross-validate the model (with and without the grade prior) and both baselines; `jobs`
    folds are fitted side by side (joblib processes). Raises ValueError, saying what was
    expected, for impossible arguments or too few sales."""
    if folds < 2 or repeats < 1 or jobs < 1:
        raise ValueError(f"folds must be at least 2, repeats and jobs at least 1; got folds "
                         f"{folds}, repeats {repeats}, jobs {jobs}")
    if len(sales.log_price) < 2 * folds:
        raise ValueError(f"{len(sales.log_price)} sold listings with an album and a price; need "
                         f"at least {2 * folds} for {folds} folds (ingest sold listings first)")
    started = time.perf_counter()
    groups = sales.inputs[GROUP_COLUMN].to_numpy()
    prices = np.exp(sales.log_price)
    methods: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {}
    if grade_prior is not None:
        methods[MODEL_WITH_PRIOR] = _model_method(sales, grade_prior)
    methods[MODEL_SOLD_ONLY] = _model_method(sales, None)
    methods[ALBUM_MEDIAN] = _album_median_method(sales, comparables_only=True)
    methods[SEARCH_MEDIAN] = _album_median_method(sales, comparables_only=False)
    methods[GLOBAL_MEDIAN] = _global_median_method(sales)

    splits = [
        (repeat, fold, test, train)
        for repeat in range(repeats)
        for fold, (train, test) in enumerate(
            GroupKFold(n_splits=folds, shuffle=True, random_state=repeat)
            .split(sales.inputs, prices, groups)
        )
    ]
    fold_results = Parallel(n_jobs=min(jobs, len(splits)), return_as="generator")(
        delayed(_predict_fold)(methods, train, test) for _, _, test, train in splits
    )
    predictions = {name: [np.zeros((len(prices), 3)) for _ in range(repeats)]
                   for name in methods}
    for done, ((repeat, fold, test, _), fold_predictions) in enumerate(
        zip(splits, fold_results, strict=True), start=1
    ):
        for name, predicted in fold_predictions.items():
            predictions[name][repeat][test] = predicted
        log.info("evaluate-pricing: shuffle %d fold %d done (%d of %d, %.0f s)", repeat + 1,
                 fold + 1, done, len(splits), time.perf_counter() - started)

    comparable = sales.inputs[COMPARABLE_COLUMN].to_numpy(dtype=bool)
    evaluation = Evaluation(folds, repeats, len(prices), len(set(groups)), currency)
    for listings, mask in (("all sold", np.ones(len(prices), dtype=bool)),
                           ("album comparables", comparable)):
        for name in methods:
            evaluation.scores.append(_score(name, listings, predictions[name], prices, mask))
    if grade_prior is not None:
        evaluation.prior_table = grade_prior.table()
    evaluation.seconds = time.perf_counter() - started
    return evaluation


def _predict_fold(
    methods: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]],
    train: np.ndarray,
    test: np.ndarray,
) -> dict[str, np.ndarray]:
    return {name: method(train, test) for name, method in methods.items()}


def _model_method(
    sales: SalesData, grade_prior: GradePrior | None
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    def predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        model = default_model(grade_prior)
        model.fit(sales.inputs.iloc[train], sales.log_price[train])
        return np.exp(model.predict_quantiles(sales.inputs.iloc[test]))

    return predict


def _album_median_method(
    sales: SalesData, comparables_only: bool
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    # The baseline pricer uses the album's comparables; the issue's own baseline figures took
    # every sale its search found (other records and lots too).
    prices = np.exp(sales.log_price)
    albums = sales.inputs[ALBUM_COLUMN].to_numpy()
    comparable = sales.inputs[COMPARABLE_COLUMN].to_numpy(dtype=bool)
    if not comparables_only:
        comparable = np.ones_like(comparable)

    def predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        fallback = np.percentile(prices[train], [25, 50, 75])
        result = np.empty((len(test), 3))
        for row, position in enumerate(test):
            same = train[comparable[train] & (albums[train] == albums[position])]
            result[row] = np.percentile(prices[same], [25, 50, 75]) if len(same) else fallback
        return result

    return predict


def _global_median_method(sales: SalesData) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    prices = np.exp(sales.log_price)

    def predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        return np.tile(np.percentile(prices[train], [25, 50, 75]), (len(test), 1))

    return predict


def _score(method: str, listings: str, repeats: list[np.ndarray], prices: np.ndarray,
           mask: np.ndarray) -> Score:
    maes, mdapes, coverages = [], [], []
    for predicted in repeats:
        low, middle, high = predicted[mask, 0], predicted[mask, 1], predicted[mask, 2]
        truth = prices[mask]
        errors = np.abs(middle - truth)
        maes.append(float(np.mean(errors)))
        mdapes.append(float(np.median(errors / truth)))
        coverages.append(float(np.mean((truth >= low) & (truth <= high))))
    return Score(method, listings, int(mask.sum()), float(np.mean(maes)),
                 float(np.mean(mdapes)), float(np.mean(coverages)))
