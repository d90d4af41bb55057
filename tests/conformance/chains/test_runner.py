"""The runner against an in-process token endpoint (the reference core behind
``httpx.MockTransport``) and the mock Okta: the examples end as they say, and a token
endpoint that breaks an invariant is caught by name."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from proctor.conformance.chains import (
    AgentCredentials,
    Chain,
    ChainFileError,
    ChainResult,
    ChainRunError,
    ChainRunner,
    load_chain,
    parse_chain,
)
from proctor.conformance.chains.invariants import decode_jwt
from proctor.conformance.chains.render import render_json, render_text
from proctor.mock_idps.pytest_plugin import MockIdp
from tests.conformance.chains.conftest import EXAMPLES
from tests.conformance.chains.sts import ISSUER, TOKEN_ENDPOINT, InProcessSts


def run(
    chain: Chain, sts: InProcessSts, okta: MockIdp, client: httpx.Client, **options: Any
) -> ChainResult:
    credentials = sts.provision(chain, okta.issuer())
    runner = ChainRunner(
        chain,
        client=client,
        issuer=ISSUER,
        credentials=credentials,
        idp_urls={"okta": okta.base_url},
        **options,
    )
    return runner.run()


def test_the_sarah_chain_passes(sts: InProcessSts, okta: MockIdp, http: httpx.Client) -> None:
    result = run(load_chain(EXAMPLES / "sarah-brief.yaml"), sts, okta, http)
    assert result.ok, [v.describe() for v in result.violations]
    first, second = result.hops
    assert first.outcome == second.outcome == "success"
    assert first.issued_claims is not None
    assert second.issued_claims is not None
    assert first.issued_claims["scope"] == "crm.read finance.read"
    assert second.issued_claims["scope"] == "crm.read"
    assert second.issued_claims["aud"] == "https://crm.example/mcp"
    assert second.issued_claims["act"] == {
        "sub": "wl_subagent",
        "iss": ISSUER,
        "act": {"sub": "wl_orchestrator", "iss": ISSUER},
    }
    # the token endpoint came from the RFC 8414 metadata of the issuer
    assert result.token_endpoint == TOKEN_ENDPOINT
    # hop 2 exchanged exactly the token hop 1 issued, with the sub-agent's own actor token
    exchange = [r for r in sts.requests if r.get("grant_type", "").endswith("token-exchange")]
    assert exchange[1]["subject_token"] == first.issued_token
    actor = decode_jwt(exchange[1]["actor_token"])
    assert actor is not None
    assert actor[1]["sub"] == "wl_subagent"


@pytest.mark.parametrize(
    ("example", "hop", "cause"),
    [
        ("may-act-denied.yaml", 1, "may_act_mismatch"),
        ("laundering.yaml", 2, "delegation_laundering"),
        ("depth-limit.yaml", 3, "depth_exceeded"),
    ],
)
def test_refusal_examples_end_in_the_expected_errors(
    sts: InProcessSts, okta: MockIdp, http: httpx.Client, example: str, hop: int, cause: str
) -> None:
    result = run(load_chain(EXAMPLES / example), sts, okta, http)
    assert result.ok, [v.describe() for v in result.violations]
    refused = result.hops[hop - 1]
    assert refused.outcome == "invalid_request"
    assert refused.status == 400
    assert refused.error_description is not None
    assert refused.error_description.startswith(f"{cause}: ")
    assert refused.issued_token is None


def test_may_act_is_honoured_for_the_named_actor(
    sts: InProcessSts, okta: MockIdp, http: httpx.Client
) -> None:
    result = run(load_chain(EXAMPLES / "may-act-denied.yaml"), sts, okta, http)
    assert result.user_claims is not None
    assert result.user_claims["may_act"] == {"sub": "wl_orchestrator", "iss": ISSUER}
    named = result.hops[1]
    assert named.outcome == "success"
    assert named.issued_claims is not None
    assert "may_act" not in named.issued_claims


def test_laundering_without_the_actor_token(
    sts: InProcessSts, okta: MockIdp, http: httpx.Client
) -> None:
    result = run(load_chain(EXAMPLES / "laundering.yaml"), sts, okta, http)
    laundered = [r for r in sts.requests if r.get("grant_type", "").endswith("token-exchange")][1]
    assert "actor_token" not in laundered
    assert result.hops[1].request["actor"] is None


def test_an_unexpected_outcome_fails_the_chain_and_skips_what_follows(
    sts: InProcessSts, okta: MockIdp, http: httpx.Client
) -> None:
    data = chain_data()
    data["agents"]["orchestrator"] = {"policy": {"max_depth": 1}}
    data["hops"][0]["scope"] = "mail.send"  # Sarah does not hold it: invalid_scope
    result = run(parse_chain(data), sts, okta, http)
    assert [h.outcome for h in result.hops] == ["invalid_scope", "skipped"]
    assert [v.invariant for v in result.violations] == ["expected_outcome"]
    assert "expected success, got invalid_scope (scope_not_granted)" in render_text(result)


def chain_data() -> dict[str, Any]:
    return {
        "name": "two-hops",
        "user": {
            "token": {
                "source": "mock_idp_mint",
                "user": "sarah@example.com",
                "scopes": ["crm.read", "finance.read"],
            }
        },
        "agents": {"orchestrator": {}, "subagent": {}},
        "hops": [
            {"agent": "orchestrator", "to": "subagent", "scope": "crm.read finance.read"},
            {"agent": "subagent", "resource": ["https://crm.example/mcp"], "scope": "crm.read"},
        ],
    }


def tamper(
    sts: InProcessSts, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> httpx.MockTransport:
    """The in-process endpoint, except that every exchanged token's claims are changed
    (re-encoded unsigned: the lab decodes without verifying)."""

    def handle(request: httpx.Request) -> httpx.Response:
        response = sts.handle(request)
        body = json.loads(response.content or b"{}")
        form = request.content.decode()
        if response.status_code == 200 and "token-exchange" in form:
            decoded = decode_jwt(body["access_token"])
            assert decoded is not None
            header, claims = decoded
            body["access_token"] = ".".join((_b64(header), _b64(change(claims)), "c2lnbmF0dXJl"))
        return httpx.Response(response.status_code, json=body)

    return httpx.MockTransport(handle)


def _b64(value: Any) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("invariant", "change"),
    [
        ("scope_narrowing", lambda c: {**c, "scope": "crm.read finance.read docs.write"}),
        ("audience", lambda c: {**c, "aud": "https://elsewhere.example"}),
        ("exp_bound", lambda c: {**c, "exp": c["exp"] + 3600}),
        ("act_nesting", lambda c: {**c, "act": {"sub": "wl_someone"}}),
        ("act_identity_only", lambda c: {**c, "act": {**c["act"], "exp": c["exp"]}}),
        ("depth_limit", lambda c: {**c, "act": {**c["act"], "act": {"sub": "x", "act": {}}}}),
    ],
)
def test_a_misbehaving_endpoint_is_caught_by_name(
    sts: InProcessSts,
    okta: MockIdp,
    invariant: str,
    change: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    data = chain_data()
    data["agents"]["orchestrator"] = {"policy": {"max_depth": 2}}
    client = httpx.Client(
        transport=tamper(sts, change), mounts={f"{okta.base_url}/": okta.sync_transport()}
    )
    with client:
        result = run(parse_chain(data), sts, okta, client)
    assert not result.ok
    assert invariant in {v.invariant for v in result.violations}
    assert f"✗ hop 1: {invariant}" in render_text(result)


def test_no_secret_or_token_reaches_the_renderings(
    sts: InProcessSts, okta: MockIdp, http: httpx.Client
) -> None:
    result = run(load_chain(EXAMPLES / "sarah-brief.yaml"), sts, okta, http)
    secrets = [c.client_secret for c in sts.credentials.values()]
    tokens = [h.issued_token for h in result.hops]
    tokens += [r[k] for r in sts.requests for k in ("subject_token", "actor_token") if k in r]
    for text in (render_text(result), render_json(result)):
        for value in [*secrets, *tokens]:
            assert value
            assert value not in text
            assert value.split(".")[-1] not in text  # no signature either


def test_missing_credentials_are_a_chain_file_error(http: httpx.Client) -> None:
    chain = load_chain(EXAMPLES / "sarah-brief.yaml")
    with pytest.raises(ChainFileError, match="no client_id for orchestrator, subagent"):
        ChainRunner(chain, client=http, issuer=ISSUER)
    only_ids = {n: AgentCredentials(f"wl_{n}") for n in ("orchestrator", "subagent")}
    with pytest.raises(ChainFileError, match="no client_secret for orchestrator, subagent"):
        ChainRunner(chain, client=http, issuer=ISSUER, credentials=only_ids)


def test_an_unreachable_endpoint_is_a_run_error(sts: InProcessSts, okta: MockIdp) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.Client(
        transport=httpx.MockTransport(refuse), mounts={f"{okta.base_url}/": okta.sync_transport()}
    )
    chain = load_chain(EXAMPLES / "sarah-brief.yaml")
    with client, pytest.raises(ChainRunError, match="ConnectError"):
        run(chain, sts, okta, client)


def test_a_literal_user_token_and_a_client_that_cannot_authenticate(
    sts: InProcessSts, okta: MockIdp, http: httpx.Client
) -> None:
    data = chain_data()
    data["user"] = {"token": {"source": "literal", "token": okta.mint(scopes=["crm.read"])}}
    chain = parse_chain(data)
    credentials = sts.provision(chain, okta.issuer())
    wrong = {**credentials, "orchestrator": AgentCredentials("wl_orchestrator", "wrong-secret")}
    runner = ChainRunner(chain, client=http, issuer=ISSUER, credentials=wrong)
    with pytest.raises(ChainRunError, match="'orchestrator' could not obtain its own token"):
        runner.run()


def test_user_tokens_from_an_idp_token_endpoint_and_from_a_command(
    sts: InProcessSts, okta: MockIdp, http: httpx.Client
) -> None:
    data = chain_data()
    data["user"] = {
        "token": {
            "source": "mock_idp_token",
            "client_id": "0oaproctoragent0app7",
            "client_secret": "proctor-demo-agent-secret",
            "scope": "crm.read",
        }
    }
    chain = parse_chain(data)
    credentials = sts.provision(chain, okta.issuer())
    runner = ChainRunner(
        chain, client=http, issuer=ISSUER, credentials=credentials, idp_urls={"okta": okta.base_url}
    )
    app_token = decode_jwt(runner.user_token())
    assert app_token is not None
    assert app_token[1]["sub"] == "0oaproctoragent0app7"
    assert app_token[1]["iss"] == okta.issuer()

    printed = okta.mint(scopes=["crm.read"])
    data["user"] = {
        "token": {"source": "command", "command": [sys.executable, "-c", f"print({printed!r})"]}
    }
    chain = parse_chain(data)
    runner = ChainRunner(chain, client=http, issuer=ISSUER, credentials=credentials)
    assert runner.user_token() == printed
    failing = {"source": "command", "command": [sys.executable, "-c", "raise SystemExit(3)"]}
    data["user"] = {"token": failing}
    runner = ChainRunner(parse_chain(data), client=http, issuer=ISSUER, credentials=credentials)
    with pytest.raises(ChainRunError, match="exited 3 and printed nothing"):
        runner.user_token()
