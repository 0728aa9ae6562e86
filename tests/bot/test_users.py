"""Anonymous user keys and the per-user rate limit."""

from __future__ import annotations

import pytest

from bot.users import UserRateLimiter, user_key


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_user_key_is_stable_per_chat_and_hides_the_chat_id() -> None:
    key = user_key(987654321, b"secret")

    assert key == user_key(987654321, b"secret")
    assert key != user_key(987654322, b"secret")
    assert key != user_key(987654321, b"other secret")
    assert len(key) == 32 and "987654321" not in key


def test_rate_limiter_allows_the_limit_then_says_how_long_to_wait() -> None:
    clock = FakeClock()
    limiter = UserRateLimiter(3, window_s=60, clock=clock)

    assert [limiter.acquire("alice") for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.now += 15
    assert limiter.acquire("alice") == pytest.approx(45.0)
    assert limiter.acquire("bob") == 0.0


def test_rate_limiter_frees_requests_as_they_leave_the_window() -> None:
    clock = FakeClock()
    limiter = UserRateLimiter(2, window_s=10, clock=clock)
    limiter.acquire("alice")
    clock.now += 5
    limiter.acquire("alice")

    clock.now += 5.5
    assert limiter.acquire("alice") == 0.0
    assert limiter.acquire("alice") == pytest.approx(4.5)


def test_refused_requests_do_not_count() -> None:
    clock = FakeClock()
    limiter = UserRateLimiter(1, window_s=10, clock=clock)
    limiter.acquire("alice")
    for _ in range(5):
        limiter.acquire("alice")

    clock.now += 10.1
    assert limiter.acquire("alice") == 0.0


@pytest.mark.parametrize(("limit", "window_s"), [(0, 60), (3, 0)])
def test_rate_limiter_rejects_meaningless_limits(limit: int, window_s: float) -> None:
    with pytest.raises(ValueError, match="limit >= 1 and window_s > 0"):
        UserRateLimiter(limit, window_s)
