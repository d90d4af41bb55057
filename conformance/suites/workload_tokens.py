"""Workload access tokens (spec 04) and the workloads they are bound to (spec 03).

A WAT binds the authenticated workload to at most one user. The checks obtain WATs for
the workload alone, for a user's IdP token (minted by the kit's mock IdP) and for a
caller-asserted user id, and check the response shape, the binding and the lifetime.

Presenting a WAT needs an operation that takes one: the vault's
``POST /v1/resource-tokens/api-key`` (capability ``vault``). The kit names a provider that
does not exist, so no credential is ever touched: the workload the WAT was issued to gets
``404 provider_not_found`` (the WAT passed, VLT-REQ-001 step 3), any other workload
``401 token_invalid`` (step 2).
"""

from __future__ import annotations

import re
import time
from typing import Any, Final

import httpx

from proctor.conformance.checks import check
from proctor.conformance.config import Profile
from proctor.conformance.controls import ControlFactory, PositiveControl
from proctor.conformance.error_shape import error_shape
from proctor.conformance.errors import ConformanceFailure
from proctor.conformance.identity import expected_identity
from proctor.conformance.native import challenges, expect_problem, issue_wat, json_object
from proctor.conformance.provisioning import Provisioning, Workload
from proctor.conformance.target import Target

NEEDS: Final = ["control_plane", "workload_identity", "workload_tokens"]
PRESENTING: Final = [*NEEDS, "vault"]
PROFILES: Final[list[Profile]] = ["proctor"]
#: WAT-FMT-001: ``wat_`` and at least 256 bits base64url (43 characters), 512 at most.
WAT_FORMAT: Final = re.compile(r"wat_[A-Za-z0-9_-]{43,508}")
USER_ID_ISSUER: Final = "urn:proctor:user-id"


def _wat(target: Target, workload: Workload, body: dict[str, Any] | None = None) -> str:
    response = issue_wat(target, workload, body)
    if response.status_code != 200:
        raise ConformanceFailure(
            "a workload access token must be issued",
            observed=f"HTTP {response.status_code}: {response.text[:200]}",
        )
    token = json_object(response, "the WAT response").get("workload_access_token")
    if not isinstance(token, str):
        raise ConformanceFailure("the response has no workload_access_token string")
    target.add_secret(token)
    return token


def _present(target: Target, workload: Workload, wat: str, provider: str) -> httpx.Response:
    """Present ``wat`` as ``workload`` to an operation that takes one (VLT-APIK-001)."""
    return target.client.post(
        target.url("/v1/resource-tokens/api-key"),
        json={"workload_access_token": wat, "provider": provider},
        headers=workload.auth(),
    )


def _owner_control(
    positive_control: ControlFactory,
    target: Target,
    provisioning: Provisioning,
    workload: Workload,
    wat: str,
) -> PositiveControl:
    provider = provisioning.name("no-such-provider")
    return positive_control(
        "the WAT passes for the workload it was issued to (404 provider_not_found)",
        lambda: _present(target, workload, wat, provider),
        expect=404,
    )


def _without_request_id(response: httpx.Response) -> dict[str, Any]:
    body = json_object(response, "the problem")
    body.pop("request_id", None)
    return body


def _invalid_token_challenge(response: httpx.Response, what: str) -> None:
    """ERR-BEARER-002: a 401 about a token in the body carries ``Bearer error="invalid_token"``."""
    bearer = [params for scheme, params in challenges(response) if scheme == "bearer"]
    if not any(params.get("error") == "invalid_token" for params in bearer):
        raise ConformanceFailure(
            f'{what}: the 401 carries Bearer error="invalid_token" (ERR-BEARER-002)',
            observed=repr(response.headers.get_list("www-authenticate")),
        )


