"""Prometheus text exposition: escaping, cumulative buckets, registry rules."""

from __future__ import annotations

import pytest

from proctor.reference.metrics import Metrics


def test_counter_and_label_escaping() -> None:
    metrics = Metrics()
    c = metrics.counter("proctor_decisions_total", "Decisions.", ["result", "reason"])
    c.inc(result="deny", reason='claim_rule_failed:"groups"\n')
    c.inc(2, result="allow", reason="ok")
    text = metrics.render()
    assert "# TYPE proctor_decisions_total counter" in text
    assert 'proctor_decisions_total{result="allow",reason="ok"} 2' in text
    assert r'reason="claim_rule_failed:\"groups\"\n"' in text


def test_histogram_buckets_are_cumulative() -> None:
    metrics = Metrics()
    h = metrics.histogram("lat_seconds", "Latency.", buckets=(0.1, 1.0))
    for v in (0.05, 0.5, 0.5, 5.0):
        h.observe(v)
    text = metrics.render()
    assert 'lat_seconds_bucket{le="0.1"} 1' in text
    assert 'lat_seconds_bucket{le="1"} 3' in text
    assert 'lat_seconds_bucket{le="+Inf"} 4' in text
    assert "lat_seconds_count 4" in text
    assert "lat_seconds_sum 6.05" in text


def test_registry_rules() -> None:
    metrics = Metrics()
    a = metrics.counter("x_total", "X.", ["a"])
    assert metrics.counter("x_total", "X.", ["a"]) is a
    with pytest.raises(ValueError, match="already registered"):
        metrics.histogram("x_total", "X.", ["a"])
    with pytest.raises(ValueError, match="labels"):
        a.inc(b="1")
    with pytest.raises(ValueError, match="only go up"):
        a.inc(-1, a="1")
