"""Augment: turn a clean cover image into a photo-like view of it, the positives of fine-tuning.

A view is the cover warped in perspective and rotated, pasted onto a cluttered background
(a table, a sheet of paper, other covers), then lit unevenly (glare, colour cast), blurred,
noised and JPEG-compressed: the ways a phone photo of a sleeve differs from a catalogue scan.
Every random choice comes from the `numpy.random.Generator` passed in, so a seed fixes a view.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from vinylprice.images import ImageError, load_image


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges and probabilities of the photo-like distortions."""

    canvas_long_side: int = 300
    cover_scale: tuple[float, float] = (0.45, 0.95)
    max_rotation_deg: float = 25.0
    max_perspective: float = 0.12
    border_probability: float = 0.5
    clutter_covers: tuple[int, int] = (0, 4)
    glare_probability: float = 0.6
    blur_probability: float = 0.6
    max_blur_sigma: float = 1.6
    noise_sigma: tuple[float, float] = (0.0, 8.0)
    colour_gain: float = 0.15
    grayscale_probability: float = 0.1
    jpeg_quality: tuple[int, int] = (35, 92)
    crop_fraction: tuple[float, float] = (0.85, 1.0)


class PhotoAugmenter:
    """Makes photo-like views of covers; other covers held in memory serve as clutter."""

    def __init__(self, clutter: Sequence[tuple[str, np.ndarray]] = (),
                 config: AugmentConfig | None = None) -> None:
        self.config = config or AugmentConfig()
        self.clutter = list(clutter)

    @classmethod
    def with_clutter_files(cls, paths: Sequence[Path], count: int, seed: int,
                           config: AugmentConfig | None = None) -> PhotoAugmenter:
        """An augmenter whose clutter is `count` of `paths`, chosen with `seed`, kept small."""
        rng = np.random.default_rng(seed)
        chosen = rng.choice(len(paths), size=min(count, len(paths)), replace=False) if paths else []
        clutter = []
        for index in sorted(int(i) for i in chosen):
            try:
                image = load_image(Path(paths[index]))
            except ImageError:
                continue
            image.thumbnail((160, 160), Image.Resampling.BILINEAR)
            clutter.append((str(paths[index]), np.asarray(image.convert("RGB"))))
        return cls(clutter, config)

    def __call__(self, cover: np.ndarray, rng: np.random.Generator,
                 exclude: str | None = None) -> np.ndarray:
        """A photo-like uint8 RGB view of `cover` (H, W, 3); clutter named `exclude` is skipped."""
        config = self.config
        cover = _limit_size(np.asarray(cover, dtype=np.uint8), 400)

        width, height = _canvas_size(rng, config.canvas_long_side)
        background = random_background(rng, (width, height))
        candidates = [image for key, image in self.clutter if key != exclude]
        count = int(rng.integers(config.clutter_covers[0], config.clutter_covers[1] + 1))
        for _ in range(count if candidates else 0):
            other = candidates[int(rng.integers(len(candidates)))]
            paste_clutter(background, other, rng)

        if rng.random() < config.border_probability:
            cover = add_border(cover, rng)
        warped, mask = warp_cover(cover, rng, (width, height), config.cover_scale,
                                  config.max_rotation_deg, config.max_perspective)
        view = composite(background, warped, mask)

        if rng.random() < config.glare_probability:
            view = add_glare(view, rng)
        view = colour_cast(view, rng, config.colour_gain)
        if rng.random() < config.blur_probability:
            view = blur(view, rng, config.max_blur_sigma)
        view = add_noise(view, rng, float(rng.uniform(*config.noise_sigma)))
        if rng.random() < config.grayscale_probability:
            view = np.repeat(cv2.cvtColor(view, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
        view = random_crop(view, rng, config.crop_fraction)
        return jpeg(view, int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1)))


