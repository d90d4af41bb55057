"""The data plane: workload authentication, decisions, workload access tokens (02, 03, 04)."""

from __future__ import annotations

import base64
import json
from types import ModuleType
from typing import Any

import httpx
import pytest

from proctor.mock_idps.keys import KeyRing, SigningKey, generate_key
from proctor.reference.errors import TokenInvalid
from proctor.reference.service import Service

pytestmark = pytest.mark.anyio

DATA_ROUTES = [
    ("/v1/decisions", {"authorizer": "company-okta", "token": "x"}),
    ("/v1/workload-access-tokens", {}),
]


@pytest.fixture
async def setup(api: Any) -> Any:
    """An authorizer and a workload bound to it."""
    await api.create_authorizer()
    return await api.create_workload(authorizer="company-okta")


def _strip(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "request_id"}


# -- WID-AUTH-001/002, WID-ADMIN-001 --------------------------------------------------------


@pytest.mark.parametrize(("path", "body"), DATA_ROUTES)
async def test_failed_workload_authentication_is_one_answer(
    client: httpx.AsyncClient,
    api: Any,
    setup: Any,
    h: ModuleType,
    user_tokens: Any,
    idp: Any,
    path: str,
    body: dict[str, Any],
) -> None:
    """WID-AUTH-001/002, WID-ADMIN-001: unknown id, wrong secret, disabled workload,
    garbage, other schemes, a Bearer token and the admin credential all get the same 401
    with Basic and Bearer challenges, and no user token is validated (INB-DEC-001)."""
    disabled = await api.create_workload("disabled-one", disabled=True)
    wat = (await client.post("/v1/workload-access-tokens", json={}, headers=setup.auth)).json()
    attempts = [
        {},
        h.basic("wl_unknown", setup.secret),
        h.basic(setup.client_id, setup.secret + "x"),
        h.basic(setup.client_id, ""),
        disabled.auth,
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": "Digest " + setup.secret},
        {"Authorization": "Bearer " + h.ADMIN_TOKEN},
        {"Authorization": "Bearer " + wat["workload_access_token"]},
        h.basic(setup.client_id, h.ADMIN_TOKEN),
        h.basic("admin", h.ADMIN_TOKEN),
    ]
    fetched = len(idp.requests)
    answers = []
    for headers in attempts:
        response = await client.post(
            path,
            json={**body, "token": user_tokens()} if "token" in body else body,
            headers=headers,
        )
        assert response.status_code == 401, headers
        # ERR-BEARER-001/002: both challenges; invalid_token only when a Bearer was sent
        challenge = 'Basic realm="proctor", Bearer realm="proctor"'
        if headers.get("Authorization", "").startswith("Bearer "):
            challenge += ', error="invalid_token"'
        assert response.headers["WWW-Authenticate"] == challenge
        answers.append(_strip(response.json()))
    assert all(a == answers[0] for a in answers)
    assert answers[0]["code"] == "unauthenticated"
    assert len(idp.requests) == fetched, "no key fetch for an unauthenticated request"


async def test_basic_credentials_are_form_urldecoded(client: httpx.AsyncClient, setup: Any) -> None:
    """RFC 6749 §2.3.1: each part is form-urlencoded before base64."""
    from urllib.parse import quote_plus

    raw = f"{quote_plus(setup.client_id)}:{quote_plus(setup.secret)}".encode()
    header = {"Authorization": "basic " + base64.b64encode(raw).decode()}
    response = await client.post("/v1/workload-access-tokens", json={}, headers=header)
    assert response.status_code == 200


# -- POST /v1/decisions: INB-DEC-* ----------------------------------------------------------


async def test_an_allowed_token_yields_the_normalised_identity(
    client: httpx.AsyncClient, setup: Any, user_tokens: Any
) -> None:
    """INB-DEC-004, INB-DEC-006."""
    token = user_tokens()
    response = await client.post(
        "/v1/decisions", json={"authorizer": "company-okta", "token": token}, headers=setup.auth
    )
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    claims = user_tokens.claims()
    assert body["decision"] == "allow"
    assert body["reason"] == "ok"
    identity = body["identity"]
    assert set(identity) == {"issuer", "subject", "user_key", "client_id", "scopes", "claims"}
    assert identity["issuer"] == claims["iss"]
    assert identity["subject"] == "sarah@company.example"
    assert identity["user_key"] == "sarah@company.example"
    assert identity["client_id"] == claims["client_id"]
    assert identity["scopes"] == ["crm.read", "openid"]
    assert identity["claims"]["groups"] == ["sales"]
    assert token not in response.text


