"""Building the Application from settings: API URLs, token checks, webhook options, redaction."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from bot.app import RedactSecret, bot_token, build_application, webhook_options, webhook_secret
from tests.bot.doubles import FakeRecognizer
from tests.e2e.fake_bot_api import TOKEN
from vinylprice.settings import Settings


def test_api_root_gives_method_and_file_urls(settings: Settings) -> None:
    local = settings.model_copy(update={"telegram_api_url": "http://127.0.0.1:8081/"})

    application = build_application(local, FakeRecognizer())

    assert application.bot.base_url == f"http://127.0.0.1:8081/bot{TOKEN}"
    assert application.bot.base_file_url == f"http://127.0.0.1:8081/file/bot{TOKEN}"


def test_default_api_root_is_telegrams(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(_env_file=None, home=tmp_path, telegram_bot_token=TOKEN)

    application = build_application(settings, FakeRecognizer())

    assert application.bot.base_url == f"https://api.telegram.org/bot{TOKEN}"


@pytest.mark.parametrize("token", [None, SecretStr("")])
def test_missing_token_says_how_to_get_one(settings: Settings, token: SecretStr | None) -> None:
    with pytest.raises(ValueError, match="@BotFather"):
        bot_token(settings.model_copy(update={"telegram_bot_token": token}))


def test_webhook_options_come_from_the_url(settings: Settings) -> None:
    hooked = settings.model_copy(
        update={"bot_webhook_url": "https://bot.example.org/tg/hook", "bot_webhook_port": 8443}
    )

    options = webhook_options(hooked)

    assert options["url_path"] == "tg/hook" and options["port"] == 8443
    assert options["webhook_url"] == "https://bot.example.org/tg/hook"
    assert options["secret_token"] == webhook_secret(TOKEN) != webhook_secret("other:token")
    assert TOKEN not in options["secret_token"]


def test_webhook_options_need_a_url(settings: Settings) -> None:
    with pytest.raises(ValueError, match="VINYLPRICE_BOT_WEBHOOK_URL"):
        webhook_options(settings)


def test_token_is_redacted_from_messages_and_tracebacks() -> None:
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "POST %s", (
        f"https://api.telegram.org/bot{TOKEN}/getUpdates",
    ), None)
    try:
        raise RuntimeError(f"failed calling /bot{TOKEN}/sendMessage")
    except RuntimeError as error:
        failing = logging.LogRecord("bot", logging.ERROR, __file__, 1, "failed", (), (
            type(error), error, error.__traceback__
        ))

    redact = RedactSecret(TOKEN)
    assert redact.filter(record) and redact.filter(failing)

    assert record.getMessage() == "POST https://api.telegram.org/bot<token>/getUpdates"
    assert TOKEN not in (failing.exc_text or "") and "bot<token>/sendMessage" in failing.exc_text