def random_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A table-top, paper or fabric-like uint8 RGB background of `size` (width, height)."""
    width, height = size
    base = rng.uniform(20, 235, size=3).astype(np.float32)
    ramp = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :, None]
    ramp = ramp * rng.uniform(-40, 40, size=3).astype(np.float32)
    background = np.broadcast_to(base + ramp, (height, width, 3)).copy()

    kind = rng.integers(3)
    if kind == 0:
        # Wood grain or fabric: low-frequency stripes along a random direction.
        angle = rng.uniform(0, math.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        phase = xs * math.cos(angle) + ys * math.sin(angle)
        stripes = np.sin(phase / rng.uniform(2.0, 12.0)) * rng.uniform(5, 30)
        background += stripes[..., None].astype(np.float32)
    elif kind == 1:
        # A printed page: light paper with rows of dark text-like dashes.
        background[:] = rng.uniform(200, 250)
        row_height = int(rng.integers(6, 14))
        for top in range(int(rng.integers(0, row_height)), height, row_height):
            left = int(rng.integers(0, max(1, width // 6)))
            right = int(rng.integers(width // 2, width))
            background[top:top + max(1, row_height // 3), left:right] *= rng.uniform(0.2, 0.6)

    grain = rng.standard_normal(size=background.shape, dtype=np.float32)
    background += grain * np.float32(rng.uniform(1, 10))
    return np.clip(background, 0, 255).astype(np.uint8)


def paste_clutter(background: np.ndarray, other: np.ndarray, rng: np.random.Generator) -> None:
    """Paste another cover, scaled and rotated, somewhere on `background` (in place)."""
    height, width = background.shape[:2]
    scale = rng.uniform(0.3, 0.8) * min(width, height) / max(other.shape[:2])
    centre = (rng.uniform(0, width), rng.uniform(0, height))
    matrix = _similarity(other.shape[1], other.shape[0], centre, scale, rng.uniform(-40, 40))
    warped = cv2.warpAffine(other, matrix, (width, height), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.full(other.shape[:2], 255, np.uint8), matrix, (width, height))
    np.copyto(background, warped, where=(mask > 127)[..., None])


def add_border(cover: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The cover framed by a plain edge, like a jewel case, a sleeve rim or a plastic outer."""
    thickness = max(1, int(rng.uniform(0.01, 0.06) * max(cover.shape[:2])))
    colour = [int(c) for c in (rng.uniform(0, 60, 3) if rng.random() < 0.6
                               else rng.uniform(180, 255, 3))]
    return cv2.copyMakeBorder(cover, thickness, thickness, thickness, thickness,
                              cv2.BORDER_CONSTANT, value=colour)


def warp_cover(cover: np.ndarray, rng: np.random.Generator, canvas: tuple[int, int],
               scale_range: tuple[float, float], max_rotation_deg: float,
               max_perspective: float) -> tuple[np.ndarray, np.ndarray]:
    """The cover seen at an angle: (warped RGB, float mask in 0–1), both of canvas size."""
    width, height = canvas
    cover_h, cover_w = cover.shape[:2]
    scale = rng.uniform(*scale_range) * min(width, height) / max(cover_w, cover_h)
    half_w, half_h = cover_w * scale / 2, cover_h * scale / 2
    corners = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h],
                        [-half_w, half_h]])

    side = max(half_w, half_h) * 2
    corners += rng.uniform(-max_perspective, max_perspective, size=(4, 2)) * side
    angle = math.radians(rng.uniform(-max_rotation_deg, max_rotation_deg))
    rotation = np.array([[math.cos(angle), -math.sin(angle)],
                         [math.sin(angle), math.cos(angle)]])
    corners = corners @ rotation.T
    slack_x = max(0.0, width / 2 - half_w * 0.8)
    slack_y = max(0.0, height / 2 - half_h * 0.8)
    centre = np.array([width / 2 + rng.uniform(-slack_x, slack_x),
                       height / 2 + rng.uniform(-slack_y, slack_y)])
    destination = (corners + centre).astype(np.float32)

    source = np.array([[0, 0], [cover_w, 0], [cover_w, cover_h], [0, cover_h]], np.float32)
    homography = cv2.getPerspectiveTransform(source, destination)
    warped = cv2.warpPerspective(cover, homography, (width, height), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.ones((cover_h, cover_w), np.float32), homography,
                               (width, height), flags=cv2.INTER_LINEAR)
    return warped, mask


