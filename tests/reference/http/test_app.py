"""The thin HTTP layer: error shapes, request ids, body rules, health and metrics."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from proctor.reference.errors import InvalidTarget, NotFound
from proctor.reference.http.app import build_app
from proctor.reference.http.bodies import read_model
from proctor.reference.logs import JsonFormatter, redact
from proctor.reference.metrics import Metrics


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z]{3,10}$")
    size: int


async def create_thing(request: Request) -> Response:
    thing = await read_model(request, Thing)
    return JSONResponse(thing.model_dump(), status_code=201)


def missing(_: Request) -> Response:
    raise NotFound("no such provider", code="provider_not_found")


def oauth(_: Request) -> Response:
    raise InvalidTarget("audience is not registered")


def boom(_: Request) -> Response:
    raise RuntimeError("password=hunter2 leaked into an exception message")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def state() -> dict[str, bool]:
    return {"ready": True}


@pytest.fixture
async def client(state: dict[str, bool]) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(
        [
            Route("/things", create_thing, methods=["POST"]),
            Route("/missing", missing),
            Route("/oauth", oauth),
            Route("/boom", boom),
        ],
        metrics=Metrics(),
        ready=lambda: state["ready"],
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://proctor.test") as c:
        yield c


pytestmark = pytest.mark.anyio


async def test_valid_body_is_accepted(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", json={"name": "crm", "size": 3})
    assert r.status_code == 201
    assert r.json() == {"name": "crm", "size": 3}


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b'{"name": "crm"', {"content-type": "application/json"}, 400, "invalid_request_body"),
        (b"[1, 2]", {"content-type": "application/json"}, 400, "invalid_request_body"),
        (b'{"name": "crm", "size": 3, "x": 1}', {"content-type": "application/json"}, 400,
         "invalid_request_body"),
        (b'{"name": "crm", "size": "big"}', {"content-type": "application/json"}, 400,
         "invalid_request_body"),
        (b'{"name": "NO", "size": 1}', {"content-type": "application/json"}, 400,
         "validation_failed"),
        (b'{"name": "crm", "size": 3}', {"content-type": "text/plain"}, 415,
         "unsupported_media_type"),
        (b"{}" + b" " * (300 * 1024), {"content-type": "application/json"}, 413,
         "payload_too_large"),
        (b'{"name": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
         {"content-type": "application/json"}, 400, "invalid_request_body"),
        (b'{"name": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}",
         {"content-type": "application/json"}, 400, "invalid_request_body"),
        (b'{"name": "crm", "size": ' + b"9" * 5000 + b"}",
         {"content-type": "application/json"}, 400, "invalid_request_body"),
    ],
)  # fmt: skip
async def test_bad_bodies_get_specific_problems(
    client: httpx.AsyncClient, content: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    r = await client.post("/things", content=content, headers=headers)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["request_id"] == r.headers["x-request-id"]


async def test_problem_lists_fields_without_echoing_values(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", json={"name": "s3cr3t-value-NOT", "size": 1})
    assert r.json()["errors"][0]["field"] == "name"
    assert "s3cr3t" not in r.text


async def test_specific_not_found_code(client: httpx.AsyncClient) -> None:
    r = await client.get("/missing")
    assert (r.status_code, r.json()["code"]) == (404, "provider_not_found")


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    r = await client.get("/nowhere")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = await client.get("/things")
    assert r.status_code == 405
    assert r.json()["code"] == "method_not_allowed"
    assert "POST" in r.headers["allow"]
    assert r.headers["cache-control"] == "no-store"  # ERR-SHAPE-001: every error


async def test_oauth_errors_use_rfc6749_shape(client: httpx.AsyncClient) -> None:
    r = await client.get("/oauth")
    assert r.status_code == 400
    assert r.json() == {
        "error": "invalid_target",
        "error_description": "audience is not registered",
    }
    assert r.headers["cache-control"] == "no-store"


async def test_unexpected_errors_are_500_without_detail(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="proctor.http"):
        r = await client.get("/boom")
    assert r.status_code == 500
    assert r.json()["code"] == "internal_error"
    assert "hunter2" not in r.text
    formatted = JsonFormatter().format(caplog.records[-1])
    assert "hunter2" not in formatted
    assert json.loads(formatted)["exception"] == "RuntimeError"


async def test_request_id_is_kept_when_sane_and_replaced_otherwise(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/healthz", headers={"x-request-id": "abc12345-trace"})
    assert r.headers["x-request-id"] == "abc12345-trace"
    r = await client.get("/healthz", headers={"x-request-id": "bad id\twith spaces"})
    assert r.headers["x-request-id"] != "bad id\twith spaces"


async def test_readiness_follows_the_probe(
    client: httpx.AsyncClient, state: dict[str, bool]
) -> None:
    assert (await client.get("/readyz")).status_code == 200
    state["ready"] = False
    assert (await client.get("/readyz")).status_code == 503


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/missing")
    text = (await client.get("/metrics")).text
    assert 'proctor_http_requests_total{method="GET",route="/healthz",status="200"} 1' in text
    assert 'route="/missing",status="404"' in text
    assert "# TYPE proctor_http_request_duration_seconds histogram" in text


def test_redaction_of_secret_members() -> None:
    assert redact({"client_secret": "x", "nested": [{"refresh_token": "y", "ok": 1}]}) == {
        "client_secret": "[redacted]",
        "nested": [{"refresh_token": "[redacted]", "ok": 1}],
    }
