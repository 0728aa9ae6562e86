"""The Keras embedder on real images with the small shared MobileNet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vinylprice.embed import Embedder, EmbedderError
from vinylprice.images import load_image


def test_vectors_are_unit_float32(small_embedder: Embedder, sample_dir: Path) -> None:
    images = [load_image(path) for path in sorted((sample_dir / "images").iterdir())[:5]]

    vectors = small_embedder.embed(images)

    assert vectors.shape == (5, 256)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_batching_does_not_change_vectors(small_embedder: Embedder, sample_dir: Path) -> None:
    images = [load_image(path) for path in sorted((sample_dir / "images").iterdir())[:20]]

    together = small_embedder.embed(images)
    one_by_one = np.concatenate([small_embedder.embed([image]) for image in images])

    assert np.allclose(together, one_by_one, atol=1e-4)


def test_similar_photos_are_closer_than_different_ones(small_embedder: Embedder,
                                                       sample_dir: Path) -> None:
    photo = load_image(sample_dir / "origin-image.webp")
    cropped = photo.crop((10, 10, photo.width - 10, photo.height - 10))
    other = load_image(sorted((sample_dir / "images").iterdir())[0])

    vectors = small_embedder.embed([photo, cropped, other])

    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_fingerprint_names_backbone_and_weights(small_embedder: Embedder) -> None:
    assert small_embedder.fingerprint.startswith("mobilenet_0.25:")
    assert len(small_embedder.fingerprint.split(":")[1]) == 16


def test_unknown_backbone_is_refused() -> None:
    with pytest.raises(EmbedderError, match="expected one of"):
        Embedder("vgg99", "imagenet")


def test_missing_weights_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="VINYLPRICE_WEIGHTS"):
        Embedder("mobilenet_v2", str(tmp_path / "missing.h5"))


def test_wrong_weights_file_is_refused(small_weights: Path) -> None:
    with pytest.raises(EmbedderError, match="Could not load"):
        Embedder("mobilenet_v2", str(small_weights))
