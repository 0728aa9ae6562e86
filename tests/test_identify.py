"""Identify end to end on the bundled sample with the shared MobileNetV2 weights."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vinylprice.search import IndexMismatchError
from vinylprice.service import Recognizer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recognizer(sample_catalogue) -> Recognizer:  # type: ignore[no-untyped-def]
    return Recognizer.from_settings(sample_catalogue)


def test_sample_photo_is_rumours_with_a_price(recognizer: Recognizer, sample_dir: Path) -> None:
    answer = recognizer.identify(sample_dir / "origin-image.webp")

    assert answer.decision == "matched"
    assert (answer.album.artist, answer.album.title) == ("Fleetwood Mac", "Rumours")
    assert answer.price is not None
    assert answer.price.comparables >= 10
    assert answer.price.low <= answer.price.suggested <= answer.price.high
    assert len(answer.price.closest) == 3


def test_answer_json_has_the_public_shape(recognizer: Recognizer, sample_dir: Path) -> None:
    payload = recognizer.identify(sample_dir / "origin-image.webp").to_json()

    assert {"photo", "album", "confidence", "candidates", "price", "error"} <= payload.keys()
    assert set(payload["album"]) >= {"artist", "title"}
    assert {"artist", "title", "score"} <= payload["candidates"][0].keys()
    assert {"suggested", "low", "high", "currency", "comparables"} <= payload["price"].keys()
    assert payload["error"] is None


def test_bad_photo_gets_an_error_answer(recognizer: Recognizer) -> None:
    answer = recognizer.identify(b"%PDF-1.4 not a photo")

    assert answer.decision == "error"
    assert answer.album is None and answer.price is None
    assert "not an image" in answer.error


def test_index_built_with_other_weights_is_refused(  # type: ignore[no-untyped-def]
    sample_catalogue, small_embedder
) -> None:
    from vinylprice.store import open_database

    database = open_database(sample_catalogue.resolved_database_url)

    with pytest.raises(IndexMismatchError, match="vinylprice rebuild"):
        Recognizer(sample_catalogue, database, small_embedder)


def test_cli_prints_json_per_photo(  # type: ignore[no-untyped-def]
    sample_catalogue, sample_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    env = {
        "VINYLPRICE_HOME": str(sample_catalogue.home),
        "VINYLPRICE_WEIGHTS": sample_catalogue.weights,
        "VINYLPRICE_BACKBONE": sample_catalogue.backbone,
        "PATH": str(Path(sys.executable).parent),
    }

    result = subprocess.run(
        [sys.executable, "-m", "vinylprice.cli.main", "identify", "--json", "--top", "2",
         str(sample_dir / "origin-image.webp"), str(broken)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )

    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1, result.stderr
    assert "1 of 2 photos could not be read" in result.stderr
    assert lines[0]["album"]["title"] == "Rumours"
    assert len(lines[0]["candidates"]) <= 2
    assert lines[1]["album"] is None and lines[1]["error"]
