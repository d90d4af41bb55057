"""A tiny in-process target for the kit's meta-tests: correct, or broken in one way.

It serves RFC 8414 metadata, a JWK Set, a ``client_credentials`` token endpoint and a
protected resource. Each :class:`Flaws` field breaks exactly one thing, so a meta-test
can check that the kit catches that one thing (and nothing else).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

ISSUER = "http://target.test"
CLIENT_ID = "kit-client"
CLIENT_SECRET = "s3cr3t-client-value-0123456789"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
#: The EC public key of RFC 7517 Appendix A.1.
PUBLIC_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
    "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",
    "use": "sig",
    "alg": "ES256",
    "kid": "1",
}


@dataclass(frozen=True)
class Flaws:
    issuer_trailing_slash: bool = False
    missing_jwks_uri: bool = False
    jwks_500: bool = False
    metadata_as_html: bool = False
    missing_token_endpoint: bool = False
    no_token_exchange_grant: bool = False
    private_key_in_jwks: bool = False
    duplicate_kids: bool = False
    reject_everything: bool = False  # every protected call fails: controls must catch it
    accept_any_token: bool = False  # the protected resource accepts forged tokens
    break_after_attack: bool = False  # a forged token breaks the service for good
    leak: str | None = None  # echo this secret in responses (redaction meta-tests)
    refresh_token: str | None = None  # issue this refresh token (redaction meta-tests)


@dataclass
class State:
    tokens: set[str] = field(default_factory=set)
    broken: bool = False
    hits: dict[str, int] = field(default_factory=dict)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_app(issuer: str = ISSUER, flaws: Flaws | None = None) -> Starlette:
    """The fake target; ``app.state.fake`` is its :class:`State`."""
    flaws = flaws or Flaws()
    state = State()
    base_path = urlsplit(issuer).path.rstrip("/")

    def hit(name: str) -> None:
        state.hits[name] = state.hits.get(name, 0) + 1

    async def root(request: Request) -> Response:
        return PlainTextResponse("fake target")

    async def metadata(request: Request) -> Response:
        document: dict[str, object] = {
            "issuer": issuer + "/" if flaws.issuer_trailing_slash else issuer,
            "token_endpoint": f"{issuer}/oauth2/token",
            "jwks_uri": f"{issuer}/oauth2/jwks",
            "response_types_supported": [],
            "grant_types_supported": ["client_credentials", TOKEN_EXCHANGE],
        }
        if flaws.missing_jwks_uri:
            del document["jwks_uri"]
        if flaws.missing_token_endpoint:
            del document["token_endpoint"]
        if flaws.no_token_exchange_grant:
            document["grant_types_supported"] = ["client_credentials"]
        if flaws.leak:
            document["service_documentation"] = f"see {flaws.leak}"
        if flaws.metadata_as_html:
            return Response(f"<html>{document}</html>", media_type="text/html")
        return JSONResponse(document)

    async def jwks(request: Request) -> Response:
        if flaws.jwks_500:
            return PlainTextResponse("internal error", status_code=500)
        keys = [dict(PUBLIC_JWK)]
        if flaws.private_key_in_jwks:
            keys[0]["d"] = "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE"
        if flaws.duplicate_kids:
            keys.append(dict(PUBLIC_JWK, x="f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"))
        return JSONResponse({"keys": keys})

    async def token(request: Request) -> Response:
        hit("token")
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != expected:
            body: dict[str, str] = {"error": "invalid_client"}
            if flaws.leak:
                body["error_description"] = f"bad client, expected {flaws.leak}"
            return JSONResponse(body, status_code=401)
        header = _b64(b'{"alg":"ES256","typ":"at+jwt"}')
        payload = _b64(b'{"sub":"kit-client","jti":"' + secrets.token_hex(8).encode() + b'"}')
        access_token = f"{header}.{payload}.{_b64(secrets.token_bytes(64))}"
        state.tokens.add(access_token)
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "refresh_token": flaws.refresh_token or secrets.token_urlsafe(24),
            }
        )

    async def protected(request: Request) -> Response:
        hit("protected")
        if flaws.reject_everything or state.broken:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and (value in state.tokens or flaws.accept_any_token):
            return JSONResponse({"ok": True})
        if flaws.break_after_attack:
            state.broken = True
        return JSONResponse({"error": "invalid_token"}, status_code=401)

    async def echo(request: Request) -> Response:
        """Returns whatever secret the flaws say, in a header, a text body and a cookie."""
        leak = flaws.leak or "nothing"
        sent = request.headers.get("authorization", "")
        response = PlainTextResponse(
            f"debug dump: client_secret={leak}; token {leak}; you sent {sent}"
        )
        response.headers["x-debug"] = leak
        response.set_cookie("session", leak)
        return response

    async def control_chars(request: Request) -> Response:
        return PlainTextResponse("bad \x00 bytes \x1b[31m and \x07 bell")

    async def counted(request: Request) -> Response:
        hit("counted")
        return JSONResponse({"ok": True})

    well_known = "/.well-known/oauth-authorization-server" + base_path
    app = Starlette(
        routes=[
            Route(f"{base_path}/" if base_path else "/", root),
            Route(well_known, metadata),
            Route(f"{base_path}/oauth2/jwks", jwks),
            Route(f"{base_path}/oauth2/token", token, methods=["POST"]),
            Route(f"{base_path}/protected", protected),
            Route(f"{base_path}/echo", echo, methods=["GET", "POST"]),
            Route(f"{base_path}/control-chars", control_chars),
            Route(f"{base_path}/counted", counted),
        ]
    )
    app.state.fake = state
    return app
