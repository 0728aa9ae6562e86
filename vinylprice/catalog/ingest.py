"""Read scraped listings and manifests into the catalogue.

Three formats are recognised from their contents:

- the scraper's eBay JSON export (a list of records; error records are counted and skipped),
- the flattened eBay CSV (`ebay_id, title, ..., sold, shipping_cost, image_file[, label]`),
- a plain manifest CSV (`image_file, artist, title` plus optional price and grade columns).

Album identity comes from the hand label where one exists, else from the search keyword,
through an album map (`keyword, label, artist, title`; by default `albums.csv` beside the
input). Listings that are not the searched album, and lots of several records, are kept but
excluded from the album's comparables, and give no reference image.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from vinylprice.catalog import parsing
from vinylprice.catalog.parsing import parse_amount, parse_text
from vinylprice.images import ImageError, load_image
from vinylprice.store import Album, Database, Listing, ReferenceImage

log = logging.getLogger(__name__)

NOT_SEARCHED_LABEL = "non searched"
MANIFEST_COLUMNS = {"image_file", "artist", "title"}
EBAY_CSV_COLUMNS = {"ebay_id", "title", "image_file"}


class IngestError(ValueError):
    """The input file cannot be read as any of the known formats."""


@dataclass(frozen=True)
class AlbumName:
    artist: str
    title: str


@dataclass
class ListingRecord:
    """One listing as read from a file, before it is matched to an album."""

    source: str
    external_id: str
    title: str = ""
    price: float | None = None
    currency: str = "USD"
    kind: str = "sold"
    shipping: float | None = None
    shipping_text: str | None = None
    listed_artist: str | None = None
    sleeve_grade: str | None = None
    record_grade: str | None = None
    year: int | None = None
    sold_date: Any = None
    image_file: str | None = None
    image_url: str | None = None
    keyword: str | None = None
    hand_label: str | None = None
    album: AlbumName | None = None
    extra: dict[str, Any] | None = None
    # Manifest rows without an id: the content key earlier versions gave them.
    former_external_id: str | None = None


@dataclass
class IngestReport:
    """What one ingest run did; printed by the CLI."""

    path: str
    format: str
    records_read: int = 0
    scraper_errors: int = 0
    listings_added: int = 0
    listings_updated: int = 0
    albums_added: int = 0
    images_added: int = 0
    images_missing: int = 0
    images_unreadable: int = 0
    excluded: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        excluded = ", ".join(f"{n} {why}" for why, n in self.excluded.items()) or "none"
        return (
            f"{self.path} ({self.format}): {self.records_read} records read, "
            f"{self.scraper_errors} scraper errors skipped; listings +{self.listings_added} "
            f"new, {self.listings_updated} updated; albums +{self.albums_added}; reference "
            f"images +{self.images_added} ({self.images_missing} missing, "
            f"{self.images_unreadable} unreadable); excluded from comparables: {excluded}"
        )


class AlbumMap:
    """Maps search keywords and hand labels to albums (`keyword, label, artist, title`)."""

    def __init__(self, rows: list[dict[str, str]] | None = None) -> None:
        self.by_keyword: dict[str, AlbumName] = {}
        self.by_label: dict[str, AlbumName] = {}
        for row in rows or []:
            name = AlbumName(str(row.get("artist") or "").strip(), str(row["title"]).strip())
            if row.get("keyword"):
                self.by_keyword[_key(row["keyword"])] = name
            if row.get("label"):
                self.by_label[_key(row["label"])] = name

    @classmethod
    def from_csv(cls, path: Path) -> AlbumMap:
        frame = pd.read_csv(path, dtype=str).fillna("")
        missing = {"title"} - set(frame.columns)
        if missing:
            raise IngestError(f"{path}: album map needs columns keyword, label, artist, title")
        return cls(frame.to_dict("records"))

    def for_keyword(self, keyword: str | None) -> AlbumName | None:
        if not keyword:
            return None
        return self.by_keyword.get(_key(keyword)) or AlbumName("", _strip_vinyl(keyword))

    def for_label(self, label: str | None) -> AlbumName | None:
        if not label or _key(label) == NOT_SEARCHED_LABEL:
            return None
        return self.by_label.get(_key(label)) or AlbumName("", label.strip())


def detect_format(path: Path) -> str:
    """'ebay-json', 'ebay-csv', 'manifest' or 'discogs-csv', from the file's contents."""
    if path.suffix.lower() == ".json":
        return "ebay-json"
    try:
        header = set(pd.read_csv(path, nrows=0).columns.str.strip().str.lower())
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise IngestError(f"{path}: not a CSV or JSON file ({error})") from error
    if EBAY_CSV_COLUMNS <= header:
        return "ebay-csv"
    if MANIFEST_COLUMNS <= header:
        return "manifest"
    if {"keyword", "label", "title"} <= header:
        return "album-map"
    from vinylprice.catalog.discogs import is_discogs_header

    if is_discogs_header(header):
        return "discogs-csv"
    raise IngestError(
        f"{path}: unknown CSV layout; expected an eBay export (ebay_id, title, image_file, ...), "
        f"a manifest (image_file, artist, title) or a Discogs export (price, media_condition, "
        f"sleeve_condition, release_page); found columns {sorted(header)}"
    )


