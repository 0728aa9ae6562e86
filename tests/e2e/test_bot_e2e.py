"""The bot end to end: the real PTB Application polls the local Bot API emulator over HTTP and
answers with the real recognizer over the sample catalogue (small MobileNet weights)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from telegram.ext import Application

from bot import replies
from bot.app import build_application, webhook_options, webhook_secret
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.fake_bot_api import TOKEN, FakeBotApi
from vinylprice.settings import Settings
from vinylprice.store import Feedback

pytestmark = [pytest.mark.slow, pytest.mark.shared]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_PHOTO = ROOT / "sample" / "seed_ebay" / "origin-image.webp"
USER_ID = 5001
ANSWER_TIMEOUT_S = 120.0


def buttons(message: dict[str, Any]) -> dict[str, str]:
    return {
        button["text"]: button["callback_data"]
        for row in message.get("reply_markup", {}).get("inline_keyboard", [])
        for button in row
    }


async def next_bot_message(api: FakeBotApi, chat_id: int, seen: int) -> dict[str, Any]:
    """Wait for the bot's message number `seen + 1` in the chat and return it."""
    messages = await api.wait_for(
        f"bot message #{seen + 1} in chat {chat_id}",
        lambda: (lambda found: found if len(found) > seen else None)(api.bot_messages(chat_id)),
        timeout=ANSWER_TIMEOUT_S,
    )
    return messages[seen]


async def photo_answer(api: FakeBotApi, chat_id: int = USER_ID) -> dict[str, Any]:
    seen = len(api.bot_messages(chat_id))
    api.send_photo(chat_id, SAMPLE_PHOTO.read_bytes())
    return await next_bot_message(api, chat_id, seen)


async def test_start_over_http(bot_api: FakeBotApi, running_bot: Application) -> None:
    bot_api.send_text(USER_ID, "/start")

    reply = await next_bot_message(bot_api, USER_ID, 0)

    assert reply["text"].startswith("Send me a photo of a vinyl record's jacket")
    assert [command["command"] for command in bot_api.commands] == ["start", "help"]


async def test_real_photo_gets_album_price_and_buttons(
    bot_api: FakeBotApi, running_bot: Application
) -> None:
    answer = await photo_answer(bot_api)

    assert "Fleetwood Mac – Rumours" in answer["text"]
    assert "Suggested price: $" in answer["text"] and " sales." in answer["text"]
    assert {"✓ Yes, that's it", "None of these", "Sleeve VG+"} <= set(buttons(answer))
    assert bot_api.calls_of("sendChatAction", USER_ID)
    assert bot_api.downloads == ["photos/file2"]


async def test_same_image_as_a_document_gets_the_same_album(
    bot_api: FakeBotApi, running_bot: Application
) -> None:
    bot_api.send_document(USER_ID, SAMPLE_PHOTO.read_bytes(), "RUMOURS.WEBP", None)

    answer = await next_bot_message(bot_api, USER_ID, 0)

    assert "Fleetwood Mac – Rumours" in answer["text"]
    assert "Suggested price: $" in answer["text"]


async def test_grade_button_reprices_in_place(
    bot_api: FakeBotApi, running_bot: Application
) -> None:
    answer = await photo_answer(bot_api)

    bot_api.press(USER_ID, answer["message_id"], buttons(answer)["Sleeve NM"])
    edited = await bot_api.wait_for(
        "the answer edited with sleeve NM",
        lambda: next((m for m in bot_api.bot_messages(USER_ID) if "edit_date" in m), None),
        timeout=ANSWER_TIMEOUT_S,
    )

    assert len(bot_api.bot_messages(USER_ID)) == 1
    assert edited["message_id"] == answer["message_id"]
    assert "Grades: sleeve NM, record any." in edited["text"]
    assert "• Sleeve NM" in buttons(edited)
    assert bot_api.calls_of("editMessageText", USER_ID)


async def test_text_correction_by_reply_is_stored(
    bot_api: FakeBotApi, running_bot: Application, recognizer: Any
) -> None:
    answer = await photo_answer(bot_api)
    query_id = replies.query_id_from_text(answer["text"])

    bot_api.send_text(USER_ID, "Rumours by Fleetwood Mac", reply_to=answer["message_id"])
    confirmation = await next_bot_message(bot_api, USER_ID, 1)

    assert confirmation["text"].startswith("Thanks! ")
    assert "Fleetwood Mac – Rumours" in confirmation["text"]
    with recognizer.database.session() as session:
        stored = session.scalars(select(Feedback).where(Feedback.query_id == query_id)).all()
    assert [(row.kind, row.text) for row in stored] == [("typed", "Rumours by Fleetwood Mac")]


