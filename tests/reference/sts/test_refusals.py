"""Every TX-01 … TX-12 negative over HTTP with its exact error and status, plus the client
authentication failures (TX-CAUTH-001..003: ``invalid_client``, 401, ``Basic`` challenge)
and grant-type errors (TX-REQ-001). Each refusal is bracketed by a request that succeeds
with the same setup, so a service that refuses everything fails here."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from .conftest import (
    ACCESS_TOKEN,
    ADMIN,
    CRM_MCP,
    FORM,
    ID_TOKEN,
    ISSUER,
    JWT_BEARER,
    MARKS,
    TOKEN_EXCHANGE,
    Harness,
    Scenario,
    Workload,
    basic,
    claims_of,
    form_body,
)

pytestmark = MARKS


def refused(response: httpx.Response, error: str, cause: str | None = None) -> dict[str, Any]:
    """ERR-OAUTH-001..003: 400 (401 for invalid_client), ``error``, a cause-prefixed
    description (TX-ERR-002), no caching, nothing but the RFC 6749 members."""
    status = 401 if error == "invalid_client" else 400
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    assert set(body) <= {"error", "error_description"}
    if cause is not None:
        assert body["error_description"].startswith(cause + ": "), body
    if error == "invalid_client":
        assert response.headers["www-authenticate"] == 'Basic realm="proctor"'
    assert "eyJ" not in response.text
    return body


def tampered(token: str) -> str:
    """The same JWT with one claim changed and the signature kept (a forgery)."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "crm.read finance.read docs.write admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


async def _t1(h: Harness, s: Scenario) -> str:
    return await h.exchanged(s.orchestrator, h.sarah(), audience=[s.subagent.client_id])


# -- TX-01, TX-02: token types and pairs -----------------------------------------------------------


async def test_tx01_subject_token_type_missing_or_unsupported(
    harness: Harness, scenario: Scenario
) -> None:
    sarah, target = harness.sarah(), [scenario.subagent.client_id]
    ok = await harness.exchange(scenario.orchestrator, sarah, audience=target)
    assert ok.status_code == 200, ok.text
    for subject_type in (
        "",  # empty counts as absent (TX-REQ-005)
        "urn:ietf:params:oauth:token-type:refresh_token",
        "urn:ietf:params:oauth:token-type:saml2",
        "urn:ietf:params:oauth:token-type:saml1",
        "urn:example:unknown",
    ):
        response = await harness.exchange(
            scenario.orchestrator, sarah, audience=target, subject_type=subject_type
        )
        refused(response, "invalid_request", "malformed_request")
    no_subject = await harness.token(
        scenario.orchestrator,
        [
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token_type", ACCESS_TOKEN),
            ("audience", target[0]),
        ],
    )
    refused(no_subject, "invalid_request", "malformed_request")


async def test_tx02_actor_token_and_type_come_together(
    harness: Harness, scenario: Scenario
) -> None:
    sarah, target = harness.sarah(), [scenario.subagent.client_id]
    actor = await harness.cc(scenario.orchestrator)
    without_type = await harness.exchange(
        scenario.orchestrator, sarah, actor=None, audience=target, extra=[("actor_token", actor)]
    )
    refused(without_type, "invalid_request", "malformed_request")
    without_token = await harness.exchange(
        scenario.orchestrator,
        sarah,
        actor=None,
        audience=target,
        extra=[("actor_token_type", ACCESS_TOKEN)],
    )
    refused(without_token, "invalid_request", "malformed_request")
    id_token_actor = await harness.exchange(
        scenario.orchestrator, sarah, actor=actor, actor_type=ID_TOKEN, audience=target
    )
    refused(id_token_actor, "invalid_request", "malformed_request")


# -- TX-03: forged, expired, revoked tokens --------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "reason"),
    [
        ("bad_signature", "bad_signature"),
        ("unknown_kid", "unknown_key"),
        ("alg_none", "alg_not_allowed"),
        ("hs256_public_key", "alg_not_allowed"),
        ("expired", "expired"),
        ("wrong_audience", "wrong_audience"),
    ],
)
async def test_tx03_forged_or_expired_external_subject(
    harness: Harness, scenario: Scenario, preset: str, reason: str
) -> None:
    target = [scenario.subagent.client_id]
    good = await harness.exchange(scenario.orchestrator, harness.sarah(), audience=target)
    assert good.status_code == 200, good.text
    bad = harness.sarah(presets=[preset])
    body = refused(
        await harness.exchange(scenario.orchestrator, bad, audience=target),
        "invalid_request",
        "subject_token_invalid",
    )
    assert reason in body["error_description"]  # TX-SUBJ-002: the authorizer's reason


