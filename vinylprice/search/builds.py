"""Index builds on disk: each build is a folder, written beside the old and switched atomically.

```
builds/<build-id>/manifest.json   what made it: backbone, weights fingerprint, counts, time
builds/<build-id>/vectors.npy     one unit vector per reference image
builds/<build-id>/entries.json    reference image id, album id and path per vector row
builds/CURRENT                    the build in use (replaced with os.replace)
```
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

CURRENT = "CURRENT"


class BuildError(RuntimeError):
    """No usable index build exists."""


class IndexMismatchError(BuildError):
    """The index was built with other embedding weights than the ones loaded now."""


@dataclass
class Build:
    """A loaded index build."""

    build_id: str
    path: Path
    manifest: dict[str, Any]
    vectors: np.ndarray
    entries: list[dict[str, Any]]

    @property
    def fingerprint(self) -> str:
        return str(self.manifest["embedder"])

    def artifact(self, name: str) -> Path:
        return self.path / name


class BuildWriter:
    """Writes a new build into a hidden folder; `commit()` moves it into place and switches."""

    def __init__(self, builds_dir: Path) -> None:
        self.builds_dir = Path(builds_dir)
        started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.build_id = f"{started}-{uuid.uuid4().hex[:6]}"
        self.builds_dir.mkdir(parents=True, exist_ok=True)
        self.staging = self.builds_dir / f".{self.build_id}.partial"
        self.staging.mkdir()

    def save_vectors(self, vectors: np.ndarray, entries: list[dict[str, Any]]) -> None:
        if len(vectors) != len(entries):
            raise ValueError(f"{len(vectors)} vectors but {len(entries)} entries")
        np.save(self.staging / "vectors.npy", np.asarray(vectors, dtype=np.float32))
        (self.staging / "entries.json").write_text(json.dumps(entries))

    def path(self, name: str) -> Path:
        """Where to write an extra artifact (e.g. local features) inside the new build."""
        return self.staging / name

    def commit(self, manifest: dict[str, Any]) -> str:
        """Finish the build and make it the current one; returns its id."""
        manifest = {**manifest, "build_id": self.build_id,
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
        (self.staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
        final = self.builds_dir / self.build_id
        os.replace(self.staging, final)
        pointer = self.builds_dir / f".{CURRENT}.{uuid.uuid4().hex}"
        pointer.write_text(self.build_id)
        os.replace(pointer, self.builds_dir / CURRENT)
        return self.build_id

    def abandon(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self) -> BuildWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None or self.staging.exists():
            self.abandon()


def current_build_id(builds_dir: Path) -> str | None:
    pointer = Path(builds_dir) / CURRENT
    return pointer.read_text().strip() if pointer.is_file() else None


def load_build(builds_dir: Path, expected_fingerprint: str | None = None,
               build_id: str | None = None) -> Build:
    """Load the current (or given) build; refuse one made with other embedding weights."""
    build_id = build_id or current_build_id(builds_dir)
    if build_id is None:
        raise BuildError(
            f"No index build in {builds_dir}. Run `vinylprice rebuild` after ingesting a catalogue."
        )
    path = Path(builds_dir) / build_id
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        vectors = np.load(path / "vectors.npy")
        entries = json.loads((path / "entries.json").read_text())
    except (OSError, ValueError) as error:
        raise BuildError(f"Index build {build_id} is unreadable: {error}") from error

    if expected_fingerprint and manifest.get("embedder") != expected_fingerprint:
        raise IndexMismatchError(
            f"Index build {build_id} was made with embedder {manifest.get('embedder')}, but the "
            f"loaded embedder is {expected_fingerprint}. Run `vinylprice rebuild` with the current "
            "VINYLPRICE_BACKBONE, VINYLPRICE_WEIGHTS and VINYLPRICE_EMBEDDING_HEAD, or set them "
            "back to what built the index."
        )
    return Build(build_id, path, manifest, vectors, entries)
