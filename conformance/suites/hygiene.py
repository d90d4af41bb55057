"""Hygiene (spec 09, spec 10): bad input never yields a 5xx, errors have one shape and
carry no secret, credentials are checked the same way everywhere, and oversized input is
answered quickly.

The endpoints exercised are those of the native API the target declares (decisions,
workload access tokens, the control plane, the vault). Bodies are malformed on purpose:
not JSON, not UTF-8, nested 10 000 deep, huge, of the wrong type, with unknown members.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any, Final

import httpx
from hypothesis import given
from hypothesis import strategies as st

from proctor.conformance.checks import check
from proctor.conformance.config import Profile
from proctor.conformance.controls import ControlFactory
from proctor.conformance.error_shape import error_shape
from proctor.conformance.errors import ConformanceFailure
from proctor.conformance.native import (
    PROBLEM_TYPE,
    challenges,
    decide,
    expect_deny,
    expect_problem,
    is_allow,
    issue_wat,
    json_object,
    refused,
)
from proctor.conformance.provisioning import Provisioning, Workload, basic_auth
from proctor.conformance.target import Target

NEEDS: Final = ["control_plane", "inbound_authorization", "workload_identity", "workload_tokens"]
PROFILES: Final[list[Profile]] = ["proctor"]
LATENCY_BOUND: Final = 2.0
#: ERR-CODE-001: code → (status, title).
CODES: Final[dict[str, tuple[int, str]]] = {
    "invalid_request_body": (400, "Invalid request body"),
    "validation_failed": (400, "Validation failed"),
    "return_url_not_allowed": (400, "Return URL not registered"),
    "scope_not_allowed": (400, "Scope not allowed"),
    "session_expired": (400, "Session expired"),
    "session_failed": (400, "Session failed"),
    "unauthenticated": (401, "Authentication required"),
    "token_invalid": (401, "Invalid workload access token"),
    "user_token_rejected": (401, "User token rejected"),
    "forbidden": (403, "Forbidden"),
    "session_user_mismatch": (403, "Session belongs to another user"),
    "not_found": (404, "Not found"),
    "provider_not_found": (404, "Provider not found"),
    "session_not_found": (404, "Session not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "conflict": (409, "Conflict"),
    "payload_too_large": (413, "Payload too large"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "rate_limited": (429, "Too many requests"),
    "internal_error": (500, "Internal error"),
    "upstream_error": (502, "Upstream provider failed"),
}


class _Endpoint:
    """One native endpoint and how the kit authenticates to it."""

    def __init__(
        self, method: str, path: str, headers: Callable[[], dict[str, str]], needs: str
    ) -> None:
        self.method, self.path, self.headers, self.needs = method, path, headers, needs

    def send(
        self, target: Target, content: bytes, content_type: str = "application/json"
    ) -> httpx.Response:
        headers = {**self.headers(), "Content-Type": content_type}
        return target.client.request(
            self.method, target.url(self.path), content=content, headers=headers
        )

    def __repr__(self) -> str:
        return f"{self.method} {self.path}"


def _endpoints(target: Target, provisioning: Provisioning) -> list[_Endpoint]:
    workload = provisioning.workloads["main"]
    missing = provisioning.name("missing")
    table = [
        _Endpoint("POST", "/v1/decisions", workload.auth, "inbound_authorization"),
        _Endpoint("POST", "/v1/workload-access-tokens", workload.auth, "workload_tokens"),
        _Endpoint("POST", "/v1/authorizers", target.admin_headers, "control_plane"),
        _Endpoint(
            "PUT",
            f"/v1/authorizers/{provisioning.primary.name}",
            target.admin_headers,
            "control_plane",
        ),
        _Endpoint("POST", "/v1/workloads", target.admin_headers, "control_plane"),
        _Endpoint("PUT", f"/v1/workloads/{missing}", target.admin_headers, "control_plane"),
        _Endpoint("POST", "/v1/resource-tokens/api-key", workload.auth, "vault"),
        _Endpoint("POST", "/v1/resource-tokens/oauth2", workload.auth, "vault"),
    ]
    return [endpoint for endpoint in table if target.has(endpoint.needs)]


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


MALFORMED: Final[dict[str, bytes]] = {
    "an empty body": b"",
    "truncated JSON": b'{"authorizer": "x", "token": ',
    "a JSON array": b"[1, 2, 3]",
    "null": b"null",
    "a JSON string": b'"token"',
    "a JSON number": b"1e999",
    "invalid UTF-8": b'{"token": "\xff\xfe\xfd"}',
    "a lone surrogate escape": b'{"token": "\\ud800", "authorizer": "\\udfff"}',
    "a NUL in a string": b'{"name": "a\\u0000b", "authorizer": "x", "token": "x"}',
    "objects nested 10 000 deep": _nested(10_000),
    "arrays nested 10 000 deep": b"[" * 10_000 + b"]" * 10_000,
    "duplicate members": b'{"token": "a", "token": 1}',
    "a huge number": b'{"token": 1' + b"0" * 5000 + b"}",
    "a 200 KiB string": b'{"token": "' + b"x" * (200 * 1024) + b'"}',
    "wrong member types": b'{"authorizer": [], "token": {}, "name": 7, "user_id": false}',
}


def _body_control(
    positive_control: ControlFactory, target: Target, provisioning: Provisioning
) -> Any:
    token = provisioning.primary.mint().token
    workload = provisioning.workloads["main"]
    name = provisioning.primary.name
    return positive_control(
        "a well-formed decision request is answered",
        lambda: decide(target, workload, name, token),
        expect=is_allow,
    )


@check("ERR-RULE-001", "SEC-DOS-001", needs=NEEDS, profiles=PROFILES)
def test_malformed_bodies_never_yield_a_5xx(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """Every native endpoint answers malformed, deeply nested, non-UTF-8 or huge bodies
    with a 4xx, never a 5xx."""
    problems = []
    with _body_control(positive_control, proctor_target, provisioning).bracket():
        for endpoint in _endpoints(proctor_target, provisioning):
            for what, content in MALFORMED.items():
                response = endpoint.send(proctor_target, content)
                if not 400 <= response.status_code < 500:
                    problems.append(f"{endpoint} with {what}: HTTP {response.status_code}")
    if problems:
        raise ConformanceFailure(
            "bad input must be answered 4xx, never 5xx (ERR-RULE-001)",
            observed="; ".join(problems[:10]),
        )


@check(
    "ERR-RULE-001",
    shape=("ERR-SHAPE-001", "ERR-SHAPE-002", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_errors_have_the_problem_shape(proctor_target: Target, provisioning: Provisioning) -> None:
    """Every malformed body is refused with a 4xx (the check), and every error is
    ``application/problem+json`` with ``Cache-Control: no-store``, ``type``, ``title``,
    ``status``, ``code``, ``request_id`` (unique) and ``detail``; ``errors`` entries are
    ``{field, message}`` with a JSON Pointer (the error shape)."""
    problems: list[str] = []
    request_ids: set[str] = set()
    for endpoint in _endpoints(proctor_target, provisioning):
        for what, content in MALFORMED.items():
            response = endpoint.send(proctor_target, content)
            where = f"{endpoint} with {what}"
            refused(response, where, expected="a 4xx problem")
            problems += [f"{where}: {p}" for p in _shape_problems(response)]
            try:
                request_id = response.json().get("request_id")
            except (ValueError, AttributeError):
                continue
            if isinstance(request_id, str):
                if request_id in request_ids:
                    problems.append(f"{where}: request_id {request_id} repeats (ERR-SHAPE-002)")
                request_ids.add(request_id)
    with error_shape():
        if problems:
            raise ConformanceFailure(
                "native errors follow ERR-SHAPE-001/002", observed="; ".join(problems[:8])
            )


def _shape_problems(response: httpx.Response) -> list[str]:
    found = []
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/problem+json":
        found.append(f"content type {media!r}")
    if "no-store" not in response.headers.get("cache-control", "").lower():
        found.append("no Cache-Control: no-store")
    try:
        body = response.json()
    except ValueError:
        return [*found, "the body is not JSON"]
    if not isinstance(body, dict):
        return [*found, "the body is not an object"]
    code = body.get("code")
    if code not in CODES:
        return [*found, f"code {code!r} is not in the code table"]
    status, title = CODES[code]
    if response.status_code != status or body.get("status") != status:
        found.append(f"code {code} with HTTP {response.status_code}/status {body.get('status')}")
    if body.get("title") != title or body.get("type") != PROBLEM_TYPE + code:
        found.append(f"title/type of {code}: {body.get('title')!r}, {body.get('type')!r}")
    if not isinstance(body.get("request_id"), str) or not body["request_id"]:
        found.append("no request_id")
    if code != "internal_error" and not isinstance(body.get("detail"), str):
        found.append("no detail")
    allowed = {"type", "title", "status", "code", "request_id", "detail", "errors", "reason"}
    if set(body) - allowed:
        found.append(f"members {sorted(set(body) - allowed)}")
    errors = body.get("errors")
    if errors is not None:
        if code not in ("invalid_request_body", "validation_failed"):
            found.append(f"errors with code {code}")
        if not isinstance(errors, list) or not errors:
            found.append("errors is not a non-empty array")
        else:
            for entry in errors:
                if (
                    not isinstance(entry, dict)
                    or set(entry) != {"field", "message"}
                    or not isinstance(entry.get("field"), str)
                    or not (entry["field"] == "" or entry["field"].startswith("/"))
                ):
                    found.append(f"errors entry {json.dumps(entry)[:80]}")
                    break
    return found


_JSON: Final = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@check("ERR-RULE-001", "ERR-RULE-003", needs=NEEDS, profiles=PROFILES)
def test_arbitrary_json_bodies_never_yield_a_5xx(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """Property: any JSON value (objects with any members, of any types) sent to any
    native endpoint is answered below 500, and never creates a control-plane object
    outside the request's intent (the bodies always carry an invalid ``name``)."""
    endpoints = _endpoints(proctor_target, provisioning)

    @given(
        index=st.integers(min_value=0, max_value=len(endpoints) - 1),
        value=_JSON,
        members=st.dictionaries(
            st.sampled_from(
                [
                    "authorizer",
                    "token",
                    "token_kind",
                    "user_token",
                    "user_id",
                    "workload_access_token",
                    "provider",
                    "flow",
                    "discovery_url",
                    "allowed_audiences",
                    "custom_claims",
                    "algorithms",
                ]
            ),
            _JSON,
            max_size=4,
        ),
    )
    def never_5xx(index: int, value: Any, members: dict[str, Any]) -> None:
        endpoint = endpoints[index]
        body: Any = value
        if isinstance(value, dict):
            body = {**value, **members, "name": "!"}
        elif members:
            body = {**members, "name": "!"}
        response = endpoint.send(proctor_target, json.dumps(body).encode())
        if response.status_code >= 500:
            raise ConformanceFailure(
                f"{endpoint} answered HTTP {response.status_code} to a JSON body",
                observed=json.dumps(body)[:200],
            )

    with _body_control(positive_control, proctor_target, provisioning).bracket():
        never_5xx()


