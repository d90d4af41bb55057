"""Reading verified claims: per-IdP normalisation, custom claim rules, the identity.

Everything here runs on claims whose signature the authorizer has already verified.

Per-IdP profiles (facts with sources in ``/work/shared/notes/idps.md``):

======== ============================ ====================== ==============================
profile  access-token client claim    user key               kind marker
======== ============================ ====================== ==============================
generic  ``client_id``, else ``azp``  ``sub``                ``typ`` only (configured kinds)
okta     ``cid``                      ``uid``, else ``sub``  access tokens carry ``cid``;
                                                             ID tokens never do
entra    ``appid`` (v1), ``azp`` (v2) ``{tid}:{oid}``        access tokens carry ``appid``
                                                             or ``azp``; ID tokens neither
cognito  ``client_id``                ``sub``                ``token_use``: ``access``/``id``
======== ============================ ====================== ==============================

ID tokens name their client in ``azp`` or, with a single audience, in ``aud`` (OpenID
Connect Core §2, §3.1.3.7). Okta's ``uid`` is the stable user id (its access-token
``sub`` is the login); Entra's ``sub`` is pairwise per application, so the user is
``oid`` within ``tid``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from proctor.reference.authorizer_config import CustomClaimRule, TokenKind

__all__ = [
    "PROFILES",
    "ClaimProfile",
    "ClaimRule",
    "Identity",
    "compile_rule",
    "id_token_client",
    "scopes_of",
]

ClaimRule = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a token says the caller is, normalised across IdPs."""

    issuer: str
    subject: str
    #: The stable key for the user at this issuer (see the profile table above).
    user_key: str
    client_id: str | None
    scopes: tuple[str, ...]
    token_kind: TokenKind
    exp: int
    #: The verified claims, read-only.
    claims: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``identity`` in a ``POST /v1/decisions`` response."""
        return {
            "issuer": self.issuer,
            "subject": self.subject,
            "user_key": self.user_key,
            "client_id": self.client_id,
            "scopes": list(self.scopes),
            "token_kind": self.token_kind,
            "exp": self.exp,
            "claims": dict(self.claims),
        }


def read_only(claims: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(claims)


def scopes_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """Scopes from ``scp`` and ``scope``, each a JSON array or a space-separated string.

    RFC 9068 §2.2.3 and RFC 8693 §4.2 use a ``scope`` string; Okta sends ``scp`` as an
    array, Entra as a string. Non-string entries are ignored; order kept, no repeats.
    """
    found: list[str] = []
    for name in ("scp", "scope"):
        value = claims.get(name)
        if type(value) is str:
            found.extend(value.split(" "))
        elif type(value) is list:
            found.extend(v for v in value if type(v) is str)
    return tuple(dict.fromkeys(s for s in found if s))


def _string(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if type(value) is str and value else None


def id_token_client(claims: Mapping[str, Any]) -> str | None:
    """The client an ID token was issued to: ``azp``, or its only audience."""
    azp = _string(claims, "azp")
    if azp is not None:
        return azp
    aud = claims.get("aud")
    if type(aud) is str and aud:
        return aud
    if type(aud) is list and len(aud) == 1 and type(aud[0]) is str and aud[0]:
        return str(aud[0])
    return None


class ClaimProfile:
    """How the generic profile reads claims; vendor profiles override what differs."""

    name: str = "generic"
    #: Access tokens without ``aud`` are checked by client instead (Cognito).
    access_audience_optional: bool = False

    def access_client(self, claims: Mapping[str, Any]) -> str | None:
        """RFC 9068 §2.2 ``client_id``; OpenID ``azp`` as used by many IdPs."""
        return _string(claims, "client_id") or _string(claims, "azp")

    def is_kind(self, claims: Mapping[str, Any], kind: TokenKind) -> bool:
        """Content that says which kind a token is (beyond ``typ``)."""
        return True

    def user_key(self, claims: Mapping[str, Any], subject: str) -> str | None:
        return subject


class _Okta(ClaimProfile):
    name = "okta"

    def access_client(self, claims: Mapping[str, Any]) -> str | None:
        return _string(claims, "cid")

    def is_kind(self, claims: Mapping[str, Any], kind: TokenKind) -> bool:
        has_cid = "cid" in claims
        return has_cid if kind == "access_token" else not has_cid

    def user_key(self, claims: Mapping[str, Any], subject: str) -> str | None:
        return _string(claims, "uid") or subject  # app tokens have no uid


class _Entra(ClaimProfile):
    name = "entra"

    def access_client(self, claims: Mapping[str, Any]) -> str | None:
        if claims.get("ver") == "1.0":
            return _string(claims, "appid")
        return _string(claims, "azp") or _string(claims, "appid")

    def is_kind(self, claims: Mapping[str, Any], kind: TokenKind) -> bool:
        marked = "appid" in claims or "azp" in claims
        return marked if kind == "access_token" else not marked

    def user_key(self, claims: Mapping[str, Any], subject: str) -> str | None:
        tid, oid = _string(claims, "tid"), _string(claims, "oid")
        return f"{tid}:{oid}" if tid and oid else None


class _Cognito(ClaimProfile):
    name = "cognito"
    access_audience_optional = True

    def access_client(self, claims: Mapping[str, Any]) -> str | None:
        return _string(claims, "client_id")

    def is_kind(self, claims: Mapping[str, Any], kind: TokenKind) -> bool:
        return claims.get("token_use") == ("access" if kind == "access_token" else "id")


PROFILES: Final[Mapping[str, ClaimProfile]] = MappingProxyType(
    {p.name: p for p in (ClaimProfile(), _Okta(), _Entra(), _Cognito())}
)


# -- custom claim rules ------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float  # bool is not a number here


_IS_TYPE: Final[dict[str, Callable[[Any], bool]]] = {
    "string": lambda v: type(v) is str,
    "number": _is_number,
    "boolean": lambda v: type(v) is bool,
}


def _strings(value: list[Any]) -> set[str]:
    return {v for v in value if type(v) is str}


def compile_rule(rule: CustomClaimRule) -> ClaimRule:
    """A predicate over verified claims for one :class:`CustomClaimRule` (typed, no coercion)."""
    name, expected, kind = rule.claim, rule.value, rule.value_type
    if rule.operator == "contains_any":
        wanted = frozenset(expected) if isinstance(expected, list) else frozenset()

        def contains_any(claims: Mapping[str, Any]) -> bool:
            value = claims.get(name)
            return type(value) is list and not wanted.isdisjoint(_strings(value))

        return contains_any

    if kind == "string_list":
        members = frozenset(expected) if isinstance(expected, list) else frozenset()
        if rule.operator == "equals":

            def equals_list(claims: Mapping[str, Any]) -> bool:
                value = claims.get(name)
                return (
                    type(value) is list
                    and all(type(v) is str for v in value)
                    and set(value) == members
                )

            return equals_list

        def contains_all(claims: Mapping[str, Any]) -> bool:
            value = claims.get(name)
            return type(value) is list and members <= _strings(value)

        return contains_all

    is_type = _IS_TYPE[kind]
    if rule.operator == "equals":

        def equals(claims: Mapping[str, Any]) -> bool:
            value = claims.get(name)
            return is_type(value) and bool(value == expected)

        return equals

    def contains(claims: Mapping[str, Any]) -> bool:
        value = claims.get(name)
        return type(value) is list and any(is_type(v) and v == expected for v in value)

    return contains
