"""Shortlist and decide: turn nearest reference vectors into ranked albums and a decision."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vinylprice.answer import Album, Candidate, Decision
from vinylprice.search import Build, VectorIndex


@dataclass(frozen=True)
class Thresholds:
    """Cosine levels for the embedding-only decision.

    `matched` needs the best album at or above `match` and ahead of the runner-up by
    `margin`; at or above `unsure` the answer is "not sure"; below it, "not in catalogue".
    """

    match: float = 0.70
    margin: float = 0.08
    unsure: float = 0.55


def shortlist_albums(
    build: Build, index: VectorIndex, albums: dict[int, Album], vectors: np.ndarray, k: int
) -> list[Candidate]:
    """The albums of the `k` nearest references to any of `vectors`, best cosine per album."""
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


def decide(candidates: list[Candidate], thresholds: Thresholds) -> tuple[Decision, float]:
    """('matched' | 'unsure' | 'unknown', confidence in 0–1) from ranked candidates."""
    if not candidates:
        return "unknown", 0.0
    best = candidates[0].score
    runner_up = candidates[1].score if len(candidates) > 1 else 0.0
    confidence = float(np.clip(best, 0.0, 1.0))
    if best >= thresholds.match and best - runner_up >= thresholds.margin:
        return "matched", confidence
    if best >= thresholds.unsure:
        return "unsure", confidence
    return "unknown", confidence
