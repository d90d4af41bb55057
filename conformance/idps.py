"""The kit's mock identity providers, driven over HTTP through their ``/_mock`` admin API.

The kit never imports the emulators: it talks to them as it talks to the target, through
the target's recording client, at the URLs the target config gives
(``mock_idps.issuers``). An emulator's admin API lives at the origin of any of its
issuers (``{scheme}://{host}/_mock``), whatever the issuer's path; its index
(``GET /_mock``) names the vendor and every authorization server with its issuer and
endpoint URLs, so nothing vendor-specific needs to be configured.

What the kit uses (the emulators' admin API, ``docs/mock-idps``):

- ``POST /_mock/tokens``: mint a token for a server, user and client, with presets
  (``expired``, ``alg_none``, ``unknown_kid``, ...) and claim or header overrides;
- ``GET /_mock/keys``, ``POST /_mock/keys/{publish-next|switch}``: key rotation;
- ``POST|DELETE /_mock/faults``: make the discovery document or the JWK Set fail;
- ``GET /_mock/requests``: what the target fetched (to count JWK Set fetches).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from proctor.conformance.errors import InfrastructureError

__all__ = ["IdpServer", "Minted", "MockIdp", "decode_segment", "origin_of"]

ADMIN_PREFIX = "/_mock"


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def decode_segment(segment: str) -> dict[str, Any]:
    """A base64url JSON segment of a compact JWS (the kit's own tokens: trusted input)."""
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("the segment is not a JSON object")
    return value


@dataclass(frozen=True)
class IdpServer:
    """One authorization server of an emulator, as its admin index describes it."""

    id: str
    kind: str
    issuer: str
    audience: str | None
    endpoints: dict[str, str]

    @property
    def discovery_url(self) -> str:
        url = self.endpoints.get("openid_configuration") or self.endpoints.get(
            "oauth_authorization_server"
        )
        if not url:
            raise InfrastructureError(f"mock IdP server {self.id!r} has no discovery document")
        return url


@dataclass(frozen=True)
class Minted:
    """A token the emulator minted, with the header and claims it put in it."""

    token: str = field(repr=False)
    header: dict[str, Any]
    claims: dict[str, Any]


class MockIdp:
    """One emulator, reached through ``client`` (the target's recording client)."""

    def __init__(self, name: str, issuer: str, client: httpx.Client) -> None:
        self.name = name
        self.issuer = issuer
        self.origin = origin_of(issuer)
        self._client = client
        self._summary: dict[str, Any] | None = None
        self._config: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"MockIdp({self.name!r}, {self.origin!r})"

    # -- plumbing -------------------------------------------------------------------------

    def _admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.origin}{ADMIN_PREFIX}{path}"
        try:
            return self._client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise InfrastructureError(
                f"mock IdP {self.name!r} is unreachable at {url}: {type(error).__name__}"
            ) from None

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._admin(method, path, **kwargs)
        if not response.is_success:
            raise InfrastructureError(
                f"mock IdP {self.name!r}: {method} {ADMIN_PREFIX}{path} answered "
                f"HTTP {response.status_code}: {response.text[:300]}"
            )
        return response.json() if response.content else None

    # -- what it serves -------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        if self._summary is None:
            found = self._json("GET", "")
            if not isinstance(found, dict) or not isinstance(found.get("servers"), list):
                raise InfrastructureError(f"{self.origin}{ADMIN_PREFIX} is not a mock IdP index")
            self._summary = found
        return self._summary

    @property
    def vendor(self) -> str:
        return str(self.summary().get("vendor", ""))

    def servers(self) -> list[IdpServer]:
        return [
            IdpServer(
                id=str(item["id"]),
                kind=str(item.get("kind", "")),
                issuer=str(item["issuer"]),
                audience=item.get("audience"),
                endpoints=dict(item.get("endpoints") or {}),
            )
            for item in self.summary()["servers"]
        ]

    def server(self, server_id: str | None = None) -> IdpServer:
        """A server by id (default: the emulator's primary server)."""
        wanted = server_id or str(self.summary().get("primary_server"))
        for server in self.servers():
            if server.id == wanted:
                return server
        raise InfrastructureError(f"mock IdP {self.name!r} has no server {wanted!r}")

    def server_for_issuer(self, issuer: str) -> IdpServer:
        """The first server whose issuer is ``issuer`` (the v2 one before its v1 alias)."""
        for server in self.servers():
            if server.issuer == issuer:
                return server
        raise InfrastructureError(f"mock IdP {self.name!r} has no server with issuer {issuer}")

    def config(self) -> dict[str, Any]:
        """The emulator's configuration: users, clients, APIs (public demo data)."""
        if self._config is None:
            found = self._json("GET", "/config")
            if not isinstance(found, dict):
                raise InfrastructureError(f"mock IdP {self.name!r}: the config is not an object")
            self._config = found
        return self._config

    def users(self) -> list[dict[str, Any]]:
        return list(self.config().get("users") or [])

    def now(self) -> float:
        """The emulator's clock (the time in the tokens it mints)."""
        return float(self._json("GET", "/clock")["now"])

    # -- tokens and keys ------------------------------------------------------------------

    def mint(self, **request: Any) -> Minted:
        """``POST /_mock/tokens`` (see the emulator's minting presets and overrides)."""
        body = {key: value for key, value in request.items() if value is not None}
        found = self._json("POST", "/tokens", json=body)
        return Minted(token=found["token"], header=found["header"], claims=found["claims"])

    def keys(self, server: str) -> list[dict[str, Any]]:
        return list(self._json("GET", "/keys", params={"server": server})["keys"])

    def key_action(self, action: str, server: str, purpose: str = "default") -> dict[str, Any]:
        found: dict[str, Any] = self._json(
            "POST", f"/keys/{action}", json={"server": server, "purpose": purpose}
        )
        return found

    def jwks(self, server: IdpServer) -> dict[str, Any]:
        url = server.endpoints.get("jwks")
        if not url:
            raise InfrastructureError(f"mock IdP server {server.id!r} publishes no JWK Set")
        response = self._client.get(url)
        if response.status_code != 200:
            raise InfrastructureError(f"{url} answered HTTP {response.status_code}")
        document: dict[str, Any] = response.json()
        return document

    # -- faults and the request log -------------------------------------------------------

    def add_fault(self, **spec: Any) -> str:
        found = self._json("POST", "/faults", json=spec)
        return str(found["id"])

    def clear_faults(self) -> None:
        self._json("DELETE", "/faults")

    def requests(
        self, *, endpoint: str | None = None, server: str | None = None
    ) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("endpoint", endpoint), ("server", server)) if v}
        return list(self._json("GET", "/requests", params=params)["requests"])

    def last_request_seq(self) -> int:
        """The sequence number of the latest logged request (0 if none)."""
        entries = self.requests()
        return max((int(e["seq"]) for e in entries), default=0)
