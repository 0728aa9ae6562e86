"""Each handler, driven through the real PTB Application against an in-memory Bot API."""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from PIL import Image

from bot import handlers, replies
from bot.users import user_key
from tests.bot.conftest import ADMIN_ID, USER_ID
from tests.bot.doubles import FakeRecognizer, InProcessRequest
from tests.e2e.fake_bot_api import TOKEN, FakeBotApi

SAMPLE_PHOTO = Path(__file__).resolve().parents[2] / "sample" / "seed_ebay" / "origin-image.webp"
Deliver = Callable[[], Awaitable[None]]


@pytest.fixture
def photo_bytes() -> bytes:
    return SAMPLE_PHOTO.read_bytes()


def last_text(api: FakeBotApi, chat_id: int = USER_ID) -> str:
    return api.bot_messages(chat_id)[-1]["text"]


def buttons(message: dict) -> dict[str, str]:
    return {
        button["text"]: button["callback_data"]
        for row in message["reply_markup"]["inline_keyboard"]
        for button in row
    }


async def send_photo_and_answer(api: FakeBotApi, deliver: Deliver, photo: bytes) -> dict:
    api.send_photo(USER_ID, photo)
    await deliver()
    return api.bot_messages(USER_ID)[-1]


async def test_start_explains_what_to_send(api: FakeBotApi, deliver: Deliver) -> None:
    api.send_text(USER_ID, "/start")
    await deliver()

    assert "Send me a photo of a vinyl record's jacket" in last_text(api)
    assert "up to 1 MB" in last_text(api)


async def test_photo_gets_album_price_and_buttons(
    api: FakeBotApi, deliver: Deliver, recognizer: FakeRecognizer, photo_bytes: bytes
) -> None:
    answer = await send_photo_and_answer(api, deliver, photo_bytes)

    assert "Fleetwood Mac – Rumours" in answer["text"]
    assert "Suggested price: $24" in answer["text"]
    assert {"✓ Yes, that's it", "None of these", "Sleeve VG+"} <= set(buttons(answer))
    assert api.calls_of("sendChatAction", USER_ID)[0]["action"] == "typing"
    assert api.downloads == ["photos/file2"]


async def test_recognizer_gets_the_bytes_and_an_anonymous_user_key(
    api: FakeBotApi, deliver: Deliver, recognizer: FakeRecognizer, photo_bytes: bytes
) -> None:
    await send_photo_and_answer(api, deliver, photo_bytes)

    assert recognizer.identified == [
        {"query_id": "q0001", "source": "bot", "photo_type": "bytes",
         "user_key": user_key(USER_ID, TOKEN.encode())}
    ]


async def test_small_photo_is_used_as_it_is(
    api: FakeBotApi, deliver: Deliver, recognizer: FakeRecognizer
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (200, 180), (200, 30, 30)).save(buffer, "PNG")

    answer = await send_photo_and_answer(api, deliver, buffer.getvalue())

    assert api.downloads == ["photos/file2"]
    assert "Fleetwood Mac – Rumours" in answer["text"]


async def test_photo_over_the_limit_is_refused_before_download(
    api: FakeBotApi, deliver: Deliver, photo_bytes: bytes
) -> None:
    api.send_photo(USER_ID, photo_bytes, file_size=5_000_000)
    await deliver()

    assert api.calls_of("getFile") == []
    assert last_text(api) == replies.too_big(5_000_000, 1_048_576)


@pytest.mark.parametrize(
    ("file_name", "mime_type"),
    [("COVER.JPG", None), ("cover.webp", "image/webp"), (None, None), ("scan", "image/png")],
)
async def test_image_sent_as_a_file_is_recognised(
    api: FakeBotApi, deliver: Deliver, photo_bytes: bytes, file_name: str | None,
    mime_type: str | None,
) -> None:
    api.send_document(USER_ID, photo_bytes, file_name, mime_type)
    await deliver()

    assert "Fleetwood Mac – Rumours" in last_text(api)


@pytest.mark.parametrize(
    ("file_name", "mime_type"),
    [("manual.pdf", "application/pdf"), ("clip.mp4", "video/mp4"), (None, "application/pdf")],
)
async def test_other_files_are_refused_without_download(
    api: FakeBotApi, deliver: Deliver, file_name: str | None, mime_type: str | None
) -> None:
    api.send_document(USER_ID, b"%PDF-1.4 not a photo", file_name, mime_type)
    await deliver()

    assert last_text(api) == replies.NOT_AN_IMAGE
    assert api.calls_of("getFile") == []


async def test_huge_image_file_is_refused_before_download(
    api: FakeBotApi, deliver: Deliver, photo_bytes: bytes
) -> None:
    api.send_document(USER_ID, photo_bytes, "big.png", "image/png", file_size=50_000_000)
    await deliver()

    assert last_text(api) == replies.too_big(50_000_000, 1_048_576)
    assert api.calls_of("getFile") == []


