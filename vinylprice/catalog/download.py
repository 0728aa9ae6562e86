"""Download the listing photos that ingest only knows by URL, and make them reference images.

Downloads run on a bounded thread pool sharing one `httpx.Client`, which takes its proxy from
the standard environment variables (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY). Timeouts,
dropped connections, truncated bodies and 5xx/429 answers are retried with exponential
backoff; 4xx answers and bodies that are not images are not. Files already present and
readable are kept (resume). Each file is written under a temporary name and renamed, so a
killed run never leaves a half file under a real name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import re
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select
from tqdm import tqdm

from vinylprice.catalog.ingest import store_image_file
from vinylprice.images import DEFAULT_MAX_BYTES, ImageError, load_image
from vinylprice.store import Database, Listing, ReferenceImage

log = logging.getLogger(__name__)

SAFE_CHARACTERS = re.compile(r"[^A-Za-z0-9._~-]+")
MAX_NAME_LENGTH = 120
RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
USER_AGENT = "vinylprice-downloader/1.0"
CONNECTION_ERROR = "connection error"
UNREACHABLE = "skipped, image hosts unreachable"
DOCUMENT_TYPES = {"application/json", "application/xml", "application/xhtml+xml"}


class DownloadError(RuntimeError):
    """One image could not be fetched; `retryable` says whether another try may succeed."""

    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True)
class DownloadPolicy:
    """How hard to try: parallel requests, retries, backoff and limits."""

    concurrency: int = 8
    retries: int = 3
    timeout_s: float = 20.0
    backoff_s: float = 0.5
    max_bytes: int = DEFAULT_MAX_BYTES
    # When this many downloads in a row fail to connect before any succeeds, skip the rest.
    unreachable_after: int = 16


@dataclass
class DownloadReport:
    """What one download run did; printed by the CLI."""

    listings: int = 0
    downloaded: int = 0
    already_present: int = 0
    references_added: int = 0
    attempts: int = 0
    failed: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        failures = ", ".join(f"{n} {why}" for why, n in self.failed.most_common()) or "none"
        return (
            f"{self.listings} listings with an image URL: {self.downloaded} downloaded, "
            f"{self.already_present} already present, {sum(self.failed.values())} failed "
            f"({failures}); {self.attempts} requests; reference images +{self.references_added}"
        )


@dataclass(frozen=True)
class _Job:
    listing_id: int
    url: str
    file_name: str


def safe_file_name(url: str) -> str:
    """A file name for `url` that cannot leave its folder: `<folder>_<file>` of the URL path.

    This matches the scraper's naming (`8KoAAOSwEFpmLZ53_s-l500.webp`). Anything but letters,
    digits and `._~-` becomes `_` and leading dots go, so no separator or `..` survives; names
    that end up empty or too long are replaced by a hash of the URL.
    """
    try:
        path = httpx.URL(url).path
    except httpx.InvalidURL:
        path = ""
    segments = [part for part in path.replace("\\", "/").split("/") if part]
    name = SAFE_CHARACTERS.sub("_", "_".join(segments[-2:])).lstrip(".")
    if not name or len(name) > MAX_NAME_LENGTH:
        suffix = Path(segments[-1]).suffix if segments else ""
        suffix = suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,5}", suffix) else ""
        name = hashlib.sha256(url.encode()).hexdigest()[:24] + suffix
    return name


def download_images(
    database: Database,
    dest: Path,
    reference_dir: Path | None = None,
    policy: DownloadPolicy = DownloadPolicy(),
    progress: bool = True,
) -> DownloadReport:
    """Fetch every listing's `image_url` into `dest`, set `Listing.image_file`, and add the
    photos of catalogue albums (listings not excluded) as reference images in `reference_dir`.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    jobs = _plan(database)
    report = DownloadReport(listings=len(jobs))
    done: dict[int, str] = {}

    client = httpx.Client(
        timeout=policy.timeout_s,
        follow_redirects=True,
        trust_env=True,
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_connections=policy.concurrency),
    )
    unreachable = threading.Event()
    bar = tqdm(total=len(jobs), desc="downloading", unit="img", disable=not progress)
    with client, ThreadPoolExecutor(policy.concurrency) as pool:
        futures = {
            pool.submit(_fetch_one, client, job, dest, policy, unreachable): job for job in jobs
        }
        for future in as_completed(futures):
            job = futures[future]
            outcome, attempts = future.result()
            report.attempts += attempts
            if outcome == "downloaded":
                report.downloaded += 1
                done[job.listing_id] = job.file_name
            elif outcome == "present":
                report.already_present += 1
                done[job.listing_id] = job.file_name
            else:
                report.failed[outcome] += 1
            if _hosts_unreachable(report, policy) and not unreachable.is_set():
                log.warning("the first %d downloads could not connect; skipping the rest. "
                            "Check the network or HTTP_PROXY/HTTPS_PROXY.",
                            report.failed[CONNECTION_ERROR])
                unreachable.set()
            bar.update()
    bar.close()

    report.references_added = _record(database, done, dest, reference_dir)
    log.info("download-images %s", report.summary())
    return report