async def test_non_image_and_corrupt_files_get_clear_replies_then_photos_work(
    bot_api: FakeBotApi, running_bot: Application
) -> None:
    bot_api.send_document(USER_ID, b"%PDF-1.4 a manual", "manual.pdf", "application/pdf")
    refusal = await next_bot_message(bot_api, USER_ID, 0)
    bot_api.send_document(USER_ID, b"\xff\xd8\xff\xe0 truncated", "cover.jpg", "image/jpeg")
    broken = await next_bot_message(bot_api, USER_ID, 1)
    bot_api.send_sticker(USER_ID)
    sticker = await next_bot_message(bot_api, USER_ID, 2)

    answer = await photo_answer(bot_api)

    assert refusal["text"] == replies.NOT_AN_IMAGE
    assert "damaged" in broken["text"] or "not an image" in broken["text"]
    assert sticker["text"] == replies.UNSUPPORTED_MESSAGE
    assert "Fleetwood Mac – Rumours" in answer["text"]


async def test_twenty_users_at_once_are_all_answered(
    bot_api: FakeBotApi, running_bot: Application
) -> None:
    users = range(7000, 7020)
    photo = SAMPLE_PHOTO.read_bytes()
    for user in users:
        bot_api.send_photo(user, photo)

    await bot_api.wait_for(
        "an answer in each of 20 chats",
        lambda: all(bot_api.bot_messages(user) for user in users),
        timeout=ANSWER_TIMEOUT_S,
    )

    answers = [bot_api.bot_messages(user)[0]["text"] for user in users]
    assert all("Fleetwood Mac – Rumours" in text and "Ref. " in text for text in answers)
    assert len({replies.query_id_from_text(text) for text in answers}) == 20


async def test_admin_stats_and_reload(bot_api: FakeBotApi, running_bot: Application) -> None:
    bot_api.send_text(ADMIN_ID, "/stats")
    stats = await next_bot_message(bot_api, ADMIN_ID, 0)
    bot_api.send_text(ADMIN_ID, "/reload")
    reload = await next_bot_message(bot_api, ADMIN_ID, 1)

    assert stats["text"].startswith("vinylprice stats\nqueries: ")
    assert "build id: " in stats["text"]
    assert reload["text"].startswith("Reloaded. Now answering with index build ")


async def test_webhook_mode_takes_updates_only_with_the_secret(
    bot_api: FakeBotApi, recognizer: Any, bot_settings: Settings
) -> None:
    port = _free_port()
    settings = bot_settings.model_copy(
        update={"bot_webhook_url": f"http://127.0.0.1:{port}/telegram", "bot_webhook_port": port}
    )
    application = build_application(settings, recognizer)
    async with application:
        await application.updater.start_webhook(**webhook_options(settings))
        await application.start()
        bot_api.send_text(USER_ID, "/help")
        reply = await next_bot_message(bot_api, USER_ID, 0)
        registered = dict(bot_api.webhook or {})
        bot_api.webhook = {**registered, "secret_token": "forged"}
        bot_api.send_text(USER_ID, "/help")
        await bot_api.wait_for("the forged delivery", lambda: len(bot_api.webhook_statuses) == 2)
        await application.updater.stop()
        await application.stop()
    await application.post_shutdown(application)

    assert reply["text"].startswith("Send me a photo")
    assert registered == {"url": f"http://127.0.0.1:{port}/telegram",
                          "secret_token": webhook_secret(TOKEN)}
    assert bot_api.webhook_statuses == [200, 403]
    assert len(bot_api.bot_messages(USER_ID)) == 1


def test_vinylprice_bot_command_serves_and_stops_on_sigterm(
    bot_api: FakeBotApi, bot_settings: Settings
) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "VINYLPRICE_HOME": str(bot_settings.home),
        "VINYLPRICE_WEIGHTS": bot_settings.weights,
        "VINYLPRICE_BACKBONE": bot_settings.backbone,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": bot_api.root_url or "",
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "vinylprice"), "bot"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        answer = asyncio.run(_photo_answer_from_subprocess(bot_api))
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()

    assert "Fleetwood Mac – Rumours" in answer["text"]
    assert process.returncode == 0, output
    assert "decision=matched" in output and "bot stopped" in output
    assert TOKEN not in output and TOKEN.split(":")[1] not in output


async def _photo_answer_from_subprocess(api: FakeBotApi) -> dict[str, Any]:
    await api.wait_for("the bot to announce its commands", lambda: api.commands,
                       timeout=ANSWER_TIMEOUT_S)
    return await photo_answer(api)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
