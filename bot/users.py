"""Who is asking: anonymous user keys and a per-user rate limit."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import deque
from collections.abc import Callable

SWEEP_ABOVE_USERS = 10_000


def user_key(chat_id: int, secret: bytes) -> str:
    """A stable anonymous key for a chat: a keyed hash, so the chat id cannot be read back."""
    digest = hmac.new(secret, f"telegram-chat:{chat_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


class UserRateLimiter:
    """Lets each user make `limit` requests in any sliding window of `window_s` seconds."""

    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError(
                f"Rate limit needs limit >= 1 and window_s > 0; got {limit} and {window_s}."
            )
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}

    def acquire(self, key: str) -> float:
        """Record a request and return 0, or return the seconds to wait if over the limit."""
        now = self._clock()
        if len(self._recent) > SWEEP_ABOVE_USERS:
            for other in list(self._recent):
                self._forget_before(other, now - self.window_s)

        if key in self._recent:
            self._forget_before(key, now - self.window_s)
        recent = self._recent.setdefault(key, deque())
        if len(recent) >= self.limit:
            return recent[0] + self.window_s - now
        recent.append(now)
        return 0.0

    def _forget_before(self, key: str, cutoff: float) -> None:
        recent = self._recent[key]
        while recent and recent[0] <= cutoff:
            recent.popleft()
        if not recent:
            del self._recent[key]