def _forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"sig") -> str:
    def enc(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    return ".".join(
        [enc(json.dumps(header).encode()), enc(json.dumps(payload).encode()), enc(signature)]
    )


def _deny_cases(user_tokens: Any, clock: Any) -> list[tuple[str, str]]:
    now = int(clock.now())
    valid = user_tokens()
    head, body, sig = valid.split(".")
    tampered = f"{head}.{body}.{sig[:-4]}{'AAAA' if not sig.endswith('AAAA') else 'BBBB'}"
    other_ring = KeyRing([SigningKey(generate_key("RS256", "not-published"), "RS256")])
    unknown = other_ring.sign(user_tokens.claims(), header={"typ": "at+jwt"})
    return [
        (user_tokens(exp=now - 61, iat=now - 3600), "expired"),
        (user_tokens(nbf=now + 600), "not_yet_valid"),
        (tampered, "bad_signature"),
        (unknown, "unknown_key"),
        (_forge({"alg": "HS256", "typ": "at+jwt"}, user_tokens.claims()), "alg_not_allowed"),
        (_forge({"alg": "none"}, user_tokens.claims()), "alg_not_allowed"),
        (user_tokens(iss="https://evil.example"), "wrong_issuer"),
        (user_tokens(aud="api://other"), "wrong_audience"),
        (user_tokens(client_id="0oa-other"), "client_not_allowed"),
        (user_tokens(scope="crm.write"), "scope_not_allowed"),
        (user_tokens(groups=["marketing"]), "claim_rule_failed:groups"),
        (user_tokens(header={"typ": "JWT"}), "wrong_token_kind"),
        ("not a jwt", "malformed"),
        ("", "malformed"),
        ("a." * 40_000, "malformed"),  # longer than 64 KiB (INB-PARSE-001)
    ]


async def test_each_deny_reason_is_surfaced_and_audited(
    client: httpx.AsyncClient,
    api: Any,
    setup: Any,
    user_tokens: Any,
    clock: Any,
    h: ModuleType,
) -> None:
    """INB-DEC-003/005, AUD-EVT-004: 200 with exactly decision and reason; the audit event
    is a denial with the same reason, naming the user only when the token's signature and
    issuer were verified before the rule that denied it (AUD-EVT-003)."""
    verified_first = {
        "expired",
        "not_yet_valid",
        "wrong_audience",
        "client_not_allowed",
        "scope_not_allowed",
        "claim_rule_failed:groups",
    }
    for token, reason in _deny_cases(user_tokens, clock):
        response = await client.post(
            "/v1/decisions",
            json={"authorizer": "company-okta", "token": token},
            headers=setup.auth,
        )
        assert response.status_code == 200, (reason, response.text)
        assert response.json() == {"decision": "deny", "reason": reason}
        event = (await api.audit(operation="decision.evaluate"))[-1]
        assert (event["decision"], event["reason"]) == ("deny", reason)
        assert event["workload"] == "orchestrator"
        if reason in verified_first:
            assert event["user"] == {"issuer": h.ISSUER, "subject": "sarah@company.example"}
        else:
            assert event["user"] is None


async def test_an_id_token_kind_the_authorizer_lacks_is_wrong_token_kind(
    client: httpx.AsyncClient, setup: Any, user_tokens: Any
) -> None:
    response = await client.post(
        "/v1/decisions",
        json={"authorizer": "company-okta", "token": user_tokens(), "token_kind": "id_token"},
        headers=setup.auth,
    )
    assert response.json() == {"decision": "deny", "reason": "wrong_token_kind"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"authorizer": "nobody", "token": "x"}, 404, "not_found"),
        (
            {"authorizer": "company-okta", "token": "x", "token_kind": "refresh_token"},
            400,
            "validation_failed",
        ),
        ({"authorizer": "company-okta", "token": 5}, 400, "invalid_request_body"),
        (
            {"authorizer": "company-okta", "token": "x", "token_kind": 1},
            400,
            "invalid_request_body",
        ),
        ({"authorizer": "company-okta"}, 400, "invalid_request_body"),
        ({"authorizer": "company-okta", "token": "x", "extra": 1}, 400, "invalid_request_body"),
        ({"authorizer": ["company-okta"], "token": "x"}, 400, "invalid_request_body"),
    ],
)
async def test_decision_request_errors(
    client: httpx.AsyncClient, setup: Any, body: Any, status: int, code: str
) -> None:
    """INB-DEC-002."""
    response = await client.post("/v1/decisions", json=body, headers=setup.auth)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


