"""Evaluate recognition on photos with a ground truth, beside the whole-photo cosine baseline.

One run builds a catalogue through the admin ingest path (manifest CSVs `image_file, artist,
title` → `ingest_file` → `rebuild_index`), leaving out some references on purpose, then asks
`Recognizer.identify` about every photo and reports recall@1 and @5, shortlist recall@K,
confident answers (right, wrong, and for photos whose cover was left out), and time per photo.
A photo `NAME.jpg` shows the reference of the same file stem.
"""

from __future__ import annotations

import csv
import logging
import random
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import select

from vinylprice.catalog.ingest import ingest_file
from vinylprice.embed import Embedder
from vinylprice.images import load_image
from vinylprice.match import (
    Matcher,
    RankedAlbum,
    Thresholds,
    rows_to_albums,
    shortlist_albums,
)
from vinylprice.rebuild import RebuildReport, rebuild_index
from vinylprice.service import Recognizer
from vinylprice.store import Album, Database

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
REFERENCE_ARTIST = "Reference"
DISTRACTOR_ARTIST = "Distractor"


@dataclass(frozen=True)
class Query:
    """A photo, the group it is reported in, and the album it shows (None: left out)."""

    photo: Path
    group: str
    truth: int | None


@dataclass
class Outcome:
    """What one method said about one query."""

    query: Query
    ranked: list[int]
    decision: str
    album: int | None
    seconds: float
    cpu_seconds: float
    shortlists: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Catalogue:
    """The evaluation catalogue: album id per reference stem, and what building it took."""

    albums: dict[str, int]
    left_out: list[str]
    distractors: int
    rebuild: RebuildReport


def image_files(folder: Path, limit: int | None = None) -> list[Path]:
    """Image files of `folder`, sorted by name, at most `limit`."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return files[:limit] if limit is not None else files


def choose_left_out(references: Sequence[Path], photo_stems: set[str], count: int,
                    seed: int) -> list[str]:
    """`count` reference stems that have photos, chosen at random with `seed`."""
    eligible = sorted(p.stem for p in references if p.stem in photo_stems)
    if count > len(eligible):
        raise ValueError(f"cannot leave out {count} references: only {len(eligible)} have photos")
    return sorted(random.Random(seed).sample(eligible, count))


def build_catalogue(
    database: Database,
    embedder: Embedder,
    reference_dir: Path,
    builds_dir: Path,
    workdir: Path,
    references: Sequence[Path],
    distractors: Sequence[Path],
    left_out: Sequence[str],
) -> Catalogue:
    """Ingest references (minus `left_out`) and distractors from manifests, then rebuild."""
    database.create_schema()
    kept = [p for p in references if p.stem not in set(left_out)]
    batches = [(kept, REFERENCE_ARTIST), (distractors, DISTRACTOR_ARTIST)]
    for number, (images, artist) in enumerate(batches):
        if not images:
            continue
        manifest = workdir / f"manifest-{number}.csv"
        write_manifest(manifest, images, artist)
        report = ingest_file(database, manifest, reference_dir, images[0].parent)
        log.info("evaluate: %s", report.summary())

    rebuild = rebuild_index(database, embedder, builds_dir, progress=False)
    with database.session() as session:
        albums = {
            row.title: row.id
            for row in session.scalars(select(Album).where(Album.artist == REFERENCE_ARTIST))
        }
    return Catalogue(albums, list(left_out), len(distractors), rebuild)


def write_manifest(path: Path, images: Sequence[Path], artist: str) -> None:
    """A manifest CSV naming each image's album after its file stem."""
    folders = {image.parent for image in images}
    if len(folders) != 1:
        raise ValueError(f"a manifest's images must share one folder, got {len(folders)}")
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_file", "artist", "title"])
        writer.writerows([image.name, artist, image.stem] for image in images)


def make_queries(photo_dirs: Sequence[Path], catalogue: Catalogue, references: set[str],
                 limit: int | None = None) -> list[Query]:
    """Photos with a reference, per folder; those whose reference was left out get no truth."""
    queries = []
    for folder in photo_dirs:
        for photo in image_files(folder, limit):
            if photo.stem not in references:
                continue
            queries.append(Query(photo, folder.name, catalogue.albums.get(photo.stem)))
    return queries


