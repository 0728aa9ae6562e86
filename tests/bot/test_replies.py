"""Answer → message text and buttons, without any network."""

from __future__ import annotations

import dataclasses

import pytest
from telegram import ForceReply

from bot import replies
from bot.replies import Action
from vinylprice.answer import Album, Answer, Candidate, Comparable, Price

RUMOURS = Album(1, "Fleetwood Mac", "Rumours")
TUSK = Album(2, "Fleetwood Mac", "Tusk")
ABBEY_ROAD = Album(3, "The Beatles", "Abbey Road")
PRICE = Price(24.0, 18.0, 30.5, "USD", 12, "median")


def matched(**changes: object) -> Answer:
    fields: dict[str, object] = dict(
        photo="<upload>",
        decision="matched",
        album=RUMOURS,
        confidence=0.95,
        candidates=[Candidate(RUMOURS, 0.95), Candidate(TUSK, 0.4), Candidate(ABBEY_ROAD, 0.2)],
        price=PRICE,
        query_id="3f2a9c1b7d0e",
    )
    fields.update(changes)
    return Answer(**fields)  # type: ignore[arg-type]


def button_rows(reply: replies.Reply) -> list[list[tuple[str, Action]]]:
    assert reply.markup is not None
    return [
        [(button.text, Action.decode(button.callback_data)) for button in row]
        for row in reply.markup.inline_keyboard
    ]


def test_matched_answer_names_the_album_price_range_and_sales() -> None:
    reply = replies.render_answer(matched())

    assert "<b>Fleetwood Mac – Rumours</b>" in reply.text
    assert "I'm confident" in reply.text
    assert "Suggested price: <b>$24</b>" in reply.text
    assert "Usually $18–$30.50, from 12 sales." in reply.text
    assert "Grades: sleeve any, record any." in reply.text
    assert reply.text.endswith("Ref. 3f2a9c1b7d0e")


def test_matched_answer_offers_confirm_alternatives_none_and_grades() -> None:
    rows = button_rows(replies.render_answer(matched()))

    assert [(label, action.kind, action.album_id) for label, action in sum(rows[:4], [])] == [
        ("✓ Yes, that's it", "ok", 1),
        ("↪ Fleetwood Mac – Tusk", "pick", 2),
        ("↪ The Beatles – Abbey Road", "pick", 3),
        ("None of these", "none", None),
    ]
    assert [label for label, _ in rows[4]] == ["Sleeve NM", "Sleeve VG+", "Sleeve VG", "Sleeve G+"]
    assert [label for label, _ in rows[5]] == ["Record NM", "Record VG+", "Record VG", "Record G+"]
    assert {action.query_id for row in rows for _, action in row} == {"3f2a9c1b7d0e"}


def test_grade_buttons_set_one_grade_keep_the_other_and_mark_the_current() -> None:
    rows = button_rows(replies.render_answer(matched(sleeve_grade="VG", record_grade="NM")))
    sleeve_row, record_row = rows[-2], rows[-1]

    assert sleeve_row[0] == ("Sleeve NM", Action("grade", "3f2a9c1b7d0e", None, "NM", "NM"))
    assert sleeve_row[2] == ("• Sleeve VG", Action("grade", "3f2a9c1b7d0e", None, "VG", "NM"))
    assert record_row[3] == ("Record G+", Action("grade", "3f2a9c1b7d0e", None, "VG", "G+"))
    assert rows[1][0][1].sleeve_grade == "VG" and rows[1][0][1].record_grade == "NM"


def test_unsure_answer_without_album_offers_every_guess_and_no_grades() -> None:
    reply = replies.render_answer(matched(decision="unsure", album=None, price=None))
    rows = button_rows(reply)

    assert "I'm not sure which record this is." in reply.text
    assert "reply to this message with the album name" in reply.text
    assert [action.kind for row in rows for _, action in row] == ["pick", "pick", "pick", "none"]
    assert "Suggested price" not in reply.text


def test_unsure_answer_with_a_best_guess_can_be_confirmed() -> None:
    reply = replies.render_answer(matched(decision="unsure"))

    assert "My best guess: <b>Fleetwood Mac – Rumours</b>" in reply.text
    assert button_rows(reply)[0][0][1].kind == "ok"


def test_unknown_answer_without_candidates_asks_for_the_name_and_has_no_buttons() -> None:
    reply = replies.render_answer(matched(decision="unknown", album=None, price=None,
                                          candidates=[]))

    assert "couldn't find this record in my catalogue" in reply.text
    assert "Reply to this message with the album name" in reply.text
    assert reply.markup is None


def test_error_answer_shows_the_reason_and_no_buttons() -> None:
    reply = replies.render_answer(
        Answer("<upload>", "error", error="The image is damaged <really>.", query_id="abc")
    )

    assert reply.text.startswith("The image is damaged &lt;really&gt;.")
    assert reply.markup is None


def test_album_names_are_escaped_for_html() -> None:
    album = Album(9, "Simon & Garfunkel", "<Live>")
    reply = replies.render_answer(matched(album=album, candidates=[Candidate(album, 0.9)]))

    assert "<b>Simon &amp; Garfunkel – &lt;Live&gt;</b>" in reply.text