async def test_tx03_forged_expired_revoked_own_subject_and_actor(
    harness: Harness, scenario: Scenario
) -> None:
    subagent = scenario.subagent
    t1 = await _t1(harness, scenario)
    ok = await harness.exchange(subagent, t1, resource=[CRM_MCP])
    assert ok.status_code == 200, ok.text

    for subject in (tampered(t1), t1[:-4] + "AAAA", "garbage", "a.b.c"):
        refused(
            await harness.exchange(subagent, subject, resource=[CRM_MCP]),
            "invalid_request",
            "subject_token_invalid",
        )
    actor = await harness.cc(subagent)
    refused(
        await harness.exchange(subagent, t1, actor=tampered(actor), resource=[CRM_MCP]),
        "invalid_request",
        "actor_token_invalid",
    )
    # an external token is never an actor token (TX-ACTOR-001)
    refused(
        await harness.exchange(subagent, t1, actor=harness.sarah(), resource=[CRM_MCP]),
        "invalid_request",
        "actor_token_invalid",
    )
    # revoked subject: the orchestrator revokes T1, the sub-agent can no longer use it
    assert (await harness.revoke(scenario.orchestrator, t1)).status_code == 200
    refused(
        await harness.exchange(subagent, t1, resource=[CRM_MCP]),
        "invalid_request",
        "subject_token_invalid",
    )
    # revoked actor
    fresh = await _t1(harness, scenario)
    assert (await harness.revoke(subagent, actor)).status_code == 200
    refused(
        await harness.exchange(subagent, fresh, actor=actor, resource=[CRM_MCP]),
        "invalid_request",
        "actor_token_invalid",
    )
    # expired actor (and subject): past every lifetime
    actor = await harness.cc(subagent)
    harness.advance(601)
    refused(
        await harness.exchange(subagent, fresh, actor=actor, resource=[CRM_MCP]),
        "invalid_request",
        "subject_token_invalid",
    )


async def test_tx03_a_stolen_delegated_token_is_useless_to_another_workload(
    harness: Harness, scenario: Scenario
) -> None:
    """TX-SUBJ-004: T1 names the sub-agent; the tool cannot redeem it."""
    await harness.policy(
        "tool-from-self",
        "crm-tool",
        subject_issuers=["self"],
        resources=[CRM_MCP + "/other"],
        scopes=["crm.read"],
    )
    t1 = await _t1(harness, scenario)
    refused(
        await harness.exchange(scenario.tool, t1, resource=[CRM_MCP + "/other"]),
        "invalid_request",
        "subject_token_invalid",
    )


# -- TX-04: targets --------------------------------------------------------------------------------


async def test_tx04_targets_not_permitted(harness: Harness, scenario: Scenario) -> None:
    sarah = harness.sarah()
    orchestrator = scenario.orchestrator
    ok = await harness.exchange(orchestrator, sarah, audience=[scenario.subagent.client_id])
    assert ok.status_code == 200, ok.text
    for audience, resource in [
        ([scenario.tool.client_id], []),  # another workload's
        ([scenario.subagent.client_id, "wl_else"], []),  # one of two not permitted
        ([], [CRM_MCP]),  # the sub-agent's resource, not the orchestrator's
        ([], ["relative/path"]),  # not an absolute URI (TX-REQ-008)
        ([], ["https://crm.example/mcp#frag"]),  # a fragment
        ([], []),  # no target at all
    ]:
        response = await harness.exchange(orchestrator, sarah, audience=audience, resource=resource)
        refused(response, "invalid_target", "target_not_allowed")
    loner = await harness.workload("loner")
    refused(
        await harness.exchange(loner, sarah, audience=[scenario.subagent.client_id]),
        "unauthorized_client",
        "no_exchange_policy",
    )


# -- TX-05: scope never widens ---------------------------------------------------------------------


async def test_tx05_scope_is_narrowed_or_refused_never_widened(
    harness: Harness, scenario: Scenario
) -> None:
    target = [scenario.subagent.client_id]
    narrow = harness.sarah(scopes=["crm.read"])
    wide = await harness.exchange(
        scenario.orchestrator, narrow, audience=target, scope="crm.read finance.read docs.write"
    )
    assert wide.status_code == 200, wide.text
    assert claims_of(wide.json()["access_token"])["scope"] == "crm.read"
    for scope in ("finance.read", "docs.write admin"):
        refused(
            await harness.exchange(scenario.orchestrator, narrow, audience=target, scope=scope),
            "invalid_scope",
            "scope_not_granted",
        )
    refused(
        await harness.exchange(
            scenario.orchestrator, narrow, audience=target, scope='crm.read "quoted"'
        ),
        "invalid_scope",
    )


