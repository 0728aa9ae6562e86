"""Pricing: turn an album (and optional grades) into a suggested price with its evidence."""

from vinylprice.pricing.base import Pricer
from vinylprice.pricing.median import MedianPricer

__all__ = ["MedianPricer", "Pricer"]
