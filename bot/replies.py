"""What the bot says: an `Answer` (and every other outcome) as message text and buttons.

Everything here is pure: no network, no recognizer, so it is unit-tested on its own. Buttons
carry all the state they need in their callback data, so a press still works after a restart.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode

from vinylprice.answer import Album, Answer, Candidate, Comparable, Price
from vinylprice.images import describe_bytes
from vinylprice.pricing.grades import grade_label, parse_grade

PARSE_MODE = ParseMode.HTML
GRADES = ("NM", "VG+", "VG", "G+")
MAX_ALTERNATIVES = 3
MAX_BUTTON_LABEL = 40
MAX_CALLBACK_BYTES = 64
SALE_TITLE_CHARS = 60
ACTION_KINDS = ("ok", "pick", "none", "grade")
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
EXAMPLE_NAME = "Rumours by Fleetwood Mac"
_REF_PATTERN = re.compile(r"Ref\. ([A-Za-z0-9_-]+)")

NOT_AN_IMAGE = (
    "That file is not an image I can read. "
    "Please send a photo (JPEG, PNG or WebP) of the front of the record jacket."
)
UNSUPPORTED_MESSAGE = (
    "I can only price a record from a photo. "
    "Please send a photo of the front of the jacket."
)
TEXT_HINT = (
    "Send me a photo of the front of a record jacket and I'll tell you which album it is "
    "and what it sells for. To correct one of my answers, reply to it with the album name."
)
NO_REFERENCE = (
    "I can't tell which of my answers that reply is about. "
    "Please reply directly to my answer, or send the photo again."
)
SOMETHING_WENT_WRONG = (
    "Sorry, something went wrong on my side. Please try again in a minute; "
    "if it keeps happening, send a different photo."
)
CANNOT_DOWNLOAD = (
    "Telegram would not let me download that file. Please send it again as a photo."
)


@dataclass(frozen=True)
class Reply:
    """A message to send or edit: HTML text and optional buttons or a reply prompt."""

    text: str
    markup: InlineKeyboardMarkup | ForceReply | None = None


@dataclass(frozen=True)
class Action:
    """What a button under an answer asks for, decoded from its callback data."""

    kind: str
    query_id: str
    album_id: int | None = None
    sleeve_grade: str | None = None
    record_grade: str | None = None

    def encode(self) -> str:
        """The callback data string, at most Telegram's 64 bytes."""
        if self.kind not in ACTION_KINDS:
            raise ValueError(
                f"Unknown button action {self.kind!r}; expected one of {ACTION_KINDS}."
            )
        if "|" in self.query_id:
            raise ValueError(f"Query id {self.query_id!r} contains '|', the field separator.")

        fields = [
            self.kind,
            self.query_id,
            "" if self.album_id is None else str(self.album_id),
            self.sleeve_grade or "",
            self.record_grade or "",
        ]
        data = "|".join(fields)
        if len(data.encode()) > MAX_CALLBACK_BYTES:
            raise ValueError(
                f"Button data {data!r} is {len(data.encode())} bytes; Telegram allows at most "
                f"{MAX_CALLBACK_BYTES}, so query ids must be shorter."
            )
        return data

    @classmethod
    def decode(cls, data: str) -> Action:
        """Parse callback data written by `encode`; ValueError for anything else."""
        fields = data.split("|")
        if len(fields) != 5 or fields[0] not in ACTION_KINDS or not fields[1]:
            raise ValueError(f"Button data {data!r} is not a vinylprice action.")

        kind, query_id, album_id, sleeve, record = fields
        if album_id and not album_id.isdigit():
            raise ValueError(f"Button data {data!r} has album id {album_id!r}; expected digits.")
        album = int(album_id) if album_id else None
        return cls(kind, query_id, album, sleeve or None, record or None)


def help_text(max_photo_bytes: int) -> str:
    """The /start and /help message."""
    return "\n".join(
        [
            "<b>Send me a photo of a vinyl record's jacket</b> and I'll tell you which album it "
            "is and what it sells for.",
            "",
            "• Photograph the <b>front</b> of the jacket, flat and filling most of the picture, "
            "in good light. A photo or an image file (JPEG, PNG, WebP, up to "
            f"{describe_bytes(max_photo_bytes)}) both work.",
            "• You get the album, how sure I am, a suggested price with its usual range and the "
            "number of sales behind it.",
            "• Tap the sleeve and record grade buttons to re-price for your copy's condition.",
            "• Wrong album? Tap the right one, or <b>reply to my answer</b> with the album name, "
            f"e.g. “{EXAMPLE_NAME}”.",
            "",
            "What I keep: your photo, my answer and your corrections, to get better. They are "
            "filed under an anonymous key made from this chat, never your name or username.",
        ]
    )


