"""One OpenMP thread for the small boosters pricing fits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one OpenMP thread.

    Pricing fits a few thousand rows at most: extra threads cost more in start-up and spinning
    than they save, badly so on a busy machine.
    """
    with threadpool_limits(limits=1, user_api="openmp"):
        yield