def calibration_half(query: Query) -> bool:
    """Half of the photos, chosen by a hash of the file name, for fitting thresholds."""
    return zlib.crc32(query.photo.stem.encode()) % 2 == 0


def evaluate_recognizer(recognizer: Recognizer, queries: Sequence[Query]) -> list[Outcome]:
    """Ask `recognizer.identify` about every query, timing each call."""
    if queries:
        recognizer.identify(queries[0].photo, source="evaluate")  # warm-up, not counted

    outcomes = []
    for query in queries:
        started, cpu_started = time.perf_counter(), time.process_time()
        answer = recognizer.identify(query.photo, source="evaluate")
        outcomes.append(Outcome(
            query,
            [candidate.album.album_id for candidate in answer.candidates],
            answer.decision,
            answer.album.album_id if answer.album else None,
            time.perf_counter() - started,
            time.process_time() - cpu_started,
        ))
    return outcomes


def add_shortlists(recognizer: Recognizer, outcomes: Sequence[Outcome], k: int) -> None:
    """Record, per outcome, the albums each shortlist source proposed, in order."""
    matcher: Matcher = recognizer.matcher
    for outcome in outcomes:
        image = load_image(outcome.query.photo)
        regions = recognizer.locator.locate(image)
        vectors = recognizer.embedder.embed([region.image for region in regions])
        features = matcher.features(image)
        shortlist = matcher.shortlist(vectors, features, k)
        whole = recognizer.embedder.embed([image])
        _, rows = recognizer.index.search(whole, k)
        outcome.shortlists = {
            "merged": rows_to_albums(matcher.build, shortlist.rows),
            "votes": rows_to_albums(matcher.build, shortlist.by_votes),
            "cnn regions": rows_to_albums(matcher.build, shortlist.by_cosine),
            "cnn whole": rows_to_albums(matcher.build, [int(row) for row in rows[0]]),
        }


@dataclass(frozen=True)
class CosineRule:
    """The prototype's decision on the best cosine alone: the baseline."""

    match: float = 0.70
    margin: float = 0.08
    unsure: float = 0.55

    def decide(self, scores: Sequence[float]) -> str:
        """The decision for candidates' cosines, best first."""
        if not scores:
            return "unknown"
        runner_up = scores[1] if len(scores) > 1 else 0.0
        if scores[0] >= self.match and scores[0] - runner_up >= self.margin:
            return "matched"
        return "unsure" if scores[0] >= self.unsure else "unknown"


def evaluate_baseline(recognizer: Recognizer, queries: Sequence[Query], k: int,
                      rule: CosineRule = CosineRule()) -> list[Outcome]:
    """The whole photo embedded once and compared by cosine, decided by `rule`."""
    build, index, albums = recognizer.build, recognizer.index, recognizer.albums
    outcomes = []
    for query in queries:
        started, cpu_started = time.perf_counter(), time.process_time()
        image = load_image(query.photo)
        vectors = recognizer.embedder.embed([image])
        candidates = shortlist_albums(build, index, albums, vectors, k)
        decision = rule.decide([candidate.score for candidate in candidates])
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        ranked = [candidate.album.album_id for candidate in candidates]
        outcomes.append(Outcome(query, ranked, decision,
                                ranked[0] if decision == "matched" else None, seconds,
                                cpu_seconds, {"cnn whole": ranked}))
    return outcomes


@dataclass(frozen=True)
class Verdicts:
    """Verification strength evidence for calibration: true matches and impostors."""

    positives: list[tuple[int, float]]
    negatives: list[tuple[int, float]]


