"""The native API (spec 02-04, 08, 09) as the checks speak it: requests and assertions.

Every helper turns what it observes into an assertion (:class:`ConformanceFailure`), so a
target that answers with the wrong status or shape FAILS the check instead of making it
an ERROR.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final

import httpx

from proctor.conformance.error_shape import error_shape
from proctor.conformance.errors import ConformanceFailure, InfrastructureError
from proctor.conformance.evidence import fingerprint
from proctor.conformance.provisioning import Workload
from proctor.conformance.target import Target

__all__ = [
    "DENY_REASONS",
    "PROBLEM_TYPE",
    "audit_events",
    "challenges",
    "decide",
    "expect_allow",
    "expect_deny",
    "expect_problem",
    "is_allow",
    "issue_wat",
    "json_object",
    "refused",
    "scan",
]

PROBLEM_TYPE: Final = "https://proctor.dev/errors/"
#: INB-DEC-005: the closed set of deny reasons (``claim_rule_failed:<claim>`` aside).
DENY_REASONS: Final = frozenset(
    {
        "expired",
        "not_yet_valid",
        "bad_signature",
        "unknown_key",
        "alg_not_allowed",
        "wrong_issuer",
        "wrong_audience",
        "client_not_allowed",
        "scope_not_allowed",
        "wrong_token_kind",
        "malformed",
    }
)


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ConformanceFailure(f"{what} is not JSON", observed=response.text[:200]) from None
    if not isinstance(body, dict):
        raise ConformanceFailure(f"{what} is not a JSON object", observed=response.text[:200])
    return body


def decide(
    target: Target,
    workload: Workload,
    authorizer: str,
    token: str,
    kind: str | None = None,
) -> httpx.Response:
    """``POST /v1/decisions`` as ``workload`` (INB-DEC-002)."""
    body: dict[str, Any] = {"authorizer": authorizer, "token": token}
    if kind is not None:
        body["token_kind"] = kind
    return target.client.post(target.url("/v1/decisions"), json=body, headers=workload.auth())


def _decision(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise ConformanceFailure(
            "POST /v1/decisions must answer 200 with a decision for any token (INB-DEC-003)",
            expected="HTTP 200",
            observed=f"HTTP {response.status_code}: {response.text[:200]}",
        )
    return json_object(response, "the decision")


def is_allow(response: httpx.Response) -> bool:
    """A positive control's predicate: an ``allow`` decision."""
    if response.status_code != 200:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("decision") == "allow"


def expect_allow(response: httpx.Response, what: str = "the token") -> dict[str, Any]:
    """An ``allow`` of exactly the INB-DEC-004 shape; returns the identity."""
    body = _decision(response)
    if body.get("decision") != "allow":
        raise ConformanceFailure(
            f"{what} must be allowed", expected="allow", observed=json.dumps(body)[:300]
        )
    if set(body) != {"decision", "reason", "identity"} or body.get("reason") != "ok":
        raise ConformanceFailure(
            "an allow is exactly {decision, reason: ok, identity} (INB-DEC-004)",
            observed=", ".join(sorted(body)),
        )
    identity = body["identity"]
    expected = {"issuer", "subject", "user_key", "client_id", "scopes", "claims"}
    if not isinstance(identity, dict) or set(identity) != expected:
        raise ConformanceFailure(
            "the identity has exactly issuer, subject, user_key, client_id, scopes, claims",
            observed=", ".join(sorted(identity)) if isinstance(identity, dict) else repr(identity),
        )
    return identity


def expect_deny(
    response: httpx.Response, reasons: str | Collection[str], what: str = "the token"
) -> str:
    """A ``deny`` (the refusal), of exactly the INB-DEC-005 shape with one of ``reasons``
    (its error shape, judged in :func:`~proctor.conformance.error_shape.error_shape`)."""
    wanted = {reasons} if isinstance(reasons, str) else set(reasons)
    body = _decision(response)
    if body.get("decision") != "deny":
        raise ConformanceFailure(
            f"{what} must be denied",
            expected=f"deny ({' or '.join(sorted(wanted))})",
            observed=f"{body.get('decision')!r} ({body.get('reason')!r})",
        )
    reason = body.get("reason")
    with error_shape():
        if set(body) != {"decision", "reason"}:
            raise ConformanceFailure(
                "a deny is exactly {decision, reason} and carries nothing from the token "
                "(INB-DEC-005)",
                observed=", ".join(sorted(body)),
            )
        if reason not in wanted:
            raise ConformanceFailure(
                f"{what} is denied for the wrong reason (INB-ORDER-001)",
                expected=" or ".join(sorted(wanted)),
                observed=repr(reason),
            )
    return str(reason)