async def test_an_idp_that_never_answered_yields_unknown_key(
    tmp_path: Any, database_url: str, clock: Any, idp: Any, h: ModuleType, user_tokens: Any
) -> None:
    """INB-DISC-001, INB-JWKS-003: no keys ever obtained → deny unknown_key, never a 5xx."""
    settings = h.make_settings(tmp_path, database_url)
    with httpx.Client(transport=httpx.MockTransport(idp.handle)) as http:
        first = Service.create(settings, clock=clock, http_client=http, env={})
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=first.asgi_app()), base_url=h.SERVICE_ISSUER
        ) as c:
            workload = await h.Api(c).create_workload()
            await h.Api(c).create_authorizer()
        first.close()
    idp.down = True
    with httpx.Client(transport=httpx.MockTransport(idp.handle)) as http:
        second = Service.create(settings, clock=clock, http_client=http, env={})
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=second.asgi_app()), base_url=h.SERVICE_ISSUER
            ) as c:
                response = await c.post(
                    "/v1/decisions",
                    json={"authorizer": "company-okta", "token": user_tokens()},
                    headers=workload.auth,
                )
        finally:
            second.close()
    assert response.status_code == 200
    assert response.json() == {"decision": "deny", "reason": "unknown_key"}


async def test_a_replaced_authorizer_decides_with_the_new_rules(
    client: httpx.AsyncClient, setup: Any, user_tokens: Any, h: ModuleType
) -> None:
    """INB-CACHE-002: a token allowed before a replace that now fails is denied next."""
    token = user_tokens()
    ask = {"authorizer": "company-okta", "token": token}
    assert (await client.post("/v1/decisions", json=ask, headers=setup.auth)).json()[
        "decision"
    ] == "allow"
    replaced = await client.put(
        "/v1/authorizers/company-okta",
        json=h.authorizer_body(allowed_scopes=["finance.read"]),
        headers=h.ADMIN,
    )
    assert replaced.status_code == 200
    again = await client.post("/v1/decisions", json=ask, headers=setup.auth)
    assert again.json() == {"decision": "deny", "reason": "scope_not_allowed"}


# -- POST /v1/workload-access-tokens: WAT-* -------------------------------------------------


async def test_a_token_for_the_workload_alone(
    client: httpx.AsyncClient, setup: Any, service: Service
) -> None:
    """WAT-REQ-001, WAT-FMT-001, WAT-RESP-001, WAT-LIFE-001."""
    response = await client.post("/v1/workload-access-tokens", json={}, headers=setup.auth)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) <= {"workload_access_token", "token_type", "expires_in", "user"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["user"] is None
    token = body["workload_access_token"]
    assert token.startswith("wat_")
    assert len(base64.urlsafe_b64decode(token[4:] + "=" * (-len(token[4:]) % 4))) >= 32
    with service.database.transaction(readonly=True) as tx:
        rows = tx.fetchall("SELECT * FROM workload_access_tokens")
    assert len(rows) == 1
    assert token not in json.dumps(rows)
    binding = service.workload_tokens.validate(token, service.directory.get("orchestrator"))
    assert binding.user is None
    assert binding.client_id == setup.client_id


async def test_a_token_for_a_user_jwt(
    client: httpx.AsyncClient, setup: Any, user_tokens: Any, clock: Any, service: Service
) -> None:
    """WAT-JWT-001, WAT-BIND-001, WAT-LIFE-002: the user is the decision's identity; the
    token expires no later than the user token."""
    user_token = user_tokens(exp=int(clock.now()) + 300)
    response = await client.post(
        "/v1/workload-access-tokens", json={"user_token": user_token}, headers=setup.auth
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"] == {
        "issuer": user_tokens.idp.issuer,
        "subject": "sarah@company.example",
        "user_key": "sarah@company.example",
    }
    assert body["expires_in"] == 300
    assert user_token not in response.text
    binding = service.workload_tokens.validate(
        body["workload_access_token"], service.directory.get("orchestrator")
    )
    assert binding.user is not None
    assert binding.user.issuer == user_tokens.idp.issuer
    clock.advance(300)
    with pytest.raises(TokenInvalid):
        service.workload_tokens.validate(
            body["workload_access_token"], service.directory.get("orchestrator")
        )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"groups": ["marketing"]}, "claim_rule_failed:groups"),
        ({"aud": "api://other"}, "wrong_audience"),
        ({"exp": -10}, "expired"),  # relative: accepted only thanks to the 60 s leeway
    ],
)
async def test_a_rejected_user_token_is_401_with_the_reason(
    client: httpx.AsyncClient,
    api: Any,
    setup: Any,
    user_tokens: Any,
    clock: Any,
    changes: dict[str, Any],
    reason: str,
    service: Service,
) -> None:
    """WAT-JWT-001, WAT-LIFE-002: 401 user_token_rejected with the decision's reason; no
    token is stored."""
    if changes.get("exp") == -10:
        changes = {"exp": int(clock.now()) - 10}
    response = await client.post(
        "/v1/workload-access-tokens",
        json={"user_token": user_tokens(**changes)},
        headers=setup.auth,
    )
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["code"] == "user_token_rejected"
    assert body["reason"] == reason
    assert response.headers["WWW-Authenticate"] == (
        'Basic realm="proctor", Bearer realm="proctor", error="invalid_token"'
    )
    with service.database.transaction(readonly=True) as tx:
        assert tx.fetchall("SELECT * FROM workload_access_tokens") == []
    event = (await api.audit(operation="workload_access_token.issue"))[-1]
    assert (event["decision"], event["reason"]) == ("deny", "user_token_rejected")