def collect_verdicts(recognizer: Recognizer, queries: Sequence[Query]) -> Verdicts:
    """(inliers, coverage) of the true album's best reference, and of the strongest wrong
    album, for each query; each photo of a catalogued cover is asked again with its cover
    hidden, since the impostors that matter are those of photos whose cover is missing."""
    matcher: Matcher = recognizer.matcher
    positives, negatives = [], []
    for query in queries:
        image = load_image(query.photo)
        regions = recognizer.locator.locate(image)
        vectors = recognizer.embedder.embed([region.image for region in regions])
        features = matcher.features(image)
        hidings = [frozenset()] if query.truth is None else [frozenset(), {query.truth}]
        for hidden in hidings:
            shortlist = matcher.shortlist(vectors, features, recognizer.settings.shortlist_k,
                                          frozenset(hidden))
            ranked = matcher.verify(shortlist, features, recognizer.thresholds)
            right = [_evidence(album) for album in ranked if album.album.album_id == query.truth]
            wrong = [_evidence(album) for album in ranked if album.album.album_id != query.truth]
            if right:
                positives.append(right[0])
            negatives.append(max(wrong, default=(0, 0.0)))
    return Verdicts(positives, negatives)


def _evidence(album: RankedAlbum) -> tuple[int, float]:
    return album.verification.inliers, album.verification.coverage


