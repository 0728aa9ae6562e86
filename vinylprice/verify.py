"""Verify: local features and a RANSAC homography decide whether a photo shows a reference.

A flat printed cover seen by a phone is the reference warped by a homography. SIFT keypoints
of the photo are paired with keypoints of the references through an approximate nearest-
neighbour index over every reference descriptor (`DescriptorIndex`); a pair is kept only when
no other album has a descriptor nearly as close (a ratio test across the catalogue). The pairs
of one reference are then fitted with a homography by RANSAC (`verify_homography`): how many
agree, and how much of the reference they cover, is the evidence the decision rests on.

Reference features are computed once by `vinylprice rebuild` and stored in the build folder:

```
builds/<id>/local_features/points.npy       (n, 2) float32 keypoints, in extraction pixels
builds/<id>/local_features/descriptors.npy  (n, 128) uint8 SIFT descriptors
builds/<id>/local_features/offsets.npy      (rows + 1,) int64: row i owns offsets[i]:offsets[i+1]
builds/<id>/local_features/sizes.npy        (rows, 2) int32 extraction width and height per row
builds/<id>/local_features/descriptors.faiss  the trained nearest-neighbour index
```
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# FAISS's OpenMP threads spin while they wait by default; on a machine whose cores are busy
# with other work that made training the descriptor index 20 times slower (54 s against
# 2.8 s for 6,000 descriptors). Read once, when the OpenMP runtime loads with faiss.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import cv2
import faiss
import numpy as np
from PIL import Image

from vinylprice.search import BuildError

log = logging.getLogger(__name__)

FEATURES_FOLDER = "local_features"
INDEX_FILE = "descriptors.faiss"
PARAMETERS_FILE = "parameters.json"
DESCRIPTOR_SIZE = 128

# Below this many reference descriptors (about ten references) an exact flat index is
# searched; above it the descriptors go into inverted lists of 4-bit PQ codes.
EXACT_UP_TO = 5_000
TRAINING_POINTS_PER_LIST = 48
ADD_CHUNK = 200_000


class FeaturesError(BuildError):
    """The local features of a build are missing or unreadable."""


@dataclass(frozen=True)
class LocalFeatures:
    """SIFT keypoints of one image: positions in extraction pixels and uint8 descriptors."""

    points: np.ndarray
    descriptors: np.ndarray
    size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.points)


@dataclass(frozen=True)
class FeatureExtractor:
    """SIFT on a grayscale copy scaled down to at most `max_side` pixels, strongest first."""

    max_side: int = 512
    max_features: int = 800

    def extract(self, image: Image.Image) -> LocalFeatures:
        """The image's strongest `max_features` SIFT keypoints (none for a featureless image)."""
        gray = np.asarray(image.convert("L"))
        scale = min(1.0, self.max_side / max(gray.shape))
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        size = (int(gray.shape[1]), int(gray.shape[0]))

        sift = cv2.SIFT_create(nfeatures=self.max_features)
        keypoints, descriptors = sift.detectAndCompute(gray, None)
        if descriptors is None or not keypoints:
            return empty_features(size)
        points = np.array([keypoint.pt for keypoint in keypoints], dtype=np.float32)
        # OpenCV's SIFT descriptors are whole numbers in 0..255 stored as float32.
        return LocalFeatures(points, descriptors.astype(np.uint8), size)

    def parameters(self) -> dict[str, int]:
        """What the build manifest records about the extraction."""
        return {"max_side": self.max_side, "max_features": self.max_features}


REFERENCE_EXTRACTOR = FeatureExtractor(max_side=512, max_features=500)
QUERY_EXTRACTOR = FeatureExtractor(max_side=512, max_features=800)


def empty_features(size: tuple[int, int] = (0, 0)) -> LocalFeatures:
    """No keypoints, for an image of `size`."""
    return LocalFeatures(np.zeros((0, 2), np.float32),
                         np.zeros((0, DESCRIPTOR_SIZE), np.uint8), size)


def root_sift(descriptors: np.ndarray) -> np.ndarray:
    """RootSIFT: L1-normalise, then square-root, giving unit vectors compared by dot product."""
    values = np.asarray(descriptors, dtype=np.float32)
    values = values / np.maximum(values.sum(axis=1, keepdims=True), 1e-6)
    return np.sqrt(values)


