"""One short async handler per thing a user can do; recognition runs in a bounded thread pool.

Handlers find what they share (recognizer, settings, pool, rate limiter) in `BotServices`,
stored in the application's `bot_data`. Every blocking recognizer call goes through
`BotServices.call`, so the event loop keeps serving other users while a photo is recognised.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from telegram import Bot, Message, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import ContextTypes

from bot import replies
from bot.replies import Action, Reply
from bot.users import UserRateLimiter, user_key
from vinylprice.answer import Answer
from vinylprice.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")
UNTYPED_MIME_TYPES = ("", "application/octet-stream", "binary/octet-stream")
CHAT_ACTION_EVERY_S = 4.0
MIN_PHOTO_SIDE = 320  # Telegram's smaller sizes are thumbnails too small to recognise a cover
DOWNLOAD_ATTEMPTS = 3
DOWNLOAD_RETRY_S = 1.0

current_query_id: ContextVar[str | None] = ContextVar("current_query_id", default=None)


class RecognizerLike(Protocol):
    """The part of `vinylprice.service.Recognizer` the bot uses."""

    def identify(
        self,
        photo: bytes | Path,
        *,
        sleeve_grade: str | None = None,
        record_grade: str | None = None,
        source: str = "bot",
        user_key: str | None = None,
    ) -> Answer: ...

    def reprice(
        self, query_id: str, sleeve_grade: str | None, record_grade: str | None
    ) -> Answer: ...

    def correct(
        self, query_id: str, *, album_id: int | None = None, text: str | None = None, kind: str
    ) -> str: ...

    def reload(self) -> str: ...

    def stats(self) -> dict[str, Any]: ...


@dataclass
class BotServices:
    """What every handler shares: the recognizer, settings, worker pool and rate limiter."""

    recognizer: RecognizerLike
    settings: Settings
    pool: ThreadPoolExecutor
    limiter: UserRateLimiter
    key_secret: bytes = field(repr=False)

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking recognizer call on the worker pool and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(function, *args, **kwargs))

    def user_key(self, chat_id: int) -> str:
        """The anonymous key the recognizer and rate limiter know this chat by."""
        return user_key(chat_id, self.key_secret)


def services(context: ContextTypes.DEFAULT_TYPE) -> BotServices:
    """The shared services of the running application."""
    return context.bot_data["services"]


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain what to send, what comes back, how to correct it and what is kept."""
    text = replies.help_text(services(context).settings.max_photo_bytes)
    await update.effective_message.reply_text(text, parse_mode=replies.PARSE_MODE)


async def photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Recognise a photo: the largest size Telegram offers under the limit, if not a thumbnail."""
    message = update.effective_message
    limit = services(context).settings.max_photo_bytes
    largest = message.photo[-1]
    fitting = [size for size in message.photo if (size.file_size or 0) <= limit]
    if not fitting or (
        fitting[-1] is not largest and max(fitting[-1].width, fitting[-1].height) < MIN_PHOTO_SIDE
    ):
        await message.reply_text(replies.too_big(largest.file_size, limit))
        return

    await _recognize(message, context, fitting[-1].file_id, kind="photo")


async def document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Recognise an image sent as a file; refuse other files and oversize ones before download."""
    message = update.effective_message
    sent = message.document
    limit = services(context).settings.max_photo_bytes
    if not _may_be_image(sent.file_name, sent.mime_type):
        await message.reply_text(replies.NOT_AN_IMAGE)
        return
    if (sent.file_size or 0) > limit:
        await message.reply_text(replies.too_big(sent.file_size, limit))
        return

    await _recognize(message, context, sent.file_id, kind="document")


