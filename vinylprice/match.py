"""Shortlist, verify, decide: from a photo's embeddings and local features to ranked albums.

Shortlist: reference images come from two sources, the CNN embeddings of the photo's regions
by cosine (top K) and the votes of the photo's SIFT keypoints through the descriptor index.
Verify: each shortlisted reference is checked with a RANSAC homography on its keypoint pairs;
an album is represented by its best-verified reference. Decide: calibrated thresholds on the
inliers and on how much of the reference they cover give matched / unsure / unknown; the
order and the confidence come from the verification, never from the cosine alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from vinylprice.answer import Album, Candidate, Decision
from vinylprice.search import Build, VectorIndex
from vinylprice.verify import (
    FEATURES_FOLDER,
    QUERY_EXTRACTOR,
    Correspondences,
    DescriptorIndex,
    FeatureExtractor,
    LocalFeatures,
    ReferenceFeatures,
    Verification,
    distinctive_correspondences,
    one_to_one,
    verify_homography,
)

log = logging.getLogger(__name__)

# One photo's cosine search is a small matrix product; on a busy 2-core machine OpenBLAS's
# two spinning threads made it 4 times slower than one (65 ms against 16 ms for 4,783
# references). The limit is process-wide while it lasts, so concurrent queries share it.
_BLAS = ThreadpoolController()


@dataclass(frozen=True)
class Thresholds:
    """Verification levels for the decision.

    A reference's strength is the smaller of inliers / `match_inliers` and coverage /
    `match_coverage`; confidence is 1 − 2^−strength, so 0.5 means both levels are just met.
    "Matched" needs strength ≥ 1 and `margin` times the strength of the best other album;
    "not sure" needs `unsure_inliers` inliers; below that, "not in catalogue".

    The defaults were fitted by `vinylprice evaluate --calibrate` on SMVS phone photos (the
    half of the Canon and Droid photos picked by a hash of the file name, each photo of a
    catalogued cover also asked with its cover hidden) against the 4,703 Discogs distractors;
    see README "Accuracy".
    """

    match_inliers: int = 14
    match_coverage: float = 0.1
    margin: float = 1.5
    unsure_inliers: int = 7

    def strength(self, verification: Verification) -> float:
        """How far past both match levels a verification is (1.0: exactly at them)."""
        return min(verification.inliers / self.match_inliers,
                   verification.coverage / self.match_coverage)

    def confidence(self, verification: Verification) -> float:
        """1 − 2^−strength, in 0–1."""
        return 1.0 - 0.5 ** self.strength(verification)


@dataclass(frozen=True)
class Shortlist:
    """Reference rows worth verifying, and the evidence that put them there."""

    rows: list[int]
    by_votes: list[int]
    by_cosine: list[int]
    cosine: dict[int, float]
    votes: np.ndarray
    correspondences: Correspondences


@dataclass(frozen=True)
class RankedAlbum:
    """An album with its best-verified reference image."""

    album: Album
    row: int
    reference_image: str
    verification: Verification
    strength: float
    confidence: float
    votes: float
    cosine: float | None

    def candidate(self) -> Candidate:
        """The album as the answer lists it."""
        return Candidate(album=self.album, score=self.confidence,
                         reference_image=self.reference_image, cosine=self.cosine,
                         inliers=self.verification.inliers)


class Matcher:
    """The catalogue side of recognition for one build: cosine index, local features,
    descriptor index and albums; safe to share between threads."""

    def __init__(
        self,
        build: Build,
        vector_index: VectorIndex,
        references: ReferenceFeatures,
        descriptor_index: DescriptorIndex,
        albums: dict[int, Album],
        *,
        extractor: FeatureExtractor = QUERY_EXTRACTOR,
        voted_candidates: int = 20,
        ratio: float = 0.9,
    ) -> None:
        if references.rows != len(build.entries):
            raise ValueError(
                f"build {build.build_id} has {len(build.entries)} reference rows but local "
                f"features for {references.rows}; run `vinylprice rebuild`"
            )
        self.build = build
        self.vector_index = vector_index
        self.references = references
        self.descriptor_index = descriptor_index
        self.albums = albums
        self.extractor = extractor
        self.voted_candidates = voted_candidates
        self.ratio = ratio
        self.row_albums = np.array([int(entry["album_id"]) for entry in build.entries],
                                   dtype=np.int64)
        self._vote_norm = 1.0 / np.sqrt(np.maximum(references.counts(), 1))

    @classmethod
    def load(cls, build: Build, vector_index: VectorIndex, albums: dict[int, Album],
             **options: object) -> Matcher:
        """Load the build's stored local features and descriptor index."""
        folder = build.artifact(FEATURES_FOLDER)
        references = ReferenceFeatures.load(folder)
        descriptor_index = DescriptorIndex.load(folder, references)
        log.info("local features loaded: build %s, %d descriptors of %d references",
                 build.build_id, len(references.descriptors), references.rows)
        return cls(build, vector_index, references, descriptor_index, albums, **options)

    def features(self, image: object) -> LocalFeatures:
        """The photo's local features, extracted as the references' were matched against."""
        return self.extractor.extract(image)

    def shortlist(self, vectors: np.ndarray, features: LocalFeatures, k: int,
                  hidden_albums: frozenset[int] = frozenset()) -> Shortlist:
        """Rows voted for by the photo's keypoints, then rows nearest to its embeddings.

        `hidden_albums` are treated as absent from the catalogue (for calibration).
        """
        hidden = np.flatnonzero(np.isin(self.row_albums, list(hidden_albums)))
        similarities, ids = self.descriptor_index.search(features.descriptors, hidden)
        pairs = distinctive_correspondences(
            similarities, ids, self.references.owners, self.row_albums, self.ratio
        )
        votes = self._votes(pairs)
        voted = np.argsort(-votes, kind="stable")[: self.voted_candidates]
        by_votes = [int(row) for row in voted if votes[row] > 0]

        cosine: dict[int, float] = {}
        if len(vectors) and k > 0:
            with _BLAS.limit(limits=1, user_api="blas"):
                scores, rows = self.vector_index.search(vectors, k)
            for score, row in zip(scores.ravel(), rows.ravel(), strict=True):
                if row < 0 or int(self.row_albums[row]) in hidden_albums:
                    continue
                if float(score) > cosine.get(int(row), -2.0):
                    cosine[int(row)] = float(score)
        by_cosine = sorted(cosine, key=lambda row: -cosine[row])

        rows = list(dict.fromkeys(by_votes + by_cosine))
        return Shortlist(rows, by_votes, by_cosine, cosine, votes, pairs.by_row())

    def verify(self, shortlist: Shortlist, features: LocalFeatures,
               thresholds: Thresholds) -> list[RankedAlbum]:
        """Albums of the shortlisted rows, best verification first, one entry per album."""
        pairs = shortlist.correspondences
        parts = pairs.of_rows()
        best: dict[int, RankedAlbum] = {}
        for row in shortlist.rows:
            album = self.albums.get(int(self.row_albums[row]))
            if album is None:
                continue

            verification = Verification()
            part = parts.get(row)
            if part is not None:
                query, reference = one_to_one(pairs.query[part], pairs.reference[part],
                                              pairs.similarity[part])
                verification = verify_homography(
                    features.points[query], self.references.points[reference],
                    tuple(int(side) for side in self.references.sizes[row]),
                )

            ranked = RankedAlbum(
                album=album,
                row=row,
                reference_image=str(self.build.entries[row]["path"]),
                verification=verification,
                strength=thresholds.strength(verification),
                confidence=thresholds.confidence(verification),
                votes=float(shortlist.votes[row]),
                cosine=shortlist.cosine.get(row),
            )
            known = best.get(album.album_id)
            if known is None or _rank_key(ranked) > _rank_key(known):
                best[album.album_id] = ranked
        return sorted(best.values(), key=_rank_key, reverse=True)

    def _votes(self, pairs: Correspondences) -> np.ndarray:
        # One vote per (query keypoint, reference row), scaled down for references with many
        # keypoints, which would otherwise collect chance votes.
        votes = np.zeros(self.references.rows, dtype=np.float64)
        if len(pairs):
            keys = pairs.query * self.references.rows + pairs.rows
            _, first = np.unique(keys, return_index=True)
            np.add.at(votes, pairs.rows[first], 1.0)
        return votes * self._vote_norm


