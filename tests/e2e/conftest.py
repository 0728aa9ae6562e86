"""End-to-end fixtures: the Bot API emulator on 127.0.0.1 and the real bot polling it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr
from telegram.ext import Application

from bot.app import build_application
from tests.e2e.fake_bot_api import TOKEN, FakeBotApi
from vinylprice.settings import Settings

ADMIN_ID = 42


@pytest.fixture(scope="session")
def recognizer(small_sample_catalogue):  # type: ignore[no-untyped-def]
    """The real recognizer over the sample catalogue, indexed with the small MobileNet."""
    from vinylprice.service import Recognizer

    return Recognizer.from_settings(small_sample_catalogue)


@pytest.fixture
def bot_api() -> Iterator[FakeBotApi]:
    api = FakeBotApi()
    api.serve()
    yield api
    api.close()


@pytest.fixture
def bot_settings(small_sample_catalogue: Settings, bot_api: FakeBotApi) -> Settings:
    return small_sample_catalogue.model_copy(
        update={
            "telegram_bot_token": SecretStr(TOKEN),
            "telegram_api_url": bot_api.root_url or "",
            "admin_ids": [ADMIN_ID],
            "bot_workers": 2,
        }
    )


@pytest.fixture
async def running_bot(
    bot_api: FakeBotApi, recognizer, bot_settings: Settings  # type: ignore[no-untyped-def]
) -> AsyncIterator[Application]:
    """The real PTB Application, long-polling the emulator over HTTP, started as `run` does."""
    application = build_application(bot_settings, recognizer)
    async with application:
        await application.post_init(application)
        await application.updater.start_polling(poll_interval=0.0, timeout=2)
        await application.start()
        yield application
        await application.updater.stop()
        await application.stop()
    await application.post_shutdown(application)