async def unsupported(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer stickers, videos, voice notes and the like with what to send instead."""
    await update.effective_message.reply_text(replies.UNSUPPORTED_MESSAGE)


async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store a correction when the text replies to one of our answers; else say what to send."""
    message = update.effective_message
    replied = message.reply_to_message
    about_our_message = replied is not None and _sent_by(replied, context.bot.id)
    if (message.text or "").startswith("/") or not about_our_message:
        await message.reply_text(replies.TEXT_HINT)
        return

    query_id = replies.query_id_from_text(replied.text or replied.caption)
    if query_id is None:
        await message.reply_text(replies.NO_REFERENCE)
        return

    current_query_id.set(query_id)
    understood = await services(context).call(
        services(context).recognizer.correct, query_id, text=message.text, kind="typed"
    )
    log.info("query %s: correction kind=typed stored", query_id)
    await message.reply_text(replies.correction_noted(understood), parse_mode=replies.PARSE_MODE)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Act on a button under an answer: confirm, pick another album, none of these, re-grade."""
    query = update.callback_query
    try:
        action = Action.decode(query.data or "")
    except ValueError:
        await query.answer("This button is no longer valid; please send the photo again.")
        return

    current_query_id.set(action.query_id)
    started = time.perf_counter()
    await query.answer()
    shared = services(context)
    recognizer = shared.recognizer

    if action.kind == "none":
        await shared.call(recognizer.correct, action.query_id, kind="not_in_catalogue")
        prompt = replies.ask_album_name(action.query_id)
        await query.message.reply_text(
            prompt.text, parse_mode=replies.PARSE_MODE, reply_markup=prompt.markup
        )
        return

    note = None
    if action.kind in ("ok", "pick"):
        kind = "confirmed" if action.kind == "ok" else "picked"
        note = await shared.call(
            recognizer.correct, action.query_id, album_id=action.album_id, kind=kind
        )

    answer = await shared.call(
        recognizer.reprice, action.query_id, action.sleeve_grade, action.record_grade
    )
    await _edit(query.message, replies.render_answer(answer, note=note))
    log.info(
        "query %s: button %s decision=%s total_ms=%.0f",
        action.query_id, action.kind, answer.decision, (time.perf_counter() - started) * 1000,
    )


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show an admin the query, correction and accuracy figures and the build in use."""
    figures = await services(context).call(services(context).recognizer.stats)
    await update.effective_message.reply_text(
        replies.stats_text(figures), parse_mode=replies.PARSE_MODE
    )


async def reload(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Load the newest index build for an admin, without restarting the bot."""
    build_id = await services(context).call(services(context).recognizer.reload)
    log.info("index reloaded by admin: build %s", build_id)
    await update.effective_message.reply_text(
        replies.reloaded(build_id), parse_mode=replies.PARSE_MODE
    )


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure with its query id and traceback, and tell the user to try again."""
    log.error("update failed: query %s", current_query_id.get(), exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return

    with contextlib.suppress(TelegramError):
        await context.bot.send_message(update.effective_chat.id, replies.SOMETHING_WENT_WRONG)


async def _recognize(
    message: Message, context: ContextTypes.DEFAULT_TYPE, file_id: str, kind: str
) -> None:
    shared = services(context)
    key = shared.user_key(message.chat_id)
    wait_s = shared.limiter.acquire(key)
    if wait_s > 0:
        await message.reply_text(replies.rate_limited(wait_s))
        return

    started = time.perf_counter()
    async with _showing_action(context.bot, message.chat_id, ChatAction.TYPING):
        try:
            data = await _download(context.bot, file_id, kind)
        except BadRequest as error:
            log.info("%s download refused by Telegram: %s", kind, error.message)
            await message.reply_text(replies.CANNOT_DOWNLOAD)
            return
        downloaded = time.perf_counter()

        answer = await shared.call(
            shared.recognizer.identify, bytes(data), source="bot", user_key=key
        )
    current_query_id.set(answer.query_id)

    reply = replies.render_answer(answer)
    await message.reply_text(reply.text, parse_mode=replies.PARSE_MODE, reply_markup=reply.markup)
    finished = time.perf_counter()
    log.info(
        "query %s: %s decision=%s download_ms=%.0f recognise_ms=%.0f total_ms=%.0f",
        answer.query_id, kind, answer.decision, (downloaded - started) * 1000,
        (finished - downloaded) * 1000, (finished - started) * 1000,
    )


async def _download(bot: Bot, file_id: str, kind: str) -> bytearray:
    # A dropped connection must not cost the user their photo: fetching a file is safe to
    # repeat. Refusals (BadRequest, itself a NetworkError) are final.
    for attempt in range(1, DOWNLOAD_ATTEMPTS):
        try:
            return await (await bot.get_file(file_id)).download_as_bytearray()
        except BadRequest:
            raise
        except NetworkError as error:
            log.warning("%s download failed (%s), attempt %d of %d; retrying", kind,
                        error.message, attempt, DOWNLOAD_ATTEMPTS)
            await asyncio.sleep(DOWNLOAD_RETRY_S * attempt)
    return await (await bot.get_file(file_id)).download_as_bytearray()


async def _edit(message: Message | Any, reply: Reply) -> None:
    try:
        await message.edit_text(
            reply.text, parse_mode=replies.PARSE_MODE, reply_markup=reply.markup
        )
    except BadRequest as error:
        if "not modified" not in error.message.lower():
            raise


@contextlib.asynccontextmanager
async def _showing_action(bot: Bot, chat_id: int, action: str) -> AsyncIterator[None]:
    """Keep the "typing…" indicator on (Telegram shows it ~5 s per call) until the block ends."""

    async def keep_showing() -> None:
        while True:
            with contextlib.suppress(TelegramError):
                await bot.send_chat_action(chat_id, action)
            await asyncio.sleep(CHAT_ACTION_EVERY_S)

    task = asyncio.create_task(keep_showing())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _sent_by(message: Message, user_id: int) -> bool:
    return message.from_user is not None and message.from_user.id == user_id


def _may_be_image(file_name: str | None, mime_type: str | None) -> bool:
    """Whether a file is worth downloading: image type, image extension, or no type at all."""
    mime = (mime_type or "").lower()
    if mime.startswith("image/"):
        return True
    suffix = Path(file_name or "").suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return True
    return mime in UNTYPED_MIME_TYPES and not suffix
