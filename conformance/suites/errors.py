"""Errors and names (spec 01, spec 09): the issuer's form, the code table across the codes
a kit can provoke, HTTP-level errors at the OAuth endpoints, and bearer tokens presented
twice.

The ``hygiene`` suite covers what malformed bodies provoke (no 5xx, the problem shape of
those answers, no secret in an error), the data-plane and control-plane challenges, the
native 405/413/415 and the RFC 6749 error bodies of the OAuth endpoints. This suite adds
what those checks do not reach: one request per reachable code of the table, the 405 and
413 of the OAuth endpoints, a body whose size is only discovered while reading it, the
repeated-parameter rule of challenges, and a token presented both in the header and the
query.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Final
from urllib.parse import urlsplit

import httpx
import pytest

from proctor.conformance.checks import check
from proctor.conformance.config import Profile
from proctor.conformance.controls import ControlFactory, PositiveControl
from proctor.conformance.error_shape import error_shape
from proctor.conformance.errors import ConformanceFailure
from proctor.conformance.native import (
    PROBLEM_TYPE,
    challenges,
    expect_problem,
    json_object,
    refused,
)
from proctor.conformance.provisioning import Provisioning, Workload, basic_auth
from proctor.conformance.target import Target

NEEDS: Final = ["control_plane", "workload_identity", "workload_tokens"]
PROFILES: Final[list[Profile]] = ["proctor"]
#: ERR-HTTP-002: no service may accept a body over 1 MiB.
OVER_ANY_LIMIT: Final = 1024 * 1024 + 1
#: ERR-CODE-001: the code → (status, title) rows this suite provokes.
TITLES: Final[dict[str, tuple[int, str]]] = {
    "invalid_request_body": (400, "Invalid request body"),
    "validation_failed": (400, "Validation failed"),
    "unauthenticated": (401, "Authentication required"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "conflict": (409, "Conflict"),
    "payload_too_large": (413, "Payload too large"),
    "unsupported_media_type": (415, "Unsupported media type"),
}
_LOOPBACK_NAMES: Final = frozenset({"localhost"})
#: SEC-DOS-002: failed authentications of one client_id the kit sends before it concludes
#: that nothing limits them.
MAX_GUESSES: Final = 200


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@check("TERM-ISS-001", needs=["metadata"], profiles=PROFILES)
def test_the_issuer_is_an_https_url_without_query_or_fragment(proctor_target: Target) -> None:
    """The metadata's ``issuer`` is an absolute ``https`` URL with a host and no query or
    fragment; ``http`` only with a loopback host (development mode, TERM-DEV-001)."""
    response = proctor_target.client.get(proctor_target.metadata_url)
    issuer = json_object(response, "the metadata").get("issuer")
    if not isinstance(issuer, str):
        raise ConformanceFailure("the metadata has no issuer string", observed=repr(issuer))
    parts = urlsplit(issuer)
    problems = []
    if parts.scheme not in ("https", "http") or not parts.hostname:
        problems.append("not an absolute URL with a host")
    elif parts.scheme == "http" and not _is_loopback(parts.hostname):
        problems.append("http with a host that is not loopback")
    if parts.query or "?" in issuer:
        problems.append("a query component")
    if parts.fragment or "#" in issuer:
        problems.append("a fragment component")
    if problems:
        raise ConformanceFailure(
            f"the issuer identifier breaks TERM-ISS-001: {', '.join(problems)}",
            expected="https://host[/path], or http://localhost|loopback-IP[:port][/path]",
            observed=repr(issuer),
        )


def _admin_control(positive_control: ControlFactory, target: Target) -> PositiveControl:
    return positive_control(
        "the admin credential lists the workloads",
        lambda: target.client.get(target.url("/v1/workloads"), headers=target.admin_headers()),
        expect=200,
    )


def _shape(response: httpx.Response, code: str, what: str) -> list[str]:
    """ERR-SHAPE-001 and the ERR-CODE-001 row of ``code`` for one problem response."""
    status, title = TITLES[code]
    if response.status_code != status:
        return [f"{what}: HTTP {response.status_code}, expected {status} {code}"]
    found = []
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/problem+json":
        found.append(f"content type {media!r}")
    if "no-store" not in [
        d.strip().lower() for d in response.headers.get("cache-control", "").split(",")
    ]:
        found.append("no Cache-Control: no-store")
    try:
        body = response.json()
    except ValueError:
        return [f"{what}: the body is not JSON"]
    if not isinstance(body, dict):
        return [f"{what}: the body is not an object"]
    expected = {"type": PROBLEM_TYPE + code, "title": title, "status": status, "code": code}
    for member, value in expected.items():
        if body.get(member) != value:
            found.append(f"{member} {body.get(member)!r} (expected {value!r})")
    if not isinstance(body.get("detail"), str) or not body["detail"]:
        found.append("no detail")
    if not isinstance(body.get("request_id"), str) or not body["request_id"]:
        found.append("no request_id")
    allowed = {"type", "title", "status", "code", "request_id", "detail"}
    if code in ("invalid_request_body", "validation_failed"):
        allowed.add("errors")
    if set(body) - allowed:
        found.append(f"members not allowed with {code}: {sorted(set(body) - allowed)}")
    return [f"{what}: {problem}" for problem in found]


def _provoked(
    target: Target, provisioning: Provisioning
) -> Iterator[tuple[str, str, httpx.Response]]:
    """One request per reachable code: (code, what, response)."""
    client, url, admin = target.client, target.url, target.admin_headers()
    main = provisioning.workloads["main"]
    missing = provisioning.name("no-such-workload")
    yield (
        "not_found",
        f"GET /v1/workloads/{missing}",
        client.get(url(f"/v1/workloads/{missing}"), headers=admin),
    )
    yield (
        "conflict",
        "POST /v1/workloads with a name in use",
        client.post(url("/v1/workloads"), json={"name": main.name}, headers=admin),
    )
    yield (
        "validation_failed",
        "POST /v1/workloads with the name 'a b'",
        client.post(url("/v1/workloads"), json={"name": "a b"}, headers=admin),
    )
    yield (
        "invalid_request_body",
        "POST /v1/workloads with an unknown member",
        client.post(
            url("/v1/workloads"),
            json={"name": provisioning.name("unknown-member"), "colour": "blue"},
            headers=admin,
        ),
    )
    yield (
        "unauthenticated",
        "GET /v1/workloads without a credential",
        client.get(url("/v1/workloads")),
    )
    yield (
        "method_not_allowed",
        "DELETE /v1/workloads",
        client.delete(url("/v1/workloads"), headers=admin),
    )
    yield (
        "unsupported_media_type",
        "POST /v1/workloads as text/plain",
        client.post(
            url("/v1/workloads"),
            content=b'{"name": "x"}',
            headers={**admin, "Content-Type": "text/plain"},
        ),
    )
    yield (
        "payload_too_large",
        "POST /v1/workloads over 1 MiB",
        client.post(
            url("/v1/workloads"),
            content=b'{"name": "' + b"x" * OVER_ANY_LIMIT + b'"}',
            headers={**admin, "Content-Type": "application/json"},
        ),
    )


@check(
    "WID-DIR-001",
    "TERM-NAME-001",
    "ERR-RULE-004",
    "WID-ADMIN-001",
    "ERR-HTTP-001",
    "ERR-HTTP-002",
    "ERR-HTTP-003",
    shape=("ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_each_code_has_its_status_title_and_type(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """A not-found, a conflict, a validation failure, an unknown member, a missing
    credential, a wrong method, a wrong media type and an oversized body are each refused
    (the check, citing the rule each request breaks), with their code, the status and
    title of the code table, ``type`` ending in the code, ``detail``, ``request_id``,
    ``no-store`` and no member the shape does not allow (the error shape)."""
    problems: list[str] = []
    with _admin_control(positive_control, proctor_target).bracket():
        for code, what, response in _provoked(proctor_target, provisioning):
            refused(response, what, expected=f"HTTP {TITLES[code][0]} {code}")
            problems += _shape(response, code, what)
    with error_shape():
        if problems:
            raise ConformanceFailure(
                "native errors follow the code table (ERR-CODE-001, ERR-SHAPE-001)",
                observed="; ".join(problems[:8]),
            )


def _chunks(size: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"name": "'
    sent = 0
    while sent < size:
        yield b"x" * min(piece, size - sent)
        sent += piece
    yield b'"}'


@check(
    "ERR-HTTP-002",
    shape=("ERR-HTTP-002", "ERR-SHAPE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_a_body_whose_size_is_discovered_while_reading_is_refused(
    proctor_target: Target, positive_control: ControlFactory
) -> None:
    """A chunked body without ``Content-Length`` that grows past 1 MiB is refused, as 413
    ``payload_too_large``, as a declared size is."""
    admin = proctor_target.admin_headers()
    with _admin_control(positive_control, proctor_target).bracket():
        response = proctor_target.client.post(
            proctor_target.url("/v1/workloads"),
            content=_chunks(OVER_ANY_LIMIT),
            headers={**admin, "Content-Type": "application/json"},
        )
        if "content-length" in response.request.headers:
            raise ConformanceFailure("the kit failed to send a body without Content-Length")
        expect_problem(response, 413, "payload_too_large", "a chunked body over 1 MiB")


def _cc_control(
    positive_control: ControlFactory, target: Target, provisioning: Provisioning
) -> PositiveControl:
    main = provisioning.workloads["main"]
    return positive_control(
        "the workload gets a client_credentials token",
        lambda: target.client.post(
            target.endpoint("token"), data={"grant_type": "client_credentials"}, headers=main.auth()
        ),
        expect=200,
    )


def _oauth_problem(response: httpx.Response, status: int, what: str) -> list[str]:
    if response.status_code != status:
        return [f"{what}: HTTP {response.status_code}, expected {status}"]
    found = []
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        found.append(f"content type {media!r}")
    try:
        body = response.json()
    except ValueError:
        return [*found, "the body is not JSON"]
    if not isinstance(body, dict) or body.get("error") != "invalid_request":
        found.append(f"body {str(body)[:80]!r}, expected error invalid_request")
    elif set(body) - {"error", "error_description", "error_uri"}:
        found.append(f"members {sorted(body)}")
    for header, value in (("cache-control", "no-store"), ("pragma", "no-cache")):
        if value not in response.headers.get(header, "").lower():
            found.append(f"no {header}: {value} (ERR-OAUTH-003)")
    return [f"{what}: {problem}" for problem in found]


@check(
    "ERR-HTTP-001",
    "ERR-HTTP-002",
    shape=("ERR-HTTP-001", "ERR-HTTP-002", "ERR-OAUTH-001", "ERR-OAUTH-003"),
    needs=[*NEEDS, "client_credentials", "introspection", "revocation"],
    profiles=PROFILES,
)
def test_oauth_endpoints_answer_405_and_413_with_oauth_errors(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """``GET`` on the token, introspection and revocation endpoints and a form over 1 MiB
    are refused (the check): the ``GET`` as 405 with ``Allow: POST`` and an
    ``invalid_request`` body, the form as 413 with an ``invalid_request`` body, both with
    ``no-store`` and ``no-cache`` (the error shape)."""
    main = provisioning.workloads["main"]
    problems: list[str] = []
    with _cc_control(positive_control, proctor_target, provisioning).bracket():
        for name in ("token", "introspection", "revocation"):
            endpoint = proctor_target.endpoint(name)
            response = proctor_target.client.get(endpoint, headers=main.auth())
            refused(response, f"GET {name}", expected="HTTP 405 invalid_request")
            problems += _oauth_problem(response, 405, f"GET {name}")
            allow = [m.strip().upper() for m in response.headers.get("allow", "").split(",")]
            if response.status_code == 405 and "POST" not in allow:
                problems.append(f"GET {name}: Allow {response.headers.get('allow')!r} lacks POST")
            big = b"grant_type=client_credentials&scope=" + b"x" * OVER_ANY_LIMIT
            response = proctor_target.client.post(
                endpoint,
                content=big,
                headers={**main.auth(), "Content-Type": "application/x-www-form-urlencoded"},
            )
            refused(response, f"a 1 MiB form at {name}", expected="HTTP 413 invalid_request")
            problems += _oauth_problem(response, 413, f"a 1 MiB form at {name}")
    with error_shape():
        if problems:
            raise ConformanceFailure(
                "HTTP-level errors of the OAuth endpoints are OAuth errors (ERR-HTTP-001/002)",
                observed="; ".join(problems[:8]),
            )


def _bearer_token(target: Target, provisioning: Provisioning) -> str:
    main = provisioning.workloads["main"]
    response = target.client.post(
        target.endpoint("token"), data={"grant_type": "client_credentials"}, headers=main.auth()
    )
    token = json_object(response, "the token response").get("access_token")
    if response.status_code != 200 or not isinstance(token, str):
        raise ConformanceFailure(
            "the workload must get a client_credentials token (WID-AUTH-001)",
            observed=f"HTTP {response.status_code}",
        )
    target.add_secret(token)
    return token


@check(
    "ERR-BEARER-004",
    shape=("ERR-BEARER-004", "ERR-BEARER-001"),
    needs=[*NEEDS, "client_credentials"],
    profiles=PROFILES,
)
def test_a_bearer_token_presented_twice_is_invalid_request(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """A data-plane request with the workload's bearer token in the header and again in
    the ``access_token`` query parameter is refused (the check), as 400 with ``Bearer
    realm="proctor", error="invalid_request"``; each challenge names each parameter at
    most once (the error shape)."""
    token = _bearer_token(proctor_target, provisioning)
    url = proctor_target.url("/v1/workload-access-tokens")
    bearer = {"Authorization": f"Bearer {token}"}
    control = positive_control(
        "the bearer token alone gets a workload access token",
        lambda: proctor_target.client.post(url, json={}, headers=bearer),
        expect=200,
    )
    with control.bracket():
        response = proctor_target.client.post(
            url, params={"access_token": token}, json={}, headers=bearer
        )
        refused(
            response,
            "a bearer token in the header and the query",
            expected='HTTP 400, Bearer error="invalid_request"',
        )
        unauthenticated = proctor_target.client.post(url, json={})
    with error_shape():
        if response.status_code != 400:
            raise ConformanceFailure(
                "a bearer token in the header and the query is answered 400 (ERR-BEARER-004)",
                observed=f"HTTP {response.status_code}: {response.text[:200]}",
            )
        found = challenges(response)
        if not any(
            scheme == "bearer"
            and p.get("realm") == "proctor"
            and p.get("error") == "invalid_request"
            for scheme, p in found
        ):
            raise ConformanceFailure(
                'the 400 carries WWW-Authenticate: Bearer realm="proctor", '
                'error="invalid_request" (ERR-BEARER-004)',
                observed=repr(response.headers.get_list("www-authenticate")),
            )
    with error_shape():
        for value in [
            *response.headers.get_list("www-authenticate"),
            *unauthenticated.headers.get_list("www-authenticate"),
        ]:
            _parameters_once(value)


def _parameters_once(value: str) -> None:
    """ERR-BEARER-001: within one challenge, no parameter appears twice."""
    for scheme, params in _raw_challenges(value):
        repeated = sorted({name for name in params if params.count(name) > 1})
        if repeated:
            raise ConformanceFailure(
                f"the {scheme} challenge repeats {', '.join(repeated)} (ERR-BEARER-001)",
                observed=value,
            )


def _raw_challenges(value: str) -> list[tuple[str, list[str]]]:
    """Each challenge of a header value with its parameter names, repeats kept."""
    found: list[tuple[str, list[str]]] = []
    for part in _split_outside_quotes(value):
        token = part.strip()
        if not token:
            continue
        head, _, rest = token.partition(" ")
        if "=" in head:  # a parameter of the current challenge
            if found:
                found[-1][1].append(head.split("=", 1)[0].strip().lower())
            continue
        found.append((head.lower(), []))
        rest = rest.strip()
        if rest and "=" in rest:
            found[-1][1].append(rest.split("=", 1)[0].strip().lower())
    return found


def _split_outside_quotes(value: str) -> list[str]:
    parts, current, quoted, escaped = [], "", False, False
    for ch in value:
        if escaped:
            current, escaped = current + ch, False
        elif ch == "\\" and quoted:
            current, escaped = current + ch, True
        elif ch == '"':
            current, quoted = current + ch, not quoted
        elif ch == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _insufficient_scope(response: httpx.Response, allowed: list[str]) -> list[str]:
    """What is wrong with ``response`` as ERR-BEARER-003's 403 for ``allowed`` scopes."""
    if response.status_code != 403:
        return [f"HTTP {response.status_code}: {response.text[:160]}"]
    found = []
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("code") != "forbidden":
        found.append(f"body {response.text[:120]!r}, expected the forbidden problem")
    bearer = [p for scheme, p in challenges(response) if scheme == "bearer"]
    if not bearer:
        return [*found, "no Bearer challenge"]
    params = bearer[0]
    if params.get("realm") != "proctor" or params.get("error") != "insufficient_scope":
        found.append('the challenge lacks realm="proctor", error="insufficient_scope"')
    if sorted((params.get("scope") or "").split()) != sorted(allowed):
        found.append(f"scope={params.get('scope')!r}, expected {' '.join(allowed)!r}")
    return found