async def test_an_oversized_user_token_is_malformed(client: httpx.AsyncClient, setup: Any) -> None:
    response = await client.post(
        "/v1/workload-access-tokens", json={"user_token": "e" * 70_000}, headers=setup.auth
    )
    assert response.status_code == 401
    assert response.json()["reason"] == "malformed"


async def test_a_workload_without_authorizer_cannot_bind_users_by_jwt(
    client: httpx.AsyncClient, api: Any, user_tokens: Any, idp: Any
) -> None:
    """WAT-JWT-001: 403 forbidden, and the token is not validated."""
    loner = await api.create_workload("loner")
    fetched = len(idp.requests)
    response = await client.post(
        "/v1/workload-access-tokens", json={"user_token": user_tokens()}, headers=loner.auth
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert len(idp.requests) == fetched


async def test_user_ids_are_opt_in_and_namespaced(
    client: httpx.AsyncClient, api: Any, setup: Any
) -> None:
    """WAT-UID-001."""
    refused = await client.post(
        "/v1/workload-access-tokens", json={"user_id": "sarah"}, headers=setup.auth
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    trusted = await api.create_workload("trusted-backend", allow_user_id_tokens=True)
    ok = await client.post(
        "/v1/workload-access-tokens", json={"user_id": "sarah"}, headers=trusted.auth
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["user"] == {
        "issuer": "urn:proctor:user-id",
        "subject": "sarah",
        "user_key": "sarah",
    }
    for bad in ["", "x" * 129, "sa\nrah", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"]:
        response = await client.post(
            "/v1/workload-access-tokens", json={"user_id": bad}, headers=trusted.auth
        )
        assert response.status_code == 400, bad
        assert response.json()["code"] == "validation_failed"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"user_token": "x", "user_id": "y"}, "validation_failed"),
        ({"user": "x"}, "invalid_request_body"),
        ({"user_token": None}, "invalid_request_body"),
        ({"user_id": 5}, "invalid_request_body"),
        ({"user_token": ["x"]}, "invalid_request_body"),
    ],
)
async def test_workload_access_token_request_errors(
    client: httpx.AsyncClient, setup: Any, body: Any, code: str
) -> None:
    """WAT-REQ-001."""
    response = await client.post("/v1/workload-access-tokens", json=body, headers=setup.auth)
    assert response.status_code == 400
    assert response.json()["code"] == code


# -- presenting and revoking: WAT-USE-*, WAT-REV-001, WID-STATE-* ---------------------------


async def test_a_token_presented_by_another_workload_is_token_invalid(
    client: httpx.AsyncClient, api: Any, setup: Any, service: Service
) -> None:
    """WAT-USE-001/002: the same answer as for a token that never existed."""
    other = await api.create_workload("other-agent")
    token = (await client.post("/v1/workload-access-tokens", json={}, headers=setup.auth)).json()[
        "workload_access_token"
    ]
    owner = service.directory.get("orchestrator")
    intruder = service.directory.get(other.name)
    assert service.workload_tokens.validate(token, owner).workload == "orchestrator"
    failures = []
    for candidate, presenter in [
        (token, intruder),
        ("wat_" + "A" * 43, owner),
        ("not-a-token", owner),
        ("wat_" + "A" * 600, owner),
    ]:
        with pytest.raises(TokenInvalid) as caught:
            service.workload_tokens.validate(candidate, presenter)
        failures.append(caught.value.problem(None))
    assert all(f == failures[0] for f in failures)
    assert failures[0]["code"] == "token_invalid"
    assert caught.value.headers()["WWW-Authenticate"].endswith('error="invalid_token"')
    assert failures[0]["status"] == 401