def composite(background: np.ndarray, foreground: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`foreground` over `background` where `mask` (0–1) says, with a soft one-pixel edge."""
    alpha = cv2.GaussianBlur(mask, (3, 3), 0)[..., None]
    mixed = foreground.astype(np.float32) * alpha + background.astype(np.float32) * (1 - alpha)
    return np.clip(mixed, 0, 255).astype(np.uint8)


def add_glare(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One or two soft elliptical highlights, as from a lamp reflected in a glossy sleeve."""
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    light = np.zeros((height, width), np.float32)
    for _ in range(int(rng.integers(1, 3))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        sx, sy = rng.uniform(0.04, 0.25) * width, rng.uniform(0.04, 0.25) * height
        angle = rng.uniform(0, math.pi)
        dx, dy = xs - cx, ys - cy
        u = dx * math.cos(angle) + dy * math.sin(angle)
        v = -dx * math.sin(angle) + dy * math.cos(angle)
        light += rng.uniform(0.4, 0.95) * np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    light = np.clip(light, 0, 1)[..., None]
    lit = image.astype(np.float32) + (255 - image.astype(np.float32)) * light
    return np.clip(lit, 0, 255).astype(np.uint8)


def colour_cast(image: np.ndarray, rng: np.random.Generator, gain: float) -> np.ndarray:
    """White balance, exposure, contrast and gamma shifted as a phone camera would."""
    channel_gain = 1 + rng.uniform(-gain, gain, size=3)
    exposure = rng.uniform(0.7, 1.25)
    contrast = rng.uniform(0.75, 1.2)
    gamma = rng.uniform(0.8, 1.25)
    levels = np.arange(256, dtype=np.float64) / 255.0
    levels = (levels - 0.5) * contrast + 0.5
    tables = np.clip(levels[:, None] * channel_gain * exposure, 0, 1) ** gamma
    lookup = (tables * 255).round().astype(np.uint8)
    channels = [cv2.LUT(image[..., c].copy(), lookup[:, c].copy()) for c in range(3)]
    return np.stack(channels, axis=2)


def blur(image: np.ndarray, rng: np.random.Generator, max_sigma: float) -> np.ndarray:
    """Out-of-focus (Gaussian) or hand-shake (linear motion) blur."""
    if rng.random() < 0.7:
        sigma = rng.uniform(0.3, max_sigma)
        return cv2.GaussianBlur(image, (0, 0), sigma)
    length = int(rng.integers(3, 8))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    centre = (length / 2 - 0.5, length / 2 - 0.5)
    rotation = cv2.getRotationMatrix2D(centre, rng.uniform(0, 180), 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (length, length))
    return cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))


def add_noise(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Gaussian sensor noise of standard deviation `sigma` (in 0–255 units)."""
    if sigma <= 0:
        return image
    noise = rng.standard_normal(size=image.shape, dtype=np.float32) * np.float32(sigma)
    noisy = image.astype(np.float32) + noise
    return np.clip(noisy, 0, 255).astype(np.uint8)


def random_crop(image: np.ndarray, rng: np.random.Generator,
                fraction: tuple[float, float]) -> np.ndarray:
    """A crop keeping a random share (`fraction` of each side) of the frame."""
    height, width = image.shape[:2]
    keep = rng.uniform(*fraction)
    crop_w, crop_h = max(1, int(width * keep)), max(1, int(height * keep))
    left = int(rng.integers(0, width - crop_w + 1))
    top = int(rng.integers(0, height - crop_h + 1))
    return image[top:top + crop_h, left:left + crop_w]


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """The image after a JPEG round trip at `quality` (1–100)."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"JPEG encoding failed for an image of shape {image.shape}.")
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _canvas_size(rng: np.random.Generator, long_side: int) -> tuple[int, int]:
    # Phone photos are mostly landscape 4:3; listing photos are often square.
    shape = rng.random()
    if shape < 0.55:
        return long_side, long_side * 3 // 4
    if shape < 0.8:
        return long_side * 3 // 4, long_side
    return long_side, long_side


def _limit_size(image: np.ndarray, long_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    if max(height, width) <= long_side:
        return image
    scale = long_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _similarity(width: int, height: int, centre: tuple[float, float], scale: float,
                angle_deg: float) -> np.ndarray:
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle_deg, scale)
    matrix[:, 2] += np.array(centre) - np.array([width / 2, height / 2])
    return matrix