class ReferenceFeatures:
    """The local features of every reference row of a build, concatenated."""

    def __init__(self, points: np.ndarray, descriptors: np.ndarray, offsets: np.ndarray,
                 sizes: np.ndarray) -> None:
        consistent = (len(offsets) == len(sizes) + 1 and offsets[-1] == len(points)
                      and len(points) == len(descriptors))
        if not consistent:
            raise FeaturesError(
                f"Inconsistent reference features: {len(points)} points, {len(descriptors)} "
                f"descriptors, {len(offsets)} offsets for {len(sizes)} rows; expected one "
                "offset more than rows, the last equal to the number of points. Run "
                "`vinylprice rebuild`."
            )
        self.points = points
        self.descriptors = descriptors
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.sizes = np.asarray(sizes, dtype=np.int32)
        self.owners = np.repeat(np.arange(len(self.sizes), dtype=np.int32), np.diff(self.offsets))

    @classmethod
    def from_features(cls, features: Sequence[LocalFeatures]) -> ReferenceFeatures:
        """Concatenate per-reference features; row i of the build is `features[i]`."""
        counts = [len(item) for item in features]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        points = (np.concatenate([item.points for item in features]) if features
                  else np.zeros((0, 2), np.float32))
        descriptors = (np.concatenate([item.descriptors for item in features]) if features
                       else np.zeros((0, DESCRIPTOR_SIZE), np.uint8))
        sizes = np.array([item.size for item in features], dtype=np.int32).reshape(-1, 2)
        return cls(points.astype(np.float32), descriptors.astype(np.uint8), offsets, sizes)

    @property
    def rows(self) -> int:
        return len(self.sizes)

    def counts(self) -> np.ndarray:
        """Keypoints per row."""
        return np.diff(self.offsets)

    def save(self, folder: Path) -> None:
        """Write the arrays as .npy files into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "points.npy", self.points)
        np.save(folder / "descriptors.npy", self.descriptors)
        np.save(folder / "offsets.npy", self.offsets)
        np.save(folder / "sizes.npy", self.sizes)

    @classmethod
    def load(cls, folder: Path) -> ReferenceFeatures:
        """Load a build's features; descriptors stay memory-mapped (read a few rows per query)."""
        try:
            return cls(
                np.load(folder / "points.npy"),
                np.load(folder / "descriptors.npy", mmap_mode="r"),
                np.load(folder / "offsets.npy"),
                np.load(folder / "sizes.npy"),
            )
        except (OSError, ValueError) as error:
            raise FeaturesError(
                f"Local features in {folder} are missing or unreadable ({error}). Run "
                "`vinylprice rebuild` to compute them."
            ) from error