def _rank_key(ranked: RankedAlbum) -> tuple[float, int, float, float]:
    return (ranked.strength, ranked.verification.inliers, ranked.votes,
            ranked.cosine if ranked.cosine is not None else -1.0)


def decide(ranked: list[RankedAlbum], thresholds: Thresholds) -> tuple[Decision, float]:
    """('matched' | 'unsure' | 'unknown', confidence in 0–1) from verified albums."""
    if not ranked:
        return "unknown", 0.0
    best = ranked[0]
    runner_up = ranked[1].strength if len(ranked) > 1 else 0.0
    if best.strength >= 1.0 and best.strength >= thresholds.margin * runner_up:
        return "matched", best.confidence
    if best.verification.inliers >= thresholds.unsure_inliers:
        return "unsure", best.confidence
    return "unknown", best.confidence


def shortlist_albums(
    build: Build, index: VectorIndex, albums: dict[int, Album], vectors: np.ndarray, k: int
) -> list[Candidate]:
    """The albums of the `k` nearest references to any of `vectors`, best cosine per album.

    The whole-photo cosine method alone; `vinylprice evaluate` reports it as the baseline.
    """
    with _BLAS.limit(limits=1, user_api="blas"):
        scores, rows = index.search(vectors, k)
    best: dict[int, tuple[float, int]] = {}
    for score, row in zip(scores.ravel(), rows.ravel(), strict=True):
        album_id = int(build.entries[row]["album_id"])
        if album_id in albums and (album_id not in best or score > best[album_id][0]):
            best[album_id] = (float(score), int(row))

    ranked = sorted(best.items(), key=lambda item: -item[1][0])
    return [
        Candidate(
            album=albums[album_id],
            score=score,
            cosine=score,
            reference_image=build.entries[row]["path"],
        )
        for album_id, (score, row) in ranked
    ]


def rows_to_albums(build: Build, rows: list[int]) -> list[int]:
    """Album ids of `rows`, in order, each album once."""
    return list(dict.fromkeys(int(build.entries[row]["album_id"]) for row in rows))
