"""vinylprice: price a vinyl record from a photo of its jacket."""

__version__ = "0.1.0"