@dataclass
class ThresholdCalibrator:
    """Fits `Thresholds`: accept the most true matches while no impostor comes within
    `safety` of both levels (an impostor must fail the levels scaled down by `safety`)."""

    safety: float = 0.5
    margin: float = 1.5
    inlier_levels: Sequence[int] = tuple(range(6, 101))
    # A shared logo or banner can match many keypoints over a small part of a cover, more
    # often among record sleeves than the calibration photos show: ask for a tenth at least.
    coverage_levels: Sequence[float] = tuple(np.round(np.arange(0.1, 0.51, 0.025), 3))
    thresholds_: Thresholds | None = None
    accepted_: float = 0.0

    def fit(self, verdicts: Verdicts) -> ThresholdCalibrator:
        """Grid-search the two levels; ties go to the stricter pair."""
        positives = np.array(verdicts.positives, dtype=float).reshape(-1, 2)
        negatives = np.array(verdicts.negatives, dtype=float).reshape(-1, 2)
        if len(positives) == 0:
            raise ValueError("calibration needs at least one photo whose cover is catalogued")

        best: tuple[float, int, float] | None = None
        for inliers in self.inlier_levels:
            for coverage in self.coverage_levels:
                near = ((negatives[:, 0] >= self.safety * inliers)
                        & (negatives[:, 1] >= self.safety * coverage))
                if near.any():
                    continue
                accepted = float(np.mean((positives[:, 0] >= inliers)
                                         & (positives[:, 1] >= coverage)))
                key = (accepted, inliers, coverage)
                if best is None or key > best:
                    best = key
        if best is None:
            raise ValueError("no thresholds in the grid keep every impostor out")

        self.accepted_, inliers, coverage = best
        self.thresholds_ = Thresholds(match_inliers=int(inliers), match_coverage=float(coverage),
                                      margin=self.margin, unsure_inliers=max(6, inliers // 2))
        return self


@dataclass(frozen=True)
class GroupMetrics:
    """The figures of one method on one group of photos."""

    photos: int
    recall_at_1: float
    recall_at_5: float
    shortlist_recall: dict[str, float]
    matched_right: float
    matched_wrong: float
    left_out_photos: int
    left_out_confident: float
    p50_ms: float
    p95_ms: float
    cpu_p50_ms: float
    cpu_p95_ms: float


def summarise(outcomes: Sequence[Outcome], k: int) -> GroupMetrics:
    """Metrics over `outcomes`: recall and shortlist recall on catalogued covers, confident
    answers for left-out covers, and time percentiles over all photos."""
    known = [o for o in outcomes if o.query.truth is not None]
    left_out = [o for o in outcomes if o.query.truth is None]
    seconds = np.array([o.seconds for o in outcomes]) * 1000 if outcomes else np.zeros(1)
    cpu = np.array([o.cpu_seconds for o in outcomes]) * 1000 if outcomes else np.zeros(1)

    def rate(hits: Iterable[bool], among: Sequence[Outcome]) -> float:
        return float(np.mean(list(hits))) if among else float("nan")

    sources = sorted({name for o in known for name in o.shortlists})
    return GroupMetrics(
        photos=len(known),
        recall_at_1=rate((o.ranked[:1] == [o.query.truth] for o in known), known),
        recall_at_5=rate((o.query.truth in o.ranked[:5] for o in known), known),
        shortlist_recall={
            name: rate((o.query.truth in o.shortlists.get(name, [])[:k] for o in known), known)
            for name in sources
        },
        matched_right=rate((o.album == o.query.truth for o in known), known),
        matched_wrong=rate((o.album is not None and o.album != o.query.truth for o in known),
                           known),
        left_out_photos=len(left_out),
        left_out_confident=rate((o.album is not None for o in left_out), left_out),
        p50_ms=float(np.percentile(seconds, 50)),
        p95_ms=float(np.percentile(seconds, 95)),
        cpu_p50_ms=float(np.percentile(cpu, 50)),
        cpu_p95_ms=float(np.percentile(cpu, 95)),
    )


def format_table(results: dict[str, dict[str, GroupMetrics]], k: int) -> str:
    """A fixed-width table: one row per figure, one column per (group, method)."""
    columns = [(group, method) for group in results for method in results[group]]
    sources = sorted({name for group in results.values() for metrics in group.values()
                      for name in metrics.shortlist_recall})
    rows: list[tuple[str, list[str]]] = [
        ("photos with a catalogued cover", [str(m.photos) for m in _cells(results, columns)]),
        ("recall@1", [_pct(m.recall_at_1) for m in _cells(results, columns)]),
        ("recall@5", [_pct(m.recall_at_5) for m in _cells(results, columns)]),
    ]
    for name in sources:
        rows.append((f"shortlist recall@{k} ({name})",
                     [_pct(m.shortlist_recall.get(name, float("nan")))
                      for m in _cells(results, columns)]))
    rows += [
        ("matched, right album", [_pct(m.matched_right) for m in _cells(results, columns)]),
        ("matched, wrong album", [_pct(m.matched_wrong) for m in _cells(results, columns)]),
        ("photos of left-out covers", [str(m.left_out_photos) for m in _cells(results, columns)]),
        ("  confident (wrong) answers", [_pct(m.left_out_confident)
                                         for m in _cells(results, columns)]),
        ("time per photo p50 (ms)", [f"{m.p50_ms:.0f}" for m in _cells(results, columns)]),
        ("time per photo p95 (ms)", [f"{m.p95_ms:.0f}" for m in _cells(results, columns)]),
        ("CPU time per photo p50 (ms)", [f"{m.cpu_p50_ms:.0f}" for m in _cells(results, columns)]),
        ("CPU time per photo p95 (ms)", [f"{m.cpu_p95_ms:.0f}" for m in _cells(results, columns)]),
    ]
    label_width = max(len(label) for label, _ in rows)
    headers = [f"{group} {method}" for group, method in columns]
    widths = [max(len(header), 8) for header in headers]
    lines = [" " * label_width + " | " + " | ".join(h.rjust(w) for h, w in zip(headers, widths,
                                                                           strict=True))]
    lines.append("-" * len(lines[0]))
    for label, cells in rows:
        lines.append(label.ljust(label_width) + " | "
                     + " | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))
    return "\n".join(lines)


def _cells(results: dict[str, dict[str, GroupMetrics]],
           columns: Sequence[tuple[str, str]]) -> list[GroupMetrics]:
    return [results[group][method] for group, method in columns]


def _pct(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{value:.3f}"


def by_group(outcomes: Sequence[Outcome]) -> dict[str, list[Outcome]]:
    """Outcomes per folder of photos, in order."""
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.query.group, []).append(outcome)
    return groups


def comparison_table(methods: dict[str, Sequence[Outcome]], k: int,
                     keep: Callable[[Query], bool] | None = None) -> str:
    """Every method's figures per group of photos, over the queries `keep` accepts."""
    results: dict[str, dict[str, GroupMetrics]] = {}
    for method, outcomes in methods.items():
        chosen = [o for o in outcomes if keep is None or keep(o.query)]
        for group, members in by_group(chosen).items():
            results.setdefault(group, {})[method] = summarise(members, k)
    return format_table(results, k)


def describe_thresholds(thresholds: Thresholds) -> str:
    """The decision levels in words."""
    return (f"match ≥ {thresholds.match_inliers} inliers and ≥ {thresholds.match_coverage:.3f} "
            f"of the reference covered, {thresholds.margin}× the runner-up; not sure from "
            f"{thresholds.unsure_inliers} inliers")
