"""Pricing: turn an album (and optional grades) into a suggested price with its evidence.

`load_pricer` gives the trained regression model when one is saved under the models folder,
else the median of sold comparables; `train_pricing` fits and saves the model.
"""

from __future__ import annotations

import logging

from vinylprice.pricing.base import Pricer
from vinylprice.pricing.median import MedianPricer
from vinylprice.settings import Settings
from vinylprice.store import Database

log = logging.getLogger(__name__)


def load_pricer(settings: Settings, database: Database) -> Pricer:
    """The saved regression model, refreshed with the current sales; else the median pricer."""
    from vinylprice.pricing.currency import Rates
    from vinylprice.pricing.regression import PricingModelError, RegressionPricer, model_path

    rates = Rates.from_settings(settings)
    path = model_path(settings.models_dir)
    if path.is_file():
        try:
            pricer = RegressionPricer.load(path, rates, settings.currency).refresh(database)
        except PricingModelError as error:
            log.warning("pricing: %s; falling back to the median of sold comparables", error)
        else:
            log.info("pricing: model %s loaded (data %s)", path.name,
                     pricer.metadata.get("training_data_version"))
            return pricer
    return MedianPricer(settings.currency, rates).fit(database)


def train_pricing(
    settings: Settings,
    database: Database,
    use_asking_prices: bool = True,
    evaluate_first: bool = False,
    require_model: bool = False,
) -> str:
    """Fit the regression model on all sold listings, save it, and say what was saved.

    With `evaluate_first` the model is cross-validated (5 folds, one shuffle) before the
    final fit and its scores are saved with it. With too few sales nothing is trained: that
    raises ValueError when `require_model`, else the returned text says so (so `retrain`
    goes on with the median pricer).
    """
    from vinylprice.pricing.currency import Rates
    from vinylprice.pricing.evaluate import evaluate
    from vinylprice.pricing.features import load_listings
    from vinylprice.pricing.regression import (
        MIN_SALES,
        RegressionPricer,
        fit_grade_prior,
        model_path,
        prepare_sales,
        require_enough_sales,
    )

    rates = Rates.from_settings(settings)
    sales = prepare_sales(load_listings(database, "sold"), rates)
    if len(sales.log_price) < MIN_SALES:
        if require_model:
            require_enough_sales(sales)
        return (f"pricing model not trained: {len(sales.log_price)} sold listings with an album "
                f"and a price, fewer than {MIN_SALES}; the median of sold comparables prices")
    prior = fit_grade_prior(database, rates) if use_asking_prices else None

    metrics: dict[str, object] = {}
    if evaluate_first:
        evaluation = evaluate(sales, rates.base, prior, folds=5, repeats=1)
        metrics = evaluation.metrics()

    pricer = RegressionPricer.train(sales, rates, settings.currency, prior, metrics)
    path = pricer.save(model_path(settings.models_dir))
    scores = ""
    if metrics:
        scores = (f"; cross-validated MdAPE {metrics['model_mdape']:.3f} vs album median "
                  f"{metrics['album_median_mdape']:.3f}, P25-P75 coverage "
                  f"{metrics['model_coverage']:.0%}")
    return (f"pricing model saved to {path}: {pricer.metadata['sold_listings']} sold listings, "
            f"{pricer.metadata['asking_prices']} asking prices, data "
            f"{pricer.metadata['training_data_version']}{scores}")


__all__ = ["MedianPricer", "Pricer", "load_pricer", "train_pricing"]
