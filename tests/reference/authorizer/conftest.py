"""Fixtures for the inbound authorizer: an in-process IdP, keys, and a token factory.

The IdP is an ``httpx.MockTransport`` handler: it serves a discovery document and a JWKS
from the mock key ring, records every request (so a test can prove a URL was never
fetched), and can be told to fail. No sockets are opened.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey, RSAKey

from proctor.mock_idps.keys import KeyRing, SigningKey, generate_key
from proctor.reference.authorizer import Authorizer
from proctor.reference.authorizer_config import AuthorizerConfig
from proctor.reference.clock import ManualClock
from proctor.reference.jwks import DiscoveryKeySource

ISSUER = "https://idp.example/oauth2/default"
DISCOVERY_URL = f"{ISSUER}/.well-known/openid-configuration"
AUDIENCE = "api://proctor"
CLIENT = "client-1"
START = 1_800_000_000.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return unb64json(header), unb64json(payload), signature


def unb64json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


@dataclass
class FakeIdp:
    """Discovery + JWKS for one issuer, served through ``httpx.MockTransport``."""

    issuer: str
    ring: KeyRing
    discovery_url: str
    jwks_uri: str
    discovery_issuer: str | None = None  # what the document claims (default: issuer)
    cache_control: str | None = "max-age=300"
    #: ``None`` (serve), an HTTP status, ``"timeout"``, ``"malformed"``, or ``"not-object"``.
    failure: int | str | None = None
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = str(request.url)
        if self.failure == "timeout":
            raise httpx.ReadTimeout("the IdP did not answer", request=request)
        if isinstance(self.failure, int):
            return httpx.Response(self.failure, text="down")
        headers = {"Cache-Control": self.cache_control} if self.cache_control else {}
        if url == self.discovery_url:
            body: Any = {
                "issuer": self.discovery_issuer or self.issuer,
                "jwks_uri": self.jwks_uri,
                "token_endpoint": f"{self.issuer}/v1/token",
            }
        elif url == self.jwks_uri:
            body = self.ring.jwks()
        else:
            return httpx.Response(404)
        if self.failure == "malformed":
            return httpx.Response(200, content=b'{"keys": [', headers=headers)
        if self.failure == "not-object":
            return httpx.Response(200, json=["keys"], headers=headers)
        return httpx.Response(200, json=body, headers=headers)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def fetched(self, url: str) -> int:
        return sum(1 for r in self.requests if str(r.url) == url)

    @property
    def jwks_fetches(self) -> int:
        return self.fetched(self.jwks_uri)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture(scope="session")
def keypool() -> dict[str, RSAKey | ECKey]:
    """Keys generated once per session (RSA generation is slow)."""
    return {
        "rs": generate_key("RS256", "rs-main"),
        "es": generate_key("ES256", "es-main"),
        "rs-other": generate_key("RS256", "rs-other"),
        "es-other": generate_key("ES256", "es-other"),
    }


@pytest.fixture
def ring(keypool: dict[str, RSAKey | ECKey]) -> KeyRing:
    """The IdP's ring: an RS256 key (purpose ``default``) and an ES256 key (``es``)."""
    return KeyRing(
        [
            SigningKey(keypool["rs"], "RS256", purpose="default"),
            SigningKey(keypool["es"], "ES256", purpose="es"),
        ]
    )


@pytest.fixture
def idp(ring: KeyRing) -> FakeIdp:
    return FakeIdp(ISSUER, ring, DISCOVERY_URL, f"{ISSUER}/v1/keys")


@pytest.fixture
def make_idp() -> Callable[..., FakeIdp]:
    """``make_idp(issuer, ring, discovery_url=..., jwks_uri=...)``: another IdP."""

    def make(
        issuer: str,
        ring: KeyRing,
        *,
        discovery_url: str | None = None,
        jwks_uri: str | None = None,
        discovery_issuer: str | None = None,
    ) -> FakeIdp:
        return FakeIdp(
            issuer,
            ring,
            discovery_url or f"{issuer}/.well-known/openid-configuration",
            jwks_uri or f"{issuer}/keys",
            discovery_issuer=discovery_issuer,
        )

    return make


