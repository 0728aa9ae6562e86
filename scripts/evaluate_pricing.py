"""Build a database of the bundled seed sample (plus the Discogs asking prices when
../shared has them) in a temporary folder and print the pricing evaluation table.

    python scripts/evaluate_pricing.py [--folds 10] [--repeats 3] [--jobs 1]
        [--no-asking-prices]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from vinylprice.catalog.ingest import ingest_file
from vinylprice.pricing.currency import Rates
from vinylprice.pricing.evaluate import evaluate
from vinylprice.pricing.features import load_listings
from vinylprice.pricing.regression import fit_grade_prior, prepare_sales
from vinylprice.settings import Settings
from vinylprice.store import open_database

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample" / "seed_ebay"
DISCOGS = ROOT.parent / "shared" / "data" / "discogs_listings" / "discogs_listings.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="folds fitted side by side")
    parser.add_argument("--no-asking-prices", action="store_true")
    parser.add_argument("--discogs", type=Path, default=DISCOGS, help="Discogs listings CSV")
    args = parser.parse_args()
    if not args.no_asking_prices and args.discogs != DISCOGS and not args.discogs.is_file():
        parser.error(f"--discogs {args.discogs}: no such file")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("vinylprice.pricing.evaluate").setLevel(logging.INFO)  # fold progress

    with tempfile.TemporaryDirectory() as home:
        database = open_database(f"sqlite:///{Path(home) / 'evaluate.db'}")
        database.create_schema()
        inputs = [SAMPLE / "ebay_json-vinyl.json", SAMPLE / "EBAY_images_2024-05-20-.csv"]
        if not args.no_asking_prices and args.discogs.is_file():
            inputs.append(args.discogs)
        for path in inputs:
            print(ingest_file(database, path, Path(home) / "references").summary())

        rates = Rates.from_settings(Settings(_env_file=None))
        sales = prepare_sales(load_listings(database, "sold"), rates)
        prior = None if args.no_asking_prices else fit_grade_prior(database, rates)
        print()
        try:
            report = evaluate(sales, rates.base, prior, folds=args.folds,
                              repeats=args.repeats, jobs=args.jobs)
        except ValueError as error:
            parser.error(str(error))
        print(report.table())
        database.dispose()


if __name__ == "__main__":
    main()