def _plan(database: Database) -> list[_Job]:
    with database.session() as session:
        rows = session.execute(
            select(Listing.id, Listing.image_url)
            .where(Listing.image_url.is_not(None), Listing.image_url != "")
            .order_by(Listing.id)
        ).all()

    # Two different URLs must not share a file: give colliding names a hash of their URL.
    urls_by_name: dict[str, set[str]] = {}
    for row in rows:
        urls_by_name.setdefault(safe_file_name(row.image_url), set()).add(row.image_url)
    jobs = []
    for row in rows:
        name = safe_file_name(row.image_url)
        if len(urls_by_name[name]) > 1:
            digest = hashlib.sha256(row.image_url.encode()).hexdigest()[:8]
            name = f"{Path(name).stem}-{digest}{Path(name).suffix}"
        jobs.append(_Job(row.id, row.image_url, name))
    return jobs


def _hosts_unreachable(report: DownloadReport, policy: DownloadPolicy) -> bool:
    connection_errors = report.failed[CONNECTION_ERROR]
    return (report.downloaded == 0 and connection_errors >= policy.unreachable_after
            and connection_errors == sum(report.failed.values()))


def _fetch_one(
    client: httpx.Client, job: _Job, dest: Path, policy: DownloadPolicy,
    unreachable: threading.Event,
) -> tuple[str, int]:
    """('downloaded' | 'present' | failure reason, requests made) for one listing."""
    target = (dest / job.file_name).resolve()
    if target.parent != dest.resolve():
        return "unsafe file name", 0
    if _is_valid_image(target, policy.max_bytes):
        return "present", 0
    if unreachable.is_set():
        return UNREACHABLE, 0

    attempts = 0
    while True:
        attempts += 1
        try:
            data = _get_image(client, job.url, policy.max_bytes)
        except DownloadError as error:
            if not error.retryable or attempts > policy.retries:
                log.info("listing %s: giving up on %s after %d tries: %s",
                            job.listing_id, job.url, attempts, error.reason)
                return error.reason, attempts
            delay = policy.backoff_s * 2 ** (attempts - 1) * (1 + random.random() / 2)
            log.debug("listing %s: %s; retrying in %.2f s", job.listing_id, error.reason, delay)
            time.sleep(delay)
            continue

        _write_atomically(target, data)
        return "downloaded", attempts


def _get_image(client: httpx.Client, url: str, max_bytes: int) -> bytes:
    try:
        with client.stream("GET", url) as response:
            if response.status_code in RETRY_STATUSES:
                raise DownloadError(f"HTTP {response.status_code}", retryable=True)
            if response.status_code >= 400:
                raise DownloadError(f"HTTP {response.status_code}", retryable=False)
            content_type = response.headers.get("content-type", "").split(";")[0].strip()
            if content_type.startswith("text/") or content_type in DOCUMENT_TYPES:
                raise DownloadError(f"not an image ({content_type})", retryable=False)
            data = bytearray()
            for chunk in response.iter_bytes():
                data.extend(chunk)
                if len(data) > max_bytes:
                    raise DownloadError(f"larger than {max_bytes} bytes", retryable=False)
    except httpx.TimeoutException as error:
        raise DownloadError("timeout", retryable=True) from error
    except (httpx.TransportError, httpx.DecodingError) as error:
        # A connection closed before Content-Length bytes arrived lands here (truncated body).
        raise DownloadError(CONNECTION_ERROR, retryable=True) from error
    except httpx.InvalidURL as error:
        raise DownloadError("invalid URL", retryable=False) from error

    try:
        load_image(bytes(data), max_bytes)
    except ImageError as error:
        # With an image content type, an undecodable body is most often a cut-off transfer.
        raise DownloadError(
            "unreadable image", retryable=content_type.startswith("image/")
        ) from error
    return bytes(data)


def _is_valid_image(path: Path, max_bytes: int) -> bool:
    if not path.is_file():
        return False
    try:
        load_image(path, max_bytes)
    except ImageError:
        log.info("re-downloading unreadable file %s", path.name)
        return False
    return True


def _write_atomically(target: Path, data: bytes) -> None:
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    partial.write_bytes(data)
    os.replace(partial, target)


def _record(
    database: Database, done: dict[int, str], dest: Path, reference_dir: Path | None
) -> int:
    """Set `image_file` on downloaded listings; add reference images; count those added."""
    added = 0
    with database.session() as session:
        for listing in session.scalars(select(Listing).where(Listing.id.in_(list(done)))):
            listing.image_file = done[listing.id]
            if reference_dir is None or listing.excluded or listing.album_id is None:
                continue
            stored = store_image_file((dest / done[listing.id]).read_bytes(),
                                      Path(done[listing.id]).suffix, reference_dir)
            known = session.scalar(
                select(ReferenceImage.id).where(
                    ReferenceImage.album_id == listing.album_id,
                    ReferenceImage.sha256 == stored.stem,
                )
            )
            if known is None:
                image = load_image(stored)
                session.add(ReferenceImage(
                    album_id=listing.album_id, sha256=stored.stem, path=str(stored),
                    origin=listing.source, listing_id=listing.id,
                    width=image.width, height=image.height,
                ))
                added += 1
    return added