class DescriptorIndex:
    """Nearest reference descriptors of each query descriptor, by RootSIFT dot product.

    Small catalogues are searched exactly. Large ones use FAISS inverted lists (an HNSW
    graph finds the `probes` nearest lists) of 4-bit product-quantised codes, scanned with
    SIMD; the `neighbours` found are then scored again exactly from the stored descriptors, so
    only which descriptors are found is approximate, never their similarity.
    """

    def __init__(self, references: ReferenceFeatures, neighbours: int = 8, probes: int = 6,
                 index: faiss.Index | None = None) -> None:
        self.references = references
        self.neighbours = neighbours
        self.probes = probes
        self.index = index

    def fit(self, seed: int = 0) -> DescriptorIndex:
        """Build the index over all reference descriptors (minutes for millions)."""
        descriptors = self.references.descriptors
        total = len(descriptors)
        if total <= EXACT_UP_TO:
            index = faiss.IndexFlatIP(DESCRIPTOR_SIZE)
        else:
            lists = _list_count(total)
            index = faiss.index_factory(DESCRIPTOR_SIZE, f"IVF{lists}_HNSW32,PQ64x4fs",
                                        faiss.METRIC_INNER_PRODUCT)
            faiss.extract_index_ivf(index).cp.niter = 10
            sample = np.random.default_rng(seed).choice(
                total, min(total, TRAINING_POINTS_PER_LIST * lists), replace=False
            )
            index.train(root_sift(descriptors[np.sort(sample)]))
        for start in range(0, total, ADD_CHUNK):
            index.add(root_sift(descriptors[start:start + ADD_CHUNK]))
        self.index = index
        self._set_probes()
        return self

    def save(self, folder: Path) -> None:
        """Write the trained index and its search parameters into `folder`."""
        if self.index is None:
            raise FeaturesError("the descriptor index is not built; call fit() first")
        faiss.write_index(self.index, str(folder / INDEX_FILE))
        (folder / PARAMETERS_FILE).write_text(json.dumps(
            {"neighbours": self.neighbours, "probes": self.probes, "size": self.index.ntotal}
        ))

    @classmethod
    def load(cls, folder: Path, references: ReferenceFeatures) -> DescriptorIndex:
        """The index `save` wrote, checked against the build's features."""
        try:
            parameters = json.loads((folder / PARAMETERS_FILE).read_text())
            index = faiss.read_index(str(folder / INDEX_FILE))
        except (OSError, ValueError, RuntimeError) as error:
            raise FeaturesError(
                f"The descriptor index in {folder} is missing or unreadable ({error}). Run "
                "`vinylprice rebuild`."
            ) from error
        if index.ntotal != len(references.descriptors):
            raise FeaturesError(
                f"The descriptor index in {folder} holds {index.ntotal} descriptors but the "
                f"build has {len(references.descriptors)}. Run `vinylprice rebuild`."
            )
        loaded = cls(references, parameters["neighbours"], parameters["probes"], index)
        loaded._set_probes()
        return loaded

    def search(self, descriptors: np.ndarray,
               excluded_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, ids), each (len(descriptors), k), exact, best first; ids -1 = none.

        Descriptors of `excluded_rows` are passed over as if those references were not in
        the catalogue (evaluation uses this to hide a photo's own cover).
        """
        total = len(self.references.descriptors)
        k = min(self.neighbours, total)
        if self.index is None or len(descriptors) == 0 or k == 0:
            return np.zeros((len(descriptors), 0), np.float32), np.zeros((len(descriptors), 0),
                                                                         np.int64)
        queries = root_sift(descriptors)
        if excluded_rows is None or len(excluded_rows) == 0:
            _, ids = _search_single_threaded(self.index, queries, k)
        else:
            _, ids = _search_single_threaded(self.index, queries, min(total, 2 * k))
            ids = _first_kept(ids, np.isin(self.references.owners[np.maximum(ids, 0)],
                                           excluded_rows), k)

        found = ids >= 0
        rows = np.flatnonzero(found.ravel())
        neighbours = root_sift(self.references.descriptors[ids.ravel()[rows]])
        exact = np.full(ids.size, -1.0, np.float32)
        exact[rows] = np.einsum("nd,nd->n", neighbours, np.repeat(queries, k, axis=0)[rows])
        exact = exact.reshape(ids.shape)

        order = np.argsort(-exact, axis=1, kind="stable")
        return np.take_along_axis(exact, order, axis=1), np.take_along_axis(ids, order, axis=1)

    def _set_probes(self) -> None:
        if self.index is not None and not isinstance(self.index, faiss.IndexFlat):
            faiss.extract_index_ivf(self.index).nprobe = self.probes


def _first_kept(ids: np.ndarray, dropped: np.ndarray, k: int) -> np.ndarray:
    """The first `k` ids of each row that are not dropped, in order, padded with -1."""
    dropped = dropped | (ids < 0)
    order = np.argsort(dropped, axis=1, kind="stable")
    kept = np.where(np.take_along_axis(dropped, order, axis=1), -1,
                    np.take_along_axis(ids, order, axis=1))
    return kept[:, :k]


def _list_count(total: int) -> int:
    """About sqrt(total) inverted lists, as a power of two between 64 and 4096."""
    return int(min(4096, max(64, 2 ** math.ceil(math.log2(math.sqrt(total))))))


def _search_single_threaded(index: faiss.Index, queries: np.ndarray,
                            k: int) -> tuple[np.ndarray, np.ndarray]:
    # OpenMP's thread count is per calling thread. One photo's search is too small to gain
    # from threads when other work (a second bot worker, the embedder) wants the cores too
    # (measured on a busy machine: 94 ms on one thread, 108 ms on two).
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(queries, k)
    finally:
        faiss.omp_set_num_threads(previous)


@dataclass(frozen=True)
class Correspondences:
    """Tentative keypoint pairs: query keypoint, reference descriptor, its row, similarity."""

    query: np.ndarray
    reference: np.ndarray
    rows: np.ndarray
    similarity: np.ndarray

    def __len__(self) -> int:
        return len(self.query)

    def of_rows(self) -> dict[int, slice]:
        """Where each row's pairs lie, once the pairs are sorted by row (see `by_row`)."""
        if len(self.rows) == 0:
            return {}
        starts = np.flatnonzero(np.r_[True, self.rows[1:] != self.rows[:-1]])
        ends = np.r_[starts[1:], len(self.rows)]
        return {int(self.rows[s]): slice(int(s), int(e)) for s, e in zip(starts, ends, strict=True)}

    def by_row(self) -> Correspondences:
        """The same pairs, sorted by reference row."""
        order = np.argsort(self.rows, kind="stable")
        return Correspondences(self.query[order], self.reference[order], self.rows[order],
                               self.similarity[order])


def distinctive_correspondences(
    similarities: np.ndarray, ids: np.ndarray, owners: np.ndarray, groups: np.ndarray,
    ratio: float = 0.9,
) -> Correspondences:
    """Keep a neighbour only if it is clearly nearer than the nearest one of another group.

    Lowe's ratio test, taken across the catalogue: `groups` gives each reference row's album,
    so the several photos of one album do not cancel each other out. When all neighbours found
    belong to one album, the farthest found stands in for the nearest of another album.
    """
    queries, k = ids.shape
    if queries == 0 or k == 0:
        empty = np.zeros(0, np.int64)
        return Correspondences(empty, empty, empty, np.zeros(0, np.float32))

    found = ids >= 0
    rows = np.where(found, owners[np.maximum(ids, 0)], -1)
    group = np.where(found, groups[np.maximum(rows, 0)], -1)
    distance = np.sqrt(np.maximum(2.0 - 2.0 * similarities, 0.0))
    distance = np.where(found, distance, np.inf)

    other = group[:, :, None] != group[:, None, :]
    nearest_other = np.where(other, distance[:, None, :], np.inf).min(axis=2)
    farthest_found = np.where(found, distance, -np.inf).max(axis=1, keepdims=True)
    bound = np.where(np.isinf(nearest_other), farthest_found, nearest_other)
    keep = found & (distance < ratio * bound)

    query = np.broadcast_to(np.arange(queries)[:, None], ids.shape)
    return Correspondences(query[keep].astype(np.int64), ids[keep].astype(np.int64),
                           rows[keep].astype(np.int64), similarities[keep].astype(np.float32))


@dataclass(frozen=True)
class Verification:
    """How well one reference explains the photo: RANSAC inliers and their spread."""

    inliers: int = 0
    correspondences: int = 0
    coverage: float = 0.0
    homography: np.ndarray | None = None

    @property
    def inlier_ratio(self) -> float:
        return self.inliers / self.correspondences if self.correspondences else 0.0


MIN_CORRESPONDENCES = 6
MIN_VIEW_AREA = 16 * 16  # query pixels: a smaller cover cannot have been recognised


def one_to_one(query: np.ndarray, reference: np.ndarray,
               similarity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep each query keypoint and each reference keypoint in at most one pair, best first."""
    order = np.argsort(-similarity, kind="stable")
    query, reference = query[order], reference[order]
    _, first = np.unique(reference, return_index=True)
    query, reference = query[first], reference[first]
    _, first = np.unique(query, return_index=True)
    return query[first], reference[first]


def verify_homography(query_points: np.ndarray, reference_points: np.ndarray,
                      reference_size: tuple[int, int]) -> Verification:
    """Fit query→reference by RANSAC; reject fits no real view of a flat cover could give."""
    pairs = len(query_points)
    if pairs < MIN_CORRESPONDENCES:
        return Verification(correspondences=pairs)

    width, height = (float(side) for side in reference_size)
    threshold = max(3.0, 0.012 * max(width, height))
    # OpenCV's USAC (RANSAC with local optimisation and early rejection of bad models) finds
    # the same inliers as classic RANSAC here about 20 times faster, and is seeded (repeatable).
    homography, mask = cv2.findHomography(
        query_points.astype(np.float32), reference_points.astype(np.float32),
        cv2.USAC_DEFAULT, threshold, maxIters=1000, confidence=0.995,
    )
    if homography is None or mask is None:
        return Verification(correspondences=pairs)
    inlying = mask.ravel().astype(bool)
    if inlying.sum() < 4 or not _plausible_view(homography, width, height):
        return Verification(correspondences=pairs)

    hull = cv2.convexHull(reference_points[inlying].astype(np.float32))
    coverage = float(cv2.contourArea(hull)) / max(width * height, 1.0)
    return Verification(int(inlying.sum()), pairs, min(coverage, 1.0), homography)


def _plausible_view(homography: np.ndarray, width: float, height: float) -> bool:
    # The reference outline seen in the photo must be a convex quadrilateral in front of the
    # camera; degenerate fits (everything collapsed onto a line or a point) fail this.
    try:
        inverse = np.linalg.inv(homography)
    except np.linalg.LinAlgError:
        return False
    corners = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]])
    projected = corners @ inverse.T
    depth = projected[:, 2]
    if not (np.all(depth > 1e-12) or np.all(depth < -1e-12)):
        return False

    quad = projected[:, :2] / depth[:, None]
    edges = np.roll(quad, -1, axis=0) - quad
    following = np.roll(edges, -1, axis=0)
    turns = edges[:, 0] * following[:, 1] - edges[:, 1] * following[:, 0]
    if not (np.all(turns > 0) or np.all(turns < 0)):
        return False
    return abs(cv2.contourArea(quad.astype(np.float32))) >= MIN_VIEW_AREA


def save_reference_features(features: Sequence[LocalFeatures], folder: Path,
                            extractor: FeatureExtractor) -> dict[str, object]:
    """Store the references' features and their trained descriptor index in `folder`."""
    references = ReferenceFeatures.from_features(features)
    references.save(folder)
    started = time.perf_counter()
    index = DescriptorIndex(references).fit()
    index.save(folder)
    log.info("descriptor index over %d descriptors of %d references built in %.1f s",
             len(references.descriptors), references.rows, time.perf_counter() - started)
    return {
        "descriptors": len(references.descriptors),
        "extractor": extractor.parameters(),
        "descriptor_index": type(index.index).__name__,
    }
