"""`vinylprice evaluate`: build a catalogue from a folder of references (plus distractors),
identify folders of photos against it, and print the figures beside the cosine baseline."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from vinylprice.cli.main import CommandError
from vinylprice.settings import Settings

if TYPE_CHECKING:
    from vinylprice.evaluation import Query
    from vinylprice.service import Recognizer


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="measure recognition on photos with a ground truth, beside the cosine baseline",
        description="Photo NAME.jpg must show reference NAME.jpg. The catalogue is built in a "
        "separate data home through manifests and the ingest path; nothing else is touched.",
    )
    parser.add_argument("--references", type=Path, required=True, metavar="DIR",
                        help="clean reference images, one album each")
    parser.add_argument("--photos", type=Path, nargs="+", required=True, metavar="DIR",
                        help="folders of query photos; each is reported as its own group")
    parser.add_argument("--distractors", type=Path, metavar="DIR",
                        help="more reference images, one album each, that no photo shows")
    parser.add_argument("-n", "--distractor-limit", type=int, metavar="N",
                        help="use only the first N distractors")
    parser.add_argument("--photo-limit", type=int, metavar="N",
                        help="use only the first N photos of each folder")
    parser.add_argument("--leave-out", type=int, default=20, metavar="N",
                        help="references left out of the catalogue; their photos must not get "
                        "a confident answer (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="chooses the left-out references")
    parser.add_argument("--k", type=int, default=20, help="shortlist length measured (albums)")
    parser.add_argument("--calibrate", action="store_true",
                        help="fit the decision thresholds on half of the photos (by a hash of "
                        "the file name) and use them; the other half is reported separately")
    parser.add_argument("--no-baseline", action="store_true", help="skip the cosine baseline")
    parser.add_argument("--workdir", type=Path, metavar="DIR",
                        help="build the catalogue here and keep it (default: a temporary "
                        "folder, removed afterwards)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from vinylprice.embed import EmbedderError

    if args.k < 1 or args.leave_out < 0:
        raise CommandError("--k must be at least 1 and --leave-out at least 0")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vinylprice-evaluate-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        recognizer, queries = _build(args, settings, workdir)
        if args.calibrate:
            _calibrate(recognizer, queries)
        started = time.perf_counter()
        _report(recognizer, queries, args.k, not args.no_baseline, args.calibrate)
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(f"evaluated {len(queries)} photos in {time.perf_counter() - started:.0f} s; "
              f"machine load average {load} on {os.cpu_count()} CPUs")
    except (EmbedderError, FileNotFoundError, ValueError) as error:
        raise CommandError(str(error)) from error
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _build(args: argparse.Namespace, settings: Settings,
           workdir: Path) -> tuple[Recognizer, list[Query]]:
    from vinylprice.embed import embedder_from_settings
    from vinylprice.evaluation import build_catalogue, choose_left_out, image_files, make_queries
    from vinylprice.service import Recognizer
    from vinylprice.store import open_database

    home = workdir / "home"
    local = Settings(**settings.model_dump(exclude={"home", "database_url"}), home=home,
                     database_url=f"sqlite:///{(home / 'vinylprice.db').resolve()}",
                     _env_file=None)
    references = image_files(args.references)
    photo_stems = {p.stem for folder in args.photos for p in image_files(folder, args.photo_limit)}
    left_out = choose_left_out(references, photo_stems, args.leave_out, args.seed)
    distractors = image_files(args.distractors, args.distractor_limit) if args.distractors else []

    embedder = embedder_from_settings(local)
    database = open_database(local.resolved_database_url)
    cpu_started = time.process_time()
    catalogue = build_catalogue(database, embedder, local.reference_dir, local.builds_dir,
                                workdir, references, distractors, left_out)
    print(f"catalogue: {len(catalogue.albums)} references + {len(distractors)} distractors; "
          f"left out: {', '.join(left_out) or 'none'}")
    print(f"rebuild: {catalogue.rebuild.summary()}; ingest and rebuild took "
          f"{time.process_time() - cpu_started:.0f} s of CPU time")

    recognizer = Recognizer(local, database, embedder)
    queries = make_queries(args.photos, catalogue, {p.stem for p in references},
                           args.photo_limit)
    return recognizer, queries


def _calibrate(recognizer: Recognizer, queries: list[Query]) -> None:
    from vinylprice.evaluation import ThresholdCalibrator, calibration_half, collect_verdicts

    fitting = [query for query in queries if calibration_half(query)]
    verdicts = collect_verdicts(recognizer, fitting)
    calibrator = ThresholdCalibrator().fit(verdicts)
    recognizer.thresholds = calibrator.thresholds_
    print(f"calibrated on {len(fitting)} photos ({len(verdicts.positives)} true matches, "
          f"{len(verdicts.negatives)} impostors): {calibrator.accepted_:.3f} of true "
          "matches pass")


def _report(recognizer: Recognizer, queries: list[Query], k: int, baseline: bool,
            held_out: bool) -> None:
    from vinylprice.evaluation import (
        add_shortlists,
        calibration_half,
        comparison_table,
        describe_thresholds,
        evaluate_baseline,
        evaluate_recognizer,
    )

    print(f"thresholds: {describe_thresholds(recognizer.thresholds)}")
    methods = {"verified": evaluate_recognizer(recognizer, queries)}
    add_shortlists(recognizer, methods["verified"], k)
    if baseline:
        methods["baseline"] = evaluate_baseline(recognizer, queries, k)

    print(comparison_table(methods, k))
    if held_out:
        print("\nphotos held out from calibration only:")
        print(comparison_table(methods, k, keep=lambda query: not calibration_half(query)))
