"""Every audit-log test runs on SQLite and on PostgreSQL (a fresh schema per test).

PostgreSQL comes from ``PROCTOR_TEST_POSTGRES_URL``; without it the PostgreSQL cases are
skipped, except under CI, where they fail: CI must test both back-ends.
"""

from __future__ import annotations

import pytest

from proctor.reference.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_800_000_000.0)