def _config(**changes: Any) -> AuthorizerConfig:
    """The generic test configuration, with ``changes`` applied."""
    base: dict[str, Any] = {
        "name": "company-idp",
        "discovery_url": DISCOVERY_URL,
        "allowed_audiences": [AUDIENCE],
        "allowed_clients": [CLIENT],
        "allowed_scopes": ["crm.read"],
        "algorithms": ["RS256", "ES256"],
        "leeway_seconds": 60,
    }
    base.update(changes)
    return AuthorizerConfig.model_validate(base)


@pytest.fixture
def make_config() -> Callable[..., AuthorizerConfig]:
    """``make_config(**changes)``: the generic test configuration with changes."""
    return _config


class Forge:
    """Hand-made tokens for attacks: any header, any payload, any signature bytes."""

    b64 = staticmethod(b64)
    b64json = staticmethod(b64json)
    segments = staticmethod(segments)

    @staticmethod
    def token(header: Any, payload: Any, signature: bytes | str = b"") -> str:
        sig = signature if isinstance(signature, str) else b64(signature)
        head = header if isinstance(header, str) else b64json(header)
        body = payload if isinstance(payload, str) else b64json(payload)
        return f"{head}.{body}.{sig}"

    @staticmethod
    def signing_input(token: str) -> bytes:
        head, body, _ = token.split(".")
        return f"{head}.{body}".encode()


@pytest.fixture
def forge() -> type[Forge]:
    return Forge


MakeAuthorizer = Callable[..., Authorizer]


@pytest.fixture
def make_authorizer(idp: FakeIdp, clock: ManualClock) -> Iterator[MakeAuthorizer]:
    clients: list[httpx.Client] = []

    def make(
        cfg: AuthorizerConfig | None = None,
        *,
        cache_size: int = 0,
        cache_max_age: float = 300.0,
        server: FakeIdp | None = None,
        **key_options: Any,
    ) -> Authorizer:
        source_idp = server or idp
        http = source_idp.client()
        clients.append(http)
        cfg = cfg or _config()
        source = DiscoveryKeySource.from_config(cfg, http=http, clock=clock, **key_options)
        return Authorizer(cfg, source, clock, cache_size=cache_size, cache_max_age=cache_max_age)

    yield make
    for http in clients:
        http.close()


@pytest.fixture
def authorizer(make_authorizer: MakeAuthorizer) -> Authorizer:
    return make_authorizer()


def default_claims(now: float) -> dict[str, Any]:
    return {
        "iss": ISSUER,
        "sub": "sarah@example.com",
        "aud": AUDIENCE,
        "client_id": CLIENT,
        "scope": "crm.read openid",
        "iat": int(now),
        "exp": int(now) + 600,
        "jti": "AT.1",
        "groups": ["sales", "everyone"],
    }


Mint = Callable[..., str]


@pytest.fixture
def mint(ring: KeyRing, clock: ManualClock) -> Mint:
    """``mint(claim_changes, header=..., purpose=..., key=...)``: a signed token.

    A change to ``None`` removes the claim (or header member); the header is ``alg``,
    ``kid``, ``typ: at+jwt`` plus ``header``.
    """

    def make(
        changes: Mapping[str, Any] | None = None,
        *,
        header: Mapping[str, Any] | None = None,
        purpose: str = "default",
        key: SigningKey | None = None,
    ) -> str:
        claims = default_claims(clock.now())
        for name, value in (changes or {}).items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        members = {"typ": "at+jwt", **(header or {})}
        members = {name: value for name, value in members.items() if value is not None}
        return ring.sign(claims, purpose=purpose, key=key, header=members)

    return make
