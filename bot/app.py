"""Build the bot's PTB `Application` from `Settings` and a recognizer, and run it.

The Bot API root comes from `TELEGRAM_API_URL`, so the same bot runs against Telegram, a local
Bot API server or a test emulator: methods go to `{root}/bot<token>/...`, file downloads to
`{root}/file/bot<token>/...`.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot import handlers
from bot.handlers import BotServices, RecognizerLike
from bot.users import UserRateLimiter
from vinylprice.settings import Settings

log = logging.getLogger(__name__)

CONCURRENT_UPDATES = 64
PUBLIC_COMMANDS = [
    BotCommand("start", "What to send and what you get back"),
    BotCommand("help", "How to take the photo and correct an answer"),
]


def build_application(
    settings: Settings, recognizer: RecognizerLike, request: BaseRequest | None = None
) -> Application:
    """A ready-to-run Application: handlers, rate limiter and the recognition pool wired in.

    `request` replaces PTB's HTTP transport (tests use an in-process one).
    """
    token = bot_token(settings)
    root = settings.telegram_api_url.rstrip("/")
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .rate_limiter(AIORateLimiter(max_retries=2))
        .concurrent_updates(CONCURRENT_UPDATES)
        .post_init(_announce_commands)
        .post_shutdown(_stop_pool)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    application = builder.build()

    application.bot_data["services"] = BotServices(
        recognizer=recognizer,
        settings=settings,
        pool=ThreadPoolExecutor(settings.bot_workers, thread_name_prefix="vinylprice-bot"),
        limiter=UserRateLimiter(settings.bot_rate_limit, window_s=60.0),
        key_secret=token.encode(),
    )
    add_handlers(application, settings.admin_ids)
    return application


def add_handlers(application: Application, admin_ids: list[int]) -> None:
    """Route each kind of update to its handler; admin commands only exist for admins."""
    private = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE
    application.add_handler(CommandHandler(["start", "help"], handlers.start, filters=private))
    if admin_ids:
        admins = private & filters.User(user_id=admin_ids)
        application.add_handler(CommandHandler("stats", handlers.stats, filters=admins))
        application.add_handler(CommandHandler("reload", handlers.reload, filters=admins))

    application.add_handler(MessageHandler(private & filters.PHOTO, handlers.photo))
    application.add_handler(MessageHandler(private & filters.Document.ALL, handlers.document))
    application.add_handler(MessageHandler(private & filters.TEXT, handlers.text))
    application.add_handler(MessageHandler(private, handlers.unsupported))
    application.add_handler(CallbackQueryHandler(handlers.button))
    application.add_error_handler(handlers.on_error)


def run(settings: Settings, recognizer: RecognizerLike) -> None:
    """Serve until SIGINT/SIGTERM: polling, or a webhook when `bot_webhook_url` is set."""
    token = bot_token(settings)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecret(token))
    application = build_application(settings, recognizer)

    if settings.bot_webhook_url:
        log.info("bot starting: webhook on port %d", settings.bot_webhook_port)
        application.run_webhook(**webhook_options(settings))
    else:
        log.info("bot starting: polling %s", urlsplit(settings.telegram_api_url).netloc)
        application.run_polling(allowed_updates=Update.ALL_TYPES)
    log.info("bot stopped")


def webhook_options(settings: Settings) -> dict[str, Any]:
    """How to serve the webhook: port and path from settings, a secret Telegram must echo."""
    if not settings.bot_webhook_url:
        raise ValueError("bot_webhook_url is not set; set VINYLPRICE_BOT_WEBHOOK_URL.")
    return {
        "listen": "0.0.0.0",
        "port": settings.bot_webhook_port,
        "url_path": urlsplit(settings.bot_webhook_url).path.lstrip("/"),
        "webhook_url": settings.bot_webhook_url,
        "secret_token": webhook_secret(bot_token(settings)),
        "allowed_updates": Update.ALL_TYPES,
    }


def bot_token(settings: Settings) -> str:
    """The bot token from settings, or a ValueError saying how to get one."""
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value():
        raise ValueError(
            "TELEGRAM_BOT_TOKEN is not set; create a bot with @BotFather in Telegram and "
            "export the token it gives you as TELEGRAM_BOT_TOKEN."
        )
    return settings.telegram_bot_token.get_secret_value()


def webhook_secret(token: str) -> str:
    """The secret Telegram echoes in each webhook call, derived from the token (A-Z, 0-9)."""
    return hashlib.sha256(f"vinylprice-webhook:{token}".encode()).hexdigest()[:48]


class RedactSecret(logging.Filter):
    """Replaces a secret (the bot token) in log messages and tracebacks before they are written."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "<token>"), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.secret in record.exc_text:
            record.exc_text = record.exc_text.replace(self.secret, "<token>")
        return True


async def _announce_commands(application: Application) -> None:
    await application.bot.set_my_commands(PUBLIC_COMMANDS)
    log.info("bot ready as @%s", application.bot.username)


async def _stop_pool(application: Application) -> None:
    application.bot_data["services"].pool.shutdown(wait=True, cancel_futures=True)
