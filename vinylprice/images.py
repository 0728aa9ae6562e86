"""Load and validate photos: any common format in, an upright RGB image out.

Every way a photo can be unusable raises `ImageError`, whose message is written for the person
who sent the photo.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MIN_SIDE = 32
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 150_000_000
DECODE_SIDE = 2048


class ImageError(ValueError):
    """The input is not a photo vinylprice can use; the message says why, in plain words."""


def read_bytes(source: bytes | str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Return the raw bytes of `source` (bytes, or a path), refusing empty and oversize input."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = Path(source)
        if path.is_dir():
            raise ImageError(
                f"{path} is a directory; expected an image file (JPEG, PNG or WebP)."
            )
        if not path.is_file():
            raise ImageError(f"No such file: {path}.")
        if path.stat().st_size > max_bytes:
            raise ImageError(_too_big_message(path.stat().st_size, max_bytes))
        data = path.read_bytes()

    if not data:
        raise ImageError("The file is empty (0 bytes). Please send the photo again.")
    if len(data) > max_bytes:
        raise ImageError(_too_big_message(len(data), max_bytes))
    return data


def load_image(
    source: bytes | str | Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Decode a JPEG, PNG or WebP (or any format Pillow reads) into an upright RGB image.

    EXIF orientation is applied; grayscale, palette, alpha, CMYK and 16-bit images are converted
    to 8-bit RGB (transparent areas become white). Raises `ImageError` for empty, oversize,
    truncated, corrupt, non-image and decompression-bomb input.
    """
    data = read_bytes(source, max_bytes)

    try:
        with warnings.catch_warnings():
            # The pixel limit below is ours; Pillow's own bomb error stays as a backstop.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(
                    f"The image has too many pixels ({width}×{height}, "
                    f"{describe_pixels(width * height, round_up=True)}); the limit is "
                    f"{describe_pixels(max_pixels)}. Please send a smaller photo."
                )
            if image.format == "JPEG":
                # Decode big phone photos at a reduced scale straight from the JPEG data.
                image.draft("RGB", (DECODE_SIDE, DECODE_SIDE))
            image.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow refuses before the size is known to us: its own limit is twice MAX_IMAGE_PIXELS.
        pillow_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise ImageError(
            f"The image has too many pixels (more than {describe_pixels(pillow_limit)}) to open "
            f"safely; the limit is {describe_pixels(min(max_pixels, pillow_limit))}. "
            "Please send a smaller photo."
        ) from error
    except UnidentifiedImageError as error:
        raise ImageError(
            "This file is not an image I can read. Please send a JPEG, PNG or WebP photo."
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(
            "The image is damaged or incomplete and could not be opened. "
            "Please send the photo again."
        ) from error

    image = _upright(image)
    image = to_rgb(image)
    if min(image.size) < MIN_SIDE:
        raise ImageError(
            f"The image is too small ({image.width}×{image.height} pixels); "
            f"please send a photo at least {MIN_SIDE} pixels on each side."
        )
    return image


def describe_bytes(size: int, round_up: bool = False) -> str:
    """A byte count for people: '512 bytes', '3.4 KB', '20 MB' (1 KB = 1024 bytes)."""
    for unit, scale in (("MB", 1_048_576), ("KB", 1024)):
        if size >= scale:
            return f"{_one_decimal(size / scale, round_up)} {unit}"
    return f"{size:,} byte{'s' if size != 1 else ''}"


def describe_pixels(count: int, round_up: bool = False) -> str:
    """A pixel count for people: '640,000 pixels' or '196 megapixels'."""
    if count >= 1_000_000:
        return f"{_one_decimal(count / 1_000_000, round_up)} megapixels"
    return f"{count:,} pixel{'s' if count != 1 else ''}"


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _high_depth_to_rgb(image)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def image_to_array(image: Image.Image) -> np.ndarray:
    """An RGB image as a uint8 array of shape (height, width, 3)."""
    return np.asarray(to_rgb(image), dtype=np.uint8)


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image) or image
    except Exception:  # a broken EXIF block must not cost the user their photo
        return image


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    values = np.asarray(image, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    scale = 255.0 / (high - low) if high > low else 0.0
    gray = ((values - low) * scale).clip(0, 255).astype(np.uint8)
    return Image.fromarray(gray, mode="L").convert("RGB")


def _too_big_message(size: int, limit: int) -> str:
    return (
        f"The file is too big ({describe_bytes(size, round_up=True)}); "
        f"please send one under {describe_bytes(limit)}."
    )


def _one_decimal(value: float, round_up: bool) -> str:
    # An amount over a limit is rounded up, so that it never reads as equal to the limit.
    tenths = math.ceil(value * 10) if round_up else round(value * 10)
    return f"{tenths / 10:.1f}".removesuffix(".0")