def test_rough_single_sale_price_says_so_and_shows_the_note() -> None:
    price = Price(40.0, 40.0, 40.0, "GBP", 1, "median", rough=True, note="grades ignored")
    reply = replies.render_answer(matched(price=price))

    assert "Rough price: <b>£40</b>" in reply.text
    assert "From 1 sale only." in reply.text
    assert "rough guide" in reply.text
    assert "<i>Note: grades ignored.</i>" in reply.text


def test_album_without_sales_says_there_is_no_price_and_offers_no_grades() -> None:
    reply = replies.render_answer(matched(price=None))

    assert "no sales of this album" in reply.text
    assert all(action.kind != "grade" for row in button_rows(reply) for _, action in row)


def test_note_goes_first() -> None:
    reply = replies.render_answer(matched(), note="Fleetwood Mac – Tusk")

    assert reply.text.startswith("✓ Fleetwood Mac – Tusk\n")


def test_action_round_trips_through_callback_data() -> None:
    action = Action("grade", "3f2a9c1b7d0e", 1234567890, "VG+", "G+")

    assert Action.decode(action.encode()) == action
    assert Action.decode(Action("none", "q1").encode()) == Action("none", "q1")


@pytest.mark.parametrize("data", ["", "x|q|||", "grade|||", "pick|q|12a||", "a|b", "ok|q|1|2|3|4"])
def test_foreign_callback_data_is_rejected(data: str) -> None:
    with pytest.raises(ValueError, match="not a vinylprice action|expected digits"):
        Action.decode(data)


def test_callback_data_over_64_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 64"):
        Action("grade", "q" * 60, 1, "VG+", "VG+").encode()


def test_every_button_fits_telegrams_limit_with_uuid_query_ids() -> None:
    answer = matched(query_id="0f8fad5bd9cb469fa16570867728950e", sleeve_grade="VG+",
                     record_grade="VG+", candidates=[Candidate(Album(2_000_000_000, "A", "B"), 1)])
    rows = button_rows(replies.render_answer(answer))

    assert all(len(action.encode().encode()) <= 64 for row in rows for _, action in row)


def test_long_album_names_are_shortened_on_buttons() -> None:
    long_album = Album(5, "An Artist With A Very Long Name", "And An Even Longer Album Title")
    reply = replies.render_answer(matched(candidates=[Candidate(long_album, 0.5)]))
    label = reply.markup.inline_keyboard[1][0].text  # type: ignore[union-attr]

    assert len(label) == replies.MAX_BUTTON_LABEL and label.endswith("…")


def test_ask_album_name_forces_a_reply_that_carries_the_query_id() -> None:
    prompt = replies.ask_album_name("3f2a9c1b7d0e")

    assert isinstance(prompt.markup, ForceReply)
    assert replies.query_id_from_text(prompt.text) == "3f2a9c1b7d0e"


def test_query_id_is_read_from_the_last_ref_line() -> None:
    assert replies.query_id_from_text("Rumours\nRef. abc123\n…\nRef. def456") == "def456"
    assert replies.query_id_from_text("no reference here") is None
    assert replies.query_id_from_text(None) is None


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [(24, "USD", "$24"), (24.5, "EUR", "€24.50"), (1234.0, "USD", "$1,234"), (7, "SEK", "7 SEK")],
)
def test_money_formatting(amount: float, currency: str, text: str) -> None:
    assert replies.format_money(amount, currency) == text


def test_refusals_say_what_to_do() -> None:
    assert replies.too_big(30 * 1_048_576, 20 * 1_048_576) == (
        "That file is too big (30 MB). Please send a photo under 20 MB."
    )
    assert replies.too_big(1_500, 1_000) == (
        "That file is too big (1.5 KB). Please send a photo under 1,000 bytes."
    )
    assert replies.too_big(None, 20 * 1_048_576) == (
        "That file is too big. Please send a photo under 20 MB."
    )
    assert "wait 1 second and" in replies.rate_limited(0.2)
    assert "wait 12 seconds" in replies.rate_limited(11.6)


def test_help_text_covers_photo_limit_corrections_and_privacy() -> None:
    text = replies.help_text(20 * 1_048_576)

    assert "front" in text and "up to 20 MB" in text
    assert "reply to my answer" in text
    assert "never your name or username" in text


def test_stats_text_lists_each_figure() -> None:
    text = replies.stats_text({"queries": 10, "accuracy_confirmed": 0.8, "build_id": "b<1>"})

    assert text.splitlines() == [
        "<b>vinylprice stats</b>",
        "queries: 10",
        "accuracy confirmed: 0.800",
        "build id: b&lt;1&gt;",
    ]


def test_the_closest_sales_behind_a_price_are_listed() -> None:
    long_title = "Fleetwood Mac Rumours 1977 Warner BSK 3010 first press with the lyric insert NM"
    closest = (
        Comparable("Rumours LP <orig>", 23.5, "USD", "VG+", "NM", "2024-05-06"),
        Comparable(long_title, 25.0, "USD", "See Item Description", None, None),
    )
    reply = replies.render_answer(matched(price=dataclasses.replace(PRICE, closest=closest)))

    first_sale = "• $23.50: Rumours LP &lt;orig&gt; (VG+/NM, 2024-05-06)"
    assert f"Closest sales:\n{first_sale}\n" in reply.text
    shortened = next(line for line in reply.text.splitlines() if line.startswith("• $25:"))
    assert shortened.endswith("…") and len(shortened) <= len("• $25: ") + 60
    assert "Closest sales" not in replies.render_answer(matched()).text
