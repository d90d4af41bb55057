"""Token-bucket rate limits (SEC-DOS-002; RFC 6749 §2.3.1, RFC 7009 §5, RFC 7662 §4).

A :class:`RateLimiter` keeps one bucket per key (a ``client_id``, a source address): each
bucket holds at most ``capacity`` tokens and refills at ``capacity / period`` tokens per
second. :meth:`RateLimiter.check` says whether a bucket has a token left, without taking
one; :meth:`RateLimiter.take` takes one, or answers how many whole seconds remain until
one is back (the ``Retry-After`` of a 429, RFC 6585 §4).

Memory is bounded: at most ``max_keys`` buckets are kept, least recently used first out.
A bucket pushed out forgets its debts, so a flood of distinct keys can only make limits
more lenient, never exhaust memory. The clock is injected; nothing here sleeps. The
limits are per process: each node of a multi-node deployment limits on its own.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

from proctor.reference.clock import Clock

__all__ = ["Rate", "RateLimiter"]


@dataclass(frozen=True)
class Rate:
    """``capacity`` events per ``period`` seconds (also the largest burst)."""

    capacity: int
    period: float = 60.0

    def __post_init__(self) -> None:
        if self.capacity < 1 or not self.period > 0:
            raise ValueError("a rate needs capacity >= 1 and period > 0")

    @property
    def per_second(self) -> float:
        return self.capacity / self.period


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Buckets of one :class:`Rate`, keyed by strings. Thread-safe."""

    def __init__(self, rate: Rate, clock: Clock, *, max_keys: int = 10_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self.rate = rate
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def _refilled(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.rate.capacity), now)
            self._buckets[key] = bucket
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(
                float(self.rate.capacity), bucket.tokens + elapsed * self.rate.per_second
            )
            bucket.updated = now
        return bucket

    def _wait(self, bucket: _Bucket) -> int:
        missing = 1.0 - bucket.tokens
        return max(1, math.ceil(missing / self.rate.per_second))

    def check(self, key: str) -> int:
        """``0`` if ``key`` has a token left (none is taken), else the whole seconds until
        it has one."""
        with self._lock:
            bucket = self._refilled(key, self._clock.now())
            return 0 if bucket.tokens >= 1.0 else self._wait(bucket)

    def take(self, key: str) -> int:
        """Takes a token from ``key``'s bucket and returns ``0``; or, when it is empty,
        takes nothing and returns the whole seconds until a token is back."""
        with self._lock:
            bucket = self._refilled(key, self._clock.now())
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0
            return self._wait(bucket)
