"""Positive controls: a target that rejects everything cannot pass a negative check."""

from __future__ import annotations

import httpx
import pytest

from proctor.conformance.controls import PositiveControl
from proctor.conformance.errors import ControlFailed
from proctor.conformance.results import Outcome
from tests.conformance.conftest import RunKit
from tests.conformance.fake_target import Flaws

CHECK = "test_rejects_a_forged_token"


def _run(run_kit: RunKit, **flaws: bool):  # type: ignore[no-untyped-def]
    return run_kit(suites=(), samples=("kit_controls",), flaws=Flaws(**flaws))


def test_a_correct_target_passes(run_kit: RunKit) -> None:
    run = _run(run_kit)
    assert run.result(CHECK).outcome is Outcome.PASSED
    assert run.result(CHECK).catalog == "JWT-01"
    paths = [e["url"].removeprefix("http://target.test") for e in run.result(CHECK).evidence]
    metadata, token, protected = (
        "/.well-known/oauth-authorization-server",
        "/oauth2/token",
        "/protected",
    )
    control = [metadata, token, protected]
    assert paths == [*control, protected, *control]  # before, the attack, after
    assert run.exit_code == 0


def test_a_target_that_rejects_everything_gets_an_error_not_a_pass(run_kit: RunKit) -> None:
    """CONF-CTRL-001: a control failing before the negative check voids it (ERROR)."""
    run = _run(run_kit, reject_everything=True)
    result = run.result(CHECK)
    assert result.outcome is Outcome.ERROR
    assert "positive control 'a token the target issued is accepted' failed before" in (
        result.message
    )
    assert run.exit_code == 3


def test_a_target_that_accepts_the_attack_fails(run_kit: RunKit) -> None:
    assert _run(run_kit, accept_any_token=True).result(CHECK).outcome is Outcome.FAILED


def test_a_target_broken_by_the_attack_gets_an_error(run_kit: RunKit) -> None:
    """CONF-CTRL-001: a control failing after the negative check voids it (ERROR)."""
    result = _run(run_kit, break_after_attack=True).result(CHECK)
    assert result.outcome is Outcome.ERROR
    assert "failed after" in result.message


def _response(status: int) -> httpx.Response:
    return httpx.Response(status)


@pytest.mark.parametrize(
    ("expect", "status", "ok"),
    [
        (None, 204, True),
        (None, 302, False),
        (201, 201, True),
        (201, 200, False),
        ({200, 400}, 400, True),
        (lambda r: r.status_code == 418, 418, True),
    ],
)
def test_expectations(expect: object, status: int, ok: bool) -> None:
    control = PositiveControl("c", lambda: _response(status), expect=expect)  # type: ignore[arg-type]
    if ok:
        assert control.verify().status_code == status
    else:
        with pytest.raises(ControlFailed, match=f"HTTP {status}"):
            control.verify()


def test_the_after_control_runs_even_when_the_body_fails() -> None:
    calls: list[int] = []

    def request() -> httpx.Response:
        calls.append(1)
        return _response(200 if len(calls) == 1 else 500)

    control = PositiveControl("c", request)
    with pytest.raises(ControlFailed) as raised, control.bracket():
        raise AssertionError("the body failed")
    assert len(calls) == 2
    assert isinstance(raised.value.__context__, AssertionError)


def test_a_transport_error_in_a_control_is_a_control_failure() -> None:
    def request() -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(ControlFailed, match="ConnectError"):
        PositiveControl("c", request).verify()