# -- TX-06, TX-07: may_act and laundering ----------------------------------------------------------


async def test_tx06_actor_not_named_in_may_act(harness: Harness, scenario: Scenario) -> None:
    target = [scenario.subagent.client_id]
    orchestrator = scenario.orchestrator.client_id
    named = harness.sarah(claims={"may_act": {"sub": orchestrator, "iss": ISSUER}})
    ok = await harness.exchange(scenario.orchestrator, named, audience=target)
    assert ok.status_code == 200, ok.text
    assert "may_act" not in claims_of(ok.json()["access_token"])  # TX-MAYACT-001
    for may_act in (
        {"sub": "wl_someone_else", "iss": ISSUER},
        {"sub": orchestrator, "iss": "https://x.test"},
        # no iss: the subject token's own issuer (Okta) stands in, not this service
        {"sub": orchestrator},
    ):
        other = harness.sarah(claims={"may_act": may_act})
        refused(
            await harness.exchange(scenario.orchestrator, other, audience=target),
            "invalid_request",
            "may_act_mismatch",
        )
    malformed = harness.sarah(claims={"may_act": "wl_orchestrator"})
    refused(
        await harness.exchange(scenario.orchestrator, malformed, audience=target),
        "invalid_request",
        "subject_token_invalid",
    )


async def test_tx07_no_delegation_laundering(harness: Harness, scenario: Scenario) -> None:
    """Even with impersonation allowed, a subject carrying act or may_act needs an actor."""
    await harness.client.put(
        "/v1/exchange-policies/subagent-to-tool",
        json={
            "name": "subagent-to-tool",
            "client": "subagent",
            "subject_issuers": ["self", harness.okta_issuer],
            "audiences": [scenario.tool.client_id],
            "resources": [CRM_MCP],
            "scopes": ["crm.read"],
            "allow_impersonation": True,
        },
        headers=ADMIN,
    )
    t1 = await _t1(harness, scenario)
    ok = await harness.exchange(scenario.subagent, t1, resource=[CRM_MCP])
    assert ok.status_code == 200, ok.text
    refused(
        await harness.exchange(scenario.subagent, t1, actor=None, resource=[CRM_MCP]),
        "invalid_request",
        "delegation_laundering",
    )


# -- TX-09: actor = subject, impersonation ---------------------------------------------------------


async def test_tx09_actor_is_subject_and_impersonation(
    harness: Harness, scenario: Scenario
) -> None:
    await harness.policy(
        "orchestrator-self",
        "orchestrator",
        subject_issuers=["self"],
        resources=[CRM_MCP + "/self"],
        scopes=["crm.read"],
    )
    own = await harness.cc(scenario.orchestrator)
    refused(
        await harness.exchange(scenario.orchestrator, own, actor=own, resource=[CRM_MCP + "/self"]),
        "invalid_request",
        "actor_is_subject",
    )
    target = [scenario.subagent.client_id]
    refused(
        await harness.exchange(scenario.orchestrator, harness.sarah(), actor=None, audience=target),
        "invalid_request",
        "impersonation_not_allowed",
    )
    allowed = await harness.client.put(
        "/v1/exchange-policies/orchestrator-to-subagent",
        json={
            "name": "orchestrator-to-subagent",
            "client": "orchestrator",
            "subject_issuers": [harness.okta_issuer],
            "audiences": target,
            "scopes": ["crm.read"],
            "allow_impersonation": True,
        },
        headers=ADMIN,
    )
    assert allowed.status_code == 200, allowed.text
    impersonated = await harness.exchange(
        scenario.orchestrator, harness.sarah(), actor=None, audience=target
    )
    assert impersonated.status_code == 200, impersonated.text
    assert "act" not in claims_of(impersonated.json()["access_token"])  # TX-DLG-002


async def test_tx09_another_workload_as_actor_needs_the_policy(
    harness: Harness, scenario: Scenario
) -> None:
    """TX-ACTOR-002: actor = client by default; any_registered_workload needs the actor
    token to be obtained for the client."""
    target = [scenario.subagent.client_id]
    helper = await harness.workload("helper")
    await harness.policy(
        "helper-to-orchestrator",
        "helper",
        subject_issuers=["self"],
        audiences=[scenario.orchestrator.client_id],
    )
    helper_for_orchestrator = await harness.cc(
        helper, ("audience", scenario.orchestrator.client_id)
    )
    refused(
        await harness.exchange(
            scenario.orchestrator, harness.sarah(), actor=helper_for_orchestrator, audience=target
        ),
        "invalid_request",
        "actor_not_allowed",
    )


