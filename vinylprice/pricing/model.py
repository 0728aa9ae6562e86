"""The sold-price model: gradient-boosted quantiles of log price around the album's own median.

The album's other comparable sales are the strongest signal, so the model starts from their
median (log scale) and learns what moves a listing away from it. Its inputs, beyond the
listing's own features (grades, shipping, title hints, lots):

- the median log price of the listing's nearest titles within the album (the same pressing
  or the same seller's template sells alike),
- a ridge regression on the title's words and the listing's numbers, stacked out of fold;
  its strength is chosen by grouped cross-validation on the training listings alone,
- the Discogs grade prior, when one is given.

Three bagged quantile boosters (P25, P50, P75) give the suggested price and its range. Each bag
is fitted on a bootstrap of the listing groups (Poisson weights, so a group is in or out of a
bag as a whole): with a few hundred noisy sales, averaging over resamples steadies the trees
more than feature subsampling alone. The range is widened by a conformal margin measured out of
fold, so that it holds about half of the true prices. Every booster is constrained to rise with
the sleeve and record grades (and the grade prior) and the stacked ridge never sees grades. The
constraint shapes the trees, but scikit-learn then resets quantile leaves to the residuals'
quantile, which can dent it by a few cents; the pricer therefore takes a running maximum over
grades (`regression.py`), so a better grade never lowers a quote.

Signals that come from other listings always leave out the listing's own group (the same item
seen twice), while fitting and predicting alike, so no booster learns from its own target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder, StandardScaler

from vinylprice.pricing._threads import one_thread
from vinylprice.pricing.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from vinylprice.pricing.grade_prior import GradePrior

QUANTILES = (0.25, 0.5, 0.75)
ALBUM_COLUMN, GROUP_COLUMN = "album_id", "listing_group"
COMPARABLE_COLUMN, TITLE_COLUMN = "comparable", "title"
GRADE_FEATURES = ("sleeve_rank", "record_rank", "grade_prior")
STACKED_NUMBERS = [name for name in NUMERIC_FEATURES if name not in GRADE_FEATURES]
INNER_FOLDS = 5


class AlbumPriceModel(BaseEstimator, RegressorMixin):
    """Predicts log item price; `X` holds `features.describe_listings` columns plus
    `album_id`, `listing_group`, `comparable` (a sale of the album itself) and `title`."""

    def __init__(
        self,
        grade_prior: GradePrior | None = None,
        learning_rate: float = 0.05,
        max_iter: int = 200,
        max_leaf_nodes: int = 8,
        min_samples_leaf: int = 5,
        l2_regularization: float = 1.0,
        max_features: float = 0.3,
        bags: int = 10,
        neighbours: int = 5,
        ridge_alphas: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0),
        calibration_folds: int = 3,
    ) -> None:
        self.grade_prior = grade_prior
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_features = max_features
        self.bags = bags
        self.neighbours = neighbours
        self.ridge_alphas = ridge_alphas
        self.calibration_folds = calibration_folds

    def fit(self, X: pd.DataFrame, y: pd.Series | np.ndarray) -> AlbumPriceModel:
        """Fit the stacked ridge, the quantile boosters and the range's conformal margin."""
        target = np.asarray(y, dtype=float)
        if len(X) != len(target) or len(X) < INNER_FOLDS:
            raise ValueError(f"expected one log price per listing and at least {INNER_FOLDS} "
                             f"listings; got {len(target)} prices for {len(X)} listings")
        self.remember_albums(X, target)

        residual = target - self._album_signal(X)["album_median"].to_numpy()
        self._fit_listing_ridge(X, residual)
        design = self._design(X)
        self.feature_names_ = list(design.columns)

        bag_weights = _group_bootstrap_weights(X[GROUP_COLUMN], self.bags)
        with one_thread():
            self.boosters_ = {
                quantile: [self._booster(quantile, seed).fit(design, residual,
                                                             boost__sample_weight=weights)
                           for seed, weights in enumerate(bag_weights)]
                for quantile in QUANTILES
            }
            self.margin_ = self._conformal_margin(design, residual, X[GROUP_COLUMN])
        return self

    def remember_albums(self, X: pd.DataFrame, y: pd.Series | np.ndarray) -> AlbumPriceModel:
        """Keep the sales that album medians and title neighbours are drawn from."""
        target = np.asarray(y, dtype=float)
        known = np.isfinite(target)
        self.sales_ = pd.DataFrame({
            "album": X[ALBUM_COLUMN].to_numpy()[known],
            "group": X[GROUP_COLUMN].to_numpy()[known],
            "comparable": X[COMPARABLE_COLUMN].to_numpy(dtype=bool)[known],
            "title": X[TITLE_COLUMN].fillna("").astype(str).to_numpy()[known],
            "log_price": target[known],
        })
        self.global_median_ = float(np.median(target[known]))
        self.vectoriser_ = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4),
                                           sublinear_tf=True).fit(self.sales_["title"])
        self.title_vectors_ = self.vectoriser_.transform(self.sales_["title"])
        self.rows_by_album_ = {
            album: rows.to_numpy() for album, rows in self.sales_.groupby("album").groups.items()
        }
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The suggested log price (P50) of each listing."""
        return self.predict_quantiles(X)[:, 1]

    def predict_quantiles(self, X: pd.DataFrame) -> np.ndarray:
        """P25, P50, P75 of log price per listing (columns in that order, never crossing)."""
        return self._quantiles_from_design(self._design(X))

    def _quantiles_from_design(self, design: pd.DataFrame) -> np.ndarray:
        album_median = design["album_median"].to_numpy()
        # Every booster was fitted on the same design, so their column encoders are equal:
        # encode once and let each booster predict from that.
        encoded = self.boosters_[QUANTILES[0]][0].named_steps["columns"].transform(design)
        with one_thread():
            residuals = np.column_stack([
                np.mean([booster.named_steps["boost"].predict(encoded)
                         for booster in self.boosters_[quantile]], axis=0)
                for quantile in QUANTILES
            ])
        # Min, median and max of functions that rise with a grade rise with it too, and so do
        # the range's ends after a constant margin: sorting never breaks monotonicity.
        low, middle, high = np.sort(residuals, axis=1).T
        low, high = np.minimum(low - self.margin_, middle), np.maximum(high + self.margin_, middle)
        return np.column_stack([low, middle, high]) + album_median[:, None]

    def predict_with_grades(
        self, X: pd.DataFrame, grades: list[tuple[float | None, float | None]]
    ) -> np.ndarray:
        """P25, P50, P75 of every listing re-graded as each (sleeve, record) pair; None keeps
        the listing's own grade. Shape: (pairs, listings, 3)."""
        design = self._design(X)
        variants = []
        for sleeve, record in grades:
            variant = design.copy()
            if sleeve is not None:
                variant["sleeve_rank"] = sleeve
            if record is not None:
                variant["record_rank"] = record
            if self.grade_prior is not None:
                variant["grade_prior"] = self.grade_prior.effect(
                    variant["sleeve_rank"], variant["record_rank"]
                )
            variants.append(variant)
        stacked = pd.concat(variants, ignore_index=True)
        quantiles = self._quantiles_from_design(stacked)
        return quantiles.reshape(len(grades), len(X), len(QUANTILES))

    def extra_features(self) -> list[str]:
        """Inputs the model derives itself, beyond the listing's own features."""
        return [name for name in self.feature_names_
                if name not in NUMERIC_FEATURES + CATEGORICAL_FEATURES]

    def _album_signal(self, X: pd.DataFrame) -> pd.DataFrame:
        comparable = self.sales_["comparable"].to_numpy()
        groups = self.sales_["group"].to_numpy()
        prices = self.sales_["log_price"].to_numpy()
        medians, counts = [], []
        for album, group in zip(X[ALBUM_COLUMN], X[GROUP_COLUMN], strict=True):
            rows = self.rows_by_album_.get(album, np.array([], dtype=int))
            rows = rows[comparable[rows] & (groups[rows] != group)]
            medians.append(float(np.median(prices[rows])) if len(rows) else self.global_median_)
            counts.append(len(rows))
        return pd.DataFrame({"album_median": medians, "album_sales": counts}, index=X.index)

    def _neighbour_signal(self, X: pd.DataFrame) -> pd.DataFrame:
        groups = self.sales_["group"].to_numpy()
        prices = self.sales_["log_price"].to_numpy()
        medians = np.full(len(X), np.nan)
        best = np.zeros(len(X))
        vectors = self.vectoriser_.transform(X[TITLE_COLUMN].fillna("").astype(str))
        albums = X[ALBUM_COLUMN].to_numpy()
        for album in pd.unique(albums):
            queries = np.flatnonzero(albums == album)
            rows = self.rows_by_album_.get(album, np.array([], dtype=int))
            if len(rows) == 0:
                continue
            similarity = (vectors[queries] @ self.title_vectors_[rows].T).toarray()
            for offset, query in enumerate(queries):
                others = groups[rows] != X[GROUP_COLUMN].iloc[query]
                if not others.any():
                    continue
                scores = np.where(others, similarity[offset], -np.inf)
                nearest = np.argsort(-scores, kind="stable")[: min(self.neighbours, others.sum())]
                medians[query] = float(np.median(prices[rows][nearest]))
                best[query] = float(scores[nearest[0]])
        return pd.DataFrame({"neighbour_median": medians, "neighbour_similarity": best},
                            index=X.index)

    def _fit_listing_ridge(self, X: pd.DataFrame, residual: np.ndarray) -> None:
        # Trained out of fold for the boosters' training rows, so they see it as they will
        # at prediction time; kept by group for the training listings a quote starts from.
        inputs = _ridge_inputs(X)
        groups = X[GROUP_COLUMN]
        search = GridSearchCV(self._ridge(self.ridge_alphas[0]),
                              {"ridge__alpha": list(self.ridge_alphas)},
                              scoring="neg_mean_absolute_error", cv=GroupKFold(INNER_FOLDS))
        self.ridge_alpha_ = float(search.fit(inputs, residual, groups=groups)
                                  .best_params_["ridge__alpha"])

        oof = np.zeros(len(X))
        for train, test in GroupKFold(INNER_FOLDS).split(inputs, residual, groups):
            ridge = self._ridge(self.ridge_alpha_).fit(inputs.iloc[train], residual[train])
            oof[test] = ridge.predict(inputs.iloc[test])
        self.ridge_ = self._ridge(self.ridge_alpha_).fit(inputs, residual)
        self.ridge_out_of_fold_ = dict(zip(_listing_keys(X), oof, strict=True))

    def _listing_ridge(self, X: pd.DataFrame) -> np.ndarray:
        fitted = self.ridge_.predict(_ridge_inputs(X))
        known = [self.ridge_out_of_fold_.get(key) for key in _listing_keys(X)]
        return np.array([value if value is not None else fresh
                         for value, fresh in zip(known, fitted, strict=True)])

    def _design(self, X: pd.DataFrame) -> pd.DataFrame:
        design = X[NUMERIC_FEATURES + CATEGORICAL_FEATURES].copy()
        album = self._album_signal(X)
        design["album_median"] = album["album_median"]
        design["album_sales"] = album["album_sales"]
        if self.neighbours:
            neighbours = self._neighbour_signal(X)
            design["neighbour_median"] = neighbours["neighbour_median"] - album["album_median"]
            design["neighbour_similarity"] = neighbours["neighbour_similarity"]
        design["listing_ridge"] = self._listing_ridge(X)
        if self.grade_prior is not None:
            design["grade_prior"] = self.grade_prior.effect(
                design["sleeve_rank"], design["record_rank"]
            )
        return design

    def _conformal_margin(self, design: pd.DataFrame, residual: np.ndarray,
                          groups: pd.Series) -> float:
        # How far out of fold the P25-P75 range misses, at its median: widening both ends by
        # that much makes the range hold about half of the unseen prices.
        misses = []
        for train, test in GroupKFold(self.calibration_folds).split(design, residual, groups):
            low = self._booster(0.25).fit(design.iloc[train], residual[train])
            high = self._booster(0.75).fit(design.iloc[train], residual[train])
            lows, highs = low.predict(design.iloc[test]), high.predict(design.iloc[test])
            truth = residual[test]
            misses.append(np.maximum(np.minimum(lows, highs) - truth,
                                     truth - np.maximum(lows, highs)))
        return float(np.median(np.concatenate(misses)))

    def _ridge(self, alpha: float) -> Pipeline:
        numbers = Pipeline([
            ("impute", SimpleImputer(strategy="median", add_indicator=True,
                                     keep_empty_features=True)),
            ("scale", StandardScaler()),
        ])
        columns = ColumnTransformer([
            ("words", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
             TITLE_COLUMN),
            ("numbers", numbers, STACKED_NUMBERS),
        ])
        return Pipeline([("columns", columns), ("ridge", Ridge(alpha=alpha))])

    def _booster(self, quantile: float, seed: int = 0) -> Pipeline:
        columns = ColumnTransformer(
            [("categories", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                           encoded_missing_value=-1), CATEGORICAL_FEATURES)],
            remainder="passthrough",
            verbose_feature_names_out=False,
        ).set_output(transform="pandas")
        booster = HistGradientBoostingRegressor(
            loss="quantile",
            quantile=quantile,
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            max_features=self.max_features,
            categorical_features=CATEGORICAL_FEATURES,
            monotonic_cst={name: 1 for name in GRADE_FEATURES if name in self.feature_names_},
            random_state=seed,
        )
        return Pipeline([("columns", columns), ("boost", booster)])


def _group_bootstrap_weights(groups: pd.Series, bags: int) -> list[np.ndarray]:
    # Poisson(1) counts per group approximate drawing the groups with replacement, and keep
    # every row of a group in or out together, as the out-of-group signals assume.
    unique, codes = np.unique(groups.to_numpy(), return_inverse=True)
    return [np.random.default_rng(seed).poisson(1.0, len(unique))[codes].astype(float)
            for seed in range(bags)]


def _listing_keys(X: pd.DataFrame) -> list[tuple[object, str]]:
    return list(zip(X[GROUP_COLUMN], X[TITLE_COLUMN].fillna("").astype(str), strict=True))


def _ridge_inputs(X: pd.DataFrame) -> pd.DataFrame:
    inputs = X[[TITLE_COLUMN, *STACKED_NUMBERS]].copy()
    inputs[TITLE_COLUMN] = inputs[TITLE_COLUMN].fillna("").astype(str)
    return inputs
