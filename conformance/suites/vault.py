"""Credential providers and the token vault (spec 05), as a black box.

The kit configures credential providers on the target that point at its own mock OAuth
2.0 providers (``crm``, ``finance``: capability ``mock_providers``), obtains workload
access tokens for two users of its mock IdP and two workloads
(:mod:`~proctor.conformance.vault_provisioning`), and drives every flow over HTTP
(:mod:`~proctor.conformance.vault_flows`): the 3-legged flow through the provider's
headless approval, the service's callback and a return URL the kit serves itself; the
``m2m`` flow; API keys. What the target sent to a provider is read from the mock's request
log, so "no upstream call", "one refresh" and "revoked upstream" are observed, not assumed.

- provider configuration: one authorization-server source, write-only secrets, presets,
  client authentication, deletion (PRV-*);
- the catalog's VLT-01 … VLT-04 (isolation, scopes, revoked consent, no token material in
  errors) and the client side of OA-01/OA-02 (a code redeemed once, exact redirect);
- the 3-legged flow: PKCE S256, an unguessable single-use state, the callback's refusals,
  exact return URL, completion bound to the user, polling, reuse, forced authentication;
  with a test clock (capability ``test_clock``) also session expiry, the expiry margin,
  refresh (one at a time) and a rejected refresh;
- ``m2m`` (client credentials, cached) and API keys;
- a hypothesis state machine over users, workloads, providers, consents, refreshes and
  revocations: A never gets B's token, X never Y's, scopes never exceed the grant.

The server-side OAuth checks OA-01/OA-03/OA-04/OA-05 apply to an authorization server;
proctor's vault is an OAuth *client* (capability ``authorization_endpoint`` is never
declared by a ``proctor`` target), so they are SKIPPED with that reason, and the client
side of each is checked instead.
"""

from __future__ import annotations

import base64
import functools
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final, cast
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from proctor.conformance.checks import check
from proctor.conformance.config import Profile
from proctor.conformance.controls import ControlFactory, PositiveControl
from proctor.conformance.error_shape import error_shape
from proctor.conformance.errors import ConformanceFailure, InfrastructureError
from proctor.conformance.hypothesis_profiles import CI_MAX_EXAMPLES
from proctor.conformance.native import audit_events, expect_problem, json_object, refused
from proctor.conformance.provisioning import Provisioning, Workload
from proctor.conformance.target import Target
from proctor.conformance.vault_flows import (
    SESSION_URI_PREFIX,
    MockProvider,
    Session,
    StubAnswer,
    StubRequest,
    VaultUser,
    is_base64url,
    iter_strings,
    query_of,
    s256,
    secrets_in,
    stub_provider,
    verifier_candidates,
)
from proctor.conformance.vault_provisioning import ProviderRef, VaultWorld, vault_world

NEEDS: Final = ["control_plane", "workload_identity", "workload_tokens", "vault"]
FLOWS: Final = [*NEEDS, "mock_providers"]
TIMED: Final = [*FLOWS, "test_clock"]
PROFILES: Final[list[Profile]] = ["proctor"]
#: RFC 6749 Appendix A.5 / §10.10: a state the kit accepts as unguessable (256 bits).
STATE_CHARS: Final = re.compile(r"[A-Za-z0-9._~-]{43,}")
TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a URN
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105


@pytest.fixture(scope="session")
def world(proctor_target: Target, provisioning: Provisioning) -> Iterator[VaultWorld]:
    """The vault suite's users, workloads and providers (deleted when the run ends)."""
    with vault_world(proctor_target, provisioning, "vault") as made:
        yield made


# -- helpers ------------------------------------------------------------------------------------


def _users(world: VaultWorld) -> tuple[VaultUser, VaultUser]:
    return world.users[0], world.users[1]


def _workloads(world: VaultWorld) -> tuple[Workload, Workload]:
    return world.workloads["x"], world.workloads["y"]


def _first_scope(ref: ProviderRef) -> list[str]:
    return ref.scopes[:1]


def _start(
    world: VaultWorld,
    workload: Workload,
    user: VaultUser,
    ref: ProviderRef,
    scopes: list[str] | None = None,
    **body: Any,
) -> tuple[Session, str]:
    """A new session for (workload, user, provider): the session and the WAT used."""
    wat = world.flows.wat(workload, user=user)
    response = world.flows.resource_token(
        workload,
        wat,
        provider=ref.name,
        scopes=_first_scope(ref) if scopes is None else scopes,
        **body,
    )
    return world.flows.expect_session(response, "a first request for a user's token"), wat


def _obtain(
    world: VaultWorld,
    workload: Workload,
    user: VaultUser,
    ref: ProviderRef,
    scopes: list[str] | None = None,
    **body: Any,
) -> dict[str, Any]:
    return world.flows.obtain(
        workload, user, ref.mock, ref.name, _first_scope(ref) if scopes is None else scopes, **body
    )


def _request(
    world: VaultWorld,
    workload: Workload,
    user: VaultUser | None,
    ref: ProviderRef | str,
    scopes: list[str] | None = None,
    **body: Any,
) -> httpx.Response:
    """One resource-token request with a fresh WAT."""
    wat = world.flows.wat(workload, user=user)
    name = ref if isinstance(ref, str) else ref.name
    chosen = scopes if scopes is not None else ([] if isinstance(ref, str) else _first_scope(ref))
    return world.flows.resource_token(workload, wat, provider=name, scopes=chosen, **body)


def _token_of(response: httpx.Response) -> str | None:
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    token = body.get("access_token") if isinstance(body, dict) else None
    return token if isinstance(token, str) else None


def _returns_token(response: httpx.Response) -> bool:
    return _token_of(response) is not None


def _starts_session(response: httpx.Response) -> bool:
    if response.status_code != 200:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("session_status") == "in_progress"


def _reuse_control(
    positive_control: ControlFactory,
    world: VaultWorld,
    workload: Workload,
    user: VaultUser,
    ref: ProviderRef,
    token: str,
) -> PositiveControl:
    """The owner of a stored token still gets exactly that token."""
    return positive_control(
        f"{user.name} still gets their own stored {ref.name} token",
        lambda: _request(world, workload, user, ref),
        expect=lambda r: _token_of(r) == token,
    )


def _session_control(
    positive_control: ControlFactory,
    world: VaultWorld,
    workload: Workload,
    user: VaultUser,
    ref: ProviderRef,
) -> PositiveControl:
    """A valid request for a provider's scope starts a session (or returns a token)."""
    return positive_control(
        f"a valid request for {ref.name} is served",
        lambda: _request(world, workload, user, ref),
        expect=lambda r: _starts_session(r) or _returns_token(r),
    )


def _problem_body(response: httpx.Response) -> dict[str, Any]:
    body = json_object(response, "the problem")
    return {key: value for key, value in body.items() if key != "request_id"}


def _error_page(response: httpx.Response, cause: str | None, what: str) -> None:
    """The callback's refusal (VLT-CB-001: a 4xx, never a redirect), then its shape
    (VLT-CB-001, VLT-CB-006, ERR-CB-001: 400 and a plain HTML page naming the cause),
    judged in :func:`~proctor.conformance.error_shape.error_shape` (CONF-CTRL-002)."""
    refused(response, what, expected="HTTP 400 and an HTML error page, no redirect (VLT-CB-001)")
    with error_shape():
        _error_page_shape(response, cause, what)


def _error_page_shape(response: httpx.Response, cause: str | None, what: str) -> None:
    problems = []
    if response.status_code != 400:
        problems.append(f"HTTP {response.status_code} (expected 400)")
    if "location" in response.headers:
        problems.append("it carries a Location")
    media = response.headers.get("content-type", "").lower().replace(" ", "")
    if not media.startswith("text/html"):
        problems.append(f"content type {media!r} (expected text/html)")
    if response.headers.get("cache-control", "").lower() != "no-store":
        problems.append("no Cache-Control: no-store")
    if response.headers.get("referrer-policy", "").lower() != "no-referrer":
        problems.append("no Referrer-Policy: no-referrer")
    text = response.text.lower()
    for tag in ("<script", "<form", "<iframe", "http-equiv"):
        if tag in text:
            problems.append(f"the page contains {tag}")
    if cause is not None and cause not in response.text:
        problems.append(f"the page does not name the cause {cause}")
    if problems:
        raise ConformanceFailure(
            f"{what}: the callback error page is wrong", observed="; ".join(problems)
        )


def _no_redemption(mock: MockProvider, after: int, what: str) -> None:
    redeemed = mock.token_requests("authorization_code", after=after)
    if redeemed:
        raise ConformanceFailure(
            f"{what}: the service redeemed a code at the provider (VLT-CB-001)",
            observed=f"{len(redeemed)} authorization_code request(s)",
        )


def _consents(world: VaultWorld, **filters: str) -> list[dict[str, Any]]:
    response = world.admin(
        "GET", "/v1/consents?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in filters.items())
    )
    if response.status_code != 200:
        raise ConformanceFailure(
            "GET /v1/consents must answer 200 (CNS-LIST-002)",
            observed=f"HTTP {response.status_code}: {response.text[:200]}",
        )
    items = json_object(response, "the consent list").get("items")
    if not isinstance(items, list):
        raise ConformanceFailure("the consent list has no items array")
    return [item for item in items if isinstance(item, dict)]


def _revokes(mock: MockProvider, after: int) -> list[str | None]:
    """The ``token_type_hint`` of every revocation request since ``after``."""
    return [
        (e.get("form") or {}).get("token_type_hint") for e in mock.requests("revoke", after=after)
    ]


# -- provider configuration (PRV-CFG-*, PRV-KEY-001, PRV-VEND-*, PRV-AUTH-001) ---------------------


_METADATA: Final = {
    "issuer": "https://as.conformance.example",
    "authorization_endpoint": "https://as.conformance.example/authorize",
    "token_endpoint": "https://as.conformance.example/token",
}


