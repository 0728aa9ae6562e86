"""Pictures for admins: the catalogue's embeddings in 2-D, and predicted against actual prices.

Figures are drawn on their own `Figure` with the Agg canvas (no pyplot global state), so
plotting is safe from any thread and needs no display.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

log = logging.getLogger(__name__)

PROJECTIONS = ("pca", "tsne")
PROJECTION_NAMES = {"pca": "PCA", "tsne": "t-SNE"}
MAX_COLOURED_ALBUMS = 12
OTHER_COLOUR = "#c8c8c8"


@dataclass
class EmbeddingMap:
    """2-D points for the catalogue (and the query, if any) and what colours them."""

    points: np.ndarray
    album_ids: np.ndarray
    query_point: np.ndarray | None
    method: str


def project_embeddings(
    vectors: np.ndarray,
    album_ids: Sequence[int],
    method: str = "pca",
    query: np.ndarray | None = None,
    seed: int = 0,
) -> EmbeddingMap:
    """Project unit vectors to 2-D by PCA or t-SNE; the query is projected alongside them."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if method not in PROJECTIONS:
        raise ValueError(
            f"Unknown projection {method!r}; expected one of {', '.join(PROJECTIONS)}."
        )
    if len(vectors) < 3:
        raise ValueError(f"Need at least 3 catalogue vectors to draw a map, got {len(vectors)}.")

    query = None if query is None else np.asarray(query, dtype=np.float32).reshape(1, -1)
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(vectors)
        points = pca.transform(vectors)
        query_point = pca.transform(query)[0] if query is not None else None
    else:
        from sklearn.manifold import TSNE

        # t-SNE cannot place new points into a fitted map, so the query joins the fit.
        data = vectors if query is None else np.vstack([vectors, query])
        perplexity = float(min(30, max(2, (len(data) - 1) // 3)))
        embedded = TSNE(n_components=2, perplexity=perplexity, metric="cosine",
                        init="pca", random_state=seed).fit_transform(data)
        points = embedded[: len(vectors)]
        query_point = embedded[-1] if query is not None else None
    return EmbeddingMap(points, np.asarray(album_ids), query_point, method)


def plot_embeddings(
    embedding_map: EmbeddingMap,
    album_names: Mapping[int, str],
    out: Path,
    title: str = "Catalogue embeddings",
    query_label: str | None = None,
) -> Path:
    """Write a PNG of the map: one colour per album (the largest ones), the query as a star."""
    counts = Counter(embedding_map.album_ids.tolist())
    coloured = [album for album, _ in counts.most_common(MAX_COLOURED_ALBUMS)]
    palette = _palette(len(coloured))

    figure = Figure(figsize=(10, 7), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    others = ~np.isin(embedding_map.album_ids, coloured)
    if others.any():
        axes.scatter(*embedding_map.points[others].T, s=14, c=OTHER_COLOUR,
                     label=f"other albums ({len(counts) - len(coloured)})", zorder=1)
    for colour, album_id in zip(palette, coloured, strict=True):
        mine = embedding_map.album_ids == album_id
        name = _shorten(album_names.get(album_id, f"album {album_id}"))
        axes.scatter(*embedding_map.points[mine].T, s=26, color=colour, edgecolors="white",
                     linewidths=0.4, label=f"{name} ({mine.sum()})", zorder=2)

    if embedding_map.query_point is not None:
        axes.scatter(*embedding_map.query_point, s=380, marker="*", c="black",
                     edgecolors="yellow", linewidths=1.2, label="query photo", zorder=3)
        axes.annotate(query_label or "query", embedding_map.query_point,
                      xytext=(12, 12), textcoords="offset points", fontsize=9,
                      bbox={"boxstyle": "round", "fc": "lightyellow", "alpha": 0.9})

    method = PROJECTION_NAMES[embedding_map.method]
    axes.set_title(f"{title}: {len(embedding_map.points)} reference images of {len(counts)} "
                   f"albums, {method}")
    axes.set_xlabel(f"{method} 1")
    axes.set_ylabel(f"{method} 2")
    axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    axes.grid(alpha=0.2)
    return _save(figure, out)


def plot_price_predictions(
    actual: Sequence[float],
    predicted: Sequence[float],
    out: Path,
    currency: str = "USD",
    title: str = "Cross-validated price predictions",
    low: Sequence[float] | None = None,
    high: Sequence[float] | None = None,
) -> Path:
    """Write a log-log PNG of predicted against actual prices, with the y = x line and ±25 %."""
    actual_values = np.asarray(actual, dtype=float)
    predicted_values = np.asarray(predicted, dtype=float)
    if actual_values.shape != predicted_values.shape or actual_values.ndim != 1:
        raise ValueError(
            f"actual and predicted must be 1-D and the same length, got {actual_values.shape} "
            f"and {predicted_values.shape}"
        )
    usable = (actual_values > 0) & (predicted_values > 0)
    if usable.sum() < 2:
        raise ValueError("Need at least 2 positive actual/predicted price pairs to plot.")
    actual_values, predicted_values = actual_values[usable], predicted_values[usable]
    error = np.abs(predicted_values - actual_values) / actual_values

    figure = Figure(figsize=(7.5, 7), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if low is not None and high is not None:
        spread = np.vstack([predicted_values - np.asarray(low, float)[usable],
                            np.asarray(high, float)[usable] - predicted_values])
        axes.errorbar(actual_values, predicted_values, yerr=np.clip(spread, 0, None), fmt="none",
                      ecolor="#9ecae1", alpha=0.5, zorder=1, label="predicted range")
    inside = error <= 0.25
    axes.scatter(actual_values[inside], predicted_values[inside], s=16, c="#2171b5", zorder=2,
                 label=f"within 25 % ({inside.sum()})")
    axes.scatter(actual_values[~inside], predicted_values[~inside], s=16, c="#e6550d",
                 zorder=2, label=f"off by more than 25 % ({(~inside).sum()})")

    bounds = np.array([min(actual_values.min(), predicted_values.min()) * 0.8,
                       max(actual_values.max(), predicted_values.max()) * 1.25])
    axes.plot(bounds, bounds, color="black", linewidth=1, label="predicted = actual")
    axes.fill_between(bounds, bounds * 0.75, bounds * 1.25, color="grey", alpha=0.12,
                      label="±25 %")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlim(*bounds)
    axes.set_ylim(*bounds)
    axes.set_xlabel(f"actual price ({currency})")
    axes.set_ylabel(f"predicted price ({currency})")
    axes.set_title(f"{title}\n{len(actual_values)} listings, median absolute error "
                   f"{np.median(error) * 100:.0f} %, mean {np.mean(error) * 100:.0f} %",
                   fontsize=10)
    axes.legend(loc="upper left", fontsize=8)
    axes.grid(alpha=0.2, which="both")
    return _save(figure, out)


def _palette(count: int) -> list[tuple[float, ...]]:
    from matplotlib import colormaps

    if count <= 10:
        return list(colormaps["tab10"].colors[:count])
    # tab20 pairs a dark and a light shade of each hue: all dark shades first, then the light.
    shades = colormaps["tab20"].colors
    colours = list(shades[0::2]) + list(shades[1::2])
    return [colours[number % len(colours)] for number in range(count)]


def _shorten(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _save(figure: Figure, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png")
    log.info("wrote %s", out)
    return out
