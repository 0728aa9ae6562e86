"""`vinylprice train-pricing` and `vinylprice evaluate-pricing`: the sold-price model."""

from __future__ import annotations

import argparse

from vinylprice.cli.main import CommandError
from vinylprice.settings import Settings
from vinylprice.store import Database, open_database


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train-pricing",
        help="fit the price model on all sold listings and save it under <home>/models",
    )
    train.add_argument("--no-asking-prices", action="store_true",
                       help="do not learn the grade effect from Discogs asking prices")
    train.add_argument("--no-evaluate", action="store_true",
                       help="skip the cross-validation whose scores are saved with the model")
    train.set_defaults(run=run_train)

    evaluate = subparsers.add_parser(
        "evaluate-pricing",
        help="cross-validate the price model against the album-median and global-median "
        "baselines (grouped by listing) and print MAE, MdAPE and P25-P75 coverage",
    )
    evaluate.add_argument("--folds", type=int, default=10, metavar="K",
                          help="folds per shuffle (default 10)")
    evaluate.add_argument("--repeats", type=int, default=3, metavar="N",
                          help="shuffles averaged (default 3)")
    evaluate.add_argument("--jobs", type=int, default=1, metavar="N",
                          help="folds fitted side by side, one process each (default 1)")
    evaluate.add_argument("--no-asking-prices", action="store_true",
                          help="leave the Discogs grade prior out of the comparison")
    evaluate.set_defaults(run=run_evaluate)


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    from vinylprice.pricing import train_pricing

    database = _open(settings)
    try:
        summary = train_pricing(settings, database, use_asking_prices=not args.no_asking_prices,
                                evaluate_first=not args.no_evaluate, require_model=True)
    except ValueError as error:
        raise CommandError(str(error)) from error
    print(summary)
    return 0


def run_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from vinylprice.pricing.currency import Rates
    from vinylprice.pricing.evaluate import evaluate
    from vinylprice.pricing.features import load_listings
    from vinylprice.pricing.regression import fit_grade_prior, prepare_sales

    database = _open(settings)
    rates = Rates.from_settings(settings)
    sales = prepare_sales(load_listings(database, "sold"), rates)
    prior = None if args.no_asking_prices else fit_grade_prior(database, rates)
    try:
        report = evaluate(sales, rates.base, prior, folds=args.folds, repeats=args.repeats,
                          jobs=args.jobs)
    except ValueError as error:
        raise CommandError(f"{error} (options --folds, --repeats, --jobs)") from error
    print(report.table())
    return 0


def _open(settings: Settings) -> Database:
    database = open_database(settings.resolved_database_url)
    database.check_schema()
    return database
