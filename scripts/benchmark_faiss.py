"""Benchmark the FAISS shortlist backend on a simulated catalogue of a million vectors.

Prints p50/p95 single-query search latency and recall@k against exact search (`ExactIndex`)
for several probe counts, and the memory the index takes. It builds the inverted lists on all
cores for several minutes and holds the vectors twice, so run it with `nice`:

    nice -n 19 .venv/bin/python scripts/benchmark_faiss.py --vectors 1000000

Simulation `covers` (the default when ../shared is present) is built from real MobileNetV2
embeddings, cached in var/benchmark/: each album is a random point between one of the 4,703
Discogs covers and one of its 10 nearest covers, plus part of the difference between two
random covers; each photo of it (four in the catalogue, one as the query) is moved from it by
a real phone-photo displacement: the embedding of an SMVS Canon or Droid photo minus that of
its clean reference. Simulation `hierarchy` needs no data: style families → styles → albums,
each a random step from the one above, photos a random step from their album. The script
prints how alike two photos of one album, and of two random albums, come out, next to the
sample's reference photos (medians 0.63 and 0.49).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from vinylprice.search.exact import ExactIndex
from vinylprice.search.faiss_index import FaissIndex, default_lists, default_probes

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VINYLPRICE_SHARED", ROOT.parent / "shared"))
COVERS = SHARED / "data" / "covers_discogs"
SMVS = SHARED / "data" / "smvs_dvd"
WEIGHTS = SHARED / "models" / "mobilenet_v2_1.0_224_no_top.weights.h5"
CACHE = ROOT / "var" / "benchmark"

PHOTOS_PER_ALBUM = 4
COVER_NEIGHBOURS = 10
ALBUMS_PER_STYLE = 250
STYLES_PER_FAMILY = 20
CHUNK = 50_000


class Simulation(Protocol):
    """Makes album points and moves them to where photos of those albums embed."""

    dimension: int

    def albums(self, count: int, rng: np.random.Generator) -> np.ndarray: ...

    def photos(self, albums: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...


class CoverSimulation:
    """Real MobileNetV2 embeddings: albums between neighbouring Discogs covers, photos moved by
    real phone-photo displacements (SMVS photo minus its clean reference)."""

    def __init__(self, covers: np.ndarray, displacements: np.ndarray, variety: float = 0.3):
        self.covers, self.displacements, self.variety = covers, displacements, variety
        self.dimension = covers.shape[1]
        similarity = covers @ covers.T
        np.fill_diagonal(similarity, -np.inf)
        self.neighbours = np.argsort(-similarity, axis=1)[:, :COVER_NEIGHBOURS]

    def albums(self, count: int, rng: np.random.Generator) -> np.ndarray:
        first = rng.integers(0, len(self.covers), count)
        second = self.neighbours[first, rng.integers(0, COVER_NEIGHBOURS, count)]
        share = rng.uniform(0, 1, (count, 1)).astype(np.float32)
        # Plus part of the difference between two random covers, so albums between the same
        # two covers are not near-duplicates of each other.
        one, two = rng.integers(0, len(self.covers), (2, count))
        return _unit(self.covers[first] + share * (self.covers[second] - self.covers[first])
                     + self.variety * (self.covers[one] - self.covers[two]))

    def photos(self, albums: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        picked = rng.integers(0, len(self.displacements), len(albums))
        return _unit(albums + self.displacements[picked])


class HierarchySimulation:
    """No data needed: style families → styles → albums, photos a random step from albums."""

    def __init__(self, size: int, dimension: int, rng: np.random.Generator,
                 step: float = 1.0, photo_step: float = 0.73):
        self.dimension, self.step, self.photo_step = dimension, step, photo_step
        styles = max(1, size // PHOTOS_PER_ALBUM // ALBUMS_PER_STYLE)
        families = max(1, styles // STYLES_PER_FAMILY)
        family_centres = _random_directions(rng, families, dimension)
        self.style_centres = _step(family_centres[rng.integers(0, families, styles)], step, rng)

    def albums(self, count: int, rng: np.random.Generator) -> np.ndarray:
        centres = self.style_centres[rng.integers(0, len(self.style_centres), count)]
        return _step(centres, self.step, rng)

    def photos(self, albums: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return _step(albums, self.photo_step, rng)


def cached_embeddings(name: str, paths: list[Path]) -> np.ndarray:
    """MobileNetV2 embeddings of `paths`, computed once and cached in var/benchmark/."""
    from vinylprice.embed import Embedder
    from vinylprice.images import load_image

    embedder = Embedder("mobilenet_v2", str(WEIGHTS), batch_size=32)
    cache = CACHE / f"{name}-{embedder.fingerprint.replace(':', '-')}.npy"
    if cache.is_file():
        return np.load(cache)

    started = time.perf_counter()
    vectors = embedder.embed_arrays(embedder.prepare(load_image(path)) for path in paths)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    print(f"embedded {len(vectors)} {name} images in {time.perf_counter() - started:.0f} s "
          f"(cached in {cache.relative_to(ROOT)})")
    return vectors


def cover_simulation() -> CoverSimulation:
    covers = cached_embeddings("covers", sorted(COVERS.glob("*.jpg")))
    references = sorted((SMVS / "Reference").glob("*.jpg"))
    photos = [SMVS / camera / path.name for camera in ("Canon", "Droid") for path in references]
    clean = cached_embeddings("smvs-reference", references)
    taken = cached_embeddings("smvs-photos", photos)
    return CoverSimulation(covers, taken - np.concatenate([clean, clean]))


def simulate_catalogue(
    size: int, queries: int, simulation: Simulation, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(catalogue vectors (size, dimension), query vectors (queries, dimension)), unit length.

    Each album has `PHOTOS_PER_ALBUM` catalogue photos; a query is one more photo of a random
    album."""
    rng = np.random.default_rng(seed)
    query_rows = np.sort(rng.choice(size, queries, replace=False))

    vectors = np.empty((size, simulation.dimension), dtype=np.float32)
    query_vectors = []
    for start in range(0, size, CHUNK):
        rows = np.arange(start, min(start + CHUNK, size))
        album_ids, album_of_row = np.unique(rows // PHOTOS_PER_ALBUM, return_inverse=True)
        albums = simulation.albums(len(album_ids), rng)
        vectors[rows] = simulation.photos(albums[album_of_row], rng)

        picked = query_rows[(query_rows >= rows[0]) & (query_rows <= rows[-1])] - start
        query_vectors.append(simulation.photos(albums[album_of_row[picked]], rng))
    return vectors, np.concatenate(query_vectors)


def describe(vectors: np.ndarray, rng: np.random.Generator) -> str:
    """Median cosine of two photos of one album, and of two random photos."""
    rows = rng.choice(len(vectors) // PHOTOS_PER_ALBUM, 2000) * PHOTOS_PER_ALBUM
    same = np.einsum("nd,nd->n", vectors[rows], vectors[rows + 1])
    other = np.einsum("nd,nd->n", vectors[rows], vectors[rng.permutation(rows) + 2])
    return (f"two photos of one album: median cosine {np.median(same):.2f}; "
            f"of two random albums: {np.median(other):.2f}")


def exact_neighbours(
    vectors: np.ndarray, queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows) of the exact top-k by cosine from the default numpy backend, batched."""
    index = ExactIndex(vectors)
    results = [index.search(queries[start:start + 25], k) for start in range(0, len(queries), 25)]
    return np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results])


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each query's exact top-k that the approximate search returned."""
    hits = [len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits) / truth.shape[1])


def time_queries(
    index: FaissIndex, queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(wall ms per query, CPU ms per query, rows found), one query at a time as the bot asks."""
    index.search(queries[:5], k)
    wall, cpu, found = [], [], []
    for query in queries:
        started, cpu_started = time.perf_counter(), time.process_time()
        _, rows = index.search(query[None, :], k)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        found.append(rows[0])
    return np.array(wall), np.array(cpu), np.array(found)


def index_bytes(index: FaissIndex) -> int:
    """Codes, ids and centroids held by the FAISS index (8-bit codes when IVF, else float32)."""
    if not index.lists:
        return index.size * index.dimension * 4
    return index.size * (index.dimension + 8) + index.lists * index.dimension * 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--dimension", type=int, default=1280,
                        help="for --simulation hierarchy (covers are MobileNetV2's 1280)")
    parser.add_argument("--simulation", choices=("covers", "hierarchy"),
                        default="covers" if COVERS.is_dir() and WEIGHTS.is_file() else "hierarchy")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--probes", default="", help="comma-separated probe counts to try")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed + 1)
    simulation: Simulation = (
        cover_simulation() if args.simulation == "covers"
        else HierarchySimulation(args.vectors, args.dimension, rng)
    )

    started = time.perf_counter()
    vectors, queries = simulate_catalogue(args.vectors, args.queries, simulation, args.seed)
    print(f"simulated ({args.simulation}) {len(vectors):,} × {simulation.dimension} catalogue "
          f"vectors and {len(queries)} queries in {time.perf_counter() - started:.0f} s; "
          f"{describe(vectors, rng)} (sample: 0.63 and 0.49)")

    started = time.perf_counter()
    scores, truth = exact_neighbours(vectors, queries, args.k)
    print(f"exact top-{args.k} (numpy ExactIndex) in {time.perf_counter() - started:.0f} s; "
          f"median cosine of the 1st neighbour {np.median(scores[:, 0]):.3f}, "
          f"of the {args.k}th {np.median(scores[:, -1]):.3f}")

    started = time.perf_counter()
    index = FaissIndex(vectors, seed=args.seed)
    print(f"faiss index {index.kind} built in {time.perf_counter() - started:.0f} s; "
          f"index memory {index_bytes(index) / 2**30:.2f} GiB, plus the build's float32 "
          f"vectors it re-ranks with: {index.vectors.nbytes / 2**30:.2f} GiB")

    lists = index.lists or default_lists(args.vectors)
    probes = [int(p) for p in args.probes.split(",") if p] or sorted(
        {max(1, default_probes(lists) // 4), max(1, default_probes(lists) // 2),
         default_probes(lists), default_probes(lists) * 2}
    )
    print(f"\n{'probes':>7} {'p50 ms':>8} {'p95 ms':>8} {'cpu p50':>8} {'cpu p95':>8} "
          f"{'recall@' + str(args.k):>10}")
    for probe_count in probes:
        if index.lists:
            index.set_probes(probe_count)
        wall, cpu, found = time_queries(index, queries, args.k)
        marker = "  (default)" if probe_count == default_probes(lists) else ""
        print(f"{probe_count:>7} {np.percentile(wall, 50):>8.2f} {np.percentile(wall, 95):>8.2f} "
              f"{np.percentile(cpu, 50):>8.2f} {np.percentile(cpu, 95):>8.2f} "
              f"{recall_at_k(found, truth):>10.4f}{marker}")

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\npeak resident memory of this process: {peak:.2f} GiB; "
          f"machine load average {load} on {os.cpu_count()} cores (latency is wall-clock)")


def _random_directions(rng: np.random.Generator, count: int, dimension: int) -> np.ndarray:
    vectors = rng.standard_normal((count, dimension), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _step(centres: np.ndarray, length: float, rng: np.random.Generator) -> np.ndarray:
    return _unit(centres + length * _random_directions(rng, len(centres), centres.shape[1]))


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


if __name__ == "__main__":
    main()
