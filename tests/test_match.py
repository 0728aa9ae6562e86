"""Shortlist, verify, decide on real photos: the sample catalogue answers matched for the
Rumours photo, not sure for a partial view of it, and not in catalogue for another cover."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vinylprice.answer import Album
from vinylprice.match import Matcher, RankedAlbum, Thresholds, decide
from vinylprice.service import Recognizer
from vinylprice.verify import FEATURES_FOLDER, ReferenceFeatures, Verification

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recognizer(small_sample_catalogue) -> Recognizer:  # type: ignore[no-untyped-def]
    return Recognizer.from_settings(small_sample_catalogue)


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def test_the_sample_photo_is_matched_by_its_verified_geometry(recognizer: Recognizer,
                                                            sample_dir: Path) -> None:
    answer = recognizer.identify(sample_dir / "origin-image.webp")

    assert answer.decision == "matched"
    assert (answer.album.artist, answer.album.title) == ("Fleetwood Mac", "Rumours")
    best = answer.candidates[0]
    assert best.album == answer.album and best.inliers >= 30
    assert answer.confidence == best.score >= 0.5
    assert [c.score for c in answer.candidates] == sorted(
        (c.score for c in answer.candidates), reverse=True)
    assert {"locate", "embed", "features", "shortlist", "verify"} <= answer.timings_ms.keys()


def test_a_corner_of_the_jacket_is_unsure_and_still_names_it(recognizer: Recognizer,
                                                             sample_dir: Path) -> None:
    photo = Image.open(sample_dir / "origin-image.webp")
    corner = photo.crop((0, 0, photo.width // 2, photo.height // 2))

    answer = recognizer.identify(jpeg(corner))
    shown = answer.to_json()

    assert answer.decision == "unsure"
    assert answer.album is None and answer.price is None
    assert answer.candidates[0].album.title == "Rumours"
    assert answer.candidates[0].inliers >= Thresholds().unsure_inliers
    assert shown["album"] is None and shown["candidates"][0]["title"] == "Rumours"


def test_a_cover_the_catalogue_lacks_is_not_in_the_catalogue(recognizer: Recognizer,
                                                            shared_dir: Path) -> None:
    photo = shared_dir / "data" / "smvs_dvd" / "Canon" / "004.jpg"
    if not photo.is_file():
        pytest.skip(f"needs the SMVS phone photo {photo}")

    answer = recognizer.identify(photo)
    shown = answer.to_json()

    assert answer.decision == "unknown"
    assert answer.album is None and answer.price is None
    assert answer.candidates and all(c.score < 0.5 for c in answer.candidates)
    assert shown["album"] is None and len(shown["candidates"]) == len(answer.candidates)


def test_a_photo_without_keypoints_is_not_in_the_catalogue(recognizer: Recognizer) -> None:
    blank = Image.new("RGB", (640, 480), (182, 176, 168))

    answer = recognizer.identify(jpeg(blank))

    assert answer.decision == "unknown" and answer.album is None
    assert answer.candidates, "the CNN's nearest albums are still listed"
    assert all(c.inliers == 0 and c.score == 0.0 for c in answer.candidates)


def test_rebuild_stores_the_reference_features_in_the_build(recognizer: Recognizer) -> None:
    build = recognizer.build
    folder = build.artifact(FEATURES_FOLDER)

    references = ReferenceFeatures.load(folder)

    assert references.rows == len(build.entries)
    assert build.manifest["local_features"]["descriptors"] == len(references.descriptors) > 0
    assert (folder / "descriptors.faiss").is_file()


def test_the_shortlist_puts_voted_rows_first_then_nearest_by_cosine(
    recognizer: Recognizer, sample_dir: Path
) -> None:
    matcher: Matcher = recognizer.matcher
    image = Image.open(sample_dir / "origin-image.webp").convert("RGB")
    vectors = recognizer.embedder.embed([region.image for region in
                                         recognizer.locator.locate(image)])
    features = matcher.features(image)

    shortlist = matcher.shortlist(vectors, features, k=10)

    assert shortlist.by_votes and shortlist.by_cosine
    assert shortlist.rows[: len(shortlist.by_votes)] == shortlist.by_votes
    assert set(shortlist.rows) == set(shortlist.by_votes) | set(shortlist.by_cosine)
    assert len(shortlist.rows) == len(set(shortlist.rows))
    assert np.all(np.diff(shortlist.votes[shortlist.by_votes]) <= 0)


DEFAULTS = Thresholds()


def ranked(title: str, inliers: int, coverage: float,
           thresholds: Thresholds = DEFAULTS) -> RankedAlbum:
    verification = Verification(inliers, inliers * 2, coverage)
    return RankedAlbum(Album(ord(title), "Artist", title), 0, "ref.jpg", verification,
                       thresholds.strength(verification), thresholds.confidence(verification),
                       votes=1.0, cosine=0.5)


def test_a_strong_geometric_match_well_ahead_is_matched() -> None:
    decision, confidence = decide([ranked("A", 60, 0.5), ranked("B", 9, 0.02)], Thresholds())

    assert decision == "matched" and confidence > 0.5


def test_two_albums_verifying_alike_are_unsure() -> None:
    decision, _ = decide([ranked("A", 60, 0.5), ranked("B", 50, 0.45)], Thresholds())

    assert decision == "unsure"


def test_many_inliers_on_a_sliver_of_the_cover_are_unsure_not_matched() -> None:
    # A shared logo or banner: plenty of inliers, but a small part of the reference.
    decision, confidence = decide([ranked("A", 40, 0.03)], Thresholds())

    assert decision == "unsure" and confidence < 0.5


def test_too_few_inliers_is_not_in_the_catalogue() -> None:
    assert decide([ranked("A", 5, 0.3)], Thresholds())[0] == "unknown"
    assert decide([], Thresholds()) == ("unknown", 0.0)


def test_confidence_is_one_half_exactly_at_the_match_levels() -> None:
    thresholds = Thresholds(match_inliers=20, match_coverage=0.25)

    at_levels = thresholds.confidence(Verification(20, 40, 0.25))
    above = thresholds.confidence(Verification(40, 60, 0.5))

    assert at_levels == pytest.approx(0.5)
    assert 0.5 < above < 1.0
    assert thresholds.confidence(Verification()) == 0.0