async def test_tokens_expire_without_leeway(
    client: httpx.AsyncClient, setup: Any, service: Service, clock: Any
) -> None:
    """WAT-USE-002: now ≥ expiry is invalid."""
    token = (await client.post("/v1/workload-access-tokens", json={}, headers=setup.auth)).json()[
        "workload_access_token"
    ]
    owner = service.directory.get("orchestrator")
    clock.advance(899)
    service.workload_tokens.validate(token, owner)
    clock.advance(1)
    with pytest.raises(TokenInvalid):
        service.workload_tokens.validate(token, owner)


async def test_disabling_revokes_tokens_for_good(
    client: httpx.AsyncClient, setup: Any, service: Service, h: ModuleType
) -> None:
    """WID-STATE-001, WAT-REV-001: disabled → credentials fail, tokens die, re-enabling
    revives neither the tokens."""
    token = (await client.post("/v1/workload-access-tokens", json={}, headers=setup.auth)).json()[
        "workload_access_token"
    ]
    disabled = await client.put(
        "/v1/workloads/orchestrator",
        json={"name": "orchestrator", "authorizer": "company-okta", "disabled": True},
        headers=h.ADMIN,
    )
    assert disabled.status_code == 200
    assert (
        await client.post("/v1/workload-access-tokens", json={}, headers=setup.auth)
    ).status_code == 401
    with pytest.raises(TokenInvalid):
        service.workload_tokens.validate(token, service.directory.get("orchestrator"))
    enabled = await client.put(
        "/v1/workloads/orchestrator",
        json={"name": "orchestrator", "authorizer": "company-okta"},
        headers=h.ADMIN,
    )
    assert enabled.status_code == 200
    assert (
        await client.post("/v1/workload-access-tokens", json={}, headers=setup.auth)
    ).status_code == 200
    with pytest.raises(TokenInvalid):
        service.workload_tokens.validate(token, service.directory.get("orchestrator"))


async def test_deleting_revokes_tokens_even_for_a_namesake(
    client: httpx.AsyncClient, api: Any, setup: Any, service: Service, h: ModuleType
) -> None:
    """WID-STATE-002, WAT-REV-001."""
    token = (await client.post("/v1/workload-access-tokens", json={}, headers=setup.auth)).json()[
        "workload_access_token"
    ]
    assert (await client.delete("/v1/workloads/orchestrator", headers=h.ADMIN)).status_code == 204
    await api.create_workload(authorizer="company-okta")
    with pytest.raises(TokenInvalid):
        service.workload_tokens.validate(token, service.directory.get("orchestrator"))


async def test_hooks_revoke_other_tokens_in_the_same_transaction(
    client: httpx.AsyncClient, setup: Any, service: Service, h: ModuleType
) -> None:
    """The seam for the token endpoint: disable and delete call the revocation hooks."""
    seen: list[str] = []
    service.directory.revocation_hooks.append(lambda record, tx: seen.append(record.name))
    await client.put(
        "/v1/workloads/orchestrator",
        json={"name": "orchestrator", "disabled": True},
        headers=h.ADMIN,
    )
    await client.delete("/v1/workloads/orchestrator", headers=h.ADMIN)
    assert seen == ["orchestrator", "orchestrator"]


async def test_the_bearer_seam_authenticates_through_the_verifier(
    client: httpx.AsyncClient, setup: Any, service: Service
) -> None:
    """WID-AUTH-001: a Bearer credential is accepted only through the token endpoint's
    verifier, and only for an existing, enabled workload."""
    service.workload_auth.bearer = lambda token: setup.client_id if token == "cc-token" else None
    ok = await client.post(
        "/v1/workload-access-tokens", json={}, headers={"Authorization": "Bearer cc-token"}
    )
    assert ok.status_code == 200
    refused = await client.post(
        "/v1/workload-access-tokens", json={}, headers={"Authorization": "Bearer other"}
    )
    assert refused.status_code == 401
