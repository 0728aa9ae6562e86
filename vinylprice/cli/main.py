"""Entry point: `vinylprice <command>`. Each command lives in its own module of this package
and offers `add_parser(subparsers)` and `run(args, settings) -> int`."""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys

from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.exc import ArgumentError, OperationalError

from vinylprice import __version__
from vinylprice.settings import Settings
from vinylprice.store.schema import SchemaError

COMMAND_MODULES = [
    "vinylprice.cli.db",
    "vinylprice.cli.catalog",
    "vinylprice.cli.identify",
    "vinylprice.cli.bot",
    "vinylprice.cli.learn",
    "vinylprice.cli.finetune",
    "vinylprice.cli.admin",
    "vinylprice.cli.evaluate",
    "vinylprice.cli.pricing",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vinylprice", description="Price vinyl records from a photo of the jacket."
    )
    parser.add_argument("--version", action="version", version=f"vinylprice {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"vinylprice: invalid setting: {_settings_problems(error)}", file=sys.stderr)
        return 2
    except SettingsError as error:
        field = re.search(r'field "(\w+)"', str(error))
        name = f"VINYLPRICE_{field.group(1).upper()}" if field else "a setting"
        cause = f": {error.__cause__}" if error.__cause__ else ""
        print(f"vinylprice: invalid setting: {name} could not be parsed{cause}", file=sys.stderr)
        return 2

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else getattr(args, "log_level", logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "absl", "tensorflow", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.run(args, settings) or 0)
    except KeyboardInterrupt:
        return 130
    except (CommandError, SchemaError) as error:
        print(f"vinylprice {args.command}: {error}", file=sys.stderr)
        return 2
    except (ArgumentError, OperationalError, ModuleNotFoundError) as error:
        print(f"vinylprice {args.command}: cannot open the database "
              f"(VINYLPRICE_DATABASE_URL): {str(error).splitlines()[0]}", file=sys.stderr)
        return 2


def _settings_problems(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        if not item["loc"]:  # a check across settings names its variables itself
            problems.append(message)
            continue
        name = "VINYLPRICE_" + "_".join(str(part) for part in item["loc"]).upper()
        problems.append(f"{name}: {message}")
    return "; ".join(problems)


class CommandError(Exception):
    """A failure the user can fix; printed without a traceback."""


if __name__ == "__main__":
    sys.exit(main())
