"""The record of index builds: one row per build that `rebuild` (or `retrain`) switched to."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from vinylprice.store.db import Database
from vinylprice.store.models import IndexBuild


def record_index_build(database: Database, build_path: Path, seconds: float) -> IndexBuild:
    """Record the build in `build_path` from its manifest, with how long it took to make."""
    manifest = json.loads((Path(build_path) / "manifest.json").read_text())
    finished = datetime.now(UTC)
    row = IndexBuild(
        build_id=manifest["build_id"],
        embedder=str(manifest.get("embedder", "")),
        backbone=str(manifest.get("backbone", "")),
        weights=str(manifest.get("weights", "")),
        dimension=int(manifest.get("dimension", 0)),
        reference_images=int(manifest.get("reference_images", 0)),
        albums=int(manifest.get("albums", 0)),
        skipped_images=int(manifest.get("skipped_images", 0)),
        seconds=round(float(seconds), 3),
        started_at=finished - timedelta(seconds=seconds),
        finished_at=finished,
    )
    with database.session() as session:
        session.add(row)
    return row


def index_builds(database: Database) -> list[IndexBuild]:
    """Every recorded build, oldest first."""
    with database.session() as session:
        return list(session.scalars(select(IndexBuild).order_by(IndexBuild.id)))