async def test_corrupt_image_gets_the_reason_and_the_next_photo_works(
    api: FakeBotApi, deliver: Deliver, photo_bytes: bytes
) -> None:
    api.send_document(USER_ID, b"\x89PNG\r\n\x1a\n broken", "cover.png", "image/png")
    await deliver()
    refusal = last_text(api)

    answer = await send_photo_and_answer(api, deliver, photo_bytes)

    assert "not an image I can read" in refusal or "damaged" in refusal
    assert "Fleetwood Mac – Rumours" in answer["text"]


async def test_sticker_gets_told_to_send_a_photo(api: FakeBotApi, deliver: Deliver) -> None:
    api.send_sticker(USER_ID)
    await deliver()

    assert last_text(api) == replies.UNSUPPORTED_MESSAGE


async def test_plain_text_gets_a_hint(api: FakeBotApi, deliver: Deliver) -> None:
    api.send_text(USER_ID, "how much is my record worth?")
    await deliver()

    assert last_text(api) == replies.TEXT_HINT


async def test_reply_to_an_answer_is_stored_as_a_correction(
    api: FakeBotApi, deliver: Deliver, recognizer: FakeRecognizer, photo_bytes: bytes
) -> None:
    answer = await send_photo_and_answer(api, deliver, photo_bytes)

    api.send_text(USER_ID, "Tusk by Fleetwood Mac", reply_to=answer["message_id"])
    await deliver()

    assert recognizer.corrections == [
        {"query_id": "q0001", "album_id": None, "text": "Tusk by Fleetwood Mac", "kind": "typed"}
    ]
    assert last_text(api) == (
        "Thanks! Understood as Tusk by Fleetwood Mac. It is not in the catalogue yet."
    )


async def test_reply_to_a_message_without_reference_is_explained(
    api: FakeBotApi, deliver: Deliver, recognizer: FakeRecognizer
) -> None:
    api.send_text(USER_ID, "/help")
    await deliver()
    help_message = api.bot_messages(USER_ID)[-1]

    api.send_text(USER_ID, "Rumours", reply_to=help_message["message_id"])
    await deliver()

    assert last_text(api) == replies.NO_REFERENCE
    assert recognizer.corrections == []


async def test_grade_button_reprices_the_answer_in_place(
    api: FakeBotApi, deliver: Deliver, recognizer: FakeRecognizer, photo_bytes: bytes
) -> None:
    answer = await send_photo_and_answer(api, deliver, photo_bytes)

    callback_id = api.press(USER_ID, answer["message_id"], buttons(answer)["Sleeve NM"])
    await deliver()
    edited = api.bot_messages(USER_ID)[-1]

    assert recognizer.repriced == [("q0001", "NM", None)]
    assert edited["message_id"] == answer["message_id"] and "edit_date" in edited
    assert "Suggested price: $33.60" in edited["text"]
    assert "• Sleeve NM" in buttons(edited)
    assert callback_id in api.callback_answers


async def test_picking_an_alternative_stores_it_and_shows_that_album(
    api: FakeBotApi, deliver: Deliver, recognizer: FakeRecognizer, photo_bytes: bytes
) -> None:
    answer = await send_photo_and_answer(api, deliver, photo_bytes)

    api.press(USER_ID, answer["message_id"], buttons(answer)["↪ Fleetwood Mac – Tusk"])
    await deliver()
    edited = api.bot_messages(USER_ID)[-1]

    assert recognizer.corrections[0] == {"query_id": "q0001", "album_id": 2, "text": None,
                                         "kind": "picked"}
    assert edited["text"].splitlines()[:3] == [
        "✓ Understood as Fleetwood Mac – Tusk.", "", "Fleetwood Mac – Tusk"
    ]


async def test_confirming_twice_does_not_trouble_the_user(
    api: FakeBotApi, deliver: Deliver, recognizer: FakeRecognizer, photo_bytes: bytes
) -> None:
    answer = await send_photo_and_answer(api, deliver, photo_bytes)

    api.press(USER_ID, answer["message_id"], buttons(answer)["✓ Yes, that's it"])
    await deliver()
    api.press(USER_ID, answer["message_id"], buttons(answer)["✓ Yes, that's it"])
    await deliver()

    assert [c["kind"] for c in recognizer.corrections] == ["confirmed", "confirmed"]
    assert len(api.bot_messages(USER_ID)) == 1