@check(
    "INB-SCOPE-002",
    shape=("ERR-BEARER-003",),
    needs=["control_plane", "inbound_authorization", "workload_identity", "consent"],
    profiles=PROFILES,
)
def test_a_user_token_without_the_required_scope_is_insufficient_scope(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """``GET /v1/me/consents`` with a valid user token from the mock IdP that has none of
    the authorizer's ``allowed_scopes`` is refused (the check), as 403 ``forbidden`` with
    ``Bearer realm="proctor", error="insufficient_scope", scope="<allowed_scopes>"`` (the
    error shape); the same user's token with an allowed scope is served (the positive
    control)."""
    case = provisioning.primary
    allowed = list(case.body.get("allowed_scopes") or [])
    if not allowed:
        pytest.skip("the primary scenario's emulator offers no API scope to allow")
    url = proctor_target.url("/v1/me/consents")
    params = {"authorizer": case.name}

    def as_user(token: str) -> httpx.Response:
        proctor_target.add_secret(token)
        return proctor_target.client.get(
            url, params=params, headers={"Authorization": f"Bearer {token}"}
        )

    control = positive_control(
        "the user's token with an allowed scope lists the user's consents",
        lambda: as_user(case.mint().token),
        expect=200,
    )
    with control.bracket():
        lacking = case.mint(claims={"scp": ["openid", "not.allowed"], "scope": None}).token
        response = as_user(lacking)
    refused(
        response,
        "a user token without an allowed scope",
        expected='HTTP 403 forbidden, Bearer error="insufficient_scope"',
    )
    with error_shape():
        problems = _insufficient_scope(response, allowed)
        if problems:
            raise ConformanceFailure(
                "a valid user token without a required scope is 403 insufficient_scope "
                "(ERR-BEARER-003)",
                observed="; ".join(problems),
            )


def _token_request(target: Target, auth: dict[str, str]) -> httpx.Response:
    return target.client.post(
        target.endpoint("token"), data={"grant_type": "client_credentials"}, headers=auth
    )


@check(
    "SEC-DOS-002",
    "TX-CAUTH-001",
    "ERR-RULE-002",
    shape=("SEC-DOS-002", "ERR-OAUTH-004", "ERR-OAUTH-002"),
    needs=[*NEEDS, "client_credentials", "rate_limits"],
    profiles=PROFILES,
)
def test_failed_client_authentications_are_rate_limited(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """A fresh workload's ``client_id`` with a wrong secret at the token endpoint is
    refused each time and rate-limited within ``MAX_GUESSES`` attempts, the 429 without
    the secret (the check); the refusals are 401 ``invalid_client``, the 429
    ``temporarily_unavailable`` with ``Retry-After`` (the error shape). Its correct secret
    works before, and another workload's works after (the limited one stays limited
    until ``Retry-After`` has passed)."""
    victim: Workload = provisioning.create_workload("rate-limited", authorizer=None)
    bystander = provisioning.create_workload("rate-bystander", authorizer=None)
    positive_control(
        "the fresh workload gets a client_credentials token",
        lambda: _token_request(proctor_target, victim.auth()),
        expect=200,
    ).verify("before")
    wrong = basic_auth(victim.client_id, victim.client_secret + "-wrong")
    limited: httpx.Response | None = None
    not_401: httpx.Response | None = None
    for _ in range(MAX_GUESSES):
        response = _token_request(proctor_target, wrong)
        if response.status_code == 429:
            limited = response
            break
        refused(response, "a wrong client secret", expected="HTTP 401 invalid_client")
        if response.status_code != 401 and not_401 is None:
            not_401 = response
    positive_control(
        "another workload gets a client_credentials token",
        lambda: _token_request(proctor_target, bystander.auth()),
        expect=200,
    ).verify("after")
    if limited is None:
        raise ConformanceFailure(
            "failed client authentications of one client_id are rate-limited (SEC-DOS-002)",
            expected="429 within the kit's bound",
            observed=f"{MAX_GUESSES} wrong secrets in a row were each answered 401",
        )
    if victim.client_secret in limited.text:
        raise ConformanceFailure("the 429 contains the client secret (ERR-RULE-002)")
    with error_shape():
        if not_401 is not None:
            raise ConformanceFailure(
                "a wrong client secret is 401 invalid_client until rate-limited (ERR-OAUTH-002)",
                observed=f"HTTP {not_401.status_code}: {not_401.text[:200]}",
            )
    with error_shape():
        problems = []
        retry_after = limited.headers.get("retry-after", "")
        if not retry_after.strip().isdigit():
            problems.append(f"Retry-After {retry_after!r} is not a number of seconds")
        body = json_object(limited, "the 429")
        if body.get("error") != "temporarily_unavailable":
            problems.append(f"error {body.get('error')!r}, expected temporarily_unavailable")
        if problems:
            raise ConformanceFailure(
                "a rate-limited OAuth request is 429 temporarily_unavailable with "
                "Retry-After (ERR-OAUTH-004)",
                observed="; ".join(problems),
            )
