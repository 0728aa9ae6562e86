"""Fixtures for bot unit tests: a fake recognizer and a bot wired to an in-memory Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from tests.bot.doubles import FakeRecognizer, InProcessRequest
from tests.e2e.fake_bot_api import TOKEN, FakeBotApi
from vinylprice.settings import Settings

ADMIN_ID = 42
USER_ID = 1001


@pytest.fixture
def api() -> FakeBotApi:
    return FakeBotApi()


@pytest.fixture
def recognizer() -> FakeRecognizer:
    return FakeRecognizer()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        home=tmp_path,
        telegram_bot_token=TOKEN,
        telegram_api_url="http://bot-api.invalid",
        admin_ids=[ADMIN_ID],
        bot_rate_limit=5,
        max_photo_bytes=1_048_576,
    )


@pytest.fixture
def transport(api: FakeBotApi) -> InProcessRequest:
    return InProcessRequest(api)


@pytest.fixture
async def app(
    transport: InProcessRequest, recognizer: FakeRecognizer, settings: Settings
) -> AsyncIterator[Application]:
    application = build_application(settings, recognizer, request=transport)
    async with application:
        yield application


@pytest.fixture
def deliver(api: FakeBotApi, app: Application):  # type: ignore[no-untyped-def]
    """Feed every pending user update to the bot's handlers and wait until they are done."""

    async def deliver_pending() -> None:
        for update in api.take_updates():
            await app.process_update(Update.de_json(update, app.bot))

    return deliver_pending
