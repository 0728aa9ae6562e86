"""Verify: SIFT features, the descriptor index, the cross-album ratio test and RANSAC, on real
covers and phone photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from vinylprice.verify import (
    EXACT_UP_TO,
    QUERY_EXTRACTOR,
    REFERENCE_EXTRACTOR,
    DescriptorIndex,
    FeatureExtractor,
    FeaturesError,
    LocalFeatures,
    ReferenceFeatures,
    distinctive_correspondences,
    one_to_one,
    root_sift,
    verify_homography,
)

# Reference 004 is a flat DVD cover; Canon/004.jpg a phone photo of it, Canon/010.jpg of another.
COVER = "004"


@pytest.fixture(scope="module")
def smvs(shared_dir: Path) -> Path:
    folder = shared_dir / "data" / "smvs_dvd"
    if not (folder / "Reference" / f"{COVER}.jpg").is_file():
        pytest.skip(f"needs the SMVS covers and photos in {folder}")
    return folder


@pytest.fixture(scope="module")
def cover(smvs: Path) -> Image.Image:
    return Image.open(smvs / "Reference" / f"{COVER}.jpg").convert("RGB")


@pytest.fixture(scope="module")
def catalogue_features(smvs: Path) -> list[LocalFeatures]:
    """Reference features of covers 001–012 (about 6,000 descriptors: an IVF index)."""
    return [REFERENCE_EXTRACTOR.extract(Image.open(smvs / "Reference" / f"{n:03d}.jpg"))
            for n in range(1, 13)]


@pytest.fixture(scope="module")
def catalogue(
    catalogue_features: list[LocalFeatures],
) -> tuple[ReferenceFeatures, DescriptorIndex]:
    references = ReferenceFeatures.from_features(catalogue_features)
    return references, DescriptorIndex(references).fit()


def warped_onto_canvas(image: Image.Image, transform: np.ndarray) -> Image.Image:
    pixels = cv2.warpPerspective(np.asarray(image), transform, (640, 480),
                                 borderValue=(90, 70, 50))
    return Image.fromarray(pixels)


def verify_against(references: ReferenceFeatures, index: DescriptorIndex, row: int,
                   query: LocalFeatures):  # type: ignore[no-untyped-def]
    similarities, ids = index.search(query.descriptors)
    pairs = distinctive_correspondences(similarities, ids, references.owners,
                                        np.arange(references.rows))
    mine = pairs.rows == row
    kept_query, kept_reference = one_to_one(pairs.query[mine], pairs.reference[mine],
                                            pairs.similarity[mine])
    return verify_homography(query.points[kept_query], references.points[kept_reference],
                             tuple(references.sizes[row]))


def test_features_are_the_strongest_few_within_the_scaled_image(sample_dir: Path) -> None:
    photo = Image.open(sample_dir / "origin-image.webp")

    features = FeatureExtractor(max_side=320, max_features=200).extract(photo)

    assert len(features) == 200
    assert features.size == (320, 300)
    assert features.descriptors.shape == (200, 128) and features.descriptors.dtype == np.uint8
    assert (features.points >= 0).all() and (features.points < [320, 300]).all()


def test_a_featureless_image_has_no_features() -> None:
    features = QUERY_EXTRACTOR.extract(Image.new("RGB", (300, 300), (200, 200, 200)))

    assert len(features) == 0 and features.descriptors.shape == (0, 128)


def test_root_sift_gives_unit_vectors(cover: Image.Image) -> None:
    descriptors = REFERENCE_EXTRACTOR.extract(cover).descriptors

    np.testing.assert_allclose(np.linalg.norm(root_sift(descriptors), axis=1), 1.0, rtol=1e-5)


def test_a_known_perspective_warp_is_recovered(
    cover: Image.Image, catalogue: tuple[ReferenceFeatures, DescriptorIndex]
) -> None:
    width, height = cover.size
    outline = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    seen_at = np.array([[180, 60], [470, 90], [450, 430], [150, 400]], np.float32)
    warp = cv2.getPerspectiveTransform(outline, seen_at)
    references, index = catalogue

    photo = QUERY_EXTRACTOR.extract(warped_onto_canvas(cover, warp))

    verification = verify_against(references, index, int(COVER) - 1, photo)

    assert verification.inliers >= 50
    assert verification.coverage >= 0.45
    # Keypoints are in the pixels of the image as scaled for extraction.
    scale = photo.size[0] / 640
    back = cv2.perspectiveTransform(seen_at[None] * scale, verification.homography)[0]
    assert np.abs(back - outline).max() < 0.02 * max(width, height)


def test_a_phone_photo_verifies_against_its_cover_only(
    smvs: Path, catalogue: tuple[ReferenceFeatures, DescriptorIndex]
) -> None:
    references, index = catalogue
    photo = QUERY_EXTRACTOR.extract(Image.open(smvs / "Canon" / f"{COVER}.jpg"))

    results = [verify_against(references, index, row, photo) for row in range(references.rows)]

    inliers = [result.inliers for result in results]
    assert int(np.argmax(inliers)) == int(COVER) - 1
    assert inliers[int(COVER) - 1] >= 30
    assert sorted(inliers)[-2] < 8


def test_a_photo_of_a_cover_not_catalogued_verifies_against_none(
    smvs: Path, catalogue: tuple[ReferenceFeatures, DescriptorIndex]
) -> None:
    references, index = catalogue
    elsewhere = QUERY_EXTRACTOR.extract(Image.open(smvs / "Droid" / "050.jpg"))

    results = [verify_against(references, index, row, elsewhere)
               for row in range(references.rows)]

    assert max(result.inliers for result in results) < 8


def test_the_large_index_rescores_exactly_and_agrees_with_brute_force(
    smvs: Path, catalogue: tuple[ReferenceFeatures, DescriptorIndex]
) -> None:
    references, index = catalogue
    queries = QUERY_EXTRACTOR.extract(Image.open(smvs / "Droid" / f"{COVER}.jpg")).descriptors

    similarities, ids = index.search(queries)

    assert len(references.descriptors) > EXACT_UP_TO  # so the approximate index is tested
    exact = root_sift(queries) @ root_sift(np.asarray(references.descriptors)).T
    found = ids[:, 0] >= 0
    recomputed = exact[np.arange(len(queries))[found], ids[found, 0]]
    np.testing.assert_allclose(similarities[found, 0], recomputed, rtol=1e-5, atol=1e-5)
    # The true nearest descriptor is among those found for most query descriptors.
    nearest = exact.argmax(axis=1)
    assert np.mean([nearest[q] in ids[q] for q in range(len(queries))]) >= 0.8


def test_features_and_index_load_back_from_the_build_folder(
    tmp_path: Path, catalogue_features: list[LocalFeatures], cover: Image.Image
) -> None:
    references = ReferenceFeatures.from_features(catalogue_features[:3])
    index = DescriptorIndex(references, neighbours=4).fit()
    references.save(tmp_path)
    index.save(tmp_path)
    query = QUERY_EXTRACTOR.extract(cover).descriptors

    loaded = ReferenceFeatures.load(tmp_path)
    reloaded = DescriptorIndex.load(tmp_path, loaded)

    np.testing.assert_array_equal(loaded.descriptors, references.descriptors)
    np.testing.assert_array_equal(loaded.offsets, references.offsets)
    assert reloaded.neighbours == 4
    for left, right in zip(index.search(query), reloaded.search(query), strict=True):
        np.testing.assert_array_equal(left, right)


def test_a_build_without_features_asks_for_a_rebuild(tmp_path: Path) -> None:
    with pytest.raises(FeaturesError, match="vinylprice rebuild"):
        ReferenceFeatures.load(tmp_path)


def test_the_ratio_test_compares_with_other_albums_only() -> None:
    # Descriptor d belongs to row d; rows 0 and 1 are photos of album 7, row 2 of album 9.
    owners = np.array([0, 1, 2])
    albums = np.array([7, 7, 9])
    distances = np.array([[0.20, 0.25, 0.50], [0.30, 0.31, 0.32]])
    ids = np.array([[0, 1, 2], [0, 2, 1]])

    pairs = distinctive_correspondences(1 - distances**2 / 2, ids, owners, albums, ratio=0.9)

    assert sorted(zip(pairs.query.tolist(), pairs.reference.tolist())) == [(0, 0), (0, 1)]


def test_verification_is_repeatable(
    smvs: Path, catalogue: tuple[ReferenceFeatures, DescriptorIndex]
) -> None:
    references, index = catalogue
    photo = QUERY_EXTRACTOR.extract(Image.open(smvs / "Droid" / f"{COVER}.jpg"))

    first = verify_against(references, index, int(COVER) - 1, photo)
    again = verify_against(references, index, int(COVER) - 1, photo)

    assert first.inliers == again.inliers > 0
    np.testing.assert_array_equal(first.homography, again.homography)


def test_pairs_collapsing_onto_a_line_are_no_view_of_a_cover() -> None:
    query = np.random.default_rng(0).uniform(0, 600, size=(40, 2)).astype(np.float32)
    on_a_line = np.stack([np.linspace(10, 300, 40), np.full(40, 50.0)], axis=1)

    verification = verify_homography(query, on_a_line.astype(np.float32), (500, 500))

    assert verification.inliers == 0 and verification.correspondences == 40