async def test_none_of_these_asks_for_the_name_and_takes_the_reply(
    api: FakeBotApi, deliver: Deliver, recognizer: FakeRecognizer, photo_bytes: bytes
) -> None:
    answer = await send_photo_and_answer(api, deliver, photo_bytes)

    api.press(USER_ID, answer["message_id"], buttons(answer)["None of these"])
    await deliver()
    prompt = api.bot_messages(USER_ID)[-1]
    api.send_text(USER_ID, "Tango in the Night", reply_to=prompt["message_id"])
    await deliver()

    assert api.calls_of("sendMessage")[-2]["reply_markup"]["force_reply"] is True
    assert [(c["kind"], c["text"]) for c in recognizer.corrections] == [
        ("not_in_catalogue", None), ("typed", "Tango in the Night")
    ]


async def test_stale_button_is_answered_without_crashing(
    api: FakeBotApi, deliver: Deliver, photo_bytes: bytes
) -> None:
    answer = await send_photo_and_answer(api, deliver, photo_bytes)
    answer["reply_markup"]["inline_keyboard"][0][0]["callback_data"] = "from an old version"
    api._chats[USER_ID][answer["message_id"]] = answer  # the message as an older bot left it

    callback_id = api.press(USER_ID, answer["message_id"], "from an old version")
    await deliver()

    assert "no longer valid" in api.callback_answers[callback_id]["text"]


async def test_unsure_answer_offers_guesses(
    api: FakeBotApi, deliver: Deliver, recognizer: FakeRecognizer, photo_bytes: bytes
) -> None:
    recognizer.decision = "unsure"
    answer = await send_photo_and_answer(api, deliver, photo_bytes)

    assert "I'm not sure which record this is." in answer["text"]
    assert "↪ Fleetwood Mac – Rumours" in buttons(answer)


async def test_rate_limit_refuses_politely(
    api: FakeBotApi, deliver: Deliver, recognizer: FakeRecognizer, photo_bytes: bytes
) -> None:
    for _ in range(6):
        api.send_photo(USER_ID, photo_bytes)
    await deliver()

    assert len(recognizer.identified) == 5
    assert last_text(api).startswith("You're sending photos faster than I can look at them.")


async def test_admin_gets_stats_and_reload(api: FakeBotApi, deliver: Deliver) -> None:
    api.send_text(ADMIN_ID, "/stats")
    api.send_text(ADMIN_ID, "/reload")
    await deliver()

    stats_message, reload_message = api.bot_messages(ADMIN_ID)
    assert stats_message["text"].splitlines()[1:] == [
        "queries: 0", "corrections: 0", "accuracy confirmed: 0.750", "build: build-1"
    ]
    assert reload_message["text"] == "Reloaded. Now answering with index build build-2."


async def test_others_get_no_hint_that_admin_commands_exist(
    api: FakeBotApi, deliver: Deliver
) -> None:
    api.send_text(USER_ID, "/stats")
    api.send_text(USER_ID, "/reload")
    await deliver()

    assert [m["text"] for m in api.bot_messages(USER_ID)] == [replies.TEXT_HINT] * 2


async def test_failure_is_logged_with_query_id_and_the_user_is_told(
    api: FakeBotApi, deliver: Deliver, photo_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    answer = await send_photo_and_answer(api, deliver, photo_bytes)
    data = buttons(answer)["Sleeve VG"].replace("q0001", "q9999")
    answer["reply_markup"]["inline_keyboard"][-2][2]["callback_data"] = data
    api._chats[USER_ID][answer["message_id"]] = answer  # a button for a query that is gone

    with caplog.at_level(logging.ERROR, logger="bot.handlers"):
        api.press(USER_ID, answer["message_id"], data)
        await deliver()

    assert last_text(api) == replies.SOMETHING_WENT_WRONG
    assert "update failed: query q9999" in caplog.text
    assert "KeyError" in caplog.text


async def test_a_dropped_download_is_retried(
    api: FakeBotApi, deliver: Deliver, transport: InProcessRequest, recognizer: FakeRecognizer,
    photo_bytes: bytes, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(handlers, "DOWNLOAD_RETRY_S", 0.0)
    transport.drop = {"/getFile": 1, "/photos/file2": 1}

    with caplog.at_level(logging.WARNING, logger="bot.handlers"):
        answer = await send_photo_and_answer(api, deliver, photo_bytes)

    assert "Fleetwood Mac – Rumours" in answer["text"]
    assert len(recognizer.identified) == 1
    assert caplog.text.count("photo download failed") == 2


async def test_a_download_that_keeps_failing_gets_a_reply(
    api: FakeBotApi, deliver: Deliver, transport: InProcessRequest, recognizer: FakeRecognizer,
    photo_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handlers, "DOWNLOAD_RETRY_S", 0.0)
    transport.drop = {"/getFile": handlers.DOWNLOAD_ATTEMPTS}

    answer = await send_photo_and_answer(api, deliver, photo_bytes)

    assert answer["text"] == replies.SOMETHING_WENT_WRONG
    assert recognizer.identified == []
