"""`vinylprice identify PHOTO...`: name the album in each photo and suggest a price."""

from __future__ import annotations

import argparse
import json
import sys

from vinylprice.answer import Answer
from vinylprice.cli.main import CommandError
from vinylprice.pricing.grades import parse_grade
from vinylprice.settings import Settings

DECISION_WORDS = {
    "matched": "match",
    "unsure": "not sure",
    "unknown": "not in catalogue",
    "error": "error",
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("identify", help="recognise and price record jacket photos")
    parser.add_argument("photos", nargs="+", metavar="PHOTO")
    parser.add_argument("--json", action="store_true", help="print one JSON object per photo")
    parser.add_argument("--top", type=int, default=3, metavar="K", help="candidates to show")
    parser.add_argument("--sleeve", metavar="GRADE", help="sleeve grade, e.g. VG+")
    parser.add_argument("--record", metavar="GRADE", help="record (media) grade, e.g. NM")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from vinylprice.embed import EmbedderError
    from vinylprice.search import BuildError
    from vinylprice.service import Recognizer

    if args.top < 1:
        raise CommandError("--top must be at least 1")
    for option, grade in (("--sleeve", args.sleeve), ("--record", args.record)):
        if grade is not None and parse_grade(grade) is None:
            raise CommandError(
                f"{option} {grade!r} is not a grade; use one of M, NM, EX, VG+, VG, G+, G, F, P "
                "(or spelled out, e.g. 'Very Good Plus')"
            )
    try:
        recognizer = Recognizer.from_settings(settings)
    except (BuildError, EmbedderError) as error:
        raise CommandError(str(error)) from error

    failures = 0
    for photo in args.photos:
        answer = recognizer.identify(photo, sleeve_grade=args.sleeve, record_grade=args.record)
        answer.candidates = answer.candidates[: args.top]
        failures += answer.decision == "error"
        print(json.dumps(answer.to_json(), ensure_ascii=False) if args.json else render(answer))

    # Every photo is answered; the exit status still tells scripts that some were unusable.
    if failures:
        print(f"vinylprice identify: {failures} of {len(args.photos)} photo"
              f"{'s' if len(args.photos) != 1 else ''} could not be read", file=sys.stderr)
        return 1
    return 0


def render(answer: Answer) -> str:
    """The human-readable answer for one photo."""
    lines = [f"{answer.photo}"]
    if answer.decision == "error":
        lines.append(f"  error: {answer.error}")
        return "\n".join(lines)

    verdict = DECISION_WORDS[answer.decision]
    if answer.album:
        lines.append(f"  album: {answer.album.name}")
    else:
        lines.append("  album: none — " + ("not sure" if answer.decision == "unsure"
                                          else "not in the catalogue"))
    lines.append(f"  confidence: {answer.confidence:.2f} ({verdict})")

    if answer.price:
        price = answer.price
        lines.append(
            f"  price: {price.suggested:.2f} {price.currency} "
            f"(range {price.low:.2f}–{price.high:.2f}), from {price.comparables} sold "
            f"listing{'s' if price.comparables != 1 else ''}; {price.method}"
        )
        if price.rough:
            lines.append("  note: few comparable sales — this price is a rough guess")
        if price.note:
            lines.append(f"  note: {price.note}")
        for sale in price.closest:
            grades = "/".join(g for g in (sale.sleeve_grade, sale.record_grade) if g) or "grade n/a"
            lines.append(
                f"    sold {sale.price:.2f} {sale.currency}, {grades}, "
                f"{sale.sold_date or 'date n/a'}: {sale.title[:70]}"
            )
    elif answer.album:
        lines.append("  price: no sold listings for this album — no price")

    if answer.candidates:
        lines.append("  candidates:")
        lines.extend(f"    {c.score:.3f}  {c.album.name}" for c in answer.candidates)
    return "\n".join(lines)