def render_answer(answer: Answer, note: str | None = None) -> Reply:
    """The answer message: album, certainty, price, and buttons to confirm, correct or re-grade."""
    lines = [f"✓ {escape(note)}", ""] if note else []
    lines += _verdict_lines(answer)

    if answer.decision != "error" and answer.album is not None:
        lines += [""] + _price_lines(answer.price, answer)

    if answer.decision != "error":
        lines += ["", _next_step_line(answer)]
    if answer.query_id:
        lines.append(f"Ref. {escape(answer.query_id)}")

    return Reply("\n".join(lines), _answer_keyboard(answer))


def ask_album_name(query_id: str) -> Reply:
    """The prompt after "None of these": a forced reply the user answers with the album name."""
    text = (
        "Which record is it? Reply to this message with the artist and title, "
        f"e.g. “{EXAMPLE_NAME}”.\nRef. {escape(query_id)}"
    )
    return Reply(text, ForceReply(selective=True, input_field_placeholder="Artist – Title"))


def correction_noted(understood: str) -> str:
    """The confirmation after a correction by reply: what the recognizer understood."""
    return f"Thanks! {escape(understood)}"


def too_big(size: int | None, limit: int) -> str:
    """Refusal for a file over the size limit; `size` is None when Telegram did not say it."""
    known = f" ({describe_bytes(size, round_up=True)})" if size else ""
    return f"That file is too big{known}. Please send a photo under {describe_bytes(limit)}."


def rate_limited(wait_s: float) -> str:
    """Polite refusal for a user sending photos faster than the per-user limit."""
    seconds = max(1, round(wait_s))
    return (
        "You're sending photos faster than I can look at them. "
        f"Please wait {seconds} second{'s' if seconds != 1 else ''} and send it again."
    )


def stats_text(stats: Mapping[str, object]) -> str:
    """The admin /stats message: one line per figure."""
    lines = ["<b>vinylprice stats</b>"]
    for key, value in stats.items():
        if isinstance(value, float):
            value = f"{value:.3f}"
        lines.append(f"{escape(str(key).replace('_', ' '))}: {escape(str(value))}")
    return "\n".join(lines)


def reloaded(build_id: str) -> str:
    """The admin /reload confirmation."""
    return f"Reloaded. Now answering with index build {escape(build_id)}."


def query_id_from_text(text: str | None) -> str | None:
    """The query id in the "Ref." line of one of the bot's messages, if there is one."""
    matches = _REF_PATTERN.findall(text or "")
    return matches[-1] if matches else None


def format_money(amount: float, currency: str) -> str:
    """`$24` or `$24.50`; the currency code when there is no common symbol."""
    number = f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.2f}"
    symbol = CURRENCY_SYMBOLS.get(currency.upper())
    return f"{symbol}{number}" if symbol else f"{number} {currency}"


def escape(text: str) -> str:
    """Text made safe for Telegram's HTML parse mode."""
    return html.escape(text, quote=False)


def _verdict_lines(answer: Answer) -> list[str]:
    if answer.decision == "error":
        return [escape(answer.error or SOMETHING_WENT_WRONG)]
    guesses = ["My best guesses are below."] if answer.candidates else []
    if answer.decision == "unknown":
        return ["I couldn't find this record in my catalogue."] + guesses
    if answer.album is None:
        return ["I'm not sure which record this is."] + guesses

    name = f"<b>{escape(answer.album.name)}</b>"
    if answer.decision == "unsure":
        return ["I'm not sure which record this is.", f"My best guess: {name}"]
    return [name, _certainty_words(answer.confidence)]


