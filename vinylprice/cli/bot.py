"""`vinylprice bot`: run the Telegram bot with TELEGRAM_BOT_TOKEN until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging

from vinylprice.cli.main import CommandError
from vinylprice.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bot",
        help="run the Telegram bot",
        description="Serve the Telegram bot: polling by default, a webhook when "
        "VINYLPRICE_BOT_WEBHOOK_URL is set. Needs TELEGRAM_BOT_TOKEN.",
    )
    parser.set_defaults(run=run, log_level=logging.INFO)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import bot_token
    from bot.app import run as run_bot
    from vinylprice.embed import EmbedderError
    from vinylprice.search import BuildError
    from vinylprice.service import Recognizer

    try:
        bot_token(settings)
        recognizer = Recognizer.from_settings(settings)
    except (ValueError, BuildError, EmbedderError) as error:
        raise CommandError(str(error)) from error

    run_bot(settings, recognizer)
    return 0
