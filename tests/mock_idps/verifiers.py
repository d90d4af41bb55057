"""Independent verifiers for the emulators' tokens: each vendor's own validation rules run
by PyJWT against the published JWKS, as the vendors' verifier libraries apply them
(okta-jwt-verifier, Microsoft.IdentityModel / MSAL guidance in ``access-tokens.md``,
aws-jwt-verify). Nothing here imports the emulators: the rules come from the vendor facts
(``notes/idps.md``), so a token that passes was shaped as the vendor shapes it.

Every failure is a :class:`jwt.InvalidTokenError` (a missing claim, a wrong value or
shape), never a ``KeyError``: a verifier that crashes on a foreign token proves nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt as pyjwt

LOGIN = "https://login.microsoftonline.com"
STS = "https://sts.windows.net"


def published_key(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """The JWK Set member named by the token's ``kid`` (RFC 7515 §4.1.4)."""
    kid = pyjwt.get_unverified_header(token).get("kid")
    found: dict[str, Any] | None = next((k for k in jwks["keys"] if k.get("kid") == kid), None)
    if found is None:
        raise pyjwt.InvalidTokenError(f"no published key has kid {kid!r}")
    return found


def jwk_for(token: str, jwks: dict[str, Any]) -> pyjwt.PyJWK:
    """The published key named by the token's ``kid``, for PyJWT."""
    return pyjwt.PyJWK.from_json(json.dumps(published_key(token, jwks)))


def verify_okta(
    token: str,
    jwks: dict[str, Any],
    *,
    issuer: str,
    audience: str | None,
    client_id: str | None = None,
) -> dict[str, Any]:
    """Okta's access-token rules (okta-jwt-verifier): RS256 only, kid in the JWKS, exact
    ``iss``, ``aud`` as configured, ``cid`` present (and the pinned client, if any)."""
    claims: dict[str, Any] = pyjwt.decode(
        token,
        jwk_for(token, jwks),
        algorithms=["RS256"],
        issuer=issuer,
        audience=audience,
        options={"require": ["exp", "iat", "iss", "aud", "cid"]},
    )
    if client_id is not None and claims["cid"] != client_id:
        raise pyjwt.InvalidTokenError("cid mismatch")
    return claims


def expected_entra_issuer(version: str, tid: str) -> str:
    return f"{STS}/{tid}/" if version == "1.0" else f"{LOGIN}/{tid}/v2.0"


def verify_entra(
    token: str,
    jwks: dict[str, Any],
    *,
    audience: str,
    tenant: str | None = None,
    issuer: Callable[[str, str], str] = expected_entra_issuer,
) -> dict[str, Any]:
    """Entra's rules (``access-tokens.md``, "Validate the issuer"): RS256 only; the
    ``kid`` is in the JWKS; ``tid`` is a GUID (and the pinned tenant, if any); ``ver`` is
    ``"1.0"`` or ``"2.0"``; ``iss`` is the issuer of that version for that ``tid``; a key
    with an ``issuer`` (the ``{tenantid}`` template substituted with ``tid``) must name the
    same issuer; ``aud`` exact; ``exp``/``nbf`` checked."""
    jwk = published_key(token, jwks)
    unverified = pyjwt.decode(token, options={"verify_signature": False})
    for name in ("tid", "ver"):
        if not isinstance(unverified.get(name), str):
            raise pyjwt.MissingRequiredClaimError(name)
    try:
        tid = str(uuid.UUID(unverified["tid"]))
    except ValueError as exc:
        raise pyjwt.InvalidTokenError("tid is not a GUID") from exc
    if tenant is not None and tid != tenant:
        raise pyjwt.InvalidIssuerError("another tenant")
    if unverified["ver"] not in ("1.0", "2.0"):
        raise pyjwt.InvalidTokenError("ver is neither 1.0 nor 2.0")
    expected = issuer(unverified["ver"], tid)
    published = jwk.get("issuer")
    if published is not None and published.replace("{tenantid}", tid) != expected:
        raise pyjwt.InvalidIssuerError("the key belongs to another issuer")
    claims: dict[str, Any] = pyjwt.decode(
        token,
        pyjwt.PyJWK.from_json(json.dumps(jwk)),
        algorithms=["RS256"],
        issuer=expected,
        audience=audience,
        options={"require": ["exp", "nbf", "iat", "iss", "aud", "tid", "ver"]},
    )
    return claims