def expect_problem(
    response: httpx.Response, status: int, code: str, what: str = "the request"
) -> dict[str, Any]:
    """A refusal (HTTP 4xx), as an RFC 9457 problem with ``status`` and ``code``
    (ERR-SHAPE-001, ERR-CODE-001: the error shape, judged in
    :func:`~proctor.conformance.error_shape.error_shape`)."""
    refused(response, what, expected=f"HTTP {status} {code}", upstream=status >= 500)
    body: dict[str, Any] = {}
    with error_shape():
        if response.status_code != status:
            raise ConformanceFailure(
                f"{what} must be answered {status} {code}",
                expected=f"HTTP {status}",
                observed=f"HTTP {response.status_code}: {response.text[:200]}",
            )
        media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/problem+json":
            raise ConformanceFailure(
                "native API errors are application/problem+json (ERR-SHAPE-001)",
                observed=repr(media),
            )
        body = json_object(response, "the problem")
        if body.get("code") != code:
            raise ConformanceFailure(
                f"{what} must carry code {code}", expected=code, observed=repr(body.get("code"))
            )
        if body.get("type") != PROBLEM_TYPE + code or body.get("status") != status:
            raise ConformanceFailure(
                "type and status of a problem follow its code (ERR-SHAPE-001)",
                observed=f"type {body.get('type')!r}, status {body.get('status')!r}",
            )
    return body


def refused(response: httpx.Response, what: str, *, expected: str, upstream: bool = False) -> None:
    """The refusal half of a negative check (CONF-CTRL-002): a 4xx answer.

    A 2xx or 3xx accepted (or redirected) the request; a 5xx is no refusal either, but a
    failure the request provoked (ERR-RULE-001), after which nothing says what was
    stored; unless the required answer is itself a 5xx (``upstream``: a provider's
    failure reported as ``502 upstream_error``). A 429 is no verdict: the target
    throttled the kit.
    """
    status = response.status_code
    if status == 429:
        raise InfrastructureError(
            f"{what}: the target answered 429 (rate limited, Retry-After "
            f"{response.headers.get('retry-after', '?')}): raise its rate limits for the "
            "kit's clients and address during a conformance run"
        )
    if not (400 <= status < 500 or (upstream and status >= 500)):
        raise ConformanceFailure(
            f"{what} must be refused",
            expected=expected,
            observed=f"HTTP {status}"
            + (" (accepted)" if status < 400 else "")
            + f": {response.text[:200]}",
        )


def issue_wat(
    target: Target, workload: Workload | None, body: Mapping[str, Any] | None = None
) -> httpx.Response:
    """``POST /v1/workload-access-tokens`` (as ``workload``; ``None``: unauthenticated)."""
    headers = workload.auth() if workload is not None else {}
    return target.client.post(
        target.url("/v1/workload-access-tokens"), json=dict(body or {}), headers=headers
    )


def audit_events(target: Target, *, pages: int = 20, **filters: str | int) -> list[dict[str, Any]]:
    """``GET /v1/audit/events`` with ``filters``, following ``next_token`` (AUD-API-001)."""
    events: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"limit": 100, **filters}
    for _ in range(pages):
        response = target.client.get(
            target.url("/v1/audit/events"), params=params, headers=target.admin_headers()
        )
        if response.status_code != 200:
            raise ConformanceFailure(
                "GET /v1/audit/events must answer 200 (AUD-API-001)",
                observed=f"HTTP {response.status_code}: {response.text[:200]}",
            )
        page = json_object(response, "the audit page")
        items = page.get("items")
        if not isinstance(items, list):
            raise ConformanceFailure("an audit page has an items array (AUD-API-001)")
        events += items
        token = page.get("next_token")
        if not token:
            break
        params["next_token"] = token
    return events


_SCHEME = re.compile(r"[\s,]*([A-Za-z][A-Za-z0-9_.+-]*)")
_PARAM = re.compile(r"""\s*([A-Za-z0-9_!#$%&'*+.^`|~-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?""")


def challenges(response: httpx.Response) -> list[tuple[str, dict[str, str]]]:
    """The challenges of every ``WWW-Authenticate`` header (RFC 9110 §11.6.1): a header
    may hold several, ``Basic realm="x", Bearer realm="x", error="invalid_token"``.
    Each is ``(scheme in lower case, {parameter in lower case: value})``."""
    found: list[tuple[str, dict[str, str]]] = []
    for value in response.headers.get_list("www-authenticate"):
        position = 0
        while True:
            scheme = _SCHEME.match(value, position)
            if scheme is None:
                break
            position = scheme.end()
            params: dict[str, str] = {}
            while (param := _PARAM.match(value, position)) is not None and param.group(1):
                raw = param.group(2)
                params[param.group(1).lower()] = raw[1:-1] if raw.startswith('"') else raw
                position = param.end()
            found.append((scheme.group(1).lower(), params))
    return found


def scan(texts: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """Which of ``secrets`` occur in any of ``texts``, as redaction fingerprints: a leaked
    secret is named without repeating any of it (CONF-EVID-001)."""
    joined = "\n".join(texts)
    return [fingerprint(secret) for secret in secrets if secret and secret in joined]