def _check_response(response: httpx.Response) -> dict[str, Any]:
    """WAT-RESP-001, WAT-FMT-001, WAT-LIFE-001 on a successful issuance."""
    if response.status_code != 200:
        raise ConformanceFailure(
            "the WAT request must succeed", observed=f"HTTP {response.status_code}"
        )
    body = json_object(response, "the WAT response")
    extra = set(body) - {"workload_access_token", "expires_in", "user", "token_type"}
    missing = {"workload_access_token", "expires_in", "user"} - set(body)
    if extra or missing:
        raise ConformanceFailure(
            "the response has exactly workload_access_token, expires_in, user (WAT-RESP-001)",
            observed=f"extra {sorted(extra)}, missing {sorted(missing)}",
        )
    if body.get("token_type", "Bearer") != "Bearer":
        raise ConformanceFailure("token_type, when present, is Bearer (WAT-RESP-001)")
    token = body["workload_access_token"]
    if not isinstance(token, str) or not WAT_FORMAT.fullmatch(token):
        raise ConformanceFailure(
            "a WAT is wat_ and at least 256 bits base64url, 512 characters at most (WAT-FMT-001)",
            observed=f"{len(token) if isinstance(token, str) else type(token).__name__} chars",
        )
    expires_in = body["expires_in"]
    if not isinstance(expires_in, int) or isinstance(expires_in, bool):
        raise ConformanceFailure("expires_in is whole seconds", observed=repr(expires_in))
    if "no-store" not in response.headers.get("cache-control", "").lower():
        raise ConformanceFailure("a WAT response carries Cache-Control: no-store (WAT-RESP-001)")
    return body


@check(
    "WAT-RESP-001", "WAT-FMT-001", "WAT-LIFE-001", "WAT-BIND-001", needs=NEEDS, profiles=PROFILES
)
def test_a_wat_for_the_workload_alone(proctor_target: Target, provisioning: Provisioning) -> None:
    """``{}`` issues a WAT bound to no user: ``user`` is ``null``, the token is opaque and
    well-formed, ``expires_in`` within 60-3600 s, ``Cache-Control: no-store``."""
    response = issue_wat(proctor_target, provisioning.workloads["main"], {})
    body = _check_response(response)
    proctor_target.add_secret(body["workload_access_token"])
    assert body["user"] is None, f"user {body['user']!r} for a WAT without a user"
    assert 60 <= body["expires_in"] <= 3600, f"expires_in {body['expires_in']} (WAT-LIFE-001)"


