"""Embedding maps and price plots: the projections are sound and the PNGs show what they claim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vinylprice.plots import (
    MAX_COLOURED_ALBUMS,
    plot_embeddings,
    plot_price_predictions,
    project_embeddings,
)
from vinylprice.settings import Settings

TAB10_BLUE = (31, 119, 180)
TAB10_ORANGE = (255, 127, 14)
OTHER_GREY = (200, 200, 200)


def two_albums(per_album: int = 20, dimension: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    centres = np.eye(dimension, dtype=np.float32)[:2] * 3
    album_ids = np.repeat([11, 22], per_album)
    vectors = centres[album_ids // 11 - 1] + 0.3 * rng.standard_normal(
        (len(album_ids), dimension)
    ).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), album_ids


def pixels_of(path: Path, colour: tuple[int, int, int], tolerance: int = 6) -> int:
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=int)
    return int((np.abs(pixels - colour).max(axis=2) <= tolerance).sum())


def has_colour(path: Path, colour: tuple[int, int, int], tolerance: int = 6) -> bool:
    # A marker is dozens of pixels; a few stray ones come from anti-aliased text and lines.
    return pixels_of(path, colour, tolerance) >= 40


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_query_lands_beside_its_album(method: str) -> None:
    vectors, album_ids = two_albums()
    query = vectors[album_ids == 22].mean(axis=0)

    embedding_map = project_embeddings(vectors, album_ids, method, query=query)

    assert embedding_map.points.shape == (40, 2)
    near = np.linalg.norm(embedding_map.points[album_ids == 22].mean(axis=0)
                          - embedding_map.query_point)
    far = np.linalg.norm(embedding_map.points[album_ids == 11].mean(axis=0)
                         - embedding_map.query_point)
    assert near < far


def test_pca_separates_two_albums() -> None:
    vectors, album_ids = two_albums()

    points = project_embeddings(vectors, album_ids, "pca").points

    first = np.sign(points[:, 0])
    assert len(set(first[album_ids == 11])) == 1 and len(set(first[album_ids == 22])) == 1
    assert first[0] != first[-1]


def test_embedding_png_colours_each_album_and_marks_the_query(tmp_path: Path) -> None:
    vectors, album_ids = two_albums()
    embedding_map = project_embeddings(vectors, album_ids, "pca", query=vectors[0])

    out = plot_embeddings(embedding_map, {11: "Fleetwood Mac – Rumours", 22: "Cream – Goodbye"},
                          tmp_path / "maps" / "pca.png", query_label="photo.jpg")

    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (1200, 840)
    assert has_colour(out, TAB10_BLUE) and has_colour(out, TAB10_ORANGE)
    assert has_colour(out, (0, 0, 0)) and has_colour(out, (255, 255, 0), tolerance=30)
    assert not has_colour(out, OTHER_GREY, tolerance=0)


def test_albums_beyond_the_palette_are_drawn_grey(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    album_ids = np.repeat(np.arange(MAX_COLOURED_ALBUMS + 4), 3)
    vectors = rng.standard_normal((len(album_ids), 16)).astype(np.float32)

    out = plot_embeddings(project_embeddings(vectors, album_ids, "pca"), {}, tmp_path / "m.png")

    assert has_colour(out, OTHER_GREY, tolerance=0)


def test_projection_refuses_bad_input() -> None:
    vectors, album_ids = two_albums()

    with pytest.raises(ValueError, match="expected one of pca, tsne"):
        project_embeddings(vectors, album_ids, "umap")
    with pytest.raises(ValueError, match="at least 3"):
        project_embeddings(vectors[:2], album_ids[:2])


def test_price_png_marks_close_and_far_predictions(tmp_path: Path) -> None:
    actual = np.array([10, 20, 30, 40, 50, 60.0])
    predicted = np.array([11, 19, 31, 80, 45, 20.0])

    out = plot_price_predictions(actual, predicted, tmp_path / "prices.png",
                                 low=predicted * 0.8, high=predicted * 1.2)

    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (900, 840)
    assert has_colour(out, (33, 113, 181)) and has_colour(out, (230, 85, 13))


def test_price_plot_refuses_mismatched_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="same length"):
        plot_price_predictions([1.0, 2.0], [1.0], tmp_path / "x.png")
    with pytest.raises(ValueError, match="at least 2 positive"):
        plot_price_predictions([1.0, 0.0], [0.0, 1.0], tmp_path / "x.png")


def test_plot_embeddings_command_on_the_sample(
    small_sample_catalogue: Settings, sample_dir: Path, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vinylprice.cli import main

    settings = small_sample_catalogue
    monkeypatch.setenv("VINYLPRICE_HOME", str(settings.home))
    monkeypatch.setenv("VINYLPRICE_WEIGHTS", settings.weights)
    monkeypatch.setenv("VINYLPRICE_BACKBONE", settings.backbone)
    out = tmp_path / "sample.png"

    code = main(["plot-embeddings", "--query", str(sample_dir / "origin-image.webp"),
                 "-o", str(out)])

    assert code == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert has_colour(out, TAB10_BLUE) and has_colour(out, (0, 0, 0))


def test_plot_prices_command_on_the_sample(
    small_sample_catalogue: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    from vinylprice.cli import main

    monkeypatch.setenv("VINYLPRICE_HOME", str(small_sample_catalogue.home))
    out = tmp_path / "prices.png"

    code = main(["plot-prices", "-o", str(out)])

    printed = capsys.readouterr().out
    assert code == 0 and f"wrote {out}" in printed
    assert int(printed.split("(")[1].split()[0]) > 100
    assert has_colour(out, (33, 113, 181)) and has_colour(out, (230, 85, 13))
