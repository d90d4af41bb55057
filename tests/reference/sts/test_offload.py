"""OAuth cores run on the event loop until they would block (``proctor.reference.offload``):
then again, from the start, in a worker thread; nothing of the first attempt survives."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from proctor.reference.http.oauth import OAuthRoutes
from proctor.reference.offload import WouldBlock, may_block, on_event_loop
from proctor.reference.service import Service

from .conftest import MARKS, Harness, Scenario

pytestmark = MARKS


def test_may_block_raises_only_inside_an_attempt_on_the_event_loop() -> None:
    may_block("anything")  # outside: a no-op
    with pytest.raises(WouldBlock, match="a fetch"), on_event_loop():
        may_block("a fetch")
    may_block("anything")  # the attempt is over
    assert not issubclass(WouldBlock, Exception)  # no `except Exception` swallows it


@pytest.fixture
def cores(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Where each run of an OAuth core started: ``loop`` or ``thread``; ``+blocked`` when
    the run on the event loop gave way."""
    runs: list[str] = []
    real: Callable[..., Any] = OAuthRoutes._core
    loop_thread = threading.current_thread()

    def core(self: OAuthRoutes, *args: Any) -> Any:
        where = "loop" if threading.current_thread() is loop_thread else "thread"
        try:
            return real(self, *args)
        except WouldBlock:
            where += "+blocked"
            raise
        finally:
            runs.append(where)

    monkeypatch.setattr(OAuthRoutes, "_core", core)
    return runs


async def test_exchanges_run_on_the_loop_once_nothing_blocks(
    harness: Harness, scenario: Scenario, service: Service, cores: list[str]
) -> None:
    harness.advance(2 * 86_400)  # past any cache lifetime of Okta's keys
    actor = await harness.cc(scenario.orchestrator)
    target = [scenario.subagent.client_id]
    cores.clear()
    first = await harness.exchange(
        scenario.orchestrator, harness.sarah(), actor=actor, audience=target
    )
    assert first.status_code == 200, first.text
    second = await harness.exchange(
        scenario.orchestrator, harness.sarah(), actor=actor, audience=target
    )
    assert second.status_code == 200, second.text
    if service.database.dialect == "sqlite":
        # The first exchange refreshes Okta's keys (a network call): given way to a thread.
        assert cores == ["loop+blocked", "thread", "loop"]
    else:  # every PostgreSQL read is a round trip: always in a thread
        assert cores == ["loop+blocked", "thread", "loop+blocked", "thread"]


async def test_a_client_assertion_is_consumed_once_by_the_run_in_a_thread(
    harness: Harness, scenario: Scenario, cores: list[str]
) -> None:
    """Recording a private_key_jwt assertion's jti is a write: the attempt on the loop
    gives way before it, so the run in the thread does not see its own replay."""
    tool = scenario.tool
    headers, pairs = tool.credentials(harness.clock.now())
    cores.clear()
    form = [("grant_type", "client_credentials"), *pairs]
    response = await harness.post("/oauth2/token", None, form, headers)
    assert response.status_code == 200, response.text
    assert cores == ["loop+blocked", "thread"]
    replay = await harness.post("/oauth2/token", None, form, headers)
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"