def verify_cognito(
    token: str,
    jwks: dict[str, Any],
    *,
    client_id: str,
    token_use: str | None,
    issuer: str,
) -> dict[str, Any]:
    """Cognito's rules (aws-jwt-verify): RS256, kid in the JWKS, exact ``iss``, no ``aud``
    check; the client is ``client_id`` (access) or ``aud`` (ID), and ``token_use`` when
    pinned. With ``token_use=None`` this is the common mistake of not checking it."""
    claims: dict[str, Any] = pyjwt.decode(
        token,
        jwk_for(token, jwks),
        algorithms=["RS256"],
        issuer=issuer,
        options={"verify_aud": False, "require": ["exp", "iat", "iss", "token_use"]},
    )
    if claims.get("client_id", claims.get("aud")) != client_id:
        raise pyjwt.InvalidTokenError("client mismatch")
    if token_use is not None and claims["token_use"] != token_use:
        raise pyjwt.InvalidTokenError("token_use mismatch")
    return claims


# -- access tokens: one rule set per vendor, with the claim shapes consumers rely on ---------
@dataclass(frozen=True)
class Expected:
    """What a resource server is configured with: the issuer it trusts, the audience it
    is (``None``: the vendor's access tokens carry none) and the client it expects."""

    issuer: str
    audience: str | None
    client_id: str


def _shape(ok: bool, what: str) -> None:
    if not ok:
        raise pyjwt.InvalidTokenError(what)


def okta_access_rules(token: str, jwks: dict[str, Any], expected: Expected) -> dict[str, Any]:
    """Okta: ``verify_okta`` with the client pinned; ``ver`` the integer 1, ``scp`` a JSON
    array of scope names, ``jti`` ``AT.…``."""
    claims = verify_okta(
        token,
        jwks,
        issuer=expected.issuer,
        audience=expected.audience,
        client_id=expected.client_id,
    )
    _shape(type(claims.get("ver")) is int and claims["ver"] == 1, "ver is not the integer 1")
    scp = claims.get("scp")
    _shape(isinstance(scp, list) and all(isinstance(s, str) for s in scp), "scp is not an array")
    _shape(str(claims.get("jti", "")).startswith("AT."), "jti is not AT.…")
    return claims


def entra_access_rules(token: str, jwks: dict[str, Any], expected: Expected) -> dict[str, Any]:
    """Entra, for a single-tenant API: ``verify_entra`` (a GUID ``tid``, a string ``ver``,
    the key's ``issuer``) with ``iss`` the configured tenant issuer, which names ``tid``; the
    client is ``azp`` (v2.0) or ``appid`` (v1.0); ``scp`` a space-separated string; ``oid``
    present."""
    audience = expected.audience or expected.client_id  # Entra's rules need an audience
    claims = verify_entra(token, jwks, audience=audience, issuer=lambda _ver, _tid: expected.issuer)
    _shape(f"/{claims['tid']}/" in claims["iss"], "iss does not name the token's tenant")
    client = claims.get("azp" if claims["ver"] == "2.0" else "appid")
    _shape(client == expected.client_id, "azp/appid is not the expected client")
    _shape(isinstance(claims.get("scp"), str), "scp is not a space-separated string")
    _shape(isinstance(claims.get("oid"), str), "no oid")
    return claims


def cognito_access_rules(token: str, jwks: dict[str, Any], expected: Expected) -> dict[str, Any]:
    """Cognito: ``verify_cognito`` with ``token_use: access`` and the app client pinned;
    ``scope`` a space-separated string, ``version`` the integer 2, no ``aud``."""
    claims = verify_cognito(
        token,
        jwks,
        client_id=expected.client_id,
        token_use="access",
        issuer=expected.issuer,
    )
    _shape(isinstance(claims.get("scope"), str), "scope is not a space-separated string")
    _shape(type(claims.get("version")) is int and claims["version"] == 2, "version is not 2")
    _shape("aud" not in claims, "a Cognito access token has no aud")
    return claims


ACCESS_RULES: dict[str, Callable[[str, dict[str, Any], Expected], dict[str, Any]]] = {
    "okta": okta_access_rules,
    "entra": entra_access_rules,
    "cognito": cognito_access_rules,
}
