"""Fixtures of the chain lab's tests: the in-process STS next to the mock Okta."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proctor.mock_idps.pytest_plugin import MockIdp, start_idp
from tests.conformance.chains.sts import InProcessSts, build_sts, sts_client

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "chains"
#: Both the mock Okta and the STS stand still at this instant.
START = 1_800_000_000.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def okta() -> Iterator[MockIdp]:
    with start_idp("okta", frozen_at=START) as idp:
        yield idp


@pytest.fixture
def sts(okta: MockIdp) -> InProcessSts:
    return build_sts(okta, START)


@pytest.fixture
def http(sts: InProcessSts, okta: MockIdp) -> Iterator[httpx.Client]:
    with sts_client(sts, okta) as client:
        yield client
