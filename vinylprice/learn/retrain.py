"""Retrain from feedback: query photos users confirmed or corrected become reference images of
their album, then the index is rebuilt (switched atomically) and pricing is refitted.

Each step leaves a usable state behind: the reference images are added in one transaction,
and a rebuild that fails or is killed never replaces the current index build.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from vinylprice.embed import Embedder
from vinylprice.images import ImageError, load_image
from vinylprice.rebuild import RebuildReport, rebuild_index
from vinylprice.settings import Settings
from vinylprice.store import Database, FeedbackKind, Query, ReferenceImage
from vinylprice.store.models import ALBUM_FEEDBACK
from vinylprice.store.queries import latest_verdicts

log = logging.getLogger(__name__)

QUERY_ORIGIN = "query"


@dataclass
class AdoptionReport:
    """What happened to query photos: added as references, withdrawn, or unusable."""

    added: int = 0
    withdrawn: int = 0
    unusable: int = 0


@dataclass
class RetrainReport:
    adoption: AdoptionReport
    rebuild: RebuildReport
    pricing: str

    def summary(self) -> str:
        return (
            f"query photos: +{self.adoption.added} reference images, "
            f"{self.adoption.withdrawn} withdrawn, {self.adoption.unusable} unusable; "
            f"{self.rebuild.summary()}; pricing: {self.pricing}"
        )


def adopt_query_photos(database: Database) -> AdoptionReport:
    """Make each judged query photo a reference image of the album its latest verdict names."""
    # A verdict changed since the last retrain ("not in catalogue", another album) withdraws
    # the reference made from the earlier one. All changes commit together or not at all.
    report = AdoptionReport()
    verdicts = latest_verdicts(database)
    with database.session() as session:
        for query_id, verdict in verdicts.items():
            album_id = verdict.album_id if FeedbackKind(verdict.kind) in ALBUM_FEEDBACK else None
            adopted = session.scalars(
                select(ReferenceImage).where(ReferenceImage.query_id == query_id)
            ).all()
            for reference in adopted:
                if reference.album_id != album_id:
                    session.delete(reference)
                    report.withdrawn += 1
            if album_id is None or any(ref.album_id == album_id for ref in adopted):
                continue

            query = session.get(Query, query_id)
            size = _photo_size(query.photo_path)
            if size is None:
                report.unusable += 1
                continue
            duplicate = session.scalar(
                select(ReferenceImage.id).where(
                    ReferenceImage.album_id == album_id,
                    ReferenceImage.sha256 == query.photo_sha256,
                )
            )
            if duplicate is not None:
                continue
            session.add(
                ReferenceImage(
                    album_id=album_id,
                    sha256=query.photo_sha256,
                    path=query.photo_path,
                    origin=QUERY_ORIGIN,
                    query_id=query_id,
                    width=size[0],
                    height=size[1],
                )
            )
            # The same photo sent twice gives two queries; flush so the second sees the first.
            session.flush()
            report.added += 1

    log.info("retrain: query photos +%d, withdrawn %d, unusable %d",
             report.added, report.withdrawn, report.unusable)
    return report


def retrain(
    settings: Settings, database: Database, embedder: Embedder, progress: bool = True
) -> RetrainReport:
    """Adopt judged query photos, rebuild the index and refit pricing."""
    from vinylprice.pricing import train_pricing

    adoption = adopt_query_photos(database)

    rebuild = rebuild_index(database, embedder, settings.builds_dir, progress=progress)

    pricing_summary = train_pricing(settings, database)

    report = RetrainReport(adoption, rebuild, pricing_summary)
    log.info("retrain: %s", report.summary())
    return report


def _photo_size(path: str | None) -> tuple[int, int] | None:
    if not path or not Path(path).is_file():
        return None
    try:
        image: Image.Image = load_image(Path(path))
    except ImageError as error:
        log.warning("retrain: query photo %s unusable: %s", Path(path).name, error)
        return None
    return image.size