# -- TX-10: lifetime and revocation of the subject -------------------------------------------------


async def test_tx10_derived_token_never_outlives_its_subject(
    harness: Harness, scenario: Scenario
) -> None:
    short = harness.sarah(lifetime=120)
    t1 = await harness.exchanged(
        scenario.orchestrator, short, audience=[scenario.subagent.client_id]
    )
    assert claims_of(t1)["exp"] == claims_of(short)["exp"]
    t2 = await harness.exchanged(scenario.subagent, t1, resource=[CRM_MCP])
    assert claims_of(t2)["exp"] == claims_of(short)["exp"]
    harness.advance(120)
    assert await harness.introspect(scenario.subagent, t1) == {"active": False}
    refused(
        await harness.exchange(scenario.subagent, t1, resource=[CRM_MCP]),
        "invalid_request",
        "subject_token_invalid",
    )


# -- TX-11: depth ----------------------------------------------------------------------------------


async def test_tx11_chain_longer_than_max_depth(harness: Harness, scenario: Scenario) -> None:
    t1 = await _t1(harness, scenario)
    replaced = await harness.client.put(
        "/v1/exchange-policies/subagent-to-tool",
        json={
            "name": "subagent-to-tool",
            "client": "subagent",
            "subject_issuers": ["self"],
            "resources": [CRM_MCP],
            "max_depth": 1,
        },
        headers=ADMIN,
    )
    assert replaced.status_code == 200, replaced.text
    refused(
        await harness.exchange(scenario.subagent, t1, resource=[CRM_MCP]),
        "invalid_request",
        "depth_exceeded",
    )
    replaced = await harness.client.put(
        "/v1/exchange-policies/subagent-to-tool",
        json={
            "name": "subagent-to-tool",
            "client": "subagent",
            "subject_issuers": ["self"],
            "resources": [CRM_MCP],
            "max_depth": 2,
        },
        headers=ADMIN,
    )
    assert replaced.status_code == 200
    ok = await harness.exchange(scenario.subagent, t1, resource=[CRM_MCP])
    assert ok.status_code == 200, ok.text


# -- TX-12: ID tokens, issued_token_type -----------------------------------------------------------


async def test_tx12_id_token_subject_only_where_allowed(
    harness: Harness, scenario: Scenario
) -> None:
    target = [scenario.subagent.client_id]
    id_token = harness.okta.mint(
        user="sarah@example.com", client_id="0oaproctoragent0app7", kind="id"
    )
    refused(
        await harness.exchange(
            scenario.orchestrator, id_token, audience=target, subject_type=ID_TOKEN
        ),
        "invalid_request",
        "subject_token_invalid",
    )
    # an access token offered as an ID token is refused too (wrong kind)
    refused(
        await harness.exchange(
            scenario.orchestrator, harness.sarah(), audience=target, subject_type=ID_TOKEN
        ),
        "invalid_request",
        "subject_token_invalid",
    )
    for requested in (
        "urn:ietf:params:oauth:token-type:refresh_token",
        "urn:ietf:params:oauth:token-type:id_token",
    ):
        refused(
            await harness.exchange(
                scenario.orchestrator,
                harness.sarah(),
                audience=target,
                extra=[("requested_token_type", requested)],
            ),
            "invalid_request",
            "malformed_request",
        )
    ok = await harness.exchange(scenario.orchestrator, harness.sarah(), audience=target)
    assert ok.json()["issued_token_type"] == ACCESS_TOKEN


# -- TX-REQ-001, TX-REQ-004: grant types and repeated parameters -----------------------------------


async def test_grant_types(harness: Harness, scenario: Scenario) -> None:
    orchestrator = scenario.orchestrator
    refused(await harness.token(orchestrator, []), "invalid_request", "malformed_request")
    for grant in ("authorization_code", "password", "refresh_token", "urn:x:unknown"):
        refused(
            await harness.token(orchestrator, [("grant_type", grant)]),
            "unsupported_grant_type",
        )


