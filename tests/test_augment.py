"""Photo-like augmentation on the sample's real listing photos: each distortion does what it
says, views are reproducible from a seed, and the cover stays recognisable in them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vinylprice.images import load_image
from vinylprice.learn.augment import (
    AugmentConfig,
    PhotoAugmenter,
    add_border,
    add_glare,
    add_noise,
    blur,
    colour_cast,
    composite,
    jpeg,
    random_background,
    random_crop,
    warp_cover,
)


@pytest.fixture(scope="module")
def covers(sample_dir: Path) -> list[np.ndarray]:
    paths = sorted((sample_dir / "images").iterdir())[:6]
    return [np.asarray(load_image(path)) for path in paths]


@pytest.fixture(scope="module")
def augmenter(sample_dir: Path) -> PhotoAugmenter:
    paths = sorted((sample_dir / "images").iterdir())
    return PhotoAugmenter.with_clutter_files(paths[6:], count=8, seed=0)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_views_are_reproducible_from_the_seed_and_differ_between_seeds(covers, augmenter) -> None:
    cover = covers[0]

    first = augmenter(cover, rng(42))
    again = augmenter(cover, rng(42))
    other = augmenter(cover, rng(43))

    assert first.dtype == np.uint8 and first.ndim == 3 and first.shape[2] == 3
    np.testing.assert_array_equal(first, again)
    assert first.shape != other.shape or np.abs(first.astype(int) - other).mean() > 5


def test_clutter_comes_from_other_covers_and_skips_the_excluded_one(sample_dir: Path) -> None:
    paths = sorted((sample_dir / "images").iterdir())[:3]
    augmenter = PhotoAugmenter.with_clutter_files(paths, count=3, seed=1)
    keys = [key for key, _ in augmenter.clutter]
    cover = np.asarray(load_image(paths[0]))
    config = AugmentConfig(clutter_covers=(3, 3))
    only_self = PhotoAugmenter([(keys[0], augmenter.clutter[0][1])], config)

    assert keys == [str(path) for path in paths]
    assert all(max(image.shape[:2]) <= 160 for _, image in augmenter.clutter)
    # With its only clutter excluded the view must equal one made with no clutter at all.
    no_clutter = PhotoAugmenter([], config)
    np.testing.assert_array_equal(only_self(cover, rng(5), exclude=keys[0]),
                                  no_clutter(cover, rng(5)))


def test_warped_cover_keeps_its_content_inside_the_mask(covers) -> None:
    cover = covers[1]

    warped, mask = warp_cover(cover, rng(3), (300, 225), (0.6, 0.6), 20, 0.1)

    assert warped.shape == (225, 300, 3) and mask.shape == (225, 300)
    inside = mask > 0.99
    assert 0.1 < inside.mean() < 0.9
    assert warped[mask == 0].max() == 0
    # Mean colour is roughly preserved by a geometric warp.
    assert abs(warped[inside].mean() - cover.mean()) < 25


def test_composite_puts_the_cover_over_the_background(covers) -> None:
    background = random_background(rng(1), (300, 225))
    warped, mask = warp_cover(covers[2], rng(2), (300, 225), (0.5, 0.5), 0, 0)

    view = composite(background, warped, mask)

    # The edge is softened by one pixel; compare away from it.
    kernel = np.ones((5, 5), np.uint8)
    core = cv2.erode((mask > 0.999).astype(np.uint8), kernel) > 0
    outside = cv2.erode((mask == 0).astype(np.uint8), kernel) > 0
    assert np.abs(view[core].astype(int) - warped[core]).max() <= 2
    assert np.abs(view[outside].astype(int) - background[outside]).max() <= 2


def test_glare_only_brightens(covers) -> None:
    cover = covers[3]

    glared = add_glare(cover, rng(4))

    assert np.all(glared.astype(int) >= cover.astype(int) - 1)
    assert glared.mean() > cover.mean() + 1


def test_blur_lowers_detail_and_noise_raises_it(covers) -> None:
    cover = covers[4].astype(np.float32)

    def detail(image: np.ndarray) -> float:
        return float(np.abs(np.diff(image.astype(np.float32), axis=1)).mean())

    assert detail(blur(covers[4], rng(6), 1.6)) < detail(cover)
    assert detail(add_noise(covers[4], rng(6), 10.0)) > detail(cover)
    np.testing.assert_array_equal(add_noise(covers[4], rng(6), 0.0), covers[4])


def test_colour_cast_shifts_channels_but_keeps_the_picture(covers) -> None:
    cover = covers[5]

    cast = colour_cast(cover, rng(8), 0.15)

    assert cast.shape == cover.shape and cast.dtype == np.uint8
    assert np.abs(cast.astype(int) - cover).mean() > 1
    correlation = np.corrcoef(cast.reshape(-1).astype(float), cover.reshape(-1))[0, 1]
    assert correlation > 0.8


def test_jpeg_round_trip_is_close_and_lower_quality_is_coarser(covers) -> None:
    cover = covers[0]

    fine = np.abs(jpeg(cover, 95).astype(int) - cover).mean()
    coarse = np.abs(jpeg(cover, 20).astype(int) - cover).mean()

    assert 0 < fine < coarse < 20


def test_crop_and_border_change_the_frame_as_asked(covers) -> None:
    cover = covers[1]
    height, width = cover.shape[:2]

    cropped = random_crop(cover, rng(9), (0.8, 0.8))
    framed = add_border(cover, rng(9))

    assert cropped.shape[:2] == (int(height * 0.8), int(width * 0.8))
    assert framed.shape[0] > height and framed.shape[1] > width
    assert np.all(framed[0, 0] == framed[-1, -1])


def test_a_view_still_matches_its_own_cover_best(covers, augmenter) -> None:
    orb = cv2.ORB_create(500)
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)

    def descriptors(image: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        return orb.detectAndCompute(gray, None)[1]

    def good_matches(first: np.ndarray, second: np.ndarray) -> int:
        return sum(match.distance < 40 for match in matcher.match(first, second))

    cover_descriptors = [descriptors(cover) for cover in covers]
    recognised = 0
    for index, cover in enumerate(covers):
        view = descriptors(augmenter(cover, rng(index)))
        scores = [good_matches(view, other) for other in cover_descriptors]
        recognised += int(np.argmax(scores) == index)

    assert recognised >= len(covers) - 1
