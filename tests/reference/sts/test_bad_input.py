"""Bad input to ``/oauth2/*`` is a specific 4xx, never a 5xx (ERR-RULE-001): wrong content
types (ERR-HTTP-003), bodies over the limit however sent (ERR-HTTP-002), query components
(TX-REQ-005), wrong methods (ERR-HTTP-001), repeated parameters and headers, garbage
tokens and random bodies (hypothesis)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proctor.mock_idps.pytest_plugin import MockIdp
from proctor.mock_idps.transports import SyncASGITransport
from proctor.reference.clock import ManualClock

from .conftest import (
    ACCESS_TOKEN,
    FORM,
    MARKS,
    TOKEN_EXCHANGE,
    Harness,
    Scenario,
    basic,
    form_body,
    start_service,
)

pytestmark = MARKS

ENDPOINTS = ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"]


def _oauth_error(response: httpx.Response, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == "invalid_request"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_only_form_bodies(harness: Harness, scenario: Scenario, path: str) -> None:
    auth = basic(scenario.orchestrator.client_id, scenario.orchestrator.secret)
    for content_type in (
        None,
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded; charset=iso-8859-1",
        "application/x-www-form-urlencodedx",
    ):
        headers = dict(auth)
        if content_type is not None:
            headers["Content-Type"] = content_type
        response = await harness.client.post(
            path, content=b"grant_type=client_credentials&token=x", headers=headers
        )
        _oauth_error(response)
    ok = await harness.client.post(
        path,
        content=b"grant_type=client_credentials&token=x",
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
    )
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_method_and_query(harness: Harness, scenario: Scenario, path: str) -> None:
    auth = basic(scenario.orchestrator.client_id, scenario.orchestrator.secret)
    for method in ("GET", "PUT", "DELETE", "PATCH", "HEAD"):
        response = await harness.client.request(method, path, headers=auth)
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        if method != "HEAD":
            _oauth_error(response, 405)
    # a query component is refused whatever it holds, even alongside a valid body
    for query in ("?grant_type=client_credentials", "?access_token=abc", "?x"):
        response = await harness.client.post(
            path + query,
            content=b"grant_type=client_credentials&token=x",
            headers={**auth, **FORM},
        )
        _oauth_error(response)


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_bodies_over_the_limit(harness: Harness, scenario: Scenario, path: str) -> None:
    auth = {**basic(scenario.orchestrator.client_id, scenario.orchestrator.secret), **FORM}
    big = b"token=" + b"a" * (256 * 1024)
    response = await harness.client.post(path, content=big, headers=auth)
    _oauth_error(response, 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: found while reading
        yield b"token="
        for _ in range(300):
            yield b"a" * 1024

    streamed = await harness.client.post(path, content=chunks(), headers=auth)
    _oauth_error(streamed, 413)


async def test_encodings_headers_and_repeats(harness: Harness, scenario: Scenario) -> None:
    orchestrator = scenario.orchestrator
    auth = basic(orchestrator.client_id, orchestrator.secret)
    for body in (b"grant_type=client_%ff%fe", b"\xff\xfe=1", b"grant_type=%"):
        response = await harness.client.post(
            "/oauth2/token", content=body, headers={**auth, **FORM}
        )
        assert response.status_code in (400, 401), response.text
        assert response.json()["error"] in ("invalid_request", "unsupported_grant_type")
    twice = await harness.client.post(
        "/oauth2/token",
        content=b"grant_type=client_credentials",
        headers=[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", auth["Authorization"]),
            ("Authorization", auth["Authorization"]),
        ],
    )
    _oauth_error(twice)
    for path in ("/oauth2/introspect", "/oauth2/revoke"):
        repeated = await harness.post(path, orchestrator, [("token", "a"), ("token", "a")])
        _oauth_error(repeated)


def _jwt(header: object, payload: object) -> str:
    def part(value: object) -> str:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}.{part(b'sig')}"


GARBAGE = [
    "",
    " ",
    "....",
    "a.b.c",
    "é" * 50,
    "\x00\x01",
    "x" * 70_000,
    _jwt({"alg": "none"}, {"iss": "https://proctor.test"}),
    _jwt({"alg": "ES256", "typ": "at+jwt", "kid": "k"}, {"iss": "https://proctor.test"}),
    _jwt({"alg": "ES256", "kid": ["list"]}, {"iss": ["a"]}),
    _jwt({"alg": "RS256"}, {"iss": {"nested": 1}, "act": "x"}),
    _jwt({"alg": "ES256"}, json.loads("[" * 50 + "]" * 50)),
    _jwt({"alg": "ES256"}, {"iss": "https://proctor.test", "exp": 1e400}),
    _jwt(b"not json", b"not json either"),
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=range(len(GARBAGE)))
async def test_garbage_tokens_are_refused_cleanly(
    harness: Harness, scenario: Scenario, garbage: str
) -> None:
    orchestrator, subagent = scenario.orchestrator, scenario.subagent
    exchange = await harness.exchange(orchestrator, garbage, audience=[subagent.client_id])
    assert exchange.status_code == 400, exchange.text
    actor = await harness.exchange(
        orchestrator, harness.sarah(), actor=garbage, audience=[subagent.client_id]
    )
    assert actor.status_code == 400, actor.text
    introspected = await harness.post("/oauth2/introspect", orchestrator, [("token", garbage)])
    assert introspected.status_code in (200, 400)
    if introspected.status_code == 400:  # an empty token counts as absent (TX-REQ-005)
        assert introspected.json()["error"] == "invalid_request"
    else:
        assert introspected.json() == {"active": False}
    revoked = await harness.post("/oauth2/revoke", orchestrator, [("token", garbage)])
    assert revoked.status_code in (200, 400)
    if garbage.isascii() and garbage.isprintable():  # what an HTTP header can carry
        bearer = await harness.client.post(
            "/v1/workload-access-tokens",
            json={},
            headers={"Authorization": f"Bearer {garbage[:4000]}"},
        )
        assert bearer.status_code == 401


# -- fuzzing -------------------------------------------------------------------------------------


@pytest.fixture
def sync_service(
    tmp_path: Path, clock: ManualClock, okta_idp: MockIdp
) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    service, http = start_service(tmp_path, f"sqlite:///{tmp_path / 'fuzz.db'}", clock, okta_idp)
    transport = SyncASGITransport(service.asgi_app())
    try:
        with httpx.Client(transport=transport, base_url="https://proctor.test") as client:
            created = client.post(
                "/v1/workloads",
                json={"name": "fuzzer"},
                headers={"Authorization": "Bearer " + "adm_" + "s" * 60},
            ).json()
            yield client, basic(created["client_id"], created["client_secret"])
    finally:
        transport.close()
        service.close()
        http.close()


NAMES = st.sampled_from(
    [
        "grant_type",
        "subject_token",
        "subject_token_type",
        "actor_token",
        "actor_token_type",
        "audience",
        "resource",
        "scope",
        "requested_token_type",
        "token",
        "token_type_hint",
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
    ]
)
VALUES = st.one_of(
    st.sampled_from(
        ["client_credentials", TOKEN_EXCHANGE, ACCESS_TOKEN, "https://x.example/a", "", "a.b.c"]
    ),
    st.text(max_size=40),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(ENDPOINTS),
    pairs=st.lists(st.tuples(NAMES, VALUES), max_size=8),
    raw=st.one_of(st.none(), st.binary(max_size=200)),
    authenticated=st.booleans(),
)
def test_random_requests_never_fail_the_server(
    sync_service: tuple[httpx.Client, dict[str, str]],
    path: str,
    pairs: list[tuple[str, str]],
    raw: bytes | None,
    authenticated: bool,
) -> None:
    client, auth = sync_service
    body = raw if raw is not None else form_body(pairs)
    headers = {**FORM, **(auth if authenticated else {})}
    response = client.post(path, content=body, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert set(response.json()) <= {"error", "error_description"}
