"""Loading photos: every format and mode becomes upright RGB; every bad input a clear error."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vinylprice.images import ImageError, describe_bytes, describe_pixels, load_image


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def gradient(mode: str = "RGB", size: tuple[int, int] = (120, 80)) -> Image.Image:
    width, height = size
    red = np.tile(np.linspace(0, 255, width, dtype=np.uint8), (height, 1))
    green = np.tile(np.linspace(0, 255, height, dtype=np.uint8)[:, None], (1, width))
    blue = np.full((height, width), 90, np.uint8)
    return Image.fromarray(np.dstack([red, green, blue]), "RGB").convert(mode)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_formats_load_from_bytes_as_rgb(fmt: str) -> None:
    image = load_image(encode(gradient(), fmt))

    assert image.mode == "RGB"
    assert image.size == (120, 80)


def test_loads_from_path(sample_dir: Path) -> None:
    image = load_image(sample_dir / "origin-image.webp")

    assert image.mode == "RGB"
    assert min(image.size) > 100


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "I;16", "1"])
def test_modes_convert_to_rgb(mode: str) -> None:
    fmt = "JPEG" if mode == "CMYK" else "TIFF" if mode == "I;16" else "PNG"
    source = gradient().convert(mode) if mode != "I;16" else _sixteen_bit()

    image = load_image(encode(source, fmt))

    assert image.mode == "RGB"
    assert np.asarray(image).dtype == np.uint8


def _sixteen_bit() -> Image.Image:
    values = np.tile(np.linspace(0, 65535, 100, dtype=np.uint16), (60, 1))
    return Image.fromarray(values)


def test_sixteen_bit_keeps_its_contrast() -> None:
    pixels = np.asarray(load_image(encode(_sixteen_bit(), "TIFF")))

    assert pixels[:, 0].max() < 10
    assert pixels[:, -1].min() > 245


def test_transparent_areas_become_white() -> None:
    clear = Image.new("RGBA", (64, 64), (255, 0, 0, 0))

    pixels = np.asarray(load_image(encode(clear, "PNG")))

    assert (pixels == 255).all()


def test_exif_orientation_is_applied() -> None:
    landscape = gradient(size=(120, 80))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display

    image = load_image(encode(landscape, "JPEG", exif=exif.tobytes()))

    assert image.size == (80, 120)


def test_zero_bytes_are_refused() -> None:
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")


def test_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")

    with pytest.raises(ImageError, match="empty"):
        load_image(empty)


def test_truncated_image_is_refused() -> None:
    data = encode(gradient(size=(400, 300)), "JPEG")

    with pytest.raises(ImageError, match="damaged or incomplete"):
        load_image(data[: len(data) // 2])


@pytest.mark.parametrize(
    "payload",
    [b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", b"hello, this is text", b"\x00" * 2048],
    ids=["pdf", "text", "zeros"],
)
def test_non_images_are_refused(payload: bytes) -> None:
    with pytest.raises(ImageError, match="not an image"):
        load_image(payload)


def test_decompression_bomb_is_refused() -> None:
    huge = encode(Image.new("L", (14_000, 14_000)), "PNG", optimize=True)

    with pytest.raises(ImageError, match="too many pixels") as refused:
        load_image(huge)

    assert "more than 179 megapixels" in str(refused.value)
    assert "the limit is 150 megapixels" in str(refused.value)


def test_small_file_with_too_many_pixels_names_the_pixel_count() -> None:
    small_but_wide = encode(Image.new("L", (3000, 2000)), "PNG", optimize=True)

    with pytest.raises(ImageError) as refused:
        load_image(small_but_wide, max_pixels=5_000_000)

    assert len(small_but_wide) < 100_000
    assert str(refused.value) == (
        "The image has too many pixels (3000×2000, 6 megapixels); the limit is 5 megapixels. "
        "Please send a smaller photo."
    )
    assert "MB" not in str(refused.value)


def test_large_phone_photo_is_decoded_at_a_reduced_scale() -> None:
    photo = encode(gradient(size=(8000, 6000)), "JPEG", quality=70)

    image = load_image(photo)

    assert image.mode == "RGB"
    assert 2048 <= min(image.size) and max(image.size) < 8000


def test_oversize_file_is_refused_before_decoding() -> None:
    photo = encode(gradient(), "PNG")

    with pytest.raises(ImageError, match="too big") as refused:
        load_image(photo, max_bytes=100)

    assert str(refused.value).endswith("please send one under 100 bytes.")
    assert "0.0 MB" not in str(refused.value)


@pytest.mark.parametrize(
    ("size", "text"),
    [(1, "1 byte"), (1023, "1,023 bytes"), (1536, "1.5 KB"), (20 * 1_048_576, "20 MB")],
)
def test_byte_counts_are_written_in_sensible_units(size: int, text: str) -> None:
    assert describe_bytes(size) == text


def test_an_amount_over_a_limit_never_reads_as_the_limit() -> None:
    assert describe_bytes(20 * 1_048_576 + 1, round_up=True) == "20.1 MB"
    assert describe_pixels(150_000_001, round_up=True) == "150.1 megapixels"


def test_tiny_image_is_refused() -> None:
    with pytest.raises(ImageError, match="too small"):
        load_image(encode(gradient(size=(20, 20)), "PNG"))


def test_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="No such file"):
        load_image(tmp_path / "nope.jpg")


def test_directory_is_refused_as_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="is a directory; expected an image file"):
        load_image(tmp_path)
