"""Locate: find the jacket in a photo and cut the regions the embedder looks at.

Sellers photograph records at an angle, among clutter. Besides the whole photo, the embedder
gets the jacket rectified to a square when its outline can be found (the largest convex
four-sided contour of the edge map that looks like a rectangle in perspective), or else a
centre crop, where a jacket usually is. Each region costs one CNN pass, so there are two.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

OUTLINE_SIDE = 512
RECTIFIED_SIDE = 320


@dataclass(frozen=True)
class Region:
    """One view of the photo for the embedder; `corners` in photo pixels (tl, tr, br, bl)."""

    name: str
    image: Image.Image
    corners: np.ndarray | None = None


@dataclass(frozen=True)
class Locator:
    """Cuts a photo into regions: whole, and the rectified jacket or else centre crops."""

    centre_crops: tuple[float, ...] = (0.7,)
    min_jacket_area: float = 0.12
    max_jacket_area: float = 0.97

    def locate(self, image: Image.Image) -> list[Region]:
        """The regions of `image`, whole photo first."""
        regions = [Region("whole", image)]

        corners = self.find_jacket(image)
        if corners is not None:
            regions.append(Region("jacket", rectify(image, corners), corners))
            return regions

        for fraction in self.centre_crops:
            regions.append(Region(f"centre-{fraction:.2f}", centre_crop(image, fraction)))
        return regions

    def find_jacket(self, image: Image.Image) -> np.ndarray | None:
        """Corners (tl, tr, br, bl, photo pixels) of the largest plausible jacket outline."""
        gray = np.asarray(image.convert("L"))
        scale = min(1.0, OUTLINE_SIDE / max(gray.shape))
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        area = float(gray.shape[0] * gray.shape[1])

        edges = _edges(gray)
        contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        best, best_area = None, self.min_jacket_area * area
        for contour in contours:
            _, _, width, height = cv2.boundingRect(contour)
            if width * height < best_area:
                continue
            hull = cv2.convexHull(contour)
            hull_area = cv2.contourArea(hull)
            if not best_area <= hull_area <= self.max_jacket_area * area:
                continue
            outline = cv2.approxPolyDP(hull, 0.03 * cv2.arcLength(hull, True), True)
            if len(outline) == 4 and cv2.isContourConvex(outline) and _jacket_like(outline):
                best, best_area = outline.reshape(4, 2), hull_area
        if best is None:
            return None
        return order_corners(best.astype(np.float32) / scale)


def _jacket_like(outline: np.ndarray, max_skew_degrees: float = 45.0,
                 max_side_ratio: float = 2.5) -> bool:
    """A rectangle seen at a moderate angle: no corner far from square, opposite sides alike."""
    corners = outline.reshape(4, 2).astype(np.float64)
    edges = np.roll(corners, -1, axis=0) - corners
    lengths = np.linalg.norm(edges, axis=1)
    if lengths.min() <= 1.0:
        return False
    cosines = -(edges * np.roll(edges, 1, axis=0)).sum(axis=1) / (lengths * np.roll(lengths, 1))
    angles = np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0)))
    if np.any(np.abs(angles - 90.0) > max_skew_degrees):
        return False
    ratios = [max(lengths[i], lengths[i + 2]) / min(lengths[i], lengths[i + 2]) for i in (0, 1)]
    return max(ratios) <= max_side_ratio


def _edges(gray: np.ndarray) -> np.ndarray:
    blurred = cv2.GaussianBlur(gray, (5, 5), 0)
    median = float(np.median(blurred))
    edges = cv2.Canny(blurred, int(max(0, 0.66 * median)), int(min(255, 1.33 * median)))
    # Close small gaps so the jacket's border becomes one contour.
    return cv2.dilate(edges, np.ones((3, 3), np.uint8), iterations=2)


def order_corners(corners: np.ndarray) -> np.ndarray:
    """Four points ordered top-left, top-right, bottom-right, bottom-left."""
    sums = corners.sum(axis=1)
    differences = np.diff(corners, axis=1).ravel()
    return np.array([
        corners[np.argmin(sums)],
        corners[np.argmin(differences)],
        corners[np.argmax(sums)],
        corners[np.argmax(differences)],
    ], dtype=np.float32)


def rectify(image: Image.Image, corners: np.ndarray, side: int = RECTIFIED_SIDE) -> Image.Image:
    """The quadrilateral `corners` of `image` warped flat into a `side`-pixel square."""
    square = np.array([[0, 0], [side - 1, 0], [side - 1, side - 1], [0, side - 1]], np.float32)
    transform = cv2.getPerspectiveTransform(corners.astype(np.float32), square)
    pixels = np.asarray(image.convert("RGB"))
    warped = cv2.warpPerspective(pixels, transform, (side, side), flags=cv2.INTER_LINEAR)
    return Image.fromarray(warped)


def centre_crop(image: Image.Image, fraction: float) -> Image.Image:
    """The central `fraction` of the image's width and height."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"a centre crop needs a fraction in (0, 1], got {fraction}")
    width, height = image.size
    left, top = round(width * (1 - fraction) / 2), round(height * (1 - fraction) / 2)
    return image.crop((left, top, left + round(width * fraction), top + round(height * fraction)))
