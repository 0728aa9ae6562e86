"""The interface every pricing model offers to the recognition service."""

from __future__ import annotations

from typing import Protocol

from vinylprice.answer import Price


class Pricer(Protocol):
    """Anything that can quote a price for a catalogue album."""

    def quote(
        self,
        album_id: int,
        sleeve_grade: str | None = None,
        record_grade: str | None = None,
    ) -> Price | None:
        """A price for `album_id` in the given grades, or None when there is nothing to go on."""
        ...