async def test_repeated_parameters(harness: Harness, scenario: Scenario) -> None:
    target = scenario.subagent.client_id
    sarah = harness.sarah()
    for name, value in [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", sarah),
        ("scope", "crm.read"),
        ("subject_token_type", ACCESS_TOKEN),
    ]:
        response = await harness.exchange(
            scenario.orchestrator, sarah, audience=[target], scope="crm.read",
            extra=[(name, value)],
        )  # fmt: skip
        refused(response, "invalid_request", "malformed_request")
    # audience and resource may repeat (equal values are merged in the issued aud)
    ok = await harness.exchange(scenario.orchestrator, sarah, audience=[target, target])
    assert ok.status_code == 200, ok.text
    assert claims_of(ok.json()["access_token"])["aud"] == target


# -- TX-CAUTH-001..003: client authentication ------------------------------------------------------


async def test_failed_client_authentication_is_one_answer(
    harness: Harness, scenario: Scenario
) -> None:
    orchestrator, subagent, tool = scenario.orchestrator, scenario.subagent, scenario.tool
    cc = [("grant_type", "client_credentials")]
    disabled = await harness.workload("disabled-one", disabled=True)
    now = harness.clock.now()
    assertion = tool.assertion(now)
    attempts: list[tuple[dict[str, str], list[tuple[str, str]]]] = [
        ({}, []),
        ({}, [("client_id", orchestrator.client_id)]),  # a public client
        (basic("wl_unknown", orchestrator.secret), []),
        (basic(orchestrator.client_id, orchestrator.secret + "x"), []),
        (basic(disabled.client_id, disabled.secret), []),
        ({"Authorization": "Basic !!!"}, []),
        ({"Authorization": "Bearer " + ADMIN["Authorization"][7:]}, []),
        ({}, [("client_id", subagent.client_id), ("client_secret", "wrong")]),
        (basic(orchestrator.client_id, orchestrator.secret), [("client_id", subagent.client_id)]),
        ({}, [("client_assertion_type", JWT_BEARER), ("client_assertion", assertion)]),
        # the replay of the assertion just used
        ({}, [("client_assertion_type", JWT_BEARER), ("client_assertion", assertion)]),
        ({}, [("client_assertion_type", JWT_BEARER),
              ("client_assertion", tool.assertion(now, aud="https://proctor.test/oauth2/token"))]),
        ({}, [("client_assertion_type", JWT_BEARER),
              ("client_assertion", tool.assertion(now, aud=["https://proctor.test"]))]),
        ({}, [("client_assertion_type", JWT_BEARER),
              ("client_assertion", tool.assertion(now, exp=int(now) + 3600))]),
        ({}, [("client_assertion_type", "urn:x:saml"),
              ("client_assertion", tool.assertion(now))]),
        ({}, [("client_assertion_type", JWT_BEARER), ("client_assertion", "garbage")]),
    ]  # fmt: skip
    bodies = []
    for index, (headers, pairs) in enumerate(attempts):
        response = await harness.client.post(
            "/oauth2/token",
            content=form_body([*cc, *pairs]),
            headers={**FORM, **headers},
        )
        if index == 9:  # the first use of the fresh assertion succeeds
            assert response.status_code == 200, response.text
            continue
        bodies.append(refused(response, "invalid_client", "client_auth_failed"))
    assert all(body == bodies[0] for body in bodies)  # WID-AUTH-002


async def test_two_authentication_methods_are_invalid_request(
    harness: Harness, scenario: Scenario
) -> None:
    orchestrator, tool = scenario.orchestrator, scenario.tool
    now = harness.clock.now()
    for pairs in (
        [("client_secret", orchestrator.secret)],
        [("client_assertion_type", JWT_BEARER), ("client_assertion", tool.assertion(now))],
    ):
        response = await harness.client.post(
            "/oauth2/token",
            content=form_body([("grant_type", "client_credentials"), *pairs]),
            headers={**FORM, **basic(orchestrator.client_id, orchestrator.secret)},
        )
        refused(response, "invalid_request", "malformed_request")


async def test_secret_workload_cannot_use_an_assertion_nor_vice_versa(harness: Harness) -> None:
    """TX-CAUTH-002, WID-PKJ-001: the credential kind the method names, nothing else."""
    keyed = await harness.workload("keyed", "private_key_jwt")
    secret = await harness.workload("secretive")
    forged = Workload(secret.name, secret.client_id, "private_key_jwt", key=keyed.key)
    for workload in (forged,):
        response = await harness.token(workload, [("grant_type", "client_credentials")])
        refused(response, "invalid_client")
    as_post = Workload(keyed.name, keyed.client_id, "client_secret_post", secret="x" * 43)
    refused(await harness.token(as_post, [("grant_type", "client_credentials")]), "invalid_client")
