"""Minting arbitrary tokens for an issuer, good and deliberately bad (``POST /_mock/tokens``).

A token starts as the vendor-exact token the issuer would sign (the profile's
``access_token``/``id_token`` shaping), then presets and overrides bend it:

===================  =====================================================================
preset               effect
===================  =====================================================================
``expired``          ``exp`` one minute in the past (``iat`` one lifetime before it)
``not_yet_valid``    ``nbf`` one hour in the future (RFC 7519 §4.1.5)
``wrong_audience``   ``aud`` is ``api://wrong-audience``
``wrong_issuer``     ``iss`` is on the host ``wrong-issuer.example``
``unknown_kid``      signed by a fresh key whose ``kid`` is in no JWKS
``alg_none``         ``alg: none`` and an empty signature (RFC 8725 §2.1)
``hs256_public_key`` HS256 with the issuer's PEM public key as the HMAC secret (RFC 8725
                     §2.1, algorithm confusion)
``bad_signature``    a valid token with one signature byte changed
``id_token``         an ID token (to present as an access token)
``no_kid``           no ``kid`` header member
===================  =====================================================================

``claims``/``header`` then override members (``null`` removes one). ``key`` picks the
signing key: ``active`` (default), ``next``, ``retired`` or a ``kid``. Tokens signed by the
issuer's own keys are recorded, so introspection and userinfo treat them like issued ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import urlsplit, urlunsplit

from joserfc.errors import JoseError
from pydantic import BaseModel, ConfigDict, Field

from proctor.mock_idps.keys import SigningKey, generate_key
from proctor.mock_idps.messages import Params

if TYPE_CHECKING:
    from proctor.mock_idps.engine import Engine

__all__ = ["PRESETS", "MintRequest", "MintedToken", "mint"]

Preset = Literal[
    "expired",
    "not_yet_valid",
    "wrong_audience",
    "wrong_issuer",
    "unknown_kid",
    "alg_none",
    "hs256_public_key",
    "bad_signature",
    "id_token",
    "no_kid",
]
PRESETS: tuple[str, ...] = get_args(Preset)
_FORGED = frozenset({"unknown_kid", "alg_none", "hs256_public_key", "bad_signature"})


class MintRequest(BaseModel):
    """The body of ``POST /_mock/tokens``; every member is optional."""

    model_config = ConfigDict(extra="forbid")

    server: str | None = None
    """Authorization server id (the primary one by default)."""
    kind: Literal["access", "id"] = "access"
    user: str | None = None
    """Username, user ID or email (the first configured user by default)."""
    app: bool = False
    """An app-only (client credentials) token: no user."""
    client_id: str | None = None
    scopes: list[str] | None = None
    nonce: str | None = None
    lifetime: int | None = Field(default=None, ge=1, le=10 * 365 * 86_400)
    claims: dict[str, Any] = Field(default_factory=dict)
    header: dict[str, Any] = Field(default_factory=dict)
    presets: list[Preset] = Field(default_factory=list)
    key: str = "active"


@dataclass(frozen=True)
class MintedToken:
    token: str
    header: dict[str, Any]
    claims: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"token": self.token, "header": self.header, "claims": self.claims}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _pick_key(engine: Engine, server_id: str, purpose: str, choice: str) -> SigningKey:
    ring = engine.keyring(server_id)
    keys = [k for k in ring.keys() if k.purpose == purpose]  # noqa: SIM118
    if choice == "active":
        return ring.active(purpose)
    if choice in ("next", "retired"):
        found = [k for k in keys if k.state == choice]
        if not found:
            raise LookupError(f"no {choice} key for purpose {purpose!r}")
        return found[0] if choice == "next" else found[-1]
    key = ring.find(choice)
    if key is None:
        raise LookupError(f"no key with kid {choice!r}")
    return key


def mint(engine: Engine, req: MintRequest) -> MintedToken:
    """Sign a token as ``req`` describes; ``ValueError``/``LookupError`` on bad input."""
    server = engine.server(req.server)
    config = engine.config
    presets = set(req.presets)
    kind = "id" if "id_token" in presets else req.kind
    client_id = req.client_id
    if client_id is None:
        confidential = [c for c in config.clients if not c.public]
        client_id = (confidential or config.clients)[0].client_id if config.clients else "client"
    user = None
    if not req.app:
        if req.user is not None:
            user = engine.user(req.user)
            if user is None:
                raise LookupError(f"no user {req.user!r}")
        elif config.users:
            user = config.users[0]
        else:
            raise LookupError("no users configured; pass app=true")
    if kind == "id" and user is None:
        raise ValueError("an ID token needs a user")
    if req.scopes is not None:
        scopes = tuple(req.scopes)
    else:
        api_scopes = tuple(server.api.scopes) if server.api else ()
        user_scopes = tuple(s for s in ("openid", "profile", "email") if s in server.scopes)
        scopes = api_scopes if user is None else user_scopes + api_scopes
    ctx = engine.context(
        server,
        client_id,
        user,
        scopes,
        "client_credentials" if user is None else "authorization_code",
        audience=engine.profile.audience(server, scopes, Params(())),
        client=engine.client(client_id),
        nonce=req.nonce,
        auth_time=engine.clock() if user is not None else None,
    )
    spec = engine.profile.id_token(ctx) if kind == "id" else engine.profile.access_token(ctx)
    claims = dict(spec.claims)
    now = ctx.now
    lifetime = req.lifetime or (ctx.lifetimes.id if kind == "id" else ctx.lifetimes.access)
    if req.lifetime is not None:
        claims["exp"] = now + lifetime
    if "expired" in presets:
        claims["exp"] = now - 60
        claims["iat"] = now - 60 - lifetime
    if "not_yet_valid" in presets:
        claims["nbf"] = now + 3600
        claims["exp"] = now + 3600 + lifetime
    if "wrong_audience" in presets:
        claims["aud"] = "api://wrong-audience"
    if "wrong_issuer" in presets:
        parts = urlsplit(server.issuer)
        claims["iss"] = urlunsplit(("https", "wrong-issuer.example", parts.path, "", ""))
    for name, value in req.claims.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value

    signer = (
        SigningKey(generate_key("RS256"), "RS256", purpose=spec.purpose, published=False)
        if "unknown_kid" in presets
        else _pick_key(engine, server.id, spec.purpose, req.key)
    )
    header: dict[str, Any] = {"alg": signer.alg, "kid": signer.kid, **spec.header}
    if "no_kid" in presets:
        header.pop("kid")
    for name, value in req.header.items():
        if value is None:
            header.pop(name, None)
        else:
            header[name] = value
    ring = engine.keyring(server.id)
    header = ring.complete_header(header, signer)
    payload = _json(claims)

    if "alg_none" in presets:
        header["alg"] = "none"
        token = f"{_b64(_json(header))}.{_b64(payload)}."
    elif "hs256_public_key" in presets:
        header["alg"] = "HS256"
        secret = signer.key.as_pem(private=False)
        signing_input = f"{_b64(_json(header))}.{_b64(payload)}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{_b64(mac)}"
    else:
        try:
            token = ring.serialize(header, payload, signer, algorithms=[header["alg"]])
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"cannot sign with header {header!r}: {exc}") from exc
        if "bad_signature" in presets:
            head, body, sig = token.split(".")
            raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
            raw[0] ^= 0x01
            token = f"{head}.{body}.{_b64(bytes(raw))}"
    if not presets & _FORGED:
        engine.register(
            token,
            server,
            claims,
            kind=kind,
            client_id=client_id,
            username=user.username if user is not None else None,
            scopes=scopes,
        )
    return MintedToken(token, header, claims)
