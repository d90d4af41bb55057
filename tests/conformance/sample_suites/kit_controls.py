"""A negative check bracketed by a positive control (meta-test suite, not a real one)."""

from __future__ import annotations

import httpx

from proctor.conformance.checks import check
from proctor.conformance.controls import ControlFactory
from proctor.conformance.target import Target

FORGED = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0."


def _issued_token(target: Target) -> str:
    headers, form = target.client_auth("kit")
    response = target.client.post(
        target.endpoint("token"), data={"grant_type": "client_credentials", **form}, headers=headers
    )
    token = response.json().get("access_token", "") if response.is_success else ""
    return str(token)


def _call(target: Target, token: str) -> httpx.Response:
    return target.client.get(target.url("/protected"), headers={"Authorization": f"Bearer {token}"})


@check("KIT-CTRL-001", level="MUST", needs=["client_credentials"], catalog="JWT-01")
def test_rejects_a_forged_token(proctor_target: Target, positive_control: ControlFactory) -> None:
    """A token with alg none is rejected."""
    control = positive_control(
        "a token the target issued is accepted",
        lambda: _call(proctor_target, _issued_token(proctor_target)),
        expect=200,
    )
    with control.bracket():
        assert _call(proctor_target, FORGED).status_code == 401