@check(
    "PRV-CFG-001",
    shape=("PRV-CFG-001", "ERR-SHAPE-002", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_a_provider_names_exactly_one_authorization_server(
    proctor_target: Target, world: VaultWorld, positive_control: ControlFactory
) -> None:
    """A provider has exactly one of discovery_url and authorization_server_metadata, each
    well-formed; otherwise 400 validation_failed naming the field (PRV-CFG-001)."""
    secret = "conformance-secret-" + secrets.token_hex(8)
    proctor_target.add_secret(secret)
    base: dict[str, Any] = {
        "vendor": "custom",
        "client_id": "conformance-client",
        "client_secret": secret,
        "scopes": ["notes.read"],
    }
    good = {**base, "authorization_server_metadata": dict(_METADATA)}

    def create_valid() -> httpx.Response:
        name = world.fresh("cfg")
        response = world.admin("POST", "/v1/providers/oauth2", {**good, "name": name})
        if response.status_code == 201:
            world.adopt_provider(name)
        return response

    bad: dict[str, tuple[dict[str, Any], str]] = {
        "neither source": ({**base}, "discovery_url"),
        "both sources": (
            {
                **good,
                "discovery_url": "https://as.conformance.example/.well-known/"
                "oauth-authorization-server",
            },
            "discovery_url",
        ),
        "metadata without token_endpoint": (
            {
                **base,
                "authorization_server_metadata": {
                    k: v for k, v in _METADATA.items() if k != "token_endpoint"
                },
            },
            "authorization_server_metadata",
        ),
        "an issuer with a query": (
            {
                **base,
                "authorization_server_metadata": {
                    **_METADATA,
                    "issuer": _METADATA["issuer"] + "?tenant=1",
                },
            },
            "authorization_server_metadata",
        ),
        "an endpoint with a fragment": (
            {
                **base,
                "authorization_server_metadata": {
                    **_METADATA,
                    "token_endpoint": _METADATA["token_endpoint"] + "#x",
                },
            },
            "authorization_server_metadata",
        ),
        "plain http on a public host": (
            {
                **base,
                "authorization_server_metadata": {
                    **_METADATA,
                    "authorization_endpoint": "http://as.conformance.example/a",
                },
            },
            "authorization_server_metadata",
        ),
        "a discovery URL without a well-known path": (
            {**base, "discovery_url": "https://as.conformance.example/metadata"},
            "discovery_url",
        ),
        "no client_id": (
            {k: v for k, v in good.items() if k != "client_id"},
            "client_id",
        ),
        "no client_secret for client_secret_basic": (
            {k: v for k, v in good.items() if k != "client_secret"},
            "client_secret",
        ),
    }
    control = positive_control("a well-formed provider is created", create_valid, expect=201)
    failures = []
    with control.bracket():
        for label, (body, field_name) in bad.items():
            name = world.fresh("cfg")
            response = world.admin("POST", "/v1/providers/oauth2", {**body, "name": name})
            if response.status_code == 201:
                world.adopt_provider(name)
            try:
                refused(response, label, expected=f"HTTP 400 validation_failed naming {field_name}")
            except ConformanceFailure as error:
                failures.append(f"{label}: {str(error).splitlines()[-1]}")
                continue
            with error_shape():
                _names_the_field(response, label, field_name)
    assert not failures, "; ".join(failures)


def _names_the_field(response: httpx.Response, what: str, field_name: str) -> None:
    """A 400 validation_failed (or invalid_request_body) naming ``field_name`` in
    ``errors[]`` or its ``detail`` (PRV-CFG-001, ERR-SHAPE-002)."""
    if response.status_code != 400:
        raise ConformanceFailure(f"{what}: HTTP {response.status_code} (expected 400)")
    problem = json_object(response, "the problem")
    errors = problem.get("errors") or []
    fields = " ".join(str(e.get("field", "")) for e in errors if isinstance(e, dict))
    if problem.get("code") not in ("validation_failed", "invalid_request_body"):
        raise ConformanceFailure(f"{what}: code {problem.get('code')!r}")
    if field_name not in fields and field_name not in str(problem.get("detail")):
        raise ConformanceFailure(f"{what}: the error does not name {field_name} ({fields!r})")


@check(
    "PRV-CFG-003",
    "VLT-LEAK-001",
    "PRV-KEY-001",
    shape=("PRV-CFG-003", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=FLOWS,
    profiles=PROFILES,
)
def test_provider_secrets_are_write_only(
    proctor_target: Target, world: VaultWorld, positive_control: ControlFactory
) -> None:
    """Client secrets and API keys are accepted, never shown: responses carry the *_ref;
    a PUT without the secret keeps it; a new client_id needs a new secret (PRV-CFG-003)."""
    ref = world.provider()
    mock = ref.mock
    x, _ = _workloads(world)
    key_name, api_key = world.api_key_provider([x.name])
    secrets_ = {"the client secret": mock.client_secret, "the API key": api_key}
    path = f"/v1/providers/oauth2/{quote(ref.name, safe='')}"
    key_path = f"/v1/providers/api-key/{quote(key_name, safe='')}"
    control = positive_control(
        "the provider's stored secret still authenticates an m2m request",
        lambda: _request(world, x, None, ref, flow="m2m"),
        expect=_returns_token,
    )
    with control.bracket():
        answers = [
            world.admin("GET", path),
            world.admin("GET", "/v1/providers/oauth2?limit=100"),
            world.admin("GET", key_path),
            world.admin("GET", "/v1/providers/api-key?limit=100"),
        ]
        kept = {k: v for k, v in ref.body.items() if k != "client_secret"}
        answers.append(world.admin("PUT", path, kept))
        answers.append(
            world.admin("PUT", key_path, {"name": key_name, "allowed_workloads": [x.name]})
        )
        answers.append(world.admin("PUT", path, {**kept, "client_id": "another-client"}))
        statuses = [a.status_code for a in answers]
        assert statuses[:6] == [200, 200, 200, 200, 200, 200], f"statuses {statuses}"
        expect_problem(answers[6], 400, "validation_failed", "a new client_id without a secret")
        leaked = secrets_in((a.text for a in answers), secrets_)
        leaked += secrets_in((str(dict(a.headers)) for a in answers), secrets_)
        assert not leaked, f"{', '.join(sorted(set(leaked)))} appeared in a response"
        one = json_object(answers[0], "the provider")
        assert "client_secret" not in one, "the provider object has a client_secret member"
        assert one.get("client_secret_ref") == f"secret://providers/{ref.name}/client_secret", (
            f"client_secret_ref is {one.get('client_secret_ref')!r}"
        )
        key = json_object(answers[2], "the API-key provider")
        assert "api_key" not in key, "the API-key provider object has an api_key member"
        assert key.get("api_key_ref") == f"secret://api-key-providers/{key_name}/api_key", (
            f"api_key_ref is {key.get('api_key_ref')!r}"
        )


@check(
    "PRV-KEY-001",
    shape=("PRV-KEY-001", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_api_key_providers_are_managed_on_the_control_plane(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """API-key providers: 201 on create, GET/PUT, 204 on delete, then 404; allowed_workloads
    must name existing workloads (PRV-KEY-001)."""
    x, y = _workloads(world)
    name = world.fresh("key")
    body = {"name": name, "api_key": "kit-" + secrets.token_urlsafe(16), "allowed_workloads": []}
    world.target.add_secret(str(body["api_key"]))
    path = f"/v1/providers/api-key/{quote(name, safe='')}"
    control = positive_control(
        "a workload's own WAT is accepted",
        lambda: world.flows.api_key(x, world.flows.wat(x), "conformance-no-such-key"),
        expect=404,
    )
    with control.bracket():
        created = world.admin("POST", "/v1/providers/api-key", body)
        assert created.status_code == 201, f"create: HTTP {created.status_code}"
        world.adopt_api_key(name)
        view = json_object(created, "the API-key provider")
        assert view.get("allowed_workloads") == [], (
            f"allowed_workloads {view.get('allowed_workloads')}"
        )
        replaced = world.admin("PUT", path, {"name": name, "allowed_workloads": [x.name, y.name]})
        assert replaced.status_code == 200, f"replace: HTTP {replaced.status_code}"
        got = json_object(world.admin("GET", path), "the API-key provider")
        assert sorted(got.get("allowed_workloads") or []) == sorted([x.name, y.name]), (
            f"allowed_workloads after PUT: {got.get('allowed_workloads')}"
        )
        unknown = world.admin(
            "PUT",
            path,
            {"name": name, "allowed_workloads": [x.name, world.name("no-such-workload")]},
        )
        expect_problem(
            unknown, 400, "validation_failed", "an unknown workload in allowed_workloads"
        )
        deleted = world.admin("DELETE", path)
        assert deleted.status_code == 204, f"delete: HTTP {deleted.status_code}"
        expect_problem(
            world.admin("GET", path), 404, "provider_not_found", "a deleted API-key provider"
        )


@check(
    "PRV-VEND-001",
    shape=("PRV-VEND-001", "ERR-SHAPE-001", "ERR-SHAPE-002", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_presets_resolve_the_vendors_endpoints_and_check_the_tenant(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """A preset without endpoints uses the vendor's own authorization server (GitHub's is
    built in: no discovery); a tenant breaking the vendor's rule is 400 naming tenant."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    secret = "kit-" + secrets.token_urlsafe(16)
    world.target.add_secret(secret)
    name = world.fresh("gh")
    github = {
        "name": name,
        "vendor": "github",
        "client_id": "Ov23liConformanceKit",
        "client_secret": secret,
        "scopes": ["repo", "user:email"],
    }
    control = positive_control(
        "a GitHub preset without endpoints is created",
        lambda: world.admin("GET", f"/v1/providers/oauth2/{quote(name, safe='')}"),
        expect=200,
    )
    created = world.admin("POST", "/v1/providers/oauth2", github)
    assert created.status_code == 201, (
        f"github preset: HTTP {created.status_code} {created.text[:200]}"
    )
    world.adopt_provider(name)
    with control.bracket():
        session = world.flows.expect_session(
            _request(world, x, a, name, ["repo"]), "a user_federation request to a GitHub preset"
        )
        url = session.authorization_url.split("?", 1)[0]
        assert url == "https://github.com/login/oauth/authorize", (
            f"the GitHub preset authorizes at {url}"
        )
        failures = []
        for label, body in {
            "microsoft without tenant": {**github, "vendor": "microsoft", "scopes": ["User.Read"]},
            "github with a tenant": {**github, "tenant": "example"},
            "cognito with a malformed pool id": {**github, "vendor": "cognito", "tenant": "nope"},
        }.items():
            other = world.fresh("tn")
            response = world.admin("POST", "/v1/providers/oauth2", {**body, "name": other})
            if response.status_code == 201:
                world.adopt_provider(other)
                failures.append(f"{label}: created")
                continue
            try:  # the refusal; its shape (400 validation_failed naming tenant) apart
                problem = expect_problem(response, 400, "validation_failed", label)
            except ConformanceFailure as error:
                failures.append(str(error).splitlines()[0])
                continue
            with error_shape():
                fields = problem.get("errors") or []
                if "tenant" not in str(fields) and "tenant" not in str(problem.get("detail")):
                    raise ConformanceFailure(f"{label}: the error does not name tenant")
        assert not failures, "; ".join(failures)


@check("PRV-VEND-002", "PRV-VEND-003", "VLT-CLI-004", needs=FLOWS, profiles=PROFILES)
def test_a_preset_pointed_at_a_mock_keeps_the_vendors_parameters(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """A preset with explicit endpoints uses them and still adds the vendor's parameters
    (Google: access_type=offline, prompt=consent; Okta: scope offline_access), and the added
    scope is not reported as granted (PRV-VEND-002, PRV-VEND-003)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    mock = world.mock()
    if "offline_access" not in mock.scopes:
        mock.update_api(scopes=[*mock.scopes, "offline_access"])
    requested = mock.scopes[:1]
    google = world.provider(mock, vendor="google", scopes=requested)
    okta = world.provider(mock, vendor="okta", scopes=requested)
    control = _session_control(positive_control, world, x, a, google)
    with control.bracket():
        session, _ = _start(world, x, a, google, requested)
        assert session.authorization_url.startswith(mock.endpoint("authorize") + "?"), (
            "the preset does not use the explicit endpoints"
        )
        params = session.params
        assert params.get("access_type") == ["offline"], f"access_type {params.get('access_type')}"
        assert params.get("prompt") == ["consent"], f"prompt {params.get('prompt')}"
        session, wat = _start(world, x, a, okta, requested)
        scope = (session.param("scope") or "").split(" ")
        assert "offline_access" in scope, f"scope {scope}: offline_access was not added"
        world.flows.run_to_callback(mock, session, a)
        completed = world.flows.complete(x, session.session_uri, user=a)
        assert completed.status_code == 200, f"completion: HTTP {completed.status_code}"
        token = world.flows.expect_token(
            world.flows.resource_token(
                x, wat, provider=okta.name, scopes=requested, session_uri=session.session_uri
            )
        )
        assert token["scopes"] == requested, (
            f"granted scopes {token['scopes']}: the preset's added scope is reported"
        )


@check("PRV-AUTH-001", "VLT-M2M-001", needs=FLOWS, profiles=PROFILES)
def test_client_authentication_is_exactly_the_configured_method(world: VaultWorld) -> None:
    """client_secret_basic: Basic over the form-encoded id and secret and nothing in the body;
    client_secret_post: both in the body and no Authorization header (PRV-AUTH-001). The mock
    provider's secret contains ':', '+' or '%', so skipping the form-encoding fails."""
    x, _ = _workloads(world)
    mock = world.mock()
    failures = []
    for method in ("client_secret_basic", "client_secret_post"):
        ref = world.provider(mock, client_auth_method=method)
        before = mock.seq()
        response = _request(world, x, None, ref, flow="m2m")
        if not _returns_token(response):
            failures.append(f"{method}: the m2m request failed (HTTP {response.status_code})")
            continue
        sent = mock.token_requests("client_credentials", after=before)
        if len(sent) != 1:
            failures.append(f"{method}: {len(sent)} client_credentials requests")
            continue
        form, headers = sent[0].get("form") or {}, sent[0].get("headers") or {}
        basic = str(headers.get("authorization", "")).lower().startswith("basic ")
        in_body = "client_secret" in form
        if method == "client_secret_basic" and (not basic or in_body):
            failures.append(f"{method}: Authorization Basic {basic}, secret in body {in_body}")
        if method == "client_secret_post" and (basic or not in_body or "client_id" not in form):
            failures.append(f"{method}: Authorization header {basic}, secret in body {in_body}")
    assert not failures, "; ".join(failures)


@check(
    "PRV-CFG-004",
    "VLT-RVK-001",
    shape=("PRV-CFG-004", "VLT-SESS-004", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=FLOWS,
    profiles=PROFILES,
)
def test_deleting_a_provider_deletes_its_credentials(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """Deleting a provider deletes its entries, sessions and consents and revokes the tokens
    upstream; a provider re-created with the same name sees none of them (PRV-CFG-004)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    token = _obtain(world, x, a, ref)
    pending, _ = _start(world, x, a, ref, force_authentication=True)
    control = positive_control(
        "another provider of the same mock still serves",
        lambda: _request(world, x, None, world.provider(ref.mock), flow="m2m"),
        expect=_returns_token,
    )
    with control.bracket():
        before = ref.mock.seq()
        deleted = world.admin("DELETE", f"/v1/providers/oauth2/{quote(ref.name, safe='')}")
        assert deleted.status_code == 204, f"delete: HTTP {deleted.status_code}"
        gone = _request(world, x, a, ref.name, _first_scope(ref))
        expect_problem(gone, 404, "provider_not_found", "a request naming a deleted provider")
        again = world.admin("POST", "/v1/providers/oauth2", ref.body)
        assert again.status_code == 201, f"re-create: HTTP {again.status_code}"
        fresh = _request(world, x, a, ref)
        assert _token_of(fresh) != token["access_token"], (
            "the re-created provider returned the old token"
        )
        world.flows.expect_session(fresh, "a request to the re-created provider")
        poll = _request(world, x, a, ref, session_uri=pending.session_uri)
        expect_problem(poll, 404, "session_not_found", "a session of the deleted provider")
        left = [c for c in _consents(world, provider=ref.name) if c.get("workload") == x.name]
        assert not left, "a consent of the deleted provider survived"
        hints = _revokes(ref.mock, before)
        assert "access_token" in hints, f"no upstream revocation of the access token ({hints})"
        assert not ref.mock.is_active(token["access_token"]), "the deleted token is still active"


# -- the resource-token request (VLT-REQ-*, VLT-RES-001, VLT-SESS-002) -----------------------------


@check(
    "VLT-REQ-001",
    shape=("VLT-REQ-001", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=FLOWS,
    profiles=PROFILES,
)
def test_requests_are_validated_in_order_before_any_upstream_call(
    proctor_target: Target, world: VaultWorld, positive_control: ControlFactory
) -> None:
    """Malformed body, then the WAT, the provider, the flow, the scopes, the return URL;
    each request is refused and nothing reaches the provider; the answer is the first
    failure's status and code (VLT-REQ-001)."""
    x, y = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    wat, y_wat, bare = world.flows.wat(x, user=a), world.flows.wat(y, user=a), world.flows.wat(x)
    url = proctor_target.url("/v1/resource-tokens/oauth2")
    good = {
        "workload_access_token": wat,
        "provider": ref.name,
        "flow": "user_federation",
        "scopes": _first_scope(ref),
    }

    def post(body: Any, content: bytes | None = None) -> httpx.Response:
        if content is not None:
            return proctor_target.client.post(
                url, content=content, headers={**x.auth(), "Content-Type": "application/json"}
            )
        return proctor_target.client.post(url, json=body, headers=x.auth())

    cases: list[tuple[str, httpx.Response | Callable[[], httpx.Response], int, str]] = [
        ("malformed JSON", lambda: post(None, b'{"provider": '), 400, "invalid_request_body"),
        (
            "scopes of the wrong type",
            lambda: post({**good, "scopes": "a b"}),
            400,
            "invalid_request_body",
        ),
        (
            "an unknown member",
            lambda: post({**good, "user": "someone"}),
            400,
            "invalid_request_body",
        ),
        (
            "a forged WAT and an unknown provider",
            lambda: post(
                {
                    **good,
                    "workload_access_token": "wat_" + secrets.token_urlsafe(32),
                    "provider": "no-such-provider",
                }
            ),
            401,
            "token_invalid",
        ),
        (
            "another workload's WAT",
            lambda: post({**good, "workload_access_token": y_wat}),
            401,
            "token_invalid",
        ),
        (
            "an unknown provider and a bad scope",
            lambda: post({**good, "provider": world.name("no-such-provider"), "scopes": ["nope"]}),
            404,
            "provider_not_found",
        ),
        (
            "user_federation without a user, and a bad scope",
            lambda: post({**good, "workload_access_token": bare, "scopes": ["nope"]}),
            400,
            "validation_failed",
        ),
        (
            "on_behalf_of without on_behalf_of configuration",
            lambda: post({**good, "flow": "on_behalf_of"}),
            400,
            "validation_failed",
        ),
        (
            "a bad scope and a bad return URL",
            lambda: post({**good, "scopes": ["nope"], "return_url": "https://evil.example/"}),
            400,
            "scope_not_allowed",
        ),
        (
            "a bad return URL on m2m",
            lambda: post({**good, "flow": "m2m", "return_url": "https://evil.example/"}),
            400,
            "return_url_not_allowed",
        ),
    ]
    control = _session_control(positive_control, world, x, a, ref)
    with control.bracket():
        before = ref.mock.seq()
        failures = []
        for label, make, status, code in cases:
            response = make() if callable(make) else make
            try:  # the refusal; which status and code (the order) is its shape
                expect_problem(response, status, code, label)
            except ConformanceFailure as error:
                failures.append(f"{label}: {str(error).splitlines()[-1]}")
        contacted = ref.mock.requests(after=before)
        if contacted:
            failures.append(
                f"refused requests reached the provider: {[e.get('path') for e in contacted]}"
            )
        assert not failures, "; ".join(failures)


@check(
    "VLT-REQ-002",
    shape=("VLT-REQ-002", "ERR-SHAPE-001", "ERR-SHAPE-002", "ERR-CODE-001"),
    needs=FLOWS,
    profiles=PROFILES,
    catalog="VLT-02",
)
def test_scopes_beyond_the_provider_are_refused_in_every_flow(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """A scope outside the provider's scopes (case-sensitive) is 400 scope_not_allowed
    listing each offending scope, with no token, no session and no upstream call."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    allowed = _first_scope(ref)
    beyond = [
        "conformance.admin",
        allowed[0].upper() if allowed[0] != allowed[0].upper() else allowed[0] + ".X",
    ]
    control = _session_control(positive_control, world, x, a, ref)
    failures = []
    with control.bracket():
        before = ref.mock.seq()
        for flow, user in (("user_federation", a), ("m2m", None)):
            response = _request(world, x, user, ref, [*allowed, *beyond], flow=flow)
            try:  # the refusal; 400 scope_not_allowed listing the scopes is its shape
                problem = expect_problem(response, 400, "scope_not_allowed", f"{flow} request")
            except ConformanceFailure as error:
                failures.append(f"{flow}: {str(error).splitlines()[-1]}")
                continue
            with error_shape():
                named = _named_scopes(problem, [*allowed, *beyond])
                if named != set(beyond):
                    raise ConformanceFailure(
                        f"{flow}: errors[] names {sorted(named)}, not exactly {sorted(beyond)} "
                        "(VLT-REQ-002, ERR-SHAPE-002)"
                    )
        if ref.mock.requests(after=before):
            failures.append("the refused requests reached the provider")
    assert not failures, "; ".join(failures)


def _named_scopes(problem: dict[str, Any], requested: list[str]) -> set[str]:
    """The requested scopes that ``errors[]`` names: by a ``/scopes/<i>`` pointer or by
    quoting the scope in its message."""
    named: set[str] = set()
    for error in problem.get("errors") or []:
        if not isinstance(error, dict):
            continue
        pointer = str(error.get("field", ""))
        match = re.fullmatch(r"/scopes/(\d+)", pointer)
        if match and int(match.group(1)) < len(requested):
            named.add(requested[int(match.group(1))])
        named.update(s for s in requested if s in str(error.get("message", "")).split())
    return named


@check(
    "VLT-REQ-003",
    shape=("VLT-REQ-003", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=FLOWS,
    profiles=PROFILES,
)
def test_custom_parameters_cannot_override_the_protocol(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """custom_parameters naming a parameter the service sets, or with a malformed key or
    value, is 400 validation_failed; an allowed one reaches the authorization request
    (VLT-REQ-003)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    control = _session_control(positive_control, world, x, a, ref)
    failures = []
    with control.bracket():
        for name in (
            "redirect_uri",
            "state",
            "code_challenge",
            "code_challenge_method",
            "client_id",
            "scope",
            "response_type",
            "resource",
            "request_uri",
            "nonce",
        ):
            response = _request(world, x, a, ref, custom_parameters={name: "kit"})
            try:  # the refusal; its shape (400 validation_failed) is recorded apart
                expect_problem(response, 400, "validation_failed", f"custom parameter {name}")
            except ConformanceFailure as error:
                failures.append(f"{name}: {str(error).splitlines()[-1]}")
        for label, params in {
            "a key with spaces": {"a b": "x"},
            "an empty value": {"login": ""},
        }.items():
            response = _request(world, x, a, ref, custom_parameters=params)
            try:
                expect_problem(response, 400, "validation_failed", label)
            except ConformanceFailure as error:
                failures.append(f"{label}: {str(error).splitlines()[-1]}")
        session, _ = _start(world, x, a, ref, custom_parameters={"login_hint": "kit-hint"})
        if session.params.get("login_hint") != ["kit-hint"]:
            failures.append("an allowed custom parameter is not in the authorization URL")
    assert not failures, "; ".join(failures)


@check(
    "VLT-RES-001",
    "VLT-CB-004",
    shape=("VLT-RES-001", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=FLOWS,
    profiles=PROFILES,
)
def test_resource_indicators_are_validated_and_sent_in_every_request(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """resources must be absolute URIs without fragment (else 400 validation_failed naming
    resources); each is sent as a resource parameter in the authorization request, the code
    redemption and the client-credentials request (RFC 8707 §2; VLT-RES-001)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    resource = ref.mock.resource
    control = _session_control(positive_control, world, x, a, ref)
    failures = []
    with control.bracket():
        for value in ("api/relative", resource + "#section"):
            response = _request(world, x, a, ref, resources=[value])
            try:  # the refusal; 400 validation_failed naming resources is its shape
                expect_problem(response, 400, "validation_failed", f"resources [{value!r}]")
            except ConformanceFailure as error:
                failures.append(f"{value!r}: {str(error).splitlines()[-1]}")
                continue
            with error_shape():
                assert "resources" in response.text, f"{value!r}: the error does not name resources"
        before = ref.mock.seq()
        _obtain(world, x, a, ref, resources=[resource])
        auth = ref.mock.requests("authorize", after=before)
        if not auth or (auth[0].get("query") or {}).get("resource") != resource:
            failures.append("the authorization request carries no resource")
        code = ref.mock.token_requests("authorization_code", after=before)
        if len(code) != 1 or (code[0].get("form") or {}).get("resource") != resource:
            failures.append(f"the code redemption carries no resource ({len(code)} redemptions)")
        before = ref.mock.seq()
        m2m = _request(world, x, None, ref, flow="m2m", resources=[resource])
        sent = ref.mock.token_requests("client_credentials", after=before)
        if (
            not _returns_token(m2m)
            or not sent
            or (sent[0].get("form") or {}).get("resource") != resource
        ):
            failures.append("the client-credentials request carries no resource")
    assert not failures, "; ".join(failures)


@check(
    "VLT-SESS-002",
    "VLT-CB-005",
    shape=("VLT-SESS-002", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=FLOWS,
    profiles=PROFILES,
    catalog="OA-02",
)
def test_the_return_url_must_match_exactly(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """A return URL is compared as an exact string: a suffix, another port, path, query,
    host or case is 400 return_url_not_allowed and no session starts (VLT-SESS-002)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    listener = world.listener
    two = world.workload(
        f"two{secrets.token_hex(2)}", return_urls=[listener.url, listener.url + "/second"]
    )
    none = world.workload(f"none{secrets.token_hex(2)}", return_urls=[])
    control = positive_control(
        "the exact registered return URL starts a session",
        lambda: _request(world, x, a, ref, return_url=listener.url),
        expect=_starts_session,
    )
    failures = []
    with control.bracket():
        refusals = [
            (label, _request(world, x, a, ref, return_url=variant))
            for label, variant in listener.variants().items()
        ]
        refusals += [
            (label, _request(world, workload, a, ref))
            for label, workload in (("two registered, none named", two), ("none registered", none))
        ]
        for label, response in refusals:
            try:  # the refusal (no session); 400 return_url_not_allowed is its shape
                expect_problem(response, 400, "return_url_not_allowed", f"return URL: {label}")
            except ConformanceFailure as error:
                failures.append(f"{label}: {str(error).splitlines()[-1]}")
        chosen = _request(world, two, a, ref, return_url=listener.url + "/second")
        session = world.flows.expect_session(chosen, "the second registered return URL")
        response = world.flows.callback(world.flows.authorize(ref.mock, session, a))
        location = response.headers.get("location", "")
        if response.status_code != 303 or location.split("?", 1)[0] != listener.url + "/second":
            failures.append(f"the callback went to {location[:120]!r}")
    assert not failures, "; ".join(failures)


# -- the authorization request (VLT-SESS-001/003, VLT-PKCE-*, VLT-STATE-001) ---------------------


@check(
    "VLT-SESS-003",
    "VLT-PKCE-002",
    "VLT-STATE-001",
    "VLT-SESS-001",
    "VLT-PKCE-001",
    needs=FLOWS,
    profiles=PROFILES,
)
def test_the_authorization_url_has_pkce_s256_and_an_unguessable_state(
    proctor_target: Target, world: VaultWorld
) -> None:
    """The authorization URL is the provider's endpoint with response_type=code, client_id,
    the fixed callback, scope, an unguessable state independent of everything the workload
    knows, and an S256 code_challenge (43 characters); a fresh state, challenge and session
    URI per session; nothing secret in it (VLT-SESS-003, VLT-PKCE-002, VLT-STATE-001)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    custom_state = "kit-context-" + secrets.token_hex(4)
    first, _ = _start(world, x, a, ref, custom_state=custom_state)
    second, _ = _start(world, x, a, ref)
    mock = ref.mock
    problems = []
    if not first.authorization_url.startswith(mock.endpoint("authorize") + "?"):
        problems.append("not the provider's authorization_endpoint")
    params = first.params
    repeated = [k for k, v in params.items() if len(v) != 1 and k not in ("resource", "audience")]
    if repeated:
        problems.append(f"parameters repeated: {repeated}")
    expected = {
        "response_type": "code",
        "client_id": mock.client_id,
        "redirect_uri": proctor_target.url("/oauth2/callback"),
        "scope": " ".join(_first_scope(ref)),
        "code_challenge_method": "S256",
    }
    for name, value in expected.items():
        if first.param(name) != value:
            problems.append(f"{name}={first.param(name)!r} (expected {value!r})")
    challenge, state = first.param("code_challenge") or "", first.param("state") or ""
    if len(challenge) != 43 or not is_base64url(challenge):
        problems.append(
            f"code_challenge is not a 43-character base64url S256 value ({len(challenge)})"
        )
    if not STATE_CHARS.fullmatch(state):
        problems.append(f"state is not 43+ unreserved characters ({len(state)} characters)")
    if second.param("state") == state or second.param("code_challenge") == challenge:
        problems.append("two sessions share a state or a code challenge")
    if state in first.session_uri or first.session_uri.split(":")[-1] in state:
        problems.append("the state and the session URI are derived from each other")
    if custom_state in state or custom_state in first.authorization_url:
        problems.append("custom_state appears in the state or the URL")
    for label, session in (("first", first), ("second", second)):
        suffix = session.session_uri.removeprefix(SESSION_URI_PREFIX)
        if (
            not session.session_uri.startswith(SESSION_URI_PREFIX)
            or len(suffix) < 43
            or (not is_base64url(suffix))
        ):
            problems.append(f"the {label} session URI is not the request_uri form with 256 bits")
    if first.session_uri == second.session_uri:
        problems.append("two sessions share a session URI")
    if first.session_uri in first.authorization_url:
        problems.append("the session URI is in the authorization URL")
    if secrets_in([first.authorization_url], {"the client secret": mock.client_secret}):
        problems.append("the client secret is in the authorization URL")
    assert not problems, "; ".join(problems)


@check("VLT-PKCE-003", "VLT-PKCE-001", "VLT-CB-004", needs=FLOWS, profiles=PROFILES)
def test_the_code_verifier_stays_with_the_service(world: VaultWorld) -> None:
    """The code is redeemed once, at the provider's token endpoint, with the same
    redirect_uri and a code_verifier the provider accepts; no answer the kit sees carries
    a string whose S256 is the challenge (VLT-PKCE-003, VLT-CB-004)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    mock = ref.mock
    session, wat = _start(world, x, a, ref)
    before = mock.seq()
    seen: list[str] = [session.authorization_url, str(session.body)]
    callback_url = world.flows.authorize(mock, session, a)
    response = world.flows.callback(callback_url)
    seen += [response.text, str(dict(response.headers))]
    world.flows.expect_return(response, session)
    completed = world.flows.complete(x, session.session_uri, user=a)
    polled = world.flows.resource_token(
        x, wat, provider=ref.name, scopes=_first_scope(ref), session_uri=session.session_uri
    )
    seen += [completed.text, polled.text]
    world.flows.expect_token(polled)
    redeemed = mock.token_requests("authorization_code", after=before)
    assert len(redeemed) == 1, f"{len(redeemed)} code redemptions (exactly one expected)"
    form = redeemed[0].get("form") or {}
    assert "code_verifier" in form, "the code redemption carries no code_verifier"
    assert form.get("redirect_uri") == session.param("redirect_uri"), (
        "the redemption's redirect_uri differs from the authorization request's"
    )
    challenge = session.param("code_challenge")
    leaked = [c for c in verifier_candidates(seen) if s256(c) == challenge]
    assert not leaked, "the code verifier appeared in a response"
    del wat


# -- the callback (VLT-CB-*, VLT-STATE-002) --------------------------------------------------------


@check(
    "VLT-CB-001",
    shape=("VLT-CB-001", "VLT-CB-006", "ERR-CB-001"),
    needs=FLOWS,
    profiles=PROFILES,
)
def test_a_missing_or_forged_state_gets_an_error_page_and_nothing_else(
    proctor_target: Target, world: VaultWorld, positive_control: ControlFactory
) -> None:
    """A callback without state, or with one the service never issued, is refused:
    never a redirect, no code is redeemed, the pending session is unchanged (VLT-CB-001);
    the refusal is a 400 HTML page (no-store, no-referrer, no script or form, the cause
    named, reflected values escaped: VLT-CB-006, ERR-CB-001)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    session, _ = _start(world, x, a, ref)
    control = _session_control(positive_control, world, x, a, world.provider())
    callback = proctor_target.url("/oauth2/callback")
    probe = '<script>alert("kit")</script>'
    with control.bracket():
        before = ref.mock.seq()
        missing = proctor_target.client.get(callback, params={"code": "kit-code"})
        _error_page(missing, "state_missing", "a callback without state")
        forged = proctor_target.client.get(
            callback, params={"code": "kit-code", "state": "kit-" + secrets.token_urlsafe(32)}
        )
        _error_page(forged, "state_unknown", "a forged state")
        reflected = proctor_target.client.get(
            callback, params={"code": probe, "state": probe, "error_description": probe}
        )
        _error_page(reflected, None, "a callback with markup in its parameters")
        with error_shape():
            assert probe not in reflected.text, "a reflected value is not HTML-escaped (VLT-CB-006)"
        _no_redemption(ref.mock, before, "forged callbacks")
        poll = _request(world, x, a, ref, session_uri=session.session_uri)
        assert _starts_session(poll), "the forged callbacks changed the pending session"


@check(
    "VLT-STATE-002",
    "VLT-CB-001",
    "VLT-CB-004",
    shape=("VLT-CB-001", "VLT-CB-006", "ERR-CB-001"),
    needs=FLOWS,
    profiles=PROFILES,
    catalog="OA-01",
)
def test_the_state_is_single_use_and_a_code_is_redeemed_once(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """Replaying the provider's redirect to the callback gets the error page: the state
    was consumed by the first callback, and the code is never redeemed twice (client side
    of OA-01; VLT-STATE-002)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    session, wat = _start(world, x, a, ref)
    callback_url = world.flows.authorize(ref.mock, session, a)
    before = ref.mock.seq()
    world.flows.expect_return(world.flows.callback(callback_url), session)
    control = _session_control(positive_control, world, x, a, world.provider())
    with control.bracket():
        replay = world.flows.callback(callback_url)
        _error_page(replay, "state_replayed", "a replayed callback")
        redeemed = ref.mock.token_requests("authorization_code", after=before)
        assert len(redeemed) == 1, f"the code was redeemed {len(redeemed)} times"
    del wat


@check(
    "VLT-SESS-005",
    "VLT-CB-001",
    "VLT-BIND-003",
    shape=(
        "VLT-SESS-005",
        "VLT-BIND-003",
        "VLT-CB-001",
        "VLT-CB-006",
        "ERR-CB-001",
        "ERR-SHAPE-001",
        "ERR-CODE-001",
    ),
    needs=TIMED,
    profiles=PROFILES,
)
def test_an_expired_session_is_refused_everywhere(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """After the session lifetime (at most 3600 s) the callback is refused, and polls and
    completions fail with 400 session_expired, never in_progress (VLT-SESS-005)."""
    assert world.clock is not None
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    session, _ = _start(world, x, a, ref)
    callback_url = world.flows.authorize(ref.mock, session, a)
    control = _session_control(positive_control, world, x, a, world.provider())
    with control.bracket():
        world.clock.advance(3601)
        before = ref.mock.seq()
        _error_page(world.flows.callback(callback_url), "session_expired", "an expired session")
        _no_redemption(ref.mock, before, "an expired session's callback")
        poll = _request(world, x, a, ref, session_uri=session.session_uri)
        expect_problem(poll, 400, "session_expired", "a poll of an expired session")
        done = world.flows.complete(x, session.session_uri, user=a)
        expect_problem(done, 400, "session_expired", "completing an expired session")


@check(
    "VLT-CB-002",
    shape=(
        "VLT-CB-002",
        "VLT-CB-001",
        "VLT-CB-006",
        "ERR-CB-001",
        "ERR-SHAPE-001",
        "ERR-CODE-001",
    ),
    needs=FLOWS,
    profiles=PROFILES,
)
def test_a_provider_error_fails_the_session_and_returns_to_the_app(
    proctor_target: Target, world: VaultWorld, positive_control: ControlFactory
) -> None:
    """error=access_denied consumes the state, redeems nothing, sends the browser to the
    return URL with session_id and error, and later polls and completions get 400
    session_failed with reason access_denied; a second callback with the state gets the
    error page; an error code with characters RFC 6749 forbids becomes
    invalid_provider_response (VLT-CB-002)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    callback = proctor_target.url("/oauth2/callback")
    failures = []
    control = _session_control(positive_control, world, x, a, ref)
    with control.bracket():
        for error, reported in (
            ("access_denied", "access_denied"),
            ('bad"error', "invalid_provider_response"),
        ):
            session, _ = _start(world, x, a, ref, custom_state="kit-ctx")
            before = ref.mock.seq()
            response = proctor_target.client.get(
                callback,
                params={
                    "state": session.param("state") or "",
                    "error": error,
                    "error_description": "<b>denied</b>",
                    "error_uri": "https://evil.example/",
                },
            )
            try:
                query = world.flows.expect_return(response, session, f"error={error}")
            except ConformanceFailure as failure:
                failures.append(str(failure).splitlines()[0])
                continue
            if query.get("custom_state") != ["kit-ctx"]:
                failures.append(f"error={error}: returned {query}")
            with error_shape():  # the code the application is told
                assert query.get("error") == [reported], f"error={error}: returned {query}"
            if "evil.example" in response.headers.get("location", ""):
                failures.append("error_uri was used as the redirect target")
            _no_redemption(ref.mock, before, f"error={error}")
            poll = _request(world, x, a, ref, session_uri=session.session_uri)
            done = world.flows.complete(x, session.session_uri, user=a)
            for label, answer in (("poll", poll), ("completion", done)):
                what = f"the {label} after error={error}"
                try:  # the refusal; 400 session_failed with the reason is its shape
                    problem = expect_problem(answer, 400, "session_failed", what)
                except ConformanceFailure as failure:
                    failures.append(str(failure).splitlines()[0])
                    continue
                with error_shape():
                    if problem.get("reason") != reported:
                        raise ConformanceFailure(
                            f"{what}: session_failed carries the provider's code as reason",
                            expected=reported,
                            observed=repr(problem.get("reason")),
                        )
            again = world.flows.callback(
                f"{callback}?state={quote(session.param('state') or '')}&code=kit"
            )
            try:
                _error_page(again, None, "a second callback with the failed session's state")
            except ConformanceFailure as failure:
                failures.append(str(failure).splitlines()[0])
    assert not failures, "; ".join(failures)


@check("VLT-CB-003", shape=("VLT-CB-003",), needs=FLOWS, profiles=PROFILES)
def test_a_mismatched_issuer_fails_the_session(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """A callback whose iss is not the provider's issuer (RFC 9207) fails the session with
    iss_mismatch and redeems nothing (VLT-CB-003)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    session, _ = _start(world, x, a, ref)
    callback_url = world.flows.authorize(ref.mock, session, a)
    control = _session_control(positive_control, world, x, a, world.provider())
    with control.bracket():
        before = ref.mock.seq()
        response = world.flows.callback(callback_url + "&iss=" + quote("https://evil.example"))
        _no_redemption(ref.mock, before, "a callback with a foreign iss")
        query = world.flows.expect_return(response, session, "a callback with a foreign iss")
        with error_shape():  # the reason the session failed
            assert query.get("error") == ["iss_mismatch"], f"error {query.get('error')}"


@check("VLT-CB-005", "VLT-CB-006", needs=FLOWS, profiles=PROFILES, catalog="OA-02")
def test_the_browser_goes_back_only_to_the_registered_return_url(world: VaultWorld) -> None:
    """After the redemption the callback answers 303 to the session's return URL with
    session_id and custom_state, whatever the callback's own parameters say; the Location
    carries neither the code nor the state (VLT-CB-005)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    session, _ = _start(world, x, a, ref, custom_state="kit-return-ctx")
    callback_url = world.flows.authorize(ref.mock, session, a)
    injected = (
        callback_url
        + "&"
        + "&".join(
            f"{name}={quote('https://evil.example/steal', safe='')}"
            for name in ("return_url", "redirect_uri", "next")
        )
    )
    response = world.flows.callback(injected)
    assert response.headers.get("referrer-policy", "").lower() == "no-referrer", (
        "the redirect has no Referrer-Policy: no-referrer"
    )
    assert response.headers.get("cache-control", "").lower() == "no-store", (
        "the redirect has no Cache-Control: no-store"
    )
    query = world.flows.expect_return(response, session)
    assert query.get("custom_state") == ["kit-return-ctx"], (
        f"custom_state {query.get('custom_state')}"
    )
    location = response.headers["location"]
    code = query_of(callback_url).get("code", [""])[0]
    assert code not in location, "the Location carries the authorization code"
    assert (session.param("state") or "-") not in location, "the Location carries the state"
    assert set(query) <= {"session_id", "custom_state"}, f"extra parameters {sorted(query)}"


# -- completion (VLT-BIND-*, VLT-PART-002, VLT-SESS-004) -------------------------------------------


@check(
    "VLT-BIND-002",
    "VLT-BIND-001",
    "VLT-RVK-001",
    "CNS-REC-002",
    shape=("VLT-BIND-002", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=FLOWS,
    profiles=PROFILES,
)
def test_completion_by_another_user_gets_nothing(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """B completing A's session gets 403 session_user_mismatch; the pending tokens are
    revoked upstream and discarded, the session ends (A cannot complete it either, 404) and
    no entry or consent is created (VLT-BIND-002)."""
    x, _ = _workloads(world)
    a, b = _users(world)
    ref = world.provider()
    session, wat = _start(world, x, a, ref)
    world.flows.run_to_callback(ref.mock, session, a)
    control = _session_control(positive_control, world, x, a, world.provider())
    with control.bracket():
        before = ref.mock.seq()
        mismatch = world.flows.complete(x, session.session_uri, user=b)
        expect_problem(mismatch, 403, "session_user_mismatch", "completion by another user")
        hints = _revokes(ref.mock, before)
        assert "access_token" in hints, f"the pending tokens were not revoked upstream ({hints})"
        for who in (a, b):
            late = world.flows.complete(x, session.session_uri, user=who)
            expect_problem(late, 404, "session_not_found", f"completion by {who.name} afterwards")
        poll = world.flows.resource_token(
            x, wat, provider=ref.name, scopes=_first_scope(ref), session_uri=session.session_uri
        )
        expect_problem(poll, 404, "session_not_found", "a poll of the mismatched session")
        fresh = _request(world, x, a, ref)
        world.flows.expect_session(fresh, "A's next request (no entry was stored)")
        assert not _consents(world, provider=ref.name), "a consent was created"


@check(
    "VLT-BIND-003",
    "VLT-BIND-001",
    shape=("VLT-BIND-003", "VLT-BIND-002", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=FLOWS,
    profiles=PROFILES,
)
def test_completion_at_the_wrong_moment(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """Before the callback: 409 conflict and the session is unchanged; an invalid user token:
    401 user_token_rejected, unchanged; a repeated completion by the same user: 200 {}; an
    unknown session: 404 session_not_found (VLT-BIND-003)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    session, _ = _start(world, x, a, ref)
    control = _session_control(positive_control, world, x, a, world.provider())
    with control.bracket():
        early = world.flows.complete(x, session.session_uri, user=a)
        expect_problem(early, 409, "conflict", "a completion before the callback")
    world.flows.run_to_callback(ref.mock, session, a)
    unsigned = "eyJhbGciOiJub25lIn0.e30."  # alg none, no claims: never a valid user token
    forged = world.flows.complete(x, session.session_uri, user_token=unsigned)
    expect_problem(forged, 401, "user_token_rejected", "a completion with an invalid user token")
    done = world.flows.complete(x, session.session_uri, user=a)
    assert done.status_code == 200, f"completion: {done.status_code} {done.text[:100]}"
    assert done.json() == {}, "a completion answers {}"
    again = world.flows.complete(x, session.session_uri, user=a)
    assert again.status_code == 200, f"a repeated completion: HTTP {again.status_code}"
    assert again.json() == {}, "a repeated completion answers {}"
    unknown = world.flows.complete(x, SESSION_URI_PREFIX + "A" * 43, user=a)
    expect_problem(unknown, 404, "session_not_found", "an unknown session")


@check(
    "VLT-BIND-001",
    "VLT-BIND-002",
    shape=("VLT-BIND-002", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=FLOWS,
    profiles=PROFILES,
)
def test_a_user_id_session_is_completed_with_the_same_user_id(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """A session started with a WAT bound to a user ID is completed with that user_id, not
    with another one nor with a user token: those are 403 session_user_mismatch
    (VLT-BIND-001, VLT-BIND-002)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    user_id = "kit-user-" + secrets.token_hex(4)
    wat = world.flows.wat(x, user_id=user_id)
    control = _session_control(positive_control, world, x, a, world.provider())
    with control.bracket():
        mismatched = []
        for label, kwargs in (
            ("another user_id", {"user_id": user_id + "-other"}),
            ("a user token", {"user": a}),
        ):
            session = world.flows.expect_session(
                world.flows.resource_token(x, wat, provider=ref.name, scopes=_first_scope(ref))
            )
            world.flows.run_to_callback(ref.mock, session, a)
            answer = world.flows.complete(x, session.session_uri, **kwargs)
            try:  # the refusal; its shape (403 session_user_mismatch) is recorded apart
                expect_problem(answer, 403, "session_user_mismatch", f"completion with {label}")
            except ConformanceFailure as error:
                mismatched.append(f"{label}: {str(error).splitlines()[-1]}")
        assert not mismatched, "; ".join(mismatched)
        session = world.flows.expect_session(
            world.flows.resource_token(x, wat, provider=ref.name, scopes=_first_scope(ref))
        )
        world.flows.run_to_callback(ref.mock, session, a)
        done = world.flows.complete(x, session.session_uri, user_id=user_id)
        assert done.status_code == 200, f"completion with the same user_id: HTTP {done.status_code}"
        world.flows.expect_token(
            world.flows.resource_token(
                x, wat, provider=ref.name, scopes=_first_scope(ref), session_uri=session.session_uri
            )
        )


@check(
    "VLT-PART-002",
    shape=("VLT-PART-002", "ERR-RULE-005", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=FLOWS,
    profiles=PROFILES,
    catalog="VLT-01",
)
def test_sessions_of_other_workloads_users_and_providers_do_not_exist(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """Another workload, another user or another provider naming a session is refused:
    in polls and completions, and the session is unaffected; the refusal is exactly the
    answer for an unknown session (404 session_not_found, bodies equal but request_id:
    VLT-PART-002, ERR-RULE-005)."""
    x, y = _workloads(world)
    a, b = _users(world)
    ref, other = world.provider(), world.provider(world.second_mock())
    session, _ = _start(world, x, a, ref)
    unknown = SESSION_URI_PREFIX + base64.urlsafe_b64encode(
        secrets.token_bytes(32)
    ).decode().rstrip("=")
    control = _session_control(positive_control, world, x, a, world.provider())
    with control.bracket():

        def poll(
            workload: Workload, user: VaultUser, provider: ProviderRef, uri: str
        ) -> httpx.Response:
            return _request(world, workload, user, provider, session_uri=uri)

        def complete(workload: Workload, user: VaultUser, uri: str) -> httpx.Response:
            return world.flows.complete(workload, uri, user=user)

        unknown_poll = poll(y, a, ref, unknown)
        expect_problem(unknown_poll, 404, "session_not_found", "a poll of an unknown session")
        unknown_completion = complete(y, a, unknown)
        refused(unknown_completion, "completing an unknown session", expected="HTTP 404")
        foreign = {
            "poll by another workload": (poll(y, a, ref, session.session_uri), unknown_poll),
            "poll by another user": (poll(x, b, ref, session.session_uri), unknown_poll),
            "poll naming another provider": (
                poll(x, a, other, session.session_uri),
                unknown_poll,
            ),
            "completion by another workload": (
                complete(y, a, session.session_uri),
                unknown_completion,
            ),
        }
        for label, (answer, _) in foreign.items():
            refused(answer, f"a {label}", expected="HTTP 404 session_not_found")
        with error_shape():  # VLT-PART-002, ERR-RULE-005: no existence oracle
            differing = [
                label
                for label, (answer, unknown_answer) in foreign.items()
                if _problem_body(answer) != _problem_body(unknown_answer)
            ]
            assert not differing, f"answers that differ from an unknown session's: {differing}"
    world.flows.run_to_callback(ref.mock, session, a)
    done = world.flows.complete(x, session.session_uri, user=a)
    assert done.status_code == 200, "the session was affected by the foreign requests"


@check(
    "VLT-SESS-004",
    "VLT-SESS-001",
    shape=("VLT-SESS-004", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=FLOWS,
    profiles=PROFILES,
)
def test_polling_answers_in_progress_then_the_token(world: VaultWorld) -> None:
    """Until completion a poll answers the same session (also after the callback); wider
    scopes are 400 validation_failed and an unknown session URI 404 session_not_found;
    once completed, the token, also to a new WAT of the same workload and user; a poll
    never starts a session (VLT-SESS-004)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    session, wat = _start(world, x, a, ref)

    def poll(token: str, **body: Any) -> httpx.Response:
        return world.flows.resource_token(
            x,
            token,
            provider=ref.name,
            scopes=body.pop("scopes", _first_scope(ref)),
            session_uri=session.session_uri,
            **body,
        )

    for moment in ("before the callback", "again"):
        answer = json_object(poll(wat), "a poll")
        assert answer == session.body, f"a poll {moment} answered {sorted(answer)}"
    world.flows.run_to_callback(ref.mock, session, a)
    answer = json_object(poll(wat), "a poll")
    assert answer == session.body, "a poll after the callback is not the same session"
    if len(ref.scopes) > 1:
        wider = poll(wat, scopes=ref.scopes)
        expect_problem(wider, 400, "validation_failed", "a poll with wider scopes")
    unknown = world.flows.resource_token(
        x,
        wat,
        provider=ref.name,
        scopes=_first_scope(ref),
        session_uri=SESSION_URI_PREFIX + "A" * 43,
    )
    expect_problem(unknown, 404, "session_not_found", "a poll of an unknown session")
    done = world.flows.complete(x, session.session_uri, user=a)
    assert done.status_code == 200, f"completion: HTTP {done.status_code}"
    token = world.flows.expect_token(poll(world.flows.wat(x, user=a)), "a poll with a new WAT")
    assert token["scopes"] == _first_scope(ref), f"scopes {token['scopes']}"


# -- reuse, refresh, forced authentication (VLT-3LO-*, VLT-REF-*, VLT-CLI-003) ---------------------


@check("VLT-3LO-001", "CNS-REC-003", needs=FLOWS, profiles=PROFILES)
def test_a_stored_token_is_reused_without_a_session_or_an_upstream_call(
    world: VaultWorld,
) -> None:
    """Persisted consent: the second request for the same (workload, user, provider) and
    scopes gets the stored token with the granted scopes, starts no session and contacts no
    provider (VLT-3LO-001)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    token = _obtain(world, x, a, ref)
    before = ref.mock.seq()
    for _ in range(2):
        again = world.flows.expect_token(_request(world, x, a, ref), "a repeated request")
        assert again == token, "the stored token was not reused as it is"
    assert not ref.mock.requests(after=before), "a reused token contacted the provider"
    if len(ref.scopes) > 1:
        wider = _request(world, x, a, ref, ref.scopes)
        world.flows.expect_session(wider, "a request for scopes the grant does not cover")


@check("VLT-3LO-002", needs=FLOWS, profiles=PROFILES)
def test_force_authentication_starts_a_session_and_keeps_the_entry_until_it_completes(
    world: VaultWorld,
) -> None:
    """force_authentication skips reuse and starts a session; the stored token stays usable
    until that session completes and replaces it (VLT-3LO-002)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    token = _obtain(world, x, a, ref)
    forced, wat = _start(world, x, a, ref, force_authentication=True)
    still = world.flows.expect_token(_request(world, x, a, ref), "a request while forced")
    assert still == token, "the entry changed before the forced session completed"
    world.flows.run_to_callback(ref.mock, forced, a)
    done = world.flows.complete(x, forced.session_uri, user=a)
    assert done.status_code == 200, f"completion: HTTP {done.status_code}"
    replaced = world.flows.expect_token(_request(world, x, a, ref), "a request after")
    assert replaced["access_token"] != token["access_token"], "the forced session did not replace"
    del wat


@check("VLT-CLI-003", "VLT-REF-001", "VLT-3LO-002", needs=TIMED, profiles=PROFILES)
def test_a_token_is_reused_until_the_margin_then_refreshed_with_rotation(
    world: VaultWorld,
) -> None:
    """A token is returned until expires_at - margin (margin = min(60, expires_in/2)), then
    refreshed with grant_type=refresh_token and no scope; the rotated refresh token is
    stored, so a second refresh works too (VLT-CLI-003, VLT-REF-001)."""
    assert world.clock is not None
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    token = _obtain(world, x, a, ref)
    lifetime = _lifetime(ref.mock)
    margin = min(60, lifetime // 2)
    world.clock.advance(lifetime - margin - 20)
    before = ref.mock.seq()
    kept = world.flows.expect_token(_request(world, x, a, ref), "a request before the margin")
    assert kept == token, "the token was replaced before its margin"
    assert not ref.mock.requests(after=before), "the provider was contacted before the margin"
    world.clock.advance(40)
    first = world.flows.expect_token(_request(world, x, a, ref), "a request inside the margin")
    assert first["access_token"] != token["access_token"], "an unusable token was returned"
    sent = ref.mock.token_requests("refresh_token", after=before)
    assert len(sent) == 1, f"{len(sent)} refresh requests"
    assert "scope" not in (sent[0].get("form") or {}), "the refresh sent a scope parameter"
    assert first["scopes"] == token["scopes"], f"scopes after refresh {first['scopes']}"
    world.clock.advance(lifetime)
    second = world.flows.expect_token(_request(world, x, a, ref), "a second refresh")
    assert second["access_token"] not in (first["access_token"], token["access_token"]), (
        "the second refresh did not produce a new token (was the rotated refresh token kept?)"
    )


def _lifetime(mock: MockProvider) -> int:
    config = mock.reload_config()
    api = (config.get("apis") or [{}])[0]
    lifetime = api.get("access_token_lifetime")
    return int(lifetime) if isinstance(lifetime, int) else 3600


@check("VLT-REF-002", needs=TIMED, profiles=PROFILES)
def test_concurrent_requests_share_one_refresh(world: VaultWorld) -> None:
    """Requests that need the same entry refreshed at the same time cause exactly one
    refresh request at the provider and all get its outcome (VLT-REF-002). The provider's
    token endpoint is slowed down, so the requests overlap."""
    assert world.clock is not None
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    _obtain(world, x, a, ref)
    world.clock.advance(_lifetime(ref.mock) + 1)
    wats = [world.flows.wat(x, user=a) for _ in range(4)]
    before = ref.mock.seq()
    fault = ref.mock.fault(endpoint="token", delay=0.5, count=1)
    results: list[httpx.Response | BaseException] = []
    lock = threading.Lock()

    def one(wat: str) -> None:
        try:
            answer: httpx.Response | BaseException = world.flows.resource_token(
                x, wat, provider=ref.name, scopes=_first_scope(ref)
            )
        except BaseException as error:  # noqa: BLE001 - reported below
            answer = error
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=one, args=(w,)) for w in wats]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    ref.mock.clear_faults()
    del fault
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise InfrastructureError(f"a concurrent request failed: {type(errors[0]).__name__}")
    tokens = {_token_of(r) for r in results if isinstance(r, httpx.Response)}
    refreshes = ref.mock.token_requests("refresh_token", after=before)
    assert len(refreshes) == 1, f"{len(refreshes)} refresh requests for one entry"
    assert len(results) == len(wats), f"{len(results)} of {len(wats)} requests answered"
    assert None not in tokens, "a concurrent request got no token"
    assert len(tokens) == 1, f"the concurrent requests got {len(tokens)} different tokens"


@check(
    "VLT-REF-003",
    shape=("VLT-REF-003", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=TIMED,
    profiles=PROFILES,
)
def test_a_rejected_refresh_falls_through_and_an_outage_changes_nothing(
    world: VaultWorld,
) -> None:
    """A refresh answered 5xx is 502 upstream_error and leaves the entry (the next request
    refreshes); a refresh answered invalid_grant (the refresh token expired at the provider)
    starts a new session instead of an error (VLT-REF-003)."""
    assert world.clock is not None
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    _obtain(world, x, a, ref)
    world.clock.advance(_lifetime(ref.mock) + 1)
    ref.mock.fault(endpoint="token", status=503, count=1)
    failed = _request(world, x, a, ref)
    ref.mock.clear_faults()
    expect_problem(failed, 502, "upstream_error", "a refresh the provider answered 503")
    world.flows.expect_token(_request(world, x, a, ref), "the request after the outage")
    refresh_lifetime = _refresh_lifetime(ref.mock)
    world.clock.advance(refresh_lifetime + 60)
    before = ref.mock.seq()
    answer = _request(world, x, a, ref)
    assert ref.mock.token_requests("refresh_token", after=before), "no refresh was attempted"
    world.flows.expect_session(answer, "a request after the provider rejected the refresh")


def _refresh_lifetime(mock: MockProvider) -> int:
    api = (mock.reload_config().get("apis") or [{}])[0]
    lifetime = api.get("refresh_token_lifetime")
    return int(lifetime) if isinstance(lifetime, int) else 30 * 86_400


# -- m2m and API keys (VLT-M2M-*, VLT-APIK-001) ----------------------------------------------------


@check("VLT-M2M-001", "VLT-M2M-002", "VLT-CLI-004", "CNS-REC-002", needs=FLOWS, profiles=PROFILES)
def test_m2m_tokens_come_from_client_credentials_and_are_cached_per_workload(
    world: VaultWorld,
) -> None:
    """m2m: one client_credentials request with the scope; repeated requests are served from
    the cache (the provider's token endpoint is hit once); another workload or another scope
    set gets its own token; the granted scopes are the response's; no consent is created."""
    x, y = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    mock = ref.mock
    before = mock.seq()
    first = world.flows.expect_token(_request(world, x, a, ref, flow="m2m"), "an m2m request")
    sent = mock.token_requests("client_credentials", after=before)
    assert len(sent) == 1, f"{len(sent)} client_credentials requests"
    form = sent[0].get("form") or {}
    assert form.get("scope") == " ".join(_first_scope(ref)), f"scope sent: {form.get('scope')!r}"
    for _ in range(3):
        again = world.flows.expect_token(_request(world, x, None, ref, flow="m2m"), "repeated m2m")
        assert again["access_token"] == first["access_token"], "the cached token was not reused"
    assert len(mock.token_requests("client_credentials", after=before)) == 1, (
        "repeated m2m requests reached the provider's token endpoint"
    )
    theirs = world.flows.expect_token(_request(world, y, None, ref, flow="m2m"), "another workload")
    assert theirs["access_token"] != first["access_token"], "two workloads share an m2m token"
    default = world.flows.expect_token(_request(world, x, None, ref, [], flow="m2m"), "no scopes")
    assert default["access_token"] != first["access_token"], "another scope set shares the token"
    assert default["scopes"] == mock.default_scopes, (
        f"granted scopes {default['scopes']} are not the provider's answer {mock.default_scopes}"
    )
    assert len(mock.token_requests("client_credentials", after=before)) == 3, (
        "the per-workload and per-scope tokens were not requested"
    )
    assert not _consents(world, provider=ref.name), "the m2m flow created a consent"


@check("VLT-M2M-002", "VLT-CLI-003", needs=TIMED, profiles=PROFILES)
def test_a_cached_m2m_token_is_replaced_shortly_before_expiry(world: VaultWorld) -> None:
    """The m2m cache serves a token only while it is usable: inside the margin a new token
    is requested (VLT-M2M-002, VLT-CLI-003)."""
    assert world.clock is not None
    x, _ = _workloads(world)
    ref = world.provider()
    first = world.flows.expect_token(_request(world, x, None, ref, flow="m2m"), "an m2m request")
    lifetime = _lifetime(ref.mock)
    world.clock.advance(lifetime - min(60, lifetime // 2) + 20)
    before = ref.mock.seq()
    second = world.flows.expect_token(_request(world, x, None, ref, flow="m2m"), "later")
    assert second["access_token"] != first["access_token"], "an unusable cached token was returned"
    assert len(ref.mock.token_requests("client_credentials", after=before)) == 1


@check(
    "VLT-APIK-001",
    shape=("VLT-APIK-001", "ERR-RULE-005", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_api_keys_only_for_allowed_workloads(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """An allowed workload gets the key; a workload not allowed and an unknown provider get
    404 provider_not_found with bodies equal but request_id; another workload's WAT is 401
    token_invalid (VLT-APIK-001)."""
    x, y = _workloads(world)
    name, key = world.api_key_provider([x.name])
    x_wat, y_wat = world.flows.wat(x), world.flows.wat(y)
    control = positive_control(
        "the allowed workload gets the key",
        lambda: world.flows.api_key(x, x_wat, name),
        expect=lambda r: r.status_code == 200 and r.json() == {"api_key": key},
    )
    with control.bracket():
        not_allowed = world.flows.api_key(y, y_wat, name)
        expect_problem(not_allowed, 404, "provider_not_found", "a workload not allowed")
        unknown = world.flows.api_key(y, y_wat, world.name("no-such-key"))
        expect_problem(unknown, 404, "provider_not_found", "an unknown API-key provider")
        with error_shape():  # ERR-RULE-005: no existence oracle
            assert _problem_body(not_allowed) == _problem_body(unknown), (
                "'not allowed' and 'unknown' answers differ (an existence oracle)"
            )
        stolen = world.flows.api_key(y, x_wat, name)
        expect_problem(stolen, 401, "token_invalid", "another workload's WAT")
        for answer in (not_allowed, unknown, stolen):
            assert key not in answer.text, "the API key is in an error body"


# -- the service as a client: upstream failures, discovery, revocation, on-behalf-of -------------


def _alias_origin(url: str) -> str | None:
    """``url`` with its loopback host written the other way (127.0.0.1 <-> localhost): the
    same server under another identifier, or ``None`` if the host is not one of those."""
    parts = urlsplit(url)
    swap = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}.get(parts.hostname or "")
    if swap is None:
        return None
    netloc = swap + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@check(
    "PRV-CFG-002",
    shape=("PRV-CFG-002", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=FLOWS,
    profiles=PROFILES,
)
def test_a_discovery_document_for_another_issuer_is_not_used(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """The mock's metadata fetched under another name of its host names an issuer other
    than the one the discovery URL implies: no endpoint of it is used, and a request
    needing the provider fails with 502 upstream_error (PRV-CFG-002); a target that
    refuses the provider when it is saved answers 400 validation_failed or 502
    upstream_error."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    mock = world.mock()
    alias = _alias_origin(mock.metadata_url)
    if alias is None:
        pytest.skip("the mock provider's host has no second name to fetch its metadata under")
    control = _session_control(positive_control, world, x, a, world.provider(mock))
    with control.bracket():
        name = world.fresh("iss")
        body = world.provider_body(mock, name, discovery_url=alias)
        created = world.admin("POST", "/v1/providers/oauth2", body)
        if created.status_code == 201:
            world.adopt_provider(name)
        elif created.status_code in (400, 502):
            # refused when saved: its endpoints are never used either
            code = "validation_failed" if created.status_code == 400 else "upstream_error"
            expect_problem(created, created.status_code, code, "saving the provider")
            return
        else:
            raise ConformanceFailure(
                "a provider whose metadata names another issuer", observed=created.text[:200]
            )
        before = mock.seq()
        failures = []
        for flow, user in (("user_federation", a), ("m2m", None)):
            answer = _request(world, x, user, name, mock.scopes[:1], flow=flow)
            try:  # the refusal; its shape (502 upstream_error) is recorded apart
                expect_problem(answer, 502, "upstream_error", f"a {flow} request")
            except ConformanceFailure as error:
                failures.append(f"{flow}: {str(error).splitlines()[-1]}")
        used = [e.get("endpoint") for e in mock.requests(after=before)]
        used = [e for e in used if e in ("authorize", "token", "revoke", "introspect")]
        if used:
            failures.append(f"endpoints of the unverified document were used: {used}")
        assert not failures, "; ".join(failures)


@check(
    "VLT-CLI-002",
    "ERR-RULE-002",
    shape=("VLT-CLI-002", "VLT-CB-004", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=FLOWS,
    profiles=PROFILES,
)
def test_an_unusable_token_response_is_502_and_stores_nothing(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """A token response that is truncated JSON, or a 5xx, is 502 upstream_error whose body
    does not reproduce the provider's; nothing is stored, so the next request asks the
    provider again (VLT-CLI-002); a failed code redemption fails the session with
    code_redemption_failed (VLT-CB-004)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    mock = ref.mock
    control = _session_control(positive_control, world, x, a, world.provider())
    failures = []
    with control.bracket():
        for label, fault in (
            ("truncated JSON", {"malformed": True}),
            ("HTTP 500", {"status": 500}),
        ):
            ref = world.provider(mock)  # an empty m2m cache
            before = mock.seq()
            mock.fault(endpoint="token", count=1, **fault)
            try:
                answer = _request(world, x, None, ref, flow="m2m")
            finally:
                mock.clear_faults()
            try:  # the refusal; its shape (502 upstream_error) is recorded apart
                expect_problem(answer, 502, "upstream_error", f"a token response of {label}")
            except ConformanceFailure as error:
                failures.append(f"{label}: {str(error).splitlines()[-1]}")
            else:
                if "access_token" in answer.text or "{" in _detail(answer):
                    failures.append(f"{label}: the problem reproduces the provider's response")
            retried = _request(world, x, None, ref, flow="m2m")
            sent = mock.token_requests("client_credentials", after=before)
            if not _returns_token(retried) or len(sent) != 2:
                failures.append(f"{label}: the failed answer was kept ({len(sent)} requests)")
        session, _ = _start(world, x, a, ref)
        mock.fault(endpoint="token", count=1, malformed=True)
        try:
            response = world.flows.callback(world.flows.authorize(mock, session, a))
        finally:
            mock.clear_faults()
        query = world.flows.expect_return(response, session, "a failed code redemption")
        with error_shape():  # the reason the session failed (VLT-CB-004)
            assert query.get("error") == ["code_redemption_failed"], (
                f"a failed redemption returned error={query.get('error')}"
            )
    assert not failures, "; ".join(failures)


def _detail(response: httpx.Response) -> str:
    """A problem's ``detail`` (empty when the body is no JSON object)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("detail", "")) if isinstance(body, dict) else ""


@check("VLT-RVK-002", "VLT-RVK-001", "CNS-REV-003", needs=[*FLOWS, "consent"], profiles=PROFILES)
def test_a_failed_upstream_revocation_never_delays_the_local_deletion(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """The provider answers the revocation with 503: the consent revocation still answers
    204 and takes effect at once (the next request starts a session, the old token is
    never returned); each attempt is audited as upstream.revoke (VLT-RVK-002)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    token = _obtain(world, x, a, ref)["access_token"]
    consent = [c for c in _consents(world, provider=ref.name) if c.get("workload") == x.name]
    assert len(consent) == 1, f"{len(consent)} consents after one completed session"
    control = _session_control(positive_control, world, x, a, world.provider())
    with control.bracket():
        before = ref.mock.seq()
        ref.mock.fault(endpoint="revoke", status=503)
        try:
            revoked = world.admin("DELETE", f"/v1/consents/{quote(str(consent[0]['id']), safe='')}")
            answer = _request(world, x, a, ref)
        finally:
            ref.mock.clear_faults()
        assert revoked.status_code == 204, f"the revocation answered HTTP {revoked.status_code}"
        assert _token_of(answer) != token, "the old token was returned after the revocation"
        world.flows.expect_session(answer, "the request after a revocation the provider refused")
        attempts = ref.mock.requests("revoke", after=before)
        assert attempts, "no revocation was attempted at the provider"
        if world.target.has("audit"):
            events = [
                e
                for e in audit_events(world.target, operation="upstream.revoke", workload=x.name)
                if e.get("provider") == ref.name
            ]
            assert events, "the revocation attempts were not audited as upstream.revoke"


def _trust_the_users_idp(world: VaultWorld, mock: MockProvider) -> None:
    """Configure ``mock`` to accept the users' IdP tokens as token-exchange subject tokens."""
    case = world.provisioning.primary
    probe = case.mint()
    issuer = str(probe.claims["iss"])
    audience = probe.claims.get("aud")
    config = mock.reload_config()
    vendor = dict(config.get("vendor") or {})
    trusted = [t for t in vendor.get("trusted_issuers") or [] if t.get("issuer") != issuer]
    trusted.append(
        {
            "issuer": issuer,
            "jwks": case.idp.jwks(case.server),
            "audience": audience[0] if isinstance(audience, list) else audience,
        }
    )
    mock.put_config({**config, "vendor": {**vendor, "trusted_issuers": trusted}})


@check(
    "VLT-OBO-001",
    "VLT-OBO-002",
    "CNS-REC-002",
    shape=("VLT-OBO-001", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=FLOWS,
    profiles=PROFILES,
)
def test_on_behalf_of_exchanges_the_bound_user_token_and_only_that(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """on_behalf_of sends the WAT's bound user JWT in an RFC 8693 exchange (subject_token,
    its type, requested_token_type, audience, scope) and returns the issued token; a WAT
    bound to a user ID gets 403 forbidden without any upstream call; no consent is
    created (VLT-OBO-001, VLT-OBO-002)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    mock = world.second_mock()
    _trust_the_users_idp(world, mock)
    ref = world.provider(mock, on_behalf_of={"grant": "token_exchange", "audience": mock.resource})
    control = _session_control(positive_control, world, x, a, world.provider())
    with control.bracket():
        before = mock.seq()
        by_id = world.flows.resource_token(
            x,
            world.flows.wat(x, user_id="kit-obo-user"),
            provider=ref.name,
            scopes=_first_scope(ref),
            flow="on_behalf_of",
        )
        expect_problem(by_id, 403, "forbidden", "on_behalf_of with a WAT bound to a user ID")
        assert not mock.requests("token", after=before), "the user-ID request reached the provider"
        answer = _request(world, x, a, ref, flow="on_behalf_of")
        token = world.flows.expect_token(answer, "an on_behalf_of request")
        sent = mock.token_requests(TOKEN_EXCHANGE, after=before)
        assert len(sent) == 1, f"{len(sent)} token-exchange requests"
        form = sent[0].get("form") or {}
        expected = {
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
            "audience": mock.resource,
            "scope": " ".join(_first_scope(ref)),
        }
        wrong = {k: form.get(k) for k, v in expected.items() if form.get(k) != v}
        assert not wrong, f"the exchange sent {wrong}"
        assert "subject_token" in form, "the exchange carries no subject_token"
        assert token["scopes"] == _first_scope(ref), f"scopes {token['scopes']}"
        assert not _consents(world, provider=ref.name), "on_behalf_of created a consent"


#: Algorithms the kit accepts on the service's client assertions (RFC 7518, RFC 8037).
ASSERTION_ALGORITHMS: Final = ("RS256", "PS256", "ES256", "ES384", "EdDSA")
JWT_BEARER: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _stub_token(request: StubRequest) -> StubAnswer:
    """The stub's token endpoint: a bearer token for whatever was asked."""
    if request.path != "/token":
        return 404, {}, {"error": "invalid_request"}
    scope = (request.form.get("scope") or [""])[0]
    token = "kit-stub-at-" + secrets.token_urlsafe(24)
    return (
        200,
        {"Cache-Control": "no-store"},
        {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": scope,
        },
    )


def _create_stub_provider(world: VaultWorld, body: dict[str, Any]) -> str:
    """Create a provider pointing at the kit's loopback stub; SKIP if the target refuses
    loopback ``http`` (it is not in development mode: the stub is out of its reach)."""
    name = world.fresh("stub")
    created = world.admin("POST", "/v1/providers/oauth2", {**body, "name": name})
    if created.status_code == 400 and "https" in created.text:
        pytest.skip("the target refuses loopback http endpoints, so the kit's stub is unreachable")
    if created.status_code != 201:
        raise ConformanceFailure(
            "a provider with explicit endpoints must be created (PRV-CFG-001)",
            observed=f"HTTP {created.status_code}: {created.text[:300]}",
        )
    world.adopt_provider(name)
    return name


def _verify_assertion(
    assertion: str, jwks: dict[str, Any], client_id: str, audience: str
) -> dict[str, Any]:
    """PRV-AUTH-002: a JWS signed by a key of the service's JWK Set, named by kid, with
    iss = sub = client_id, a single-string aud, a jti, and exp at most 300 s after iat."""
    try:
        token = jwt.decode(
            assertion, KeySet.import_key_set(cast(Any, jwks)), algorithms=list(ASSERTION_ALGORITHMS)
        )
    except (JoseError, ValueError) as error:
        raise ConformanceFailure(
            "the client assertion does not verify with the service's JWK Set (PRV-AUTH-002)",
            observed=type(error).__name__,
        ) from None
    header, claims = token.header, token.claims
    problems = []
    kids = {key.get("kid") for key in jwks.get("keys", []) if isinstance(key, dict)}
    if header.get("kid") not in kids:
        problems.append("kid does not name a published key")
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        problems.append(f"iss/sub {claims.get('iss')!r}/{claims.get('sub')!r}")
    if claims.get("aud") != audience:
        problems.append(f"aud {claims.get('aud')!r} (expected the single string {audience!r})")
    jti, iat, exp = claims.get("jti"), claims.get("iat"), claims.get("exp")
    if not isinstance(jti, str) or len(jti) < 16:
        problems.append("jti is missing or too short for 128 random bits")
    if not isinstance(iat, int) or not isinstance(exp, int) or not 0 < exp - iat <= 300:
        problems.append(f"iat {iat!r}, exp {exp!r}: exp must be at most 300 s after iat")
    if problems:
        raise ConformanceFailure(
            "the client assertion is wrong (PRV-AUTH-002)", observed="; ".join(problems)
        )
    return dict(claims)


@check("PRV-AUTH-002", "PRV-AUTH-001", needs=[*NEEDS, "jwks"], profiles=PROFILES)
def test_private_key_jwt_assertions_are_fresh_and_signed_by_the_service(
    proctor_target: Target, world: VaultWorld, positive_control: ControlFactory
) -> None:
    """With private_key_jwt the service authenticates with a new RFC 7523 assertion per
    request, signed with a key of its /oauth2/jwks, iss = sub = client_id, aud = the
    provider's issuer (one string), exp at most 300 s after iat, and no secret anywhere.
    The provider is a stub the kit serves on loopback and verifies the assertions."""
    x, _ = _workloads(world)
    client_id = "kit-pkjwt-" + secrets.token_hex(4)
    with stub_provider(_stub_token) as stub:
        name = _create_stub_provider(
            world,
            {
                "vendor": "custom",
                "authorization_server_metadata": stub.metadata(),
                "client_id": client_id,
                "client_auth_method": "private_key_jwt",
                "scopes": ["kit.read", "kit.write"],
            },
        )
        control = positive_control(
            "the service's JWK Set is served",
            lambda: proctor_target.client.get(proctor_target.endpoint("jwks")),
            expect=200,
        )
        with control.bracket() as first:
            jwks = json_object(first, "the JWK Set")
            answers = [
                _request(world, x, None, name, scopes, flow="m2m")
                for scopes in (["kit.read"], ["kit.write"])
            ]
            posts = [r for r in stub.received if r.path == "/token"]
            if not posts:
                raise InfrastructureError("the target did not reach the kit's loopback stub")
            assert all(_returns_token(a) for a in answers), (
                f"m2m with private_key_jwt failed: {[a.status_code for a in answers]}"
            )
            assert len(posts) == 2, f"{len(posts)} token requests for two scope sets"
            jtis = []
            for post in posts:
                form = post.form
                assert form.get("client_assertion_type") == [JWT_BEARER], (
                    f"client_assertion_type {form.get('client_assertion_type')}"
                )
                assert "client_secret" not in form, "a client_secret was sent"
                assert "authorization" not in post.headers, "an Authorization header was sent"
                assertions = form.get("client_assertion") or []
                assert len(assertions) == 1, f"{len(assertions)} client assertions"
                jtis.append(_verify_assertion(assertions[0], jwks, client_id, stub.url)["jti"])
            assert len(set(jtis)) == len(jtis), "an assertion was reused (the same jti)"


@check(
    "VLT-CLI-001",
    shape=("VLT-CLI-001", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=FLOWS,
    profiles=PROFILES,
)
def test_back_channel_redirects_are_not_followed(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """A token endpoint that answers 307 to the real one is a failure (502 upstream_error):
    the service does not follow back-channel redirects (VLT-CLI-001). The redirecting
    endpoint is a stub the kit serves on loopback; the real endpoint is a mock's."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    mock = world.mock()
    real = mock.endpoint("token")

    def redirect(request: StubRequest) -> StubAnswer:
        return 307, {"Location": real}, None

    control = _session_control(positive_control, world, x, a, world.provider())
    with stub_provider(redirect) as stub:
        name = _create_stub_provider(
            world,
            world.provider_body(
                mock,
                "",
                discovery_url=None,
                authorization_server_metadata={
                    "issuer": stub.url,
                    "authorization_endpoint": mock.endpoint("authorize"),
                    "token_endpoint": f"{stub.url}/token",
                },
            ),
        )
        with control.bracket():
            before = mock.seq()
            answer = _request(world, x, None, name, mock.scopes[:1], flow="m2m")
            if not stub.received:
                raise InfrastructureError("the target did not reach the kit's loopback stub")
            expect_problem(answer, 502, "upstream_error", "a token endpoint that redirects")
            followed = mock.token_requests("client_credentials", after=before)
            assert not followed, "the service followed the redirect to the real token endpoint"


@check(
    "PRV-VEND-004",
    "PRV-VEND-002",
    "VLT-CLI-002",
    shape=("VLT-CB-004",),
    needs=FLOWS,
    profiles=PROFILES,
)
def test_github_responses_are_normalised(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """A github preset pointed at the kit's GitHub mock: the token request asks for JSON,
    the comma-separated scope is split, a token without expires_in never expires
    (expires_at null), and an error answered with HTTP 200 fails the session (with
    code_redemption_failed, VLT-CB-004) instead of storing anything (PRV-VEND-004)."""
    mock = world.mocks.get("github")
    if mock is None:
        pytest.skip("no GitHub mock among suite_options.vault.providers")
    x, _ = _workloads(world)
    a, _ = _users(world)
    scopes: list[str] = [s for s in ("repo", "user:email") if s in mock.scopes] or mock.scopes[:2]
    ref = world.provider(
        mock,
        vendor="github",
        discovery_url=None,
        authorization_server_metadata={
            "issuer": mock.issuer,
            "authorization_endpoint": mock.endpoint("authorize"),
            "token_endpoint": mock.endpoint("token"),
        },
        scopes=scopes,
    )
    control = _session_control(positive_control, world, x, a, world.provider())
    with control.bracket():
        before = mock.seq()
        token = _obtain(world, x, a, ref, scopes)
        assert token["expires_at"] is None, f"expires_at {token['expires_at']} for a GitHub token"
        assert sorted(token["scopes"]) == sorted(scopes), f"scopes {token['scopes']}"
        sent = mock.token_requests("authorization_code", after=before)
        accept = str((sent[0].get("headers") or {}).get("accept", "")) if sent else ""
        assert "application/json" in accept, f"the token request sent Accept {accept!r}"
        session, _ = _start(world, x, a, ref, scopes, force_authentication=True)
        state = session.param("state") or ""
        response = world.flows.callback(
            world.target.url("/oauth2/callback") + f"?state={quote(state)}&code=kit-bogus-code"
        )
        query = world.flows.expect_return(response, session, "a GitHub error answered 200")
        again = _request(world, x, a, ref, scopes)
        assert _token_of(again) == token["access_token"], "the GitHub error replaced the token"
        with error_shape():  # the reason the session failed
            assert query.get("error") == ["code_redemption_failed"], f"error {query.get('error')}"


# -- isolation and leaks (VLT-PART-001, VLT-LEAK-*, catalog VLT-01..04) ----------------------------


@check("VLT-PART-001", needs=FLOWS, profiles=PROFILES, catalog="VLT-01")
def test_another_users_or_workloads_token_is_never_returned(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """A WAT for user B, or of workload Y, never yields the entry of (X, A, provider): their
    requests start their own sessions; their flows store their own tokens and leave A's
    entry as it was (VLT-PART-001)."""
    x, y = _workloads(world)
    a, b = _users(world)
    ref = world.provider()
    token = _obtain(world, x, a, ref)["access_token"]
    control = _session_control(positive_control, world, x, a, world.provider())
    with control.bracket():
        for workload, user, label in ((x, b, "user B of workload X"), (y, a, "user A of Y")):
            answer = _request(world, workload, user, ref)
            assert _token_of(answer) != token, f"{label} got the token of (X, A)"
            world.flows.expect_session(answer, f"{label}'s first request")
        owners = {token: "(X, A)"}
        for workload, user, label in ((x, b, "(X, B)"), (y, a, "(Y, A)")):
            theirs = _obtain(world, workload, user, ref)["access_token"]
            assert theirs not in owners, (
                f"the flow of {label} yielded the token of {owners.get(theirs)}"
            )
            owners[theirs] = label
            mine = _token_of(_request(world, x, a, ref))
            assert mine == token, (
                f"after the flow of {label}, (X, A) got "
                f"{'the token of ' + owners[mine] if mine in owners else 'another token'}"
            )
            again = _token_of(_request(world, workload, user, ref))
            assert again == theirs, f"{label}'s stored token is not the one its flow produced"


@check(
    "VLT-REQ-002", "CNS-REC-003", "VLT-CLI-004", needs=FLOWS, profiles=PROFILES, catalog="VLT-02"
)
def test_scopes_beyond_the_consent_yield_no_token(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """After consent to one scope, a request that adds another allowed scope gets no token:
    a new authorization is needed (CNS-REC-003)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    if len(ref.scopes) < 2:
        pytest.skip("the mock provider has a single scope")
    token = _obtain(world, x, a, ref)
    control = _session_control(positive_control, world, x, a, world.provider())
    with control.bracket():
        wider = _request(world, x, a, ref, ref.scopes)
        assert _token_of(wider) is None, "a token was returned for scopes beyond the consent"
        world.flows.expect_session(wider, "a request beyond the consent")
        kept = _token_of(_request(world, x, a, ref))
        assert kept == token["access_token"], "the consented token is no longer returned"


@check(
    "CNS-REV-003",
    "VLT-RVK-001",
    "VLT-LEAK-002",
    "CNS-REV-001",
    needs=[*FLOWS, "consent"],
    profiles=PROFILES,
    catalog="VLT-03",
)
def test_after_the_user_revokes_consent_a_new_session_and_no_old_token(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """The user revokes their consent: the next request starts a new session and never
    returns the old token; both tokens are revoked at the provider (refresh then access
    hint) and the old access token is no longer active there (CNS-REV-003, VLT-RVK-001)."""
    x, _ = _workloads(world)
    a, b = _users(world)
    ref = world.provider()
    token = _obtain(world, x, a, ref)
    other = world.provider()
    kept = _obtain(world, x, b, other)
    control = _reuse_control(positive_control, world, x, b, other, kept["access_token"])
    mine = [c for c in _consents(world, provider=ref.name) if c.get("workload") == x.name]
    assert len(mine) == 1, f"{len(mine)} consents after one completed session"
    with control.bracket():
        before = ref.mock.seq()
        authorizer = world.authorizer
        revoked = world.target.client.delete(
            world.target.url(f"/v1/me/consents/{quote(str(mine[0]['id']), safe='')}"),
            params={"authorizer": authorizer},
            headers={"Authorization": f"Bearer {a.token()}"},
        )
        assert revoked.status_code == 204, f"the user's revocation: HTTP {revoked.status_code}"
        answer = _request(world, x, a, ref)
        assert _token_of(answer) is None, "the old token was returned after revocation"
        world.flows.expect_session(answer, "the first request after revocation")
        hints = _revokes(ref.mock, before)
        assert "refresh_token" in hints, f"the refresh token was not revoked upstream ({hints})"
        assert "access_token" in hints, f"the access token was not revoked upstream ({hints})"
        assert not ref.mock.is_active(token["access_token"]), "the old access token is active"


@check(
    "VLT-LEAK-001", "ERR-RULE-002", "VLT-PKCE-003", needs=FLOWS, profiles=PROFILES, catalog="VLT-04"
)
def test_error_bodies_carry_no_token_material(
    proctor_target: Target, world: VaultWorld, positive_control: ControlFactory
) -> None:
    """Errors across the vault's endpoints (body and headers) contain no access token, user
    token, WAT, API key, client secret, authorization code or state (VLT-LEAK-001)."""
    x, y = _workloads(world)
    a, b = _users(world)
    ref = world.provider()
    token = _obtain(world, x, a, ref)
    key_name, api_key = world.api_key_provider([x.name])
    session, wat = _start(world, x, a, ref, force_authentication=True)
    callback_url = world.flows.authorize(ref.mock, session, a)
    callback_query = query_of(callback_url)
    user_token = a.token()
    known = {
        "an access token": token["access_token"],
        "the API key": api_key,
        "the provider's client secret": ref.mock.client_secret,
        "a user token": user_token,
        "a WAT": wat,
        "workload X's secret": x.client_secret,
        "the authorization code": callback_query.get("code", [""])[0],
        "the state": callback_query.get("state", [""])[0],
    }
    callback = proctor_target.url("/oauth2/callback")
    control = _session_control(positive_control, world, x, a, world.provider())
    with control.bracket():
        errors = [
            world.flows.resource_token(x, wat, provider=ref.name, scopes=["kit.nope"]),
            world.flows.resource_token(y, wat, provider=ref.name, scopes=_first_scope(ref)),
            world.flows.resource_token(x, wat, provider=world.name("nope"), scopes=[]),
            world.flows.resource_token(x, wat, provider=ref.name, scopes=[], return_url="x"),
            world.flows.resource_token(
                x, wat, provider=ref.name, scopes=[], session_uri=SESSION_URI_PREFIX + "x" * 43
            ),
            world.flows.resource_token(
                x,
                wat,
                provider=ref.name,
                scopes=[],
                custom_parameters={"code_verifier": token["access_token"]},
            ),
            world.flows.api_key(y, wat, key_name),
            world.flows.api_key(y, world.flows.wat(y), key_name),
            world.flows.complete(x, session.session_uri, user_token=user_token + "x"),
            world.flows.complete(x, session.session_uri, user=b),
            proctor_target.client.post(
                proctor_target.url("/v1/resource-tokens/oauth2"),
                json={
                    "workload_access_token": token["access_token"],
                    "provider": ref.name,
                    "flow": "m2m",
                },
                headers={"Authorization": f"Bearer {token['access_token']}"},
            ),
            proctor_target.client.get(
                callback,
                params={
                    "state": callback_query.get("state", [""])[0] + "x",
                    "code": callback_query.get("code", [""])[0],
                },
            ),
            proctor_target.client.get(
                world.target.url("/v1/me/consents"),
                params={"authorizer": world.authorizer},
                headers={"Authorization": f"Bearer {user_token}x"},
            ),
        ]
        statuses = [e.status_code for e in errors]
        assert all(status >= 400 for status in statuses), f"a probe did not fail: {statuses}"
        texts = [e.text for e in errors] + [str(dict(e.headers)) for e in errors]
        leaked = secrets_in(texts, known)
        assert not leaked, f"error answers contain {', '.join(leaked)}"


@check("VLT-LEAK-002", "VLT-LEAK-001", "PRV-CFG-003", needs=FLOWS, profiles=PROFILES)
def test_no_response_of_the_vault_api_carries_a_secret_or_a_refresh_token(
    world: VaultWorld,
) -> None:
    """Across a completed flow, reuse, m2m, consents and the control plane's provider views,
    no answer carries the client secret, and no string in any answer is a token the provider
    considers active other than the access tokens delivered as such (VLT-LEAK-002)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    mock = ref.mock
    session, wat = _start(world, x, a, ref)
    answers: list[httpx.Response] = []
    callback = world.flows.callback(world.flows.authorize(mock, session, a))
    world.flows.expect_return(callback, session)
    answers.append(callback)
    answers.append(world.flows.complete(x, session.session_uri, user=a))
    polled = world.flows.resource_token(
        x, wat, provider=ref.name, scopes=_first_scope(ref), session_uri=session.session_uri
    )
    answers += [polled, _request(world, x, a, ref), _request(world, x, None, ref, flow="m2m")]
    answers += [
        world.admin("GET", f"/v1/providers/oauth2/{quote(ref.name, safe='')}"),
        world.admin("GET", "/v1/providers/oauth2?limit=100"),
        world.admin("GET", f"/v1/consents?provider={quote(ref.name, safe='')}"),
    ]
    delivered = set()
    for answer in answers:
        if answer.status_code != 200 and answer.status_code != 303:
            raise ConformanceFailure(
                "a step of the flow failed",
                observed=f"HTTP {answer.status_code}: {answer.text[:200]}",
            )
        if _token_of(answer) is not None:
            body = world.flows.expect_token(answer, "a token answer")
            delivered.add(body["access_token"])
    assert not secrets_in(
        [a.text for a in answers] + [str(dict(a.headers)) for a in answers],
        {"the client secret": mock.client_secret},
    ), "the provider's client secret is in an answer"
    candidates: set[str] = set()
    for answer in answers:
        try:
            strings = list(iter_strings(answer.json())) if answer.content else []
        except ValueError:
            strings = [answer.text]
        strings.append(answer.headers.get("location", ""))
        for text in strings:
            candidates.update(c for c in re.findall(r"[A-Za-z0-9._~+/=-]{20,}", text) if _random(c))
    suspicious = sorted(c for c in candidates - delivered if mock.is_active(c))
    assert not suspicious, (
        f"{len(suspicious)} string(s) in the answers are live provider tokens that were not "
        "delivered as an access token (a refresh token or a pending token leaked)"
    )


def _random(value: str) -> bool:
    """Whether ``value`` looks like a random token (digits, upper and lower case letters),
    not a name, a URL path or a JSON member."""
    return (
        any(c.isdigit() for c in value)
        and any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and "://" not in value
    )


# -- the state machine -----------------------------------------------------------------------------


Key = tuple[str, str, str]  # (workload suffix, user name, provider name)


class _IsolationMachine(RuleBasedStateMachine):
    """A model of the vault for two users, two workloads and two fresh providers."""

    def __init__(self, world: VaultWorld) -> None:
        super().__init__()
        self.world = world
        self.refs = [world.provider(), world.provider(world.second_mock())]
        self.granted: dict[Key, frozenset[str]] = {}
        self.owner: dict[str, Key] = {}
        self.revoked: set[str] = set()
        self.subject: dict[tuple[str, str], str] = {}
        self.m2m: dict[tuple[str, str], str] = {}

    def teardown(self) -> None:
        for ref in self.refs:
            self.world.admin("DELETE", f"/v1/providers/oauth2/{quote(ref.name, safe='')}")

    def _pick(self, w: int, u: int, p: int) -> tuple[Workload, VaultUser, ProviderRef, Key]:
        workload = _workloads(self.world)[w]
        user = _users(self.world)[u]
        ref = self.refs[p]
        return workload, user, ref, (workload.name, user.name, ref.name)

    def _scopes(self, ref: ProviderRef, wide: bool) -> list[str]:
        return ref.scopes if wide else _first_scope(ref)

    def _observe(self, key: Key, user: VaultUser, ref: ProviderRef, body: dict[str, Any]) -> None:
        """A token returned for ``key``: never another key's, never revoked, within the grant."""
        token = body["access_token"]
        owner = self.owner.get(token)
        if owner is not None and owner != key:
            raise ConformanceFailure(
                "a token was returned to another (workload, user, provider) (VLT-PART-001)",
                expected=f"a token of {key}",
                observed=f"the token of {owner}",
            )
        if token in self.revoked:
            raise ConformanceFailure(
                "a token discarded by a consent revocation was returned (CNS-REV-003)",
                observed=f"for {key}",
            )
        granted = self.granted.get(key)
        if granted is None or not set(body["scopes"]) <= granted:
            raise ConformanceFailure(
                "returned scopes exceed what the user granted (VLT-CLI-004, CNS-REC-003)",
                expected=f"within {sorted(granted or [])}",
                observed=f"{body['scopes']} for {key}",
            )
        if owner is None:
            info = ref.mock.introspect(token)
            subject = str(info.get("sub"))
            known = self.subject.setdefault((user.name, ref.name), subject)
            others = {s for (u, p), s in self.subject.items() if p == ref.name and u != user.name}
            if subject != known or subject in others:
                raise ConformanceFailure(
                    "the provider issued this token for another user (VLT-PART-001)",
                    observed=f"subject {subject!r} for {key}",
                )
            self.owner[token] = key

    @rule(w=st.integers(0, 1), u=st.integers(0, 1), p=st.integers(0, 1), wide=st.booleans())
    def consent(self, w: int, u: int, p: int, wide: bool) -> None:
        workload, user, ref, key = self._pick(w, u, p)
        scopes = self._scopes(ref, wide)
        flows = self.world.flows
        wat = flows.wat(workload, user=user)
        answer = flows.resource_token(workload, wat, provider=ref.name, scopes=scopes)
        if _returns_token(answer):
            if key not in self.granted or not set(scopes) <= self.granted[key]:
                raise ConformanceFailure(
                    "a token was returned without a consent covering the request (CNS-REC-003)",
                    observed=f"{scopes} for {key}",
                )
            self._observe(key, user, ref, flows.expect_token(answer))
            return
        session = flows.expect_session(answer, "a request without covering consent")
        flows.run_to_callback(ref.mock, session, user)
        done = flows.complete(workload, session.session_uri, user=user)
        if done.status_code != 200:
            raise ConformanceFailure("completion failed", observed=f"HTTP {done.status_code}")
        self.granted[key] = frozenset(scopes)
        polled = flows.resource_token(
            workload, wat, provider=ref.name, scopes=scopes, session_uri=session.session_uri
        )
        self._observe(key, user, ref, flows.expect_token(polled))

    @rule(w=st.integers(0, 1), u=st.integers(0, 1), p=st.integers(0, 1), wide=st.booleans())
    def request(self, w: int, u: int, p: int, wide: bool) -> None:
        workload, user, ref, key = self._pick(w, u, p)
        scopes = self._scopes(ref, wide)
        answer = _request(self.world, workload, user, ref, scopes)
        covered = key in self.granted and set(scopes) <= self.granted[key]
        if _returns_token(answer):
            if not covered:
                raise ConformanceFailure(
                    "a token was returned without a consent covering the request "
                    "(VLT-PART-001, CNS-REC-003)",
                    observed=f"{scopes} for {key}",
                )
            self._observe(key, user, ref, self.world.flows.expect_token(answer))
        elif covered:
            raise ConformanceFailure(
                "a covered request did not return the stored token (VLT-3LO-001)",
                observed=f"HTTP {answer.status_code} for {key}: {answer.text[:150]}",
            )
        else:
            self.world.flows.expect_session(answer, "an uncovered request")

    @precondition(lambda self: bool(self.granted))
    @rule(data=st.data(), by_admin=st.booleans())
    def revoke(self, data: st.DataObject, by_admin: bool) -> None:
        key = data.draw(st.sampled_from(sorted(self.granted)), label="consent")
        workload_name, user_name, provider = key
        user = next(u for u in self.world.users if u.name == user_name)
        subject = str(self.world.identity(user).get("subject"))
        found = _consents(self.world, provider=provider, workload=workload_name, user=subject)
        if len(found) != 1:
            raise ConformanceFailure(
                "one consent per completed (workload, user, provider) is listed (CNS-LIST-002)",
                observed=f"{len(found)} for {key}",
            )
        path = quote(str(found[0]["id"]), safe="")
        if by_admin:
            answer = self.world.admin("DELETE", f"/v1/consents/{path}")
        else:
            answer = self.world.target.client.delete(
                self.world.target.url(f"/v1/me/consents/{path}"),
                params={"authorizer": self.world.authorizer},
                headers={"Authorization": f"Bearer {user.token()}"},
            )
        if answer.status_code != 204:
            raise ConformanceFailure(
                "a consent revocation failed", observed=f"{answer.status_code}"
            )
        del self.granted[key]
        self.revoked.update(t for t, k in self.owner.items() if k == key)

    @precondition(lambda self: self.world.clock is not None and bool(self.granted))
    @rule()
    def expire_access_tokens(self) -> None:
        assert self.world.clock is not None
        self.world.clock.advance(max(_lifetime(ref.mock) for ref in self.refs) + 1)

    @rule(w=st.integers(0, 1), p=st.integers(0, 1))
    def machine_to_machine(self, w: int, p: int) -> None:
        workload, _, ref, _ = self._pick(w, 0, p)
        body = self.world.flows.expect_token(
            _request(self.world, workload, None, ref, flow="m2m"), "an m2m request"
        )
        token = body["access_token"]
        if token in self.owner:
            raise ConformanceFailure("an m2m request returned a user's token (VLT-PART-001)")
        for (other, provider), seen in self.m2m.items():
            if seen == token and (other, provider) != (workload.name, ref.name):
                raise ConformanceFailure(
                    "two workloads or providers share an m2m token (VLT-M2M-002)"
                )
        self.m2m[(workload.name, ref.name)] = token


def run_isolation_machine(world: VaultWorld) -> None:
    """Run :class:`_IsolationMachine` under the run's hypothesis profile and seed, with
    moderate sizes: every step is a few HTTP exchanges (a 3-legged flow about ten).

    Under ``ci`` (at most :data:`CI_MAX_EXAMPLES` examples) it runs at most 6 examples of 8
    steps without shrinking, so a failure costs no more than the run; under ``deep`` at
    most 50 examples of 20 steps, shrunk to a minimal sequence.
    """
    current = settings()
    deep = current.max_examples > CI_MAX_EXAMPLES
    chosen = settings(
        current,
        max_examples=min(current.max_examples, 50 if deep else 6),
        stateful_step_count=20 if deep else 8,
        phases=list(Phase) if deep else [Phase.explicit, Phase.reuse, Phase.generate],
    )
    factory = cast(type[RuleBasedStateMachine], functools.partial(_IsolationMachine, world))
    run_state_machine_as_test(factory, settings=chosen)


@check(
    "VLT-PART-001",
    "VLT-CLI-004",
    "CNS-REV-003",
    "VLT-3LO-001",
    needs=FLOWS,
    profiles=PROFILES,
    catalog="VLT-01",
)
def test_isolation_and_scopes_hold_under_any_sequence(world: VaultWorld) -> None:
    """A hypothesis state machine over two users, two workloads and two providers: consents
    (3-legged flows), reuse, refreshes (with a test clock), revocations by the user and the
    admin, m2m. Invariants: every token returned belongs to the (workload, user, provider)
    that asked, scopes never exceed the grant, and after a revocation the old token is
    never returned."""
    run_isolation_machine(world)
