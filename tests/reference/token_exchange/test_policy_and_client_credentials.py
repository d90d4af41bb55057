"""Exchange policy documents and their evaluation (TX-POL-001/002, TX-TGT-001), and the
client_credentials grant (TX-CC-001/002)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from proctor.reference.errors import Conflict, InvalidTarget, UnauthorizedClient, ValidationFailed
from proctor.reference.exchange_policy import (
    ExchangePolicy,
    check_policy_set,
    granted_scopes,
    is_absolute_uri,
    select_policy,
)

from .conftest import ISSUER, Service, decode

BASE: dict[str, Any] = {
    "name": "orchestrator-to-subagents",
    "client": "orchestrator",
    "subject_issuers": ["https://idp.example/oauth2/default", "self"],
    "audiences": ["wl_sub91c2"],
}


def policy(**changes: Any) -> ExchangePolicy:
    return ExchangePolicy.model_validate({**BASE, **changes})


def test_defaults() -> None:
    p = policy()
    assert p.resources == ()
    assert p.scopes == ()
    assert p.max_depth == 5
    assert p.allow_impersonation is False
    assert p.allow_id_token_subjects is False
    assert p.actor == "client"


@pytest.mark.parametrize(
    "changes",
    [
        {"subject_issuers": []},
        {"subject_issuers": ["http://idp.example"]},
        {"subject_issuers": ["https://idp.example?x=1"]},
        {"subject_issuers": ["https://idp.example#f"]},
        {"subject_issuers": ["idp.example"]},
        {"audiences": [], "resources": []},
        {"resources": ["/relative"]},
        {"resources": ["https://r.example/#frag"]},
        {"scopes": ["has space"]},
        {"scopes": ['quote"d']},
        {"max_depth": 0},
        {"max_depth": 17},
        {"max_depth": "5"},
        {"actor": "anyone"},
        {"allow_impersonation": "yes"},
        {"unknown_member": 1},
        {"name": "x"},
        {"audiences": ["a", "a"]},
    ],
)
def test_invalid_documents_are_refused(changes: dict[str, Any]) -> None:
    """TX-POL-001."""
    with pytest.raises(ValidationError):
        policy(**changes)


def test_targets_are_unambiguous() -> None:
    """TX-POL-002."""
    first = policy()
    with pytest.raises(Conflict):
        check_policy_set(policy(name="second", audiences=["wl_sub91c2", "x"]), [first], ISSUER)
    check_policy_set(policy(name="second", client="other"), [first], ISSUER)
    check_policy_set(policy(audiences=["wl_sub91c2", "new"]), [first], ISSUER)  # replacing itself
    with pytest.raises(ValidationFailed):
        check_policy_set(policy(name="third", audiences=[ISSUER]), [first], ISSUER)


def test_select_policy() -> None:
    """TX-TGT-001: one policy holding every requested target, exact comparison."""
    a = policy(name="pol-a", audiences=["x", "y"])
    b = policy(name="pol-b", audiences=["z"], resources=["https://r.example/"])
    assert select_policy([a, b], ["x", "y"], []) is a
    assert select_policy([a, b], ["z"], ["https://r.example/"]) is b
    with pytest.raises(InvalidTarget):
        select_policy([a, b], ["x", "z"], [])
    with pytest.raises(InvalidTarget):
        select_policy([a, b], ["X"], [])
    with pytest.raises(InvalidTarget):
        select_policy([a, b], [], ["https://r.example"])
    with pytest.raises(UnauthorizedClient):
        select_policy([], ["x"], [])


def test_granted_scopes_never_widen() -> None:
    assert granted_scopes(["a", "b", "c"], ["b", "c", "d"], ["c", "b"]) == ("b", "c")
    assert granted_scopes(None, ["d", "c", "b"], ["b", "c"]) == ("c", "b")
    assert granted_scopes(["a"], [], ["a"]) == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://crm.example/mcp", True),
        ("urn:example:cooperation-context", True),
        ("https://crm.example/mcp?x=1", True),
        ("https://crm.example/mcp#x", False),
        ("/mcp", False),
        ("crm.example", False),
        ("https:", False),
        ("https://crm example/", False),
        ("", False),
    ],
)
def test_absolute_uri(value: str, expected: bool) -> None:
    assert is_absolute_uri(value) is expected


# -- client_credentials -----------------------------------------------------------------------


def _cc(svc: Service, name: str, *pairs: tuple[str, str]) -> Any:
    return svc.token_request([("grant_type", "client_credentials"), *pairs], name)


def test_a_workloads_own_token_for_the_service(svc: Service) -> None:
    """TX-CC-001: sub = client_id, aud = the issuer, no act, no sub_id, no scope."""
    result = _cc(svc, "orchestrator")
    assert result.status == 200
    assert set(result.body) == {"access_token", "token_type", "expires_in"}
    assert result.body["token_type"] == "Bearer"
    _, claims = decode(result.body["access_token"])
    assert set(claims) == {"iss", "sub", "aud", "client_id", "iat", "exp", "jti"}
    assert claims["sub"] == claims["client_id"] == "wl_orchestrator"
    assert claims["aud"] == ISSUER
    assert result.body["expires_in"] == claims["exp"] - claims["iat"] == 900
    assert result.audit[0].operation == "token.issue"
    assert result.audit[0].actor_chain == ["wl_orchestrator"]


def test_a_workloads_token_for_a_target_in_its_policy(svc: Service) -> None:
    """TX-CC-002: targets from one policy, scope = requested ∩ that policy's scopes."""
    result = _cc(
        svc,
        "subagent",
        ("resource", "https://crm.example/mcp"),
        ("scope", "crm.read admin"),
    )
    assert result.status == 200
    assert result.body["scope"] == "crm.read"
    _, claims = decode(result.body["access_token"])
    assert claims["aud"] == "https://crm.example/mcp"
    assert claims["scope"] == "crm.read"


@pytest.mark.parametrize(
    ("pairs", "error"),
    [
        ([("audience", "wl_crm-mcp")], "invalid_target"),  # not in the orchestrator's policy
        ([("resource", "https://crm.example/mcp#x")], "invalid_target"),
        ([("scope", "crm.read")], "invalid_scope"),  # a scope without a target
        ([("audience", "wl_subagent"), ("scope", "admin")], "invalid_scope"),
        ([("audience", "wl_subagent"), ("scope", 'bad"scope')], "invalid_scope"),
    ],
)
def test_client_credentials_refusals(
    svc: Service, pairs: list[tuple[str, str]], error: str
) -> None:
    result = _cc(svc, "orchestrator", *pairs)
    assert result.status == 400
    assert result.body["error"] == error


def test_a_workload_without_policy_gets_no_target(svc: Service) -> None:
    result = _cc(svc, "outsider", ("audience", "wl_subagent"))
    assert result.body["error"] == "invalid_target"
    assert _cc(svc, "outsider").status == 200