def _secrets(target: Target, provisioning: Provisioning) -> dict[str, str]:
    found = {
        f"the client secret of {w.name}": w.client_secret for w in provisioning.workloads.values()
    }
    token = target.credentials.admin_token
    if token is not None:
        found["the admin credential"] = token.get_secret_value()
    return found


def _leaks(response: httpx.Response, secrets: dict[str, str]) -> list[str]:
    text = response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return [what for what, secret in secrets.items() if secret and secret in text]


@check(
    "ERR-RULE-002",
    "SEC-SECRET-001",
    "WAT-FMT-001",
    "WAT-PASS-001",
    shape=("ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="VLT-04",
)
def test_no_secret_or_token_appears_in_an_error(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """Errors provoked while sending the kit's secrets (client secrets, the admin
    credential, user tokens, WATs) never contain any of them, in body or headers: each
    request is refused and its error holds no secret (the check); each error is the
    problem of its code (the error shape)."""
    main, peer = provisioning.workloads["main"], provisioning.workloads["peer"]
    case = provisioning.primary
    user_token = case.mint().token
    expired = case.mint(presets=["expired"]).token
    wat_response = issue_wat(proctor_target, main, {})
    wat = json_object(wat_response, "the WAT").get("workload_access_token", "")
    secrets = _secrets(proctor_target, provisioning)
    secrets |= {"a user token": user_token, "an expired user token": expired, "a WAT": str(wat)}
    admin = secrets.get("the admin credential", "")
    client, url = proctor_target.client, proctor_target.url
    #: (what, the response, the status and code of its error)
    attempts: list[tuple[str, httpx.Response, int, str]] = [
        (
            "a decision with an unknown member",
            client.post(
                url("/v1/decisions"),
                json={"authorizer": case.name, "token": user_token, "extra": user_token},
                headers=main.auth(),
            ),
            400,
            "invalid_request_body",
        ),
        (
            "a WAT with both user_token and user_id",
            issue_wat(proctor_target, main, {"user_token": user_token, "user_id": user_token}),
            400,
            "validation_failed",
        ),
        (
            "a WAT for an expired user token",
            issue_wat(proctor_target, main, {"user_token": expired}),
            401,
            "user_token_rejected",
        ),
        (
            "a wrong secret",
            client.post(
                url("/v1/workload-access-tokens"),
                json={},
                headers=basic_auth(main.client_id, peer.client_secret),
            ),
            401,
            "unauthenticated",
        ),
        (
            "the admin credential on the data plane",
            client.post(
                url("/v1/decisions"),
                json={"authorizer": case.name, "token": user_token},
                headers={"Authorization": f"Bearer {admin}"},
            ),
            401,
            "unauthenticated",
        ),
        (
            "a workload create with secrets in its members",
            client.post(
                url("/v1/workloads"),
                json={"name": "!", "client_secret": main.client_secret, "jwks": admin},
                headers=proctor_target.admin_headers(),
            ),
            400,
            "invalid_request_body",
        ),
        (
            "a user token as the bearer credential",
            client.post(
                url("/v1/workload-access-tokens"),
                json={},
                headers={"Authorization": f"Bearer {user_token}"},
            ),
            401,
            "unauthenticated",
        ),
    ]
    if proctor_target.has("vault"):
        attempts.append(
            (
                "another workload's WAT",
                client.post(
                    url("/v1/resource-tokens/api-key"),
                    json={"workload_access_token": wat, "provider": "x" + main.client_secret},
                    headers=peer.auth(),
                ),
                401,
                "token_invalid",
            )
        )
    problems = []
    for what, response, _, _ in attempts:
        if response.status_code < 400:
            problems.append(f"{what} was not refused (HTTP {response.status_code})")
            continue
        problems += [f"{what}: the error contains {leak}" for leak in _leaks(response, secrets)]
    if problems:
        raise ConformanceFailure(
            "errors must carry no secret or token (ERR-RULE-002)", observed="; ".join(problems)
        )
    for what, response, status, code in attempts:
        expect_problem(response, status, code, what)


@check(
    "INB-PARSE-001",
    "SEC-DOS-001",
    "WAT-JWT-001",
    shape=("INB-PARSE-001", "SEC-DOS-001", "INB-DEC-005", "WAT-JWT-001", "ERR-SHAPE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_a_64_kib_token_is_answered_quickly(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """A 64 KiB token (just over the limit) is refused in well under 2 s by the decision
    and workload-access-token endpoints (durations are kept with the evidence): the check;
    a ``malformed`` deny and a ``401 user_token_rejected``: the error shape."""
    main = provisioning.workloads["main"]
    token = ("eyJhbGciOiJSUzI1NiJ9." + "A" * (64 * 1024) + ".sig")[: 64 * 1024 + 8]
    timings: dict[str, float] = {}
    senders: list[tuple[str, Callable[[], httpx.Response]]] = [
        ("decision", lambda: decide(proctor_target, main, provisioning.primary.name, token)),
        ("WAT", lambda: issue_wat(proctor_target, main, {"user_token": token})),
    ]
    for what, send in senders:
        started = time.perf_counter()
        response = send()
        timings[what] = time.perf_counter() - started
        if response.status_code >= 500:
            raise ConformanceFailure(f"the {what} endpoint answered {response.status_code}")
        if what == "decision":
            expect_deny(response, "malformed", "a 64 KiB token")
        else:
            expect_problem(response, 401, "user_token_rejected", "a 64 KiB user token")
    slow = {k: round(v, 3) for k, v in timings.items() if v > LATENCY_BOUND}
    if slow:
        raise ConformanceFailure(f"a 64 KiB token took too long: {slow} s", expected="< 2 s")


@check(
    "WID-AUTH-001",
    "ERR-BEARER-004",
    shape=(
        "WID-AUTH-001",
        "WID-AUTH-002",
        "ERR-BEARER-001",
        "ERR-BEARER-002",
        "ERR-SHAPE-001",
    ),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-18",
)
def test_the_data_plane_requires_workload_credentials(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """No credential, another scheme, a wrong secret, an unknown client, the admin
    credential or a token in the query is refused (the check), as 401 ``unauthenticated``
    with ``Basic`` and ``Bearer`` challenges (``realm="proctor"``), failures
    indistinguishable (the error shape)."""
    main, peer = provisioning.workloads["main"], provisioning.workloads["peer"]
    url = proctor_target.url("/v1/workload-access-tokens")
    post = proctor_target.client.post
    admin = proctor_target.admin_headers()
    control = positive_control(
        "the workload's own credentials work",
        lambda: post(url, json={}, headers=main.auth()),
        expect=200,
    )
    with control.bracket():
        no_credential = [
            ("no Authorization header", {}),
            ("the Digest scheme", {"Authorization": 'Digest username="x"'}),
        ]
        for what, headers in no_credential:
            response = post(url, json={}, headers=headers)
            expect_problem(response, 401, "unauthenticated", what)
            with error_shape():
                _challenges_ok(response, what, expect_error=False)
        failed = {
            "a wrong secret": basic_auth(main.client_id, peer.client_secret),
            "an unknown client id": basic_auth("wl_" + "Z" * 22, main.client_secret),
        }
        bodies = []
        for what, headers in failed.items():
            response = post(url, json={}, headers=headers)
            expect_problem(response, 401, "unauthenticated", what)
            with error_shape():
                _challenges_ok(response, what, expect_error=False)
            with error_shape():
                body = json_object(response, "the problem")
                body.pop("request_id", None)
                bodies.append(body)
        with error_shape():
            if len(bodies) == 2 and bodies[0] != bodies[1]:
                raise ConformanceFailure(
                    "a wrong secret and an unknown client must get the same answer (WID-AUTH-002)"
                )
        for what, headers in (
            ("the admin credential", admin),
            ("a garbage bearer token", {"Authorization": "Bearer not-a-token"}),
        ):
            response = post(url, json={}, headers=headers)
            expect_problem(response, 401, "unauthenticated", what)
            with error_shape():
                _challenges_ok(response, what, expect_error=True)
        in_query = proctor_target.client.post(
            url, params={"access_token": main.client_secret}, json={}
        )
        expect_problem(in_query, 401, "unauthenticated", "a token in the URL query")


def _challenges_ok(response: httpx.Response, what: str, *, expect_error: bool) -> None:
    found = challenges(response)
    basic = [params for scheme, params in found if scheme == "basic"]
    bearer = [params for scheme, params in found if scheme == "bearer"]
    if not any(p.get("realm") == "proctor" for p in basic) or not any(
        p.get("realm") == "proctor" for p in bearer
    ):
        raise ConformanceFailure(
            f'{what}: a data-plane 401 carries Basic and Bearer realm="proctor" challenges '
            "(ERR-BEARER-001)",
            observed=repr(response.headers.get_list("www-authenticate")),
        )
    if expect_error and not any(p.get("error") == "invalid_token" for p in bearer):
        raise ConformanceFailure(
            f'{what}: a bad bearer token gets error="invalid_token" (ERR-BEARER-002)',
            observed=repr(response.headers.get_list("www-authenticate")),
        )
    if not expect_error and any("error" in p for p in bearer):
        raise ConformanceFailure(
            f"{what}: without a credential the Bearer challenge has no error (ERR-BEARER-001)",
            observed=repr(response.headers.get_list("www-authenticate")),
        )


@check(
    "WID-ADMIN-001",
    "WID-DIR-001",
    shape=("WID-ADMIN-001", "ERR-BEARER-001", "ERR-SHAPE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_the_control_plane_requires_the_admin_credential(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """Without the admin credential, with a workload's credentials or a wrong bearer token,
    every control-plane endpoint refuses the request (the check), as ``401
    unauthenticated`` with a Bearer challenge (the error shape)."""
    main: Workload = provisioning.workloads["main"]
    client, url = proctor_target.client, proctor_target.url
    paths = ["/v1/authorizers", "/v1/workloads", f"/v1/workloads/{main.name}"]
    if proctor_target.has("audit"):
        paths += ["/v1/audit/events", "/v1/audit/verify"]
    control = positive_control(
        "the admin credential works",
        lambda: client.get(url("/v1/workloads"), headers=proctor_target.admin_headers()),
        expect=200,
    )
    with control.bracket():
        for headers in ({}, main.auth(), {"Authorization": "Bearer padm_wrong-admin-token"}):
            for path in paths:
                response = client.get(url(path), headers=headers)
                expect_problem(response, 401, "unauthenticated", f"GET {path} without admin")
                with error_shape():
                    if not any(scheme == "bearer" for scheme, _ in challenges(response)):
                        raise ConformanceFailure(
                            f"GET {path}: a control-plane 401 carries a Bearer challenge "
                            "(ERR-BEARER-001)",
                            observed=repr(response.headers.get_list("www-authenticate")),
                        )


@check(
    "ERR-HTTP-001",
    "ERR-HTTP-002",
    "ERR-HTTP-003",
    shape=("ERR-HTTP-001", "ERR-HTTP-002", "ERR-HTTP-003", "ERR-SHAPE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_methods_sizes_and_media_types(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """An unsupported method is 405 with ``Allow``; a body over the limit (1 MiB + 1) is
    413 ``payload_too_large``; a body that is not ``application/json`` is 415. Each is
    refused (the check), with that status, code and header (the error shape)."""
    main = provisioning.workloads["main"]
    client, url = proctor_target.client, proctor_target.url
    with _body_control(positive_control, proctor_target, provisioning).bracket():
        for method, path, allowed in (
            ("DELETE", "/v1/decisions", "POST"),
            ("GET", "/v1/workload-access-tokens", "POST"),
            ("PATCH", "/v1/workloads", "GET"),
        ):
            response = client.request(method, url(path), headers=main.auth())
            expect_problem(response, 405, "method_not_allowed", f"{method} {path}")
            allow = response.headers.get("allow", "")
            with error_shape():
                if allowed not in [m.strip() for m in allow.split(",")]:
                    raise ConformanceFailure(
                        f"{method} {path}: Allow {allow!r} lacks {allowed} (ERR-HTTP-001)"
                    )
        big = b'{"token": "' + b"x" * (1024 * 1024 + 1) + b'"}'
        response = client.post(
            url("/v1/decisions"),
            content=big,
            headers={**main.auth(), "Content-Type": "application/json"},
        )
        expect_problem(response, 413, "payload_too_large", "a body over 1 MiB")
        response = client.post(
            url("/v1/decisions"),
            content=b"authorizer=x&token=y",
            headers={**main.auth(), "Content-Type": "application/x-www-form-urlencoded"},
        )
        expect_problem(response, 415, "unsupported_media_type", "a form body")


#: ERR-OAUTH-001: the characters allowed in ``error`` and ``error_description``.
_OAUTH_TEXT: Final = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]*")
#: ERR-OAUTH-004: the error codes each OAuth endpoint may use.
_OAUTH_CODES: Final[dict[str, frozenset[str]]] = {
    "token": frozenset(
        {
            "invalid_request",
            "invalid_client",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_scope",
            "invalid_target",
        }
    ),
    "introspection": frozenset({"invalid_request", "invalid_client"}),
    "revocation": frozenset(
        {"invalid_request", "invalid_client", "unauthorized_client", "unsupported_token_type"}
    ),
}


def _oauth_error(response: httpx.Response, endpoint: str, status: int, error: str) -> None:
    """A refusal (asserted), in the shape of ERR-OAUTH-001..004 (judged as the error shape)."""
    refused(response, f"a request to {endpoint}", expected=f"HTTP {status} {error}")
    with error_shape():
        _oauth_error_shape(response, endpoint, status, error)


def _oauth_error_shape(response: httpx.Response, endpoint: str, status: int, error: str) -> None:
    where = f"{endpoint}: {error}"
    endpoint = endpoint.split(" ", 1)[0]
    if response.status_code != status:
        raise ConformanceFailure(
            f"{where} is answered {status} (ERR-OAUTH-002)",
            observed=f"HTTP {response.status_code}: {response.text[:200]}",
        )
    body = json_object(response, f"the {endpoint} error")
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    problems = []
    if media != "application/json":
        problems.append(f"content type {media!r}")
    if body.get("error") != error:
        problems.append(f"error {body.get('error')!r}")
    if body.get("error") not in _OAUTH_CODES[endpoint]:
        problems.append(f"{body.get('error')!r} is not an error of this endpoint (ERR-OAUTH-004)")
    if set(body) - {"error", "error_description", "error_uri"}:
        problems.append(f"members {sorted(set(body))}")
    for member in ("error", "error_description"):
        value = body.get(member)
        if value is not None and (not isinstance(value, str) or not _OAUTH_TEXT.fullmatch(value)):
            problems.append(f"{member} has characters RFC 6749 §5.2 forbids")
    if "no-store" not in response.headers.get("cache-control", "").lower():
        problems.append("no Cache-Control: no-store (ERR-OAUTH-003)")
    if "no-cache" not in response.headers.get("pragma", "").lower():
        problems.append("no Pragma: no-cache (ERR-OAUTH-003)")
    if error == "invalid_client":
        basic = [p for scheme, p in challenges(response) if scheme == "basic"]
        if not any(p.get("realm") == "proctor" for p in basic):
            problems.append('invalid_client without WWW-Authenticate: Basic realm="proctor"')
    if problems:
        raise ConformanceFailure(
            f"{where}: the error breaks ERR-OAUTH-001..004", observed="; ".join(problems)
        )


@check(
    "TX-REQ-001",
    "TX-CAUTH-001",
    "ERR-HTTP-003",
    shape=("ERR-OAUTH-001", "ERR-OAUTH-002", "ERR-OAUTH-003", "ERR-OAUTH-004", "ERR-HTTP-003"),
    needs=[*NEEDS, "metadata", "client_credentials", "introspection", "revocation"],
    profiles=PROFILES,
)
def test_oauth_endpoint_errors_follow_rfc_6749(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """The token, introspection and revocation endpoints answer errors as RFC 6749 §5.2
    JSON with only ``error``/``error_description``/``error_uri``, codes of their own
    endpoint, ``no-store`` and ``no-cache``; ``invalid_client`` is 401 with a ``Basic``
    challenge whatever the method tried (the error shape). The requests (a password
    grant, no ``grant_type``, a JSON body, a wrong client secret by either method) are
    each refused (the check)."""
    main = provisioning.workloads["main"]
    token = proctor_target.endpoint("token")
    introspect = proctor_target.endpoint("introspection")
    revoke = proctor_target.endpoint("revocation")
    post = proctor_target.client.post
    wrong = basic_auth(main.client_id, provisioning.workloads["peer"].client_secret)
    control = positive_control(
        "the workload gets a client_credentials token",
        lambda: post(token, data={"grant_type": "client_credentials"}, headers=main.auth()),
        expect=200,
    )
    with control.bracket() as granted:
        access = json_object(granted, "the token response").get("access_token")
        proctor_target.add_secret(access if isinstance(access, str) else None)
        _oauth_error(
            post(token, data={"grant_type": "password", "username": "u", "password": "p"},
                 headers=main.auth()),
            "token", 400, "unsupported_grant_type",
        )  # fmt: skip
        _oauth_error(
            post(token, data={"scope": "x"}, headers=main.auth()), "token", 400, "invalid_request"
        )
        _oauth_error(
            post(token, json={"grant_type": "client_credentials"}, headers=main.auth()),
            "token",
            400,
            "invalid_request",
        )
        for form, headers, method in (
            ({"grant_type": "client_credentials"}, wrong, "client_secret_basic"),
            (
                {
                    "grant_type": "client_credentials",
                    "client_id": main.client_id,
                    "client_secret": "wrong-secret",
                },
                {},
                "client_secret_post",
            ),
        ):
            response = post(token, data=form, headers=headers)
            _oauth_error(response, f"token ({method})", 401, "invalid_client")
        _oauth_error(
            post(introspect, data={"token": "x"}, headers=wrong), "introspection", 401,
            "invalid_client",
        )  # fmt: skip
        _oauth_error(
            post(revoke, data={"token": "x"}, headers=wrong), "revocation", 401, "invalid_client"
        )


@check("TERM-ISS-002", "TERM-ISS-003", needs=["metadata"], profiles=PROFILES)
def test_the_issuer_does_not_follow_the_host_header(proctor_target: Target) -> None:
    """The metadata's ``issuer`` is the configured one whatever ``Host``,
    ``X-Forwarded-Host`` or ``Forwarded`` header a request carries."""
    expected = proctor_target.base_url
    for headers in (
        {"Host": "evil.example"},
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
        {"Forwarded": "host=evil.example;proto=https"},
    ):
        response = proctor_target.client.get(proctor_target.metadata_url, headers=headers)
        if response.status_code != 200:
            continue  # a service may refuse an unknown Host outright
        issuer = json_object(response, "the metadata").get("issuer")
        if issuer != expected:
            raise ConformanceFailure(
                f"the issuer follows {', '.join(headers)} (TERM-ISS-002)",
                expected=repr(expected),
                observed=repr(issuer),
            )
