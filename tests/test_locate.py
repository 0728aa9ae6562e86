"""Locate: the jacket's outline is found in real photos and rectified into a square."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFilter

from vinylprice.locate import Locator, centre_crop, order_corners, rectify
from vinylprice.verify import QUERY_EXTRACTOR, REFERENCE_EXTRACTOR, one_to_one, verify_homography


def photo_of(jacket: Image.Image, background: Image.Image,
             corners: np.ndarray) -> Image.Image:
    """`jacket` warped onto `background` so that its corners land on `corners`."""
    width, height = jacket.size
    source = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    transform = cv2.getPerspectiveTransform(source, corners.astype(np.float32))
    size = background.size
    warped = cv2.warpPerspective(np.asarray(jacket.convert("RGB")), transform, size)
    mask = cv2.warpPerspective(np.full((height, width), 255, np.uint8), transform, size)
    scene = np.asarray(background.convert("RGB")).copy()
    scene[mask > 0] = warped[mask > 0]
    return Image.fromarray(scene)


@pytest.fixture
def sample_jacket(sample_dir: Path) -> Image.Image:
    """The sample Rumours photo cut inside the jacket's edges: the jacket alone."""
    photo = Image.open(sample_dir / "origin-image.webp").convert("RGB")
    return photo.crop((50, 30, 470, 435))


@pytest.fixture
def table(sample_dir: Path) -> Image.Image:
    """A dim, blurred listing photo blown up to 800×600: a cluttered but soft background."""
    listing = Image.open(min((sample_dir / "images").iterdir()))
    soft = listing.convert("RGB").resize((800, 600)).filter(ImageFilter.GaussianBlur(6))
    return Image.fromarray((np.asarray(soft) * 0.5).astype(np.uint8))


def test_the_outline_of_a_jacket_at_an_angle_is_found(sample_jacket: Image.Image,
                                                     table: Image.Image) -> None:
    corners = np.array([[230, 90], [600, 130], [570, 520], [190, 470]], np.float32)
    photo = photo_of(sample_jacket, table, corners)

    found = Locator().find_jacket(photo)

    assert found is not None
    assert np.abs(found - corners).max() < 0.03 * max(photo.size)


def test_regions_are_the_whole_photo_and_the_jacket(sample_jacket: Image.Image,
                                             table: Image.Image) -> None:
    corners = np.array([[230, 90], [600, 130], [570, 520], [190, 470]], np.float32)
    photo = photo_of(sample_jacket, table, corners)

    regions = Locator(centre_crops=(0.7,)).locate(photo)

    assert [region.name for region in regions] == ["whole", "jacket"]
    assert regions[0].image is photo
    assert regions[1].image.size == (320, 320)


def test_without_a_jacket_outline_the_centre_stands_in() -> None:
    plain = Image.new("RGB", (640, 480), (128, 120, 110))

    regions = Locator().locate(plain)

    assert Locator().find_jacket(plain) is None
    assert [region.name for region in regions] == ["whole", "centre-0.70"]
    assert regions[1].image.size == (448, 336)


def test_the_rectified_jacket_of_a_phone_photo_is_the_cover(shared_dir: Path) -> None:
    folder = shared_dir / "data" / "smvs_dvd"
    photo = Image.open(folder / "Canon" / "004.jpg").convert("RGB")
    reference = Image.open(folder / "Reference" / "004.jpg").convert("RGB")

    corners = Locator().find_jacket(photo)
    assert corners is not None
    flat = rectify(photo, corners)

    # Pair the rectified view's keypoints with the cover's by mutual nearest neighbours.
    seen, cover = QUERY_EXTRACTOR.extract(flat), REFERENCE_EXTRACTOR.extract(reference)
    matcher = cv2.BFMatcher(cv2.NORM_L2, crossCheck=True)
    pairs = matcher.match(seen.descriptors.astype(np.float32),
                          cover.descriptors.astype(np.float32))
    query = np.array([pair.queryIdx for pair in pairs])
    train = np.array([pair.trainIdx for pair in pairs])
    query, train = one_to_one(query, train, -np.array([pair.distance for pair in pairs]))
    verification = verify_homography(seen.points[query], cover.points[train], cover.size)

    assert verification.inliers >= 30
    assert verification.coverage >= 0.4


def test_corners_are_ordered_clockwise_from_top_left() -> None:
    shuffled = np.array([[10, 200], [200, 210], [5, 8], [190, 2]], np.float32)

    ordered = order_corners(shuffled)

    np.testing.assert_array_equal(ordered, [[5, 8], [190, 2], [200, 210], [10, 200]])


def test_a_centre_crop_outside_0_to_1_is_refused(sample_jacket: Image.Image) -> None:
    with pytest.raises(ValueError, match=r"fraction in \(0, 1\]"):
        centre_crop(sample_jacket, 1.5)