def read_records(path: Path, album_map: AlbumMap) -> tuple[str, list[ListingRecord], int]:
    """Parse `path` into listing records; returns (format, records, scraper error count)."""
    file_format = detect_format(path)
    if file_format == "album-map":
        raise IngestError(
            f"{path} is an album map (keyword, label, artist, title), not listings; "
            "pass it with --albums"
        )
    if file_format == "ebay-json":
        records, errors = read_ebay_json(path)
    elif file_format == "ebay-csv":
        records, errors = read_ebay_csv(path), 0
    elif file_format == "discogs-csv":
        from vinylprice.catalog.discogs import read_discogs_csv

        records, errors = read_discogs_csv(path), 0
    else:
        records, errors = read_manifest(path), 0

    for record in records:
        if record.album is None:
            record.album = album_map.for_label(record.hand_label) or album_map.for_keyword(
                record.keyword
            )
    return file_format, records, errors


def read_ebay_json(path: Path) -> tuple[list[ListingRecord], int]:
    """The scraper's JSON export; records carrying `error` are counted, not kept."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise IngestError(f"{path}: invalid JSON ({error})") from error
    if not isinstance(raw, list):
        raise IngestError(f"{path}: expected a JSON list of listings")

    records, errors = [], 0
    for item in raw:
        if not isinstance(item, dict) or "error" in item or not item.get("ebay_id"):
            errors += 1
            continue
        price = item.get("price") or {}
        shipping, _ = parsing.parse_shipping(item.get("shipping_price"))
        records.append(
            ListingRecord(
                source="ebay",
                external_id=str(item["ebay_id"]),
                title=str(item.get("title") or ""),
                price=parse_amount(price.get("value")),
                currency=str(price.get("currency") or "USD"),
                shipping=shipping,
                shipping_text=item.get("shipping_price"),
                listed_artist=item.get("artist"),
                sleeve_grade=item.get("sleeve_grading"),
                record_grade=item.get("record_grading"),
                year=parsing.parse_year(item.get("release_year")),
                sold_date=parsing.parse_sold_date(item.get("sold_date")),
                image_file=_image_file_from_url(item.get("image_url")),
                image_url=item.get("image_url"),
                keyword=(item.get("input") or {}).get("keyword"),
            )
        )
    return records, errors


def read_ebay_csv(path: Path) -> list[ListingRecord]:
    """The flattened eBay CSV, with the hand `label` column when present."""
    frame = pd.read_csv(path, dtype=str)
    frame.columns = frame.columns.str.strip().str.lower()
    records = []
    for row in frame.to_dict("records"):
        external_id = parsing.normalise_external_id(row.get("ebay_id"))
        if external_id is None:
            continue
        shipping = parse_amount(row.get("shipping_cost"))
        records.append(
            ListingRecord(
                source="ebay",
                external_id=external_id,
                title=parse_text(row.get("title")) or "",
                price=parse_amount(row.get("sold")),
                shipping=shipping,
                listed_artist=parse_text(row.get("artist")),
                sleeve_grade=parse_text(row.get("sleeve_grading")),
                record_grade=parse_text(row.get("record_grading")),
                year=parsing.parse_year(row.get("release_year")),
                sold_date=parsing.parse_sold_date(row.get("sold_date")),
                image_file=parse_text(row.get("image_file")),
                image_url=parse_text(row.get("image_url")),
                keyword=parse_text(row.get("keyword")),
                hand_label=parse_text(row.get("label")),
            )
        )
    return records


def read_manifest(path: Path) -> list[ListingRecord]:
    """`image_file, artist, title` and optionally `price, currency, shipping, sleeve_grade,
    record_grade, sold_date, year, external_id, source`."""
    frame = pd.read_csv(path, dtype=str)
    frame.columns = frame.columns.str.strip().str.lower()
    records = []
    rows_per_album: Counter[AlbumName] = Counter()
    for number, row in enumerate(frame.to_dict("records"), start=2):
        title = parse_text(row.get("title"))
        if not title:
            raise IngestError(f"{path}, line {number}: the title is empty")
        album = AlbumName(parse_text(row.get("artist")) or "", title)
        rows_per_album[album] += 1
        external_id = parse_text(row.get("external_id"))
        records.append(
            ListingRecord(
                source=parse_text(row.get("source")) or "manifest",
                external_id=external_id or _row_key(path, album, rows_per_album[album]),
                former_external_id=None if external_id else _content_key(row),
                title=f"{album.artist} {title}".strip(),
                price=parse_amount(row.get("price")),
                currency=(parse_text(row.get("currency")) or "USD").upper(),
                kind="sold" if parse_amount(row.get("price")) is not None else "reference",
                shipping=parse_amount(row.get("shipping")),
                sleeve_grade=parse_text(row.get("sleeve_grade")),
                record_grade=parse_text(row.get("record_grade")),
                year=parsing.parse_year(row.get("year")),
                sold_date=parsing.parse_sold_date(row.get("sold_date")),
                image_file=parse_text(row.get("image_file")),
                album=album,
            )
        )
    return records


def ingest_file(
    database: Database,
    path: str | Path,
    reference_dir: Path,
    images_dir: str | Path | None = None,
    album_map_path: str | Path | None = None,
) -> IngestReport:
    """Read `path` into the database; copy its images from `images_dir` into `reference_dir`.

    Idempotent: listings are keyed by (source, external id) and images by content hash.
    """
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    album_map = _load_album_map(path, album_map_path)
    file_format, records, errors = read_records(path, album_map)
    report = IngestReport(str(path), file_format, len(records), errors)
    images_root = Path(images_dir) if images_dir else path.parent

    with database.session() as session:
        albums = _AlbumCache(session, report)
        for record in records:
            listing = _upsert_listing(session, record, albums, report)
            if listing.excluded:
                report.excluded[listing.excluded_reason or "excluded"] += 1
                _drop_reference_images(session, listing)
                continue
            if record.image_file and listing.album_id is not None:
                _add_reference_image(session, listing, images_root, reference_dir, report)

    log.info("ingest %s", report.summary())
    return report


class _AlbumCache:
    def __init__(self, session: Session, report: IngestReport) -> None:
        self.session = session
        self.report = report
        self.known = {(a.artist, a.title): a for a in session.scalars(select(Album))}

    def get(self, name: AlbumName) -> Album:
        key = (name.artist, name.title)
        if key not in self.known:
            album = Album(artist=name.artist, title=name.title)
            self.session.add(album)
            self.session.flush()
            self.known[key] = album
            self.report.albums_added += 1
        return self.known[key]


def _upsert_listing(
    session: Session, record: ListingRecord, albums: _AlbumCache, report: IngestReport
) -> Listing:
    listing = _find_listing(session, record.source, record.external_id)
    if listing is None and record.former_external_id:
        listing = _find_listing(session, record.source, record.former_external_id)
        if listing is not None:
            listing.external_id = record.external_id
    if listing is None:
        listing = Listing(source=record.source, external_id=record.external_id)
        session.add(listing)
        report.listings_added += 1
    else:
        report.listings_updated += 1

    values = {
        "title": record.title or None,
        "kind": record.kind,
        "price": record.price,
        "currency": record.currency,
        "shipping": record.shipping,
        "shipping_text": record.shipping_text,
        "listed_artist": record.listed_artist,
        "sleeve_grade": record.sleeve_grade,
        "record_grade": record.record_grade,
        "year": record.year,
        "sold_date": record.sold_date,
        "image_file": record.image_file,
        "image_url": record.image_url,
        "search_keyword": record.keyword,
        "hand_label": record.hand_label,
        "extra": json.dumps(record.extra) if record.extra else None,
    }
    for name, value in values.items():
        if value is not None:
            setattr(listing, name, value)

    if record.album is not None and (listing.album_id is None or record.hand_label):
        listing.album_id = albums.get(record.album).id

    listing.excluded, listing.excluded_reason = _exclusion(listing)
    session.flush()
    return listing


def _find_listing(session: Session, source: str, external_id: str) -> Listing | None:
    return session.scalar(
        select(Listing).where(Listing.source == source, Listing.external_id == external_id)
    )


def _exclusion(listing: Listing) -> tuple[bool, str | None]:
    if listing.album_id is None:
        return True, "no album"
    if listing.hand_label and _key(listing.hand_label) == NOT_SEARCHED_LABEL:
        return True, "not the searched album"
    if parsing.lot_size(listing.title or "") > 1:
        return True, "lot of several records"
    return False, None


def _add_reference_image(
    session: Session,
    listing: Listing,
    images_root: Path,
    reference_dir: Path,
    report: IngestReport,
) -> None:
    source = (images_root / str(listing.image_file)).resolve()
    if not source.is_relative_to(images_root.resolve()) or not source.is_file():
        report.images_missing += 1
        return
    try:
        image = load_image(source)
    except ImageError as error:
        log.warning("ingest: skipping unreadable image %s: %s", source.name, error)
        report.images_unreadable += 1
        return

    stored = store_image_file(source.read_bytes(), source.suffix, reference_dir)
    digest = stored.stem
    _drop_reference_images(session, listing, keep=digest)

    exists = session.scalar(
        select(ReferenceImage).where(
            ReferenceImage.album_id == listing.album_id, ReferenceImage.sha256 == digest
        )
    )
    if exists is not None:
        # Another listing's copy of the same image: it now belongs to this listing too, so that
        # the other listing dropping it (its image edited) does not lose this one's reference.
        if exists.listing_id is not None:
            exists.listing_id = listing.id
        return
    session.add(
        ReferenceImage(
            album_id=listing.album_id,
            sha256=digest,
            path=str(stored),
            origin=listing.source,
            listing_id=listing.id,
            width=image.width,
            height=image.height,
        )
    )
    report.images_added += 1


def _drop_reference_images(session: Session, listing: Listing, keep: str | None = None) -> None:
    # A listing found to be another record (or a lot) after its image was taken is no reference;
    # nor is the image a listing showed before its image file was changed to `keep`.
    for image in session.scalars(
        select(ReferenceImage).where(ReferenceImage.listing_id == listing.id)
    ):
        if image.sha256 != keep:
            session.delete(image)


def store_image_file(data: bytes, suffix: str, folder: Path) -> Path:
    """Write `data` to `folder/<sha256><suffix>` (once) and return that path."""
    digest = hashlib.sha256(data).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{digest}{suffix.lower() or '.img'}"
    if not target.exists():
        partial = target.with_suffix(target.suffix + ".part")
        partial.write_bytes(data)
        partial.replace(target)
    return target


def _load_album_map(path: Path, album_map_path: str | Path | None) -> AlbumMap:
    candidate = Path(album_map_path) if album_map_path else path.parent / "albums.csv"
    if album_map_path and not candidate.is_file():
        raise IngestError(f"{candidate}: album map not found")
    return AlbumMap.from_csv(candidate) if candidate.is_file() else AlbumMap()


def _image_file_from_url(url: str | None) -> str | None:
    # The scraper names downloaded images after the URL's last two path segments.
    if not url:
        return None
    parts = url.rstrip("/").split("/")
    return f"{parts[-2]}_{parts[-1]}" if len(parts) >= 2 else None


def _row_key(path: Path, album: AlbumName, occurrence: int) -> str:
    # Without an id, a manifest row is known by its file's name, its album and which of that
    # album's rows it is: a row edited in place (another image, price or grade) updates its
    # listing, and rows of differently named files never overwrite each other.
    content = f"{path.name}|{album.artist}|{album.title}|{occurrence}"
    return "row-" + hashlib.sha256(content.encode()).hexdigest()[:20]


def _content_key(row: dict[str, Any]) -> str:
    # The key manifest rows without an id had before they were keyed by album: a catalogue
    # ingested then takes its listings over instead of adding them again.
    content = "|".join(str(parse_text(row.get(name)) or "") for name in sorted(row))
    return "row-" + hashlib.sha256(content.encode()).hexdigest()[:20]


def _strip_vinyl(keyword: str) -> str:
    words = keyword.split()
    while words and words[-1].lower() in {"vinyl", "lp", "record"}:
        words.pop()
    return " ".join(words) or keyword


def _key(text: str) -> str:
    return " ".join(str(text).lower().split())

