"""Evaluation: thresholds are fitted to keep impostors out, figures are computed as defined,
and `vinylprice evaluate` runs end to end on a few real covers and phone photos."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vinylprice.cli.main import main
from vinylprice.evaluation import (
    Outcome,
    Query,
    ThresholdCalibrator,
    Verdicts,
    choose_left_out,
    format_table,
    summarise,
)


def outcome(truth: int | None, ranked: list[int], album: int | None, ms: float,
            shortlist: list[int] | None = None) -> Outcome:
    query = Query(Path(f"{truth}.jpg"), "Phone", truth)
    return Outcome(query, ranked, "matched" if album else "unsure", album, ms / 1000,
                   ms / 2000, {"merged": shortlist if shortlist is not None else ranked})


def test_calibration_accepts_the_most_true_matches_that_keep_impostors_away() -> None:
    verdicts = Verdicts(positives=[(40, 0.5), (25, 0.3), (12, 0.1)],
                        negatives=[(9, 0.02), (20, 0.05)])

    calibrator = ThresholdCalibrator(safety=0.75).fit(verdicts)

    thresholds = calibrator.thresholds_
    assert calibrator.accepted_ == 1.0
    assert (thresholds.match_inliers, thresholds.match_coverage) == (12, 0.1)
    assert thresholds.unsure_inliers == 6


def test_calibration_gives_up_an_impostor_like_true_match() -> None:
    # The impostor (30 inliers over 40 % of a cover) looks like the weakest true match.
    verdicts = Verdicts(positives=[(80, 0.6), (32, 0.42)], negatives=[(30, 0.4)])

    calibrator = ThresholdCalibrator(safety=0.75).fit(verdicts)

    assert calibrator.accepted_ == 0.5
    assert calibrator.thresholds_.match_inliers > 30 / 0.75


def test_calibration_without_true_matches_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one photo"):
        ThresholdCalibrator().fit(Verdicts(positives=[], negatives=[(5, 0.1)]))


def test_figures_follow_their_definitions() -> None:
    outcomes = [
        outcome(1, [1, 2], album=1, ms=100),
        outcome(2, [3, 2], album=None, ms=200),
        outcome(3, [4, 5, 6, 7, 8, 3], album=4, ms=300, shortlist=[4, 3]),
        outcome(None, [9], album=9, ms=400),
        outcome(None, [9], album=None, ms=500),
    ]

    metrics = summarise(outcomes, k=2)

    assert metrics.photos == 3 and metrics.left_out_photos == 2
    assert metrics.recall_at_1 == pytest.approx(1 / 3)
    assert metrics.recall_at_5 == pytest.approx(2 / 3)
    assert metrics.shortlist_recall == {"merged": pytest.approx(1.0)}
    assert metrics.matched_right == pytest.approx(1 / 3)
    assert metrics.matched_wrong == pytest.approx(1 / 3)
    assert metrics.left_out_confident == pytest.approx(0.5)
    assert metrics.p50_ms == pytest.approx(300)
    assert metrics.cpu_p95_ms == pytest.approx(240)
    table = format_table({"Phone": {"verified": metrics}}, k=2)
    assert "shortlist recall@2 (merged)" in table and "Phone verified" in table


def test_left_out_references_are_drawn_from_those_with_photos() -> None:
    references = [Path(f"{n:03d}.jpg") for n in range(1, 11)]

    chosen = choose_left_out(references, {"002", "004", "006", "008"}, 3, seed=1)

    assert len(chosen) == 3 and set(chosen) <= {"002", "004", "006", "008"}
    assert chosen == choose_left_out(references, {"002", "004", "006", "008"}, 3, seed=1)
    with pytest.raises(ValueError, match="only 4 have photos"):
        choose_left_out(references, {"002", "004", "006", "008"}, 5, seed=1)


@pytest.mark.slow
def test_evaluate_builds_a_catalogue_and_prints_both_methods(
    shared_dir: Path, small_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    smvs = shared_dir / "data" / "smvs_dvd"
    references, photos = tmp_path / "Reference", tmp_path / "Canon"
    references.mkdir()
    photos.mkdir()
    for name in ("001.jpg", "002.jpg", "003.jpg", "004.jpg"):
        shutil.copy(smvs / "Reference" / name, references / name)
        shutil.copy(smvs / "Canon" / name, photos / name)
    monkeypatch.setenv("VINYLPRICE_BACKBONE", "mobilenet_0.25")
    monkeypatch.setenv("VINYLPRICE_WEIGHTS", str(small_weights))
    monkeypatch.setenv("VINYLPRICE_HOME", str(tmp_path / "untouched"))

    status = main(["evaluate", "--references", str(references), "--photos", str(photos),
                   "--leave-out", "1", "--k", "3", "--workdir", str(tmp_path / "work")])

    printed = capsys.readouterr().out
    rows = {line.split("|")[0].strip(): line.split("|")[1:] for line in printed.splitlines()
            if "|" in line}
    assert status == 0
    assert "Canon verified" in printed and "Canon baseline" in printed
    assert [cell.strip() for cell in rows["photos with a catalogued cover"]] == ["3", "3"]
    assert rows["recall@1"][0].strip() == "1.000"
    assert [cell.strip() for cell in rows["photos of left-out covers"]] == ["1", "1"]
    assert rows["confident (wrong) answers"][0].strip() == "0.000"
    assert not (tmp_path / "untouched").exists()
    assert (tmp_path / "work" / "manifest-0.csv").read_text().startswith("image_file,artist,title")
