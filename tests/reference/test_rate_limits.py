"""The token-bucket limiter (SEC-DOS-002): bursts, refill, independent keys, bounded
memory, all on a manual clock."""

from __future__ import annotations

import pytest

from proctor.reference.clock import ManualClock
from proctor.reference.rate_limits import Rate, RateLimiter


def test_a_burst_is_limited_and_the_wait_is_whole_seconds() -> None:
    """SEC-DOS-002: ``capacity`` takes succeed, the next answers the seconds until one
    token is back (RFC 6585 §4 Retry-After)."""
    limiter = RateLimiter(Rate(3, 60.0), ManualClock())
    assert [limiter.take("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.take("a") == 20  # one token per 20 s
    assert limiter.check("a") == 20


def test_the_bucket_refills_with_time() -> None:
    """SEC-DOS-002: a token per ``period / capacity`` seconds, never above capacity."""
    clock = ManualClock()
    limiter = RateLimiter(Rate(2, 60.0), clock)
    limiter.take("a")
    limiter.take("a")
    clock.advance(29)
    assert limiter.take("a") == 1
    clock.advance(1)
    assert limiter.take("a") == 0
    clock.advance(3600)
    assert [limiter.take("a") for _ in range(3)] == [0, 0, 30]


def test_keys_are_independent_and_check_takes_nothing() -> None:
    """SEC-DOS-002: one key's exhaustion leaves another untouched; ``check`` is free."""
    limiter = RateLimiter(Rate(1, 60.0), ManualClock())
    for _ in range(5):
        assert limiter.check("a") == 0
    assert limiter.take("a") == 0
    assert limiter.take("a") > 0
    assert limiter.take("b") == 0


def test_memory_is_bounded_least_recently_used_first_out() -> None:
    """SEC-DOS-002 / SEC-DOS-001: at most ``max_keys`` buckets; a bucket pushed out
    starts full again (limits get more lenient, memory never grows)."""
    limiter = RateLimiter(Rate(1, 60.0), ManualClock(), max_keys=2)
    limiter.take("a")
    limiter.take("b")
    limiter.check("a")  # a is now the most recently used
    limiter.take("c")  # pushes b out
    assert len(limiter) == 2
    assert limiter.check("a") > 0
    assert limiter.check("b") == 0


@pytest.mark.parametrize(("capacity", "period"), [(0, 60.0), (1, 0.0), (-1, 1.0)])
def test_a_rate_needs_a_capacity_and_a_period(capacity: int, period: float) -> None:
    with pytest.raises(ValueError, match="capacity"):
        Rate(capacity, period)
