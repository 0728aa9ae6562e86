"""Ingest of the three input formats, exactly as the seed scraper wrote them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from vinylprice.catalog.ingest import IngestError, _content_key, detect_format, ingest_file
from vinylprice.catalog.parsing import (
    lot_size,
    parse_amount,
    parse_shipping,
    parse_sold_date,
    parse_text,
)
from vinylprice.store import Album, Database, Listing, ReferenceImage, open_database


@pytest.fixture
def database(tmp_path: Path) -> Database:
    db = open_database(f"sqlite:///{tmp_path / 'catalogue.db'}")
    db.create_schema()
    return db


def count(database: Database, *where: object, model: type = Listing) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_formats_are_detected(sample_dir: Path) -> None:
    assert detect_format(sample_dir / "ebay_json-vinyl.json") == "ebay-json"
    assert detect_format(sample_dir / "EBAY_vinyl-records_2024-05-10-.csv") == "ebay-csv"
    assert detect_format(sample_dir / "albums.csv") == "album-map"


def test_ebay_json_skips_the_eight_error_rows(database: Database, sample_dir: Path,
                                              tmp_path: Path) -> None:
    report = ingest_file(database, sample_dir / "ebay_json-vinyl.json", tmp_path / "refs")

    assert report.scraper_errors == 8
    assert report.records_read == 410
    assert count(database) == 408  # two listings appear twice in the export
    assert count(database, model=Album) == 7


def test_ebay_json_parses_prices_shipping_and_dates(database: Database, sample_dir: Path,
                                                    tmp_path: Path) -> None:
    ingest_file(database, sample_dir / "ebay_json-vinyl.json", tmp_path / "refs")

    with database.session() as session:
        first = session.scalar(select(Listing).where(Listing.external_id == "404946678122"))
        album = session.get(Album, first.album_id)
        dated = session.scalar(select(func.count()).where(Listing.sold_date.is_not(None)))

    assert first.price == pytest.approx(19.9)
    assert first.shipping == pytest.approx(4.87)
    assert (album.artist, album.title) == ("Fleetwood Mac", "Rumours")
    assert dated == 168


def test_hand_labels_win_and_non_searched_are_excluded(database: Database, sample_dir: Path,
                                                       tmp_path: Path) -> None:
    ingest_file(database, sample_dir / "ebay_json-vinyl.json", tmp_path / "refs")
    report = ingest_file(database, sample_dir / "EBAY_images_2024-05-20-.csv", tmp_path / "refs",
                         sample_dir / "images")

    assert report.excluded["not the searched album"] == 76
    assert count(database, Listing.excluded_reason == "not the searched album") == 74
    assert count(database, Listing.excluded_reason == "lot of several records") > 0
    assert count(database, Listing.excluded.is_(False)) > 250


def test_excluded_listings_give_no_reference_image(database: Database, sample_dir: Path,
                                                   tmp_path: Path) -> None:
    ingest_file(database, sample_dir / "ebay_json-vinyl.json", tmp_path / "refs",
                sample_dir / "images")
    ingest_file(database, sample_dir / "EBAY_images_2024-05-20-.csv", tmp_path / "refs",
                sample_dir / "images")

    with database.session() as session:
        excluded_refs = session.scalar(
            select(func.count()).select_from(ReferenceImage).join(Listing,
            ReferenceImage.listing_id == Listing.id).where(Listing.excluded.is_(True))
        )
        refs = session.scalar(select(func.count()).select_from(ReferenceImage))
    assert excluded_refs == 0
    assert refs > 30


def test_flattened_csv_without_labels(database: Database, sample_dir: Path,
                                      tmp_path: Path) -> None:
    report = ingest_file(database, sample_dir / "EBAY_vinyl-records_2024-05-10-.csv",
                         tmp_path / "refs")

    assert report.format == "ebay-csv"
    assert count(database) == 408
    with database.session() as session:
        listing = session.scalar(select(Listing).where(Listing.external_id == "226125201733"))
    assert listing.shipping == pytest.approx(4.85)
    assert listing.sleeve_grade == "Good Plus (G+)"


def test_ingest_is_idempotent(database: Database, sample_dir: Path, tmp_path: Path) -> None:
    for _ in range(2):
        ingest_file(database, sample_dir / "EBAY_images_2024-05-20-.csv", tmp_path / "refs",
                    sample_dir / "images")

    assert count(database) == 404
    assert count(database, model=ReferenceImage) == len(list((tmp_path / "refs").iterdir()))


def test_manifest_with_prices_and_images(database: Database, sample_dir: Path,
                                         tmp_path: Path) -> None:
    images = sorted((sample_dir / "images").iterdir())[:3]
    for image in images:
        shutil.copy(image, tmp_path / image.name)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "image_file,artist,title,price,sleeve_grade,record_grade\n"
        f"{images[0].name},Cream,Goodbye,25.5,VG+,NM\n"
        f"{images[1].name},Cream,Goodbye,,,\n"
        f"{images[2].name},Some Artist,Other Album,,,\n"
    )

    report = ingest_file(database, manifest, tmp_path / "refs")

    assert report.format == "manifest"
    assert report.albums_added == 2
    assert report.images_added == 3
    assert count(database, Listing.kind == "sold") == 1


def test_manifest_missing_image_is_counted(database: Database, tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("image_file,artist,title\nnot-there.jpg,A,B\n")

    report = ingest_file(database, manifest, tmp_path / "refs")

    assert report.images_missing == 1


def test_image_paths_cannot_escape_the_images_folder(database: Database, tmp_path: Path) -> None:
    outside = tmp_path / "secret.png"
    Image.new("RGB", (64, 64)).save(outside)
    images = tmp_path / "images"
    images.mkdir()
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("image_file,artist,title\n../secret.png,A,B\n")

    report = ingest_file(database, manifest, tmp_path / "refs", images)

    assert report.images_added == 0
    assert report.images_missing == 1


def test_unknown_csv_layout_is_refused(database: Database, tmp_path: Path) -> None:
    odd = tmp_path / "odd.csv"
    odd.write_text("foo,bar\n1,2\n")

    with pytest.raises(IngestError, match="unknown CSV layout"):
        ingest_file(database, odd, tmp_path / "refs")


def test_invalid_json_is_refused(database: Database, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('[{"ebay_id": 1,')

    with pytest.raises(IngestError, match="invalid JSON"):
        ingest_file(database, broken, tmp_path / "refs")


def test_json_records_with_missing_fields(database: Database, tmp_path: Path) -> None:
    export = tmp_path / "export.json"
    export.write_text(json.dumps([
        {"ebay_id": "1", "input": {"keyword": "Cream Goodbye Vinyl"}},
        {"ebay_id": "2", "title": "Goodbye", "price": {"value": 10},
         "shipping_price": "Shipping not specified", "input": {"keyword": "Cream Goodbye Vinyl"}},
        {"input": {"keyword": "x"}, "error": "Parse error"},
    ]))

    report = ingest_file(database, export, tmp_path / "refs")

    assert (report.records_read, report.scraper_errors) == (2, 1)
    with database.session() as session:
        second = session.scalar(select(Listing).where(Listing.external_id == "2"))
    assert second.price == 10 and second.shipping is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("US $4.87 Economy Shipping. See detailsfor shipping", (4.87, "USD")),
        ("GBP 24.73 (approx US $30.88) Standard Shipping", (30.88, "USD")),
        ("AU $39.75 (approx US $26.10)", (26.10, "USD")),
        ("Free\xa0Standard Shipping. See details", (0.0, None)),
        ("Shipping not specified", (None, None)),
        (None, (None, None)),
        ("", (None, None)),
    ],
)
def test_shipping_free_text(text: str | None, expected: tuple[float | None, str | None]) -> None:
    assert parse_shipping(text) == expected


@pytest.mark.parametrize(
    ("value", "allow_zero", "expected"),
    [
        ("1,234.50", True, 1234.5), ("$12", True, 12.0), ("0", True, 0.0), ("0", False, None),
        ("-5", True, None), ("1e309", True, None), ("abc", True, None), (float("nan"), True, None),
        ("  ", True, None), (None, True, None),
    ],
)
def test_amounts(value: object, allow_zero: bool, expected: float | None) -> None:
    assert parse_amount(value, allow_zero=allow_zero) == expected


def test_text_of_empty_cells_is_none() -> None:
    assert [parse_text(v) for v in (None, float("nan"), " \xa0", " VG+ ")] == [
        None, None, None, "VG+"
    ]


def test_sold_date_formats() -> None:
    assert parse_sold_date("May 06, 2024 16:11:12 PDT").isoformat() == "2024-05-06T16:11:12"
    assert parse_sold_date("2024-04-01").year == 2024
    assert parse_sold_date("sometime") is None


@pytest.mark.parametrize(
    ("title", "size"),
    [
        ("Lot Of 11 Beatles and Solo Vinyl Lps Abbey Road", 11),
        ("Cream 8 LP Lot Fresh Wheels Of Fire Goodbye", 8),
        ("Rolling Stones  Vinyl LP'S X2 Joblot It's Only Rock N Roll", 2),
        ("The Beatles Vinyl Record Lot", 2),
        ("The Rolling Stones Hot Rocks 1964-1971 2 lps Rock Record lp original vinyl", 1),
        ("THE ROLLING STONES HOT ROCKS 1964-1971 ABKCO 2 LP SET", 1),
        ("Fleetwood Mac - Rumours - 1977 - Warner Bros BSK 3010 W/Poster", 1),
    ],
)
def test_lot_size(title: str, size: int) -> None:
    assert lot_size(title) == size


def test_manifests_without_ids_do_not_overwrite_each_other(database: Database,
                                                           tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("image_file,artist,title,price\n,A,Album A,10\n,A,Album A,12\n")
    second.write_text("image_file,artist,title,price\n,B,Album B,30\n,B,Album B,31\n")

    ingest_file(database, first, tmp_path / "refs")
    ingest_file(database, second, tmp_path / "refs")
    ingest_file(database, second, tmp_path / "refs")

    assert count(database) == 4
    assert count(database, model=Album) == 2


def test_impossible_prices_are_dropped(database: Database, tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("image_file,artist,title,price\n,A,B,1e309\n,A,B,-5\n,A,B,abc\n")

    ingest_file(database, manifest, tmp_path / "refs")

    assert count(database, Listing.price.is_not(None)) == 0


def write_covers(folder: Path, *colours: str) -> list[str]:
    """One 64×64 PNG per colour in `folder`; returns their file names."""
    names = []
    for colour in colours:
        Image.new("RGB", (64, 64), colour).save(folder / f"{colour}.png")
        names.append(f"{colour}.png")
    return names


def reference_colours(database: Database) -> set[tuple[int, int, int]]:
    with database.session() as session:
        paths = session.scalars(select(ReferenceImage.path)).all()
    return {Image.open(path).getpixel((0, 0)) for path in paths}


def test_editing_a_manifest_row_updates_its_listing(database: Database, tmp_path: Path) -> None:
    red, green, blue = write_covers(tmp_path, "red", "green", "blue")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"image_file,artist,title,price\n{red},A,B,10\n{green},A,B,12\n")
    ingest_file(database, manifest, tmp_path / "refs")

    manifest.write_text(f"image_file,artist,title,price\n{blue},A,B,11\n{green},A,B,12\n")
    report = ingest_file(database, manifest, tmp_path / "refs")

    assert (report.listings_added, report.listings_updated) == (0, 2)
    assert count(database) == 2
    assert count(database, Listing.image_file == blue, Listing.price == 11) == 1
    assert reference_colours(database) == {(0, 0, 255), (0, 128, 0)}


def test_swapping_images_between_rows_of_an_album_keeps_both(database: Database,
                                                             tmp_path: Path) -> None:
    red, green = write_covers(tmp_path, "red", "green")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"image_file,artist,title\n{red},A,B\n{green},A,B\n")
    ingest_file(database, manifest, tmp_path / "refs")

    manifest.write_text(f"image_file,artist,title\n{green},A,B\n{red},A,B\n")
    ingest_file(database, manifest, tmp_path / "refs")

    assert count(database) == 2
    assert reference_colours(database) == {(255, 0, 0), (0, 128, 0)}


def test_listings_of_the_former_content_keys_are_taken_over(database: Database,
                                                            tmp_path: Path) -> None:
    (red,) = write_covers(tmp_path, "red")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"image_file,artist,title\n{red},A,B\n")
    ingest_file(database, manifest, tmp_path / "refs")
    with database.session() as session:
        listing = session.scalar(select(Listing))
        listing.external_id = _content_key({"image_file": red, "artist": "A", "title": "B"})

    report = ingest_file(database, manifest, tmp_path / "refs")

    assert (report.listings_added, report.listings_updated) == (0, 1)
    assert count(database) == 1