@check(
    "WAT-JWT-001",
    "WAT-BIND-001",
    "WAT-RESP-001",
    "WAT-PASS-001",
    "SEC-PASS-001",
    needs=NEEDS,
    profiles=PROFILES,
)
def test_a_wat_for_a_user_token_binds_that_user(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """A user token the workload's authorizer allows yields a WAT whose ``user`` is exactly
    the decision's issuer, subject and user key; the response never echoes the token."""
    case = provisioning.primary
    minted = case.mint()
    response = issue_wat(
        proctor_target, provisioning.workloads["main"], {"user_token": minted.token}
    )
    body = _check_response(response)
    proctor_target.add_secret(body["workload_access_token"])
    identity = expected_identity(minted.claims, case.profile)
    expected = {k: identity[k] for k in ("issuer", "subject", "user_key")}
    if body["user"] != expected:
        raise ConformanceFailure(
            "the WAT's user is the authorizer's identity (WAT-BIND-001)",
            expected=repr(expected),
            observed=repr(body["user"]),
        )
    if minted.token in response.text:
        raise ConformanceFailure("the response returns the user's token (WAT-PASS-001)")


@check(
    "WAT-JWT-001",
    shape=("WAT-JWT-001", "ERR-BEARER-002", "ERR-SHAPE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_a_user_token_the_authorizer_denies_gets_no_wat(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """A denied user token gets no WAT: it is refused (the check), as ``401
    user_token_rejected`` with the decision's ``reason`` and a ``Bearer
    error="invalid_token"`` challenge (the error shape)."""
    case = provisioning.primary
    workload = provisioning.workloads["main"]
    good = case.mint().token
    control = positive_control(
        "an allowed user token gets a WAT",
        lambda: issue_wat(proctor_target, workload, {"user_token": good}),
        expect=200,
    )
    denied: list[tuple[str, str]] = [(case.mint(presets=["expired"]).token, "expired")]
    if case.outsider is not None and case.rule_claim is not None:
        denied.append((case.mint(case.outsider).token, f"claim_rule_failed:{case.rule_claim}"))
    denied.append(("not-a-jwt", "malformed"))
    with control.bracket():
        for token, reason in denied:
            response = issue_wat(proctor_target, workload, {"user_token": token})
            problem = expect_problem(response, 401, "user_token_rejected", f"a {reason} token")
            with error_shape():
                if problem.get("reason") != reason:
                    raise ConformanceFailure(
                        "user_token_rejected carries the decision's reason (WAT-JWT-001)",
                        expected=reason,
                        observed=repr(problem.get("reason")),
                    )
                _invalid_token_challenge(response, f"a {reason} token")


@check("WAT-JWT-001", shape=("WAT-JWT-001", "ERR-SHAPE-001"), needs=NEEDS, profiles=PROFILES)
def test_a_workload_without_an_authorizer_cannot_bind_users_by_jwt(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """A workload whose ``authorizer`` is ``null`` asking for a user token's WAT is
    ``403 forbidden``."""
    noauth = provisioning.workloads["noauth"]
    control = positive_control(
        "the same workload gets a WAT without a user",
        lambda: issue_wat(proctor_target, noauth, {}),
        expect=200,
    )
    with control.bracket():
        token = provisioning.primary.mint().token
        expect_problem(
            issue_wat(proctor_target, noauth, {"user_token": token}),
            403,
            "forbidden",
            "a user token from a workload without an authorizer",
        )


@check(
    "WAT-UID-001",
    "WAT-BIND-001",
    "TERM-USER-001",
    shape=("WAT-UID-001", "ERR-SHAPE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_caller_asserted_user_ids_are_opt_in_and_namespaced(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """``user_id`` needs ``allow_user_id_tokens`` (else 403), 1-128 characters without
    control characters (else 400), and binds ``urn:proctor:user-id`` users only."""
    uid, main = provisioning.workloads["uid"], provisioning.workloads["main"]
    control = positive_control(
        "an opted-in workload gets a WAT for a user id",
        lambda: issue_wat(proctor_target, uid, {"user_id": "sarah"}),
        expect=200,
    )
    with control.bracket() as first:
        body = _check_response(first)
        proctor_target.add_secret(body["workload_access_token"])
        expected = {"issuer": USER_ID_ISSUER, "subject": "sarah", "user_key": "sarah"}
        if body["user"] != expected:
            raise ConformanceFailure(
                "a caller-asserted user id lives in urn:proctor:user-id (WAT-UID-001)",
                expected=repr(expected),
                observed=repr(body["user"]),
            )
        expect_problem(
            issue_wat(proctor_target, main, {"user_id": "sarah"}),
            403,
            "forbidden",
            "a user id from a workload that did not opt in",
        )
        for bad in ("", "x" * 129, "sarah\nadmin", "tab\there"):
            expect_problem(
                issue_wat(proctor_target, uid, {"user_id": bad}),
                400,
                "validation_failed",
                f"user_id of {len(bad)} characters",
            )


@check(
    "WAT-REQ-001",
    "ERR-RULE-004",
    shape=("WAT-REQ-001", "ERR-RULE-004", "ERR-SHAPE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_wat_requests_are_validated(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """Both ``user_token`` and ``user_id``: 400 ``validation_failed``; unknown or mistyped
    members: 400 ``invalid_request_body``; no credentials: 401 ``unauthenticated``."""
    uid = provisioning.workloads["uid"]
    token = provisioning.primary.mint().token
    control = positive_control(
        "a well-formed request succeeds", lambda: issue_wat(proctor_target, uid, {}), expect=200
    )
    with control.bracket():
        expect_problem(
            issue_wat(proctor_target, uid, {"user_token": token, "user_id": "sarah"}),
            400,
            "validation_failed",
            "both user_token and user_id",
        )
        for body in ({"user": "sarah"}, {"user_token": 7}, {"user_id": ["sarah"]}):
            expect_problem(
                issue_wat(proctor_target, uid, body), 400, "invalid_request_body", repr(body)
            )
        expect_problem(
            issue_wat(proctor_target, None, {"user_token": token}),
            401,
            "unauthenticated",
            "a request without credentials",
        )


@check(
    "WAT-LIFE-002",
    "WAT-LIFE-001",
    shape=("WAT-LIFE-002", "ERR-SHAPE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_a_wat_never_outlives_the_user_token(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """A user token expiring in two minutes yields a WAT expiring no later; one accepted
    only thanks to the leeway (``exp`` passed) is ``401 user_token_rejected``, ``expired``."""
    case = provisioning.primary
    workload = provisioning.workloads["main"]
    now = int(case.idp.now())
    short = case.mint(claims={"exp": now + 120}).token
    control = positive_control(
        "a user token expiring in two minutes gets a WAT",
        lambda: issue_wat(proctor_target, workload, {"user_token": short}),
        expect=200,
    )
    with control.bracket() as first:
        body = _check_response(first)
        proctor_target.add_secret(body["workload_access_token"])
        if body["expires_in"] > 121:
            raise ConformanceFailure(
                "a WAT expires no later than the user token (WAT-LIFE-002)",
                expected="expires_in ≤ 120",
                observed=f"expires_in {body['expires_in']}",
            )
        in_leeway = case.mint(claims={"exp": now - 20}).token
        problem = expect_problem(
            issue_wat(proctor_target, workload, {"user_token": in_leeway}),
            401,
            "user_token_rejected",
            "a user token past its exp (inside the leeway)",
        )
        with error_shape():
            assert problem.get("reason") == "expired", f"reason {problem.get('reason')!r}"


# -- presenting WATs (needs an operation that takes one) ---------------------------------


@check(
    "WAT-USE-001",
    "WAT-BIND-001",
    "SEC-DEPUTY-001",
    shape=("WAT-USE-001", "ERR-SHAPE-001"),
    needs=PRESENTING,
    profiles=PROFILES,
)
def test_a_wat_works_only_for_the_workload_it_was_issued_to(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """Another workload presenting a WAT is refused, with ``401 token_invalid`` and the
    very body (``request_id`` aside) a WAT that never existed gets."""
    main, peer = provisioning.workloads["main"], provisioning.workloads["peer"]
    wat = _wat(proctor_target, main, {"user_token": provisioning.primary.mint().token})
    provider = provisioning.name("no-such-provider")
    with _owner_control(positive_control, proctor_target, provisioning, main, wat).bracket():
        stolen = _present(proctor_target, peer, wat, provider)
        expect_problem(stolen, 401, "token_invalid", "a WAT presented by another workload")
        unknown = _present(proctor_target, peer, "wat_" + "A" * 43, provider)
        expect_problem(unknown, 401, "token_invalid", "a WAT that never existed")
        with error_shape():
            if _without_request_id(stolen) != _without_request_id(unknown):
                raise ConformanceFailure(
                    "a stolen WAT must be answered exactly like an unknown one (WAT-USE-001)"
                )


@check(
    "WAT-USE-002",
    "SEC-TIME-001",
    shape=("WAT-USE-002", "ERR-BEARER-002", "ERR-SHAPE-001"),
    needs=PRESENTING,
    profiles=PROFILES,
)
def test_invalid_wats_are_refused_uniformly(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """Unknown, malformed, empty and expired WATs are all refused, as ``401 token_invalid``
    with the same body and a ``Bearer error="invalid_token"`` challenge. (The expired one
    comes from a user token that expires in two seconds; the check waits for it.)"""
    case = provisioning.primary
    main = provisioning.workloads["main"]
    wat = _wat(proctor_target, main, {"user_token": case.mint().token})
    exp = int(case.idp.now()) + 2
    dying = _wat(proctor_target, main, {"user_token": case.mint(claims={"exp": exp}).token})
    provider = provisioning.name("no-such-provider")
    with _owner_control(positive_control, proctor_target, provisioning, main, wat).bracket():
        wait = exp + 0.3 - case.idp.now()
        if wait > 0:
            time.sleep(min(wait, 3.0))  # a live target's clock: the shortest honest wait
        bodies = []
        for what, candidate in (
            ("unknown", "wat_" + "B" * 43),
            ("malformed", "not a WAT at all"),
            ("empty", ""),
            ("expired", dying),
        ):
            response = _present(proctor_target, main, candidate, provider)
            expect_problem(response, 401, "token_invalid", f"an {what} WAT")
            with error_shape():
                bodies.append(_without_request_id(response))
            with error_shape():
                _invalid_token_challenge(response, f"an {what} WAT")
        with error_shape():
            if any(body != bodies[0] for body in bodies):
                raise ConformanceFailure("invalid WATs must all get the same body (WAT-USE-002)")


@check(
    "WAT-REV-001",
    "WID-STATE-002",
    "WID-DIR-002",
    shape=("WAT-REV-001", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=PRESENTING,
    profiles=PROFILES,
)
def test_deleting_a_workload_revokes_its_wats_for_good(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """After a workload is deleted its WATs are ``token_invalid``, also when a workload of
    the same name is created again, which gets a new ``client_id``."""
    name_suffix = "reborn"
    first = provisioning.create_workload(name_suffix, authorizer=provisioning.primary.name)
    wat = _wat(proctor_target, first, {})
    provider = provisioning.name("no-such-provider")
    before = _present(proctor_target, first, wat, provider)
    assert before.status_code == 404, f"the fresh WAT did not pass (HTTP {before.status_code})"
    provisioning.delete_workload(first.name)
    second = provisioning.create_workload(name_suffix, authorizer=provisioning.primary.name)
    if second.client_id == first.client_id:
        raise ConformanceFailure("a re-created workload reuses a client_id (WID-DIR-002)")
    expect_problem(
        _present(proctor_target, second, wat, provider),
        401,
        "token_invalid",
        "a deleted workload's WAT presented by its namesake",
    )
    expect_problem(
        proctor_target.client.post(
            proctor_target.url("/v1/workload-access-tokens"), json={}, headers=first.auth()
        ),
        401,
        "unauthenticated",
        "the deleted workload's credentials",
    )
    provisioning.delete_workload(second.name)


# -- the workloads themselves (spec 03) --------------------------------------------------


@check(
    "WID-STATE-001",
    "WAT-REV-001",
    shape=("WAT-REV-001", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_disabling_a_workload_stops_it_and_reenabling_revives_no_token(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """A disabled workload cannot authenticate; re-enabled it can, and (with an operation
    that takes WATs) its earlier WATs stay revoked."""
    workload = provisioning.create_workload("disabled", authorizer=provisioning.primary.name)
    wat = _wat(proctor_target, workload, {})
    url = proctor_target.url(f"/v1/workloads/{workload.name}")
    admin = proctor_target.admin_headers()
    spec = {"name": workload.name, "authorizer": workload.authorizer}
    off = proctor_target.client.put(url, json={**spec, "disabled": True}, headers=admin)
    assert off.status_code == 200, f"disable: HTTP {off.status_code} {off.text[:200]}"
    expect_problem(
        issue_wat(proctor_target, workload, {}), 401, "unauthenticated", "a disabled workload"
    )
    on = proctor_target.client.put(url, json={**spec, "disabled": False}, headers=admin)
    assert on.status_code == 200, f"enable: HTTP {on.status_code}"
    assert issue_wat(proctor_target, workload, {}).status_code == 200, "re-enabled, it fails"
    if proctor_target.has("vault"):
        expect_problem(
            _present(proctor_target, workload, wat, provisioning.name("no-such-provider")),
            401,
            "token_invalid",
            "a WAT issued before the workload was disabled",
        )
    provisioning.delete_workload(workload.name)


@check(
    "WID-DIR-001",
    "WID-SEC-001",
    "WID-SEC-003",
    shape=("ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_workload_secrets_are_shown_once_and_rotate_at_once(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """The secret appears in the create and rotation responses only (not in GET or the
    list); after a rotation the old secret fails and the new one works."""
    workload = provisioning.create_workload("rotating", authorizer=None)
    client, admin = proctor_target.client, proctor_target.admin_headers()
    got = client.get(proctor_target.url(f"/v1/workloads/{workload.name}"), headers=admin)
    assert got.status_code == 200, f"GET: HTTP {got.status_code}"
    listed = client.get(proctor_target.url("/v1/workloads"), headers=admin)
    for response in (got, listed):
        if workload.client_secret in response.text or "client_secret" in response.json():
            raise ConformanceFailure("a client secret is returned after creation (WID-SEC-001)")
    rotated = client.post(
        proctor_target.url(f"/v1/workloads/{workload.name}/secret"), headers=admin
    )
    assert rotated.status_code == 200, f"rotate: HTTP {rotated.status_code}"
    secret = json_object(rotated, "the rotation").get("client_secret")
    assert isinstance(secret, str), "the rotation returns no client_secret"
    proctor_target.add_secret(secret)
    assert len(secret) >= 43, "a secret of at least 256 bits is expected (WID-SEC-001)"
    expect_problem(
        issue_wat(proctor_target, workload, {}), 401, "unauthenticated", "the rotated-out secret"
    )
    fresh = Workload(workload.name, workload.client_id, secret, None)
    assert issue_wat(proctor_target, fresh, {}).status_code == 200, "the new secret fails"
    provisioning.delete_workload(workload.name)


@check(
    "WID-DIR-003",
    "WID-DIR-002",
    "TERM-NAME-001",
    shape=("WID-DIR-003", "TERM-NAME-001", "ERR-SHAPE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_invalid_workload_configurations_are_refused(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """An unknown authorizer, private key material in ``jwks``, ``private_key_jwt``
    without ``jwks``, a bad name or a ``PUT`` renaming the workload: 400
    ``validation_failed``, nothing stored; a created workload gets a ``wl_`` client id."""
    client, admin = proctor_target.client, proctor_target.admin_headers()
    name = provisioning.name("invalid")
    private = {
        "kty": "EC",
        "crv": "P-256",
        "kid": "k1",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI",
    }
    broken: list[dict[str, Any]] = [
        {"name": name, "authorizer": provisioning.name("no-such-authorizer")},
        {
            "name": name,
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [private]},
        },
        {"name": name, "token_endpoint_auth_method": "private_key_jwt"},
        {"name": name, "token_endpoint_auth_method": "client_secret_jwt"},
        {"name": name, "allowed_return_urls": ["http://app.example.com/return"]},
        {"name": "a b"},
    ]
    for body in broken:
        response = client.post(proctor_target.url("/v1/workloads"), json=body, headers=admin)
        if response.status_code == 201:
            provisioning.delete_workload(str(body["name"]))
        expect_problem(response, 400, "validation_failed", f"a workload with {body}")
        found = client.get(proctor_target.url(f"/v1/workloads/{name}"), headers=admin)
        assert found.status_code == 404, "a refused workload must not be stored"
    main = provisioning.workloads["main"]
    renamed = client.put(
        proctor_target.url(f"/v1/workloads/{main.name}"),
        json={"name": provisioning.name("renamed"), "authorizer": main.authorizer},
        headers=admin,
    )
    expect_problem(renamed, 400, "validation_failed", "a PUT renaming the workload")
    chosen = provisioning.create_workload("chosen-id", authorizer=None)
    assert chosen.client_id.startswith("wl_"), f"client_id {chosen.client_id!r} (WID-DIR-002)"
    provisioning.delete_workload(chosen.name)
