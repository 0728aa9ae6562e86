"""Typed corrections resolve to catalogue albums by fuzzy matching; unknown albums are added
pending review (on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from store_helpers import add_catalogue

from vinylprice.corrections import (
    CorrectionError,
    Reading,
    match_album,
    read_correction,
    resolve_correction,
)
from vinylprice.store import Album, Database

ALBUMS = [
    (1, "Fleetwood Mac", "Rumours"),
    (2, "The Beatles", "Abbey Road"),
    (3, "Cream", "Goodbye"),
    (4, "Led Zeppelin", "Led Zeppelin II"),
    (5, "Led Zeppelin", "Led Zeppelin III"),
    (6, "Prince", "1999"),
    (7, "Phil Collins", "No Jacket Required"),
]


@pytest.mark.parametrize(
    ("text", "album_id"),
    [
        ("it's Abbey Road by the Beatles", 2),
        ("Rumours - Fleetwood Mac", 1),
        ("Fleetwood Mac – Rumors", 1),
        ("No, it is rumours.", 1),
        ("beatles abbey road", 2),
        ("“Goodbye” by Cream", 3),
        ("Cream Goodbye LP", 3),
        ("led zeppelin iii", 5),
        ("Led Zeppelin II by Led Zeppelin", 4),
        ("Rumours (1977)", 1),
        ("Prince 1999", 6),
        ("Nope, it's No Jacket Required by Phil Collins", 7),
    ],
)
def test_corrections_find_the_catalogue_album(text: str, album_id: int) -> None:
    found = match_album(text, ALBUMS)

    assert found is not None and found[0] == album_id


@pytest.mark.parametrize(
    "text",
    ["Goodbye by Someone Else", "Kind of Blue - Miles Davis", "Road", "Led Zeppelin IV"],
)
def test_corrections_naming_no_catalogue_album_find_none(text: str) -> None:
    assert match_album(text, ALBUMS) is None


def test_readings_split_on_by_and_on_dashes() -> None:
    assert read_correction("Abbey Road by The Beatles") == [Reading("The Beatles", "Abbey Road")]
    assert read_correction("Jay-Z - The Blueprint") == [
        Reading("Jay-Z", "The Blueprint"), Reading("The Blueprint", "Jay-Z")
    ]
    assert read_correction("  just a title  ") == [Reading("", "just a title")]


@pytest.mark.parametrize("text", ["", "   ", "it's", "no, ..."])
def test_an_empty_correction_is_refused(text: str) -> None:
    with pytest.raises(CorrectionError, match="names no album"):
        read_correction(text)


def test_an_overlong_correction_is_refused() -> None:
    with pytest.raises(CorrectionError, match="at most 300"):
        read_correction("a" * 301)


def test_a_known_album_resolves_without_adding_one(database: Database) -> None:
    albums = add_catalogue(database)

    resolution = resolve_correction(database, "it's Abbey Road by the Beatles")

    assert resolution.album_id == albums["Abbey Road"].album_id
    assert not resolution.created and not resolution.pending_review
    with database.session() as session:
        assert len(session.scalars(select(Album)).all()) == len(albums)


def test_an_unknown_album_is_added_pending_review_once(database: Database) -> None:
    add_catalogue(database)

    first = resolve_correction(database, "Kind of Blue by Miles Davis")
    again = resolve_correction(database, "miles davis - kind of blue")

    assert first.created and first.pending_review
    assert (first.artist, first.title) == ("Miles Davis", "Kind of Blue")
    assert again.album_id == first.album_id and not again.created
    with database.session() as session:
        album = session.get(Album, first.album_id)
    assert album.pending_review


def test_a_known_artist_decides_which_side_of_a_dash_is_the_title(database: Database) -> None:
    add_catalogue(database)

    resolution = resolve_correction(database, "Tusk - Fleetwood Mac")

    assert (resolution.artist, resolution.title) == ("Fleetwood Mac", "Tusk")
