"""Shared fixtures: paths to the bundled sample and ../shared, and small real catalogues."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample" / "seed_ebay"
SHARED = Path(os.environ.get("VINYLPRICE_SHARED", ROOT.parent / "shared")).resolve()
SMALL_WEIGHTS = SHARED / "models" / "mobilenet_1_0.25_224_no_top.h5"
FULL_WEIGHTS = SHARED / "models" / "mobilenet_v2_1.0_224_no_top.weights.h5"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"needs ../shared (weights and real data), not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def small_weights(shared_dir: Path) -> Path:
    if not SMALL_WEIGHTS.is_file():
        pytest.skip(f"needs the small MobileNet weights at {SMALL_WEIGHTS}")
    return SMALL_WEIGHTS


@pytest.fixture(scope="session")
def full_weights(shared_dir: Path) -> Path:
    if not FULL_WEIGHTS.is_file():
        pytest.skip(f"needs the MobileNetV2 weights at {FULL_WEIGHTS}")
    return FULL_WEIGHTS


@pytest.fixture(scope="session")
def small_embedder(small_weights: Path):  # type: ignore[no-untyped-def]
    from vinylprice.embed import Embedder

    return Embedder("mobilenet_0.25", str(small_weights), batch_size=16)


@pytest.fixture(scope="session")
def full_embedder(full_weights: Path):  # type: ignore[no-untyped-def]
    from vinylprice.embed import Embedder

    return Embedder("mobilenet_v2", str(full_weights), batch_size=16)


def make_settings(home: Path, weights: Path, backbone: str):  # type: ignore[no-untyped-def]
    from vinylprice.settings import Settings

    return Settings(home=home, weights=str(weights), backbone=backbone, _env_file=None)


def build_sample_catalogue(home: Path, embedder) -> object:  # type: ignore[no-untyped-def]
    """Ingest the bundled sample into `home` and build its index; returns the Settings."""
    from vinylprice.catalog.ingest import ingest_file
    from vinylprice.rebuild import rebuild_index
    from vinylprice.store import open_database

    settings = make_settings(home, Path(embedder.weights), embedder.spec.name)
    database = open_database(settings.resolved_database_url)
    database.create_schema()
    for name in ("ebay_json-vinyl.json", "EBAY_images_2024-05-20-.csv"):
        ingest_file(database, SAMPLE / name, settings.reference_dir, SAMPLE / "images")
    rebuild_index(database, embedder, settings.builds_dir, progress=False)
    database.dispose()
    return settings


@pytest.fixture(scope="session")
def sample_catalogue(  # type: ignore[no-untyped-def]
    tmp_path_factory: pytest.TempPathFactory, full_embedder
):
    """Settings of a data home holding the sample catalogue indexed with MobileNetV2."""
    return build_sample_catalogue(tmp_path_factory.mktemp("sample-home"), full_embedder)


@pytest.fixture(scope="session")
def small_sample_catalogue(  # type: ignore[no-untyped-def]
    tmp_path_factory: pytest.TempPathFactory, small_embedder
):
    """The sample catalogue indexed with the small MobileNet (fast, for plumbing tests)."""
    return build_sample_catalogue(tmp_path_factory.mktemp("small-home"), small_embedder)
