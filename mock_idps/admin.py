"""The admin API under ``/_mock/``: drive an emulator from a test or a shell.

Kept apart from the vendor paths so nothing here can be mistaken for vendor behaviour.
It has no authentication: an emulator is a test tool bound to loopback. Errors are
``{"error", "error_description"}`` with 400 (bad input) or 404 (unknown thing).

=========================================  ===============================================
endpoint                                   does
=========================================  ===============================================
``GET /_mock``                             vendor, servers, issuers, endpoint URLs
``GET|PUT /_mock/config``                  read or replace the configuration (JSON or YAML)
``PUT|DELETE /_mock/users/{username}``     add/replace or remove one user
``PUT|DELETE /_mock/clients/{client_id}``  add/replace or remove one client
``PUT|DELETE /_mock/apis/{api_id}``        add/replace or remove one API
``PUT /_mock/headless``                    ``{"user": name|null}``: auto-approve as a user
``POST /_mock/tokens``                     mint a token (see :mod:`~.minting`)
``GET /_mock/keys``                        keys with state, purpose, published
``POST /_mock/keys/{action}``              ``publish-next``, ``switch``, ``retire``, ``rotate``
``GET|POST|DELETE /_mock/faults``          list, add, clear faults
``DELETE /_mock/faults/{id}``              remove one fault
``GET|POST /_mock/clock``                  read; ``advance``, ``freeze``, ``unfreeze``
``GET|DELETE /_mock/requests``             the request log (filters: endpoint, server, path)
``DELETE /_mock/sessions``                 sign everyone out
``POST /_mock/reset``                      forget codes, tokens, sessions, faults, log
=========================================  ===============================================
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from proctor.mock_idps.config import Api, Client, IdpConfig, User
from proctor.mock_idps.engine import Engine
from proctor.mock_idps.faults import FaultSpec
from proctor.mock_idps.minting import MintRequest, mint

__all__ = ["AdminError", "routes", "summary"]

Handler = Callable[[Request], Awaitable[Response]]
PREFIX = "/_mock"


class AdminError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


class KeyAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    server: str | None = None
    purpose: str = "default"
    kid: str | None = None


class ClockAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    advance: float | None = Field(default=None, ge=0)
    freeze: bool = False
    at: float | None = None
    unfreeze: bool = False


class Headless(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str | None


def _error(status: int, description: str) -> JSONResponse:
    error = "not_found" if status == 404 else "invalid_request"
    return JSONResponse({"error": error, "error_description": description}, status)


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def _guard(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except AdminError as exc:
            return _error(exc.status, exc.description)
        except ValidationError as exc:
            return _error(400, _validation_message(exc))
        except KeyError as exc:
            return _error(404, f"unknown: {exc.args[0]}")
        except (LookupError, ValueError, TypeError) as exc:
            return _error(400, str(exc))

    return wrapped


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if media in ("application/yaml", "application/x-yaml", "text/yaml"):
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise AdminError(400, "the body is not valid JSON (or YAML)") from exc


def summary(engine: Engine) -> dict[str, Any]:
    """What the emulator serves: the index of the admin API."""
    servers = []
    for server in engine.servers.values():
        servers.append(
            {
                "id": server.id,
                "kind": server.kind,
                "issuer": server.issuer,
                "audience": server.audience,
                "endpoints": {kind: server.url(kind) for kind in server.paths},
            }
        )
    return {
        "vendor": engine.profile.name,
        "base_url": engine.base_url,
        "primary_server": engine.primary,
        "servers": servers,
        "login_page": engine.base_url + engine.profile.login_path,
        "headless_user": engine.config.headless_user,
    }


def routes(engine: Engine) -> list[Route]:
    def reconfigure(update: dict[str, Any]) -> IdpConfig:
        data = engine.config.model_dump()
        data.update(update)
        config = IdpConfig.model_validate(data)
        engine.configure(config)
        return config

    async def index(request: Request) -> Response:
        return JSONResponse(summary(engine))

    async def config(request: Request) -> Response:
        if request.method == "PUT":
            body = await _json_body(request)
            if not isinstance(body, dict):
                raise AdminError(400, "a configuration is a JSON object")
            engine.configure(IdpConfig.model_validate(body))
        return JSONResponse(engine.config.model_dump(mode="json"))

    def item_route(
        collection: str, key: str, model: type[User] | type[Client] | type[Api]
    ) -> Handler:
        async def handler(request: Request) -> Response:
            name = request.path_params["name"]
            items = [m.model_dump() for m in getattr(engine.config, collection)]
            rest = [m for m in items if m[key] != name]
            if request.method == "DELETE":
                if len(rest) == len(items):
                    raise AdminError(404, f"no {key} {name!r}")
                update: dict[str, Any] = {collection: rest}
                if collection == "users" and engine.config.headless_user == name:
                    update["headless_user"] = None
                reconfigure(update)
                return Response(status_code=204)
            body = await _json_body(request)
            if not isinstance(body, dict):
                raise AdminError(400, "the body is a JSON object")
            body.setdefault(key, name)
            if body[key] != name:
                raise AdminError(400, f"the body's {key} differs from the path")
            item = model.model_validate(body)
            reconfigure({collection: [*rest, item.model_dump()]})
            return JSONResponse(item.model_dump(mode="json"))

        return handler

    async def headless(request: Request) -> Response:
        spec = Headless.model_validate(await _json_body(request))
        reconfigure({"headless_user": spec.user})
        return JSONResponse({"headless_user": spec.user})

    async def tokens(request: Request) -> Response:
        spec = MintRequest.model_validate(await _json_body(request))
        return JSONResponse(mint(engine, spec).as_dict())

    async def keys(request: Request) -> Response:
        server = engine.server(request.query_params.get("server"))
        ring = engine.keyring(server.id)
        listing = [
            {
                "kid": k.kid,
                "alg": k.alg,
                "state": k.state,
                "purpose": k.purpose,
                "published": k.published,
            }
            for k in ring.keys()  # noqa: SIM118
        ]
        return JSONResponse({"server": server.id, "keys": listing})

    async def key_action(request: Request) -> Response:
        action = request.path_params["action"]
        spec = KeyAction.model_validate(await _json_body(request))
        server = engine.server(spec.server)
        ring = engine.keyring(server.id)
        if spec.purpose not in server.key_purposes:
            raise AdminError(400, f"server {server.id!r} has no key purpose {spec.purpose!r}")
        if action == "publish-next":
            key = ring.publish_next(spec.purpose)
            return JSONResponse({"kid": key.kid, "state": key.state})
        if action == "switch":
            key = ring.switch(spec.purpose)
            return JSONResponse({"kid": key.kid, "state": key.state})
        if action == "rotate":
            key = ring.rotate(spec.purpose)
            return JSONResponse({"kid": key.kid, "state": key.state})
        if action == "retire":
            return JSONResponse({"retired": ring.retire(spec.kid, spec.purpose)})
        raise AdminError(404, f"no key action {action!r}")

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            fault = engine.faults.add(FaultSpec.model_validate(await _json_body(request)))
            return JSONResponse(fault.as_dict(), 201)
        if request.method == "DELETE":
            engine.faults.clear()
            return Response(status_code=204)
        return JSONResponse({"faults": engine.faults.list()})

    async def fault_item(request: Request) -> Response:
        if not engine.faults.remove(request.path_params["fault_id"]):
            raise AdminError(404, "no such fault")
        return Response(status_code=204)

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            spec = ClockAction.model_validate(await _json_body(request))
            if spec.unfreeze:
                engine.clock.unfreeze()
            if spec.freeze or spec.at is not None:
                engine.clock.freeze(spec.at)
            if spec.advance:
                engine.clock.advance(spec.advance)
        return JSONResponse(
            {
                "now": engine.clock.now(),
                "frozen": engine.clock.frozen,
                "offset": engine.clock.offset,
            }
        )

    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            engine.requests.clear()
            return Response(status_code=204)
        q = request.query_params
        entries = engine.requests.entries(
            endpoint=q.get("endpoint"), server=q.get("server"), path=q.get("path")
        )
        return JSONResponse({"count": len(entries), "requests": [e.as_dict() for e in entries]})

    async def sessions(request: Request) -> Response:
        with engine.state.locked() as st:
            st.sessions.clear()
        return Response(status_code=204)

    async def reset(request: Request) -> Response:
        engine.reset()
        return Response(status_code=204)

    async def unknown(request: Request) -> Response:
        raise AdminError(404, f"no admin endpoint {request.method} {request.url.path}")

    table: list[tuple[str, Handler, list[str]]] = [
        ("", index, ["GET"]),
        ("/", index, ["GET"]),
        ("/config", config, ["GET", "PUT"]),
        ("/users/{name}", item_route("users", "username", User), ["PUT", "DELETE"]),
        ("/clients/{name}", item_route("clients", "client_id", Client), ["PUT", "DELETE"]),
        ("/apis/{name}", item_route("apis", "id", Api), ["PUT", "DELETE"]),
        ("/headless", headless, ["PUT"]),
        ("/tokens", tokens, ["POST"]),
        ("/keys", keys, ["GET"]),
        ("/keys/{action}", key_action, ["POST"]),
        ("/faults", faults, ["GET", "POST", "DELETE"]),
        ("/faults/{fault_id}", fault_item, ["DELETE"]),
        ("/clock", clock, ["GET", "POST"]),
        ("/requests", requests, ["GET", "DELETE"]),
        ("/sessions", sessions, ["DELETE"]),
        ("/reset", reset, ["POST"]),
    ]
    out = [Route(PREFIX + path, _guard(h), methods=methods) for path, h, methods in table]
    every = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    out.append(Route(PREFIX + "/{rest:path}", _guard(unknown), methods=every))
    return out