def _sale_line(sale: Comparable) -> str:
    grades = "/".join(label for label in (grade_label(parse_grade(sale.sleeve_grade)),
                                          grade_label(parse_grade(sale.record_grade)))
                      if label)
    details = ", ".join(part for part in (grades, sale.sold_date) if part)
    title = sale.title if len(sale.title) <= SALE_TITLE_CHARS else (
        sale.title[: SALE_TITLE_CHARS - 1].rstrip() + "…")
    suffix = f" ({escape(details)})" if details else ""
    return f"• {format_money(sale.price, sale.currency)}: {escape(title)}{suffix}"


def _certainty_words(confidence: float) -> str:
    if confidence >= 0.9:
        return "I'm confident this is the one."
    if confidence >= 0.75:
        return "I'm fairly sure this is the one."
    return "This looks like it, but I'm not completely sure."


def _price_lines(price: Price | None, answer: Answer) -> list[str]:
    if price is None:
        return ["I have no sales of this album to price it from yet."]

    suggested = format_money(price.suggested, price.currency)
    label = "Rough price" if price.rough else "Suggested price"
    sales = f"{price.comparables} sale{'s' if price.comparables != 1 else ''}"
    lines = [f"{label}: <b>{suggested}</b>"]
    if price.comparables > 1:
        low = format_money(price.low, price.currency)
        high = format_money(price.high, price.currency)
        lines.append(f"Usually {low}–{high}, from {sales}.")
    else:
        lines.append(f"From {sales} only.")
    if price.rough:
        lines.append("Too few sales for a firm price, so take it as a rough guide.")
    if price.note:
        lines.append(f"<i>Note: {escape(price.note)}.</i>")
    if price.closest:
        lines.append("Closest sales:")
        lines.extend(_sale_line(sale) for sale in price.closest)
    lines.append(
        f"Grades: sleeve {escape(answer.sleeve_grade or 'any')}, "
        f"record {escape(answer.record_grade or 'any')}."
    )
    return lines


def _next_step_line(answer: Answer) -> str:
    if answer.decision == "matched":
        return "Wrong album? Tap the right one below, or reply to this message with its name."
    if answer.album is None and not answer.candidates:
        return f"Reply to this message with the album name, e.g. “{EXAMPLE_NAME}”."
    return (
        "Tap the right one below, or reply to this message with the album name, "
        f"e.g. “{EXAMPLE_NAME}”."
    )


def _answer_keyboard(answer: Answer) -> InlineKeyboardMarkup | None:
    if not answer.query_id or answer.decision == "error":
        return None

    def action(kind: str, album_id: int | None = None, **grades: str | None) -> str:
        sleeve = grades.get("sleeve", answer.sleeve_grade)
        record = grades.get("record", answer.record_grade)
        return Action(kind, answer.query_id or "", album_id, sleeve, record).encode()

    rows: list[list[InlineKeyboardButton]] = []
    if answer.album is not None:
        rows.append([_button("✓ Yes, that's it", action("ok", answer.album.album_id))])
    for candidate in _alternatives(answer.candidates, answer.album):
        pick = action("pick", candidate.album.album_id)
        rows.append([_button(f"↪ {candidate.album.name}", pick)])
    if rows:
        rows.append([_button("None of these", action("none"))])

    if answer.album is not None and answer.price is not None:
        for part, current, key in (
            ("Sleeve", answer.sleeve_grade, "sleeve"),
            ("Record", answer.record_grade, "record"),
        ):
            rows.append(
                [
                    _button(
                        _grade_label(part, grade, current),
                        action("grade", **{key: grade}),
                    )
                    for grade in GRADES
                ]
            )
    return InlineKeyboardMarkup(rows) if rows else None


def _alternatives(candidates: Sequence[Candidate], chosen: Album | None) -> list[Candidate]:
    seen = {chosen.album_id} if chosen else set()
    alternatives = []
    for candidate in candidates:
        if candidate.album.album_id in seen:
            continue
        seen.add(candidate.album.album_id)
        alternatives.append(candidate)
    return alternatives[:MAX_ALTERNATIVES]


def _grade_label(part: str, grade: str, current: str | None) -> str:
    return f"• {part} {grade}" if grade == current else f"{part} {grade}"


def _button(label: str, data: str) -> InlineKeyboardButton:
    if len(label) > MAX_BUTTON_LABEL:
        label = label[: MAX_BUTTON_LABEL - 1] + "…"
    return InlineKeyboardButton(label, callback_data=data)
