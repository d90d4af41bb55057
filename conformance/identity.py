"""The normalised identity the spec prescribes for a verified user token.

The kit computes, from the claims it asked a mock IdP to sign, the identity a conforming
service must report in an ``allow`` decision (INB-DEC-004) and bind into a workload
access token (WAT-BIND-001). This is the kit's own reading of spec 02, independent of any
implementation:

- ``user_key`` (INB-USER-001): ``sub`` in the ``generic`` and ``cognito`` profiles;
  ``uid`` when present, else ``sub``, in ``okta``; ``{tid}/{oid}`` in ``entra``;
- ``client_id`` (INB-CLIENT-001): for an access token the first present of
  ``client_id``, ``azp``, ``appid``, ``cid``; for an ID token ``azp``, else a single
  ``aud``;
- ``scopes`` (INB-SCOPE-001): the union of ``scp`` (array or space-separated string) and
  ``scope``, in order of first appearance, without duplicates or empty strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["expected_identity", "scopes_of", "user_key_of"]


def scopes_of(claims: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    scp = claims.get("scp")
    items: list[str] = []
    if isinstance(scp, list):
        items += [item for item in scp if isinstance(item, str)]
    elif isinstance(scp, str):
        items += scp.split(" ")
    scope = claims.get("scope")
    if isinstance(scope, str):
        items += scope.split(" ")
    for item in items:
        if item and item not in found:
            found.append(item)
    return found


def user_key_of(claims: Mapping[str, Any], profile: str) -> str:
    if profile == "entra":
        return f"{claims['tid']}/{claims['oid']}"
    if profile == "okta" and isinstance(claims.get("uid"), str):
        return str(claims["uid"])
    return str(claims["sub"])


def _client_of(claims: Mapping[str, Any], kind: str) -> str | None:
    if kind == "id_token":
        if isinstance(claims.get("azp"), str):
            return str(claims["azp"])
        aud = claims.get("aud")
        if isinstance(aud, str):
            return aud
        if isinstance(aud, list) and len(aud) == 1 and isinstance(aud[0], str):
            return aud[0]
        return None
    for name in ("client_id", "azp", "appid", "cid"):
        if isinstance(claims.get(name), str):
            return str(claims[name])
    return None


def expected_identity(
    claims: Mapping[str, Any], profile: str, kind: str = "access_token"
) -> dict[str, Any]:
    """The ``identity`` member of an ``allow`` for a token with ``claims`` (INB-DEC-004)."""
    return {
        "issuer": claims["iss"],
        "subject": claims["sub"],
        "user_key": user_key_of(claims, profile),
        "client_id": _client_of(claims, kind),
        "scopes": scopes_of(claims),
        "claims": dict(claims),
    }
