"""Reading verified claims: shapes, token kinds, per-IdP normalisation, claim rules.

Everything here runs on claims whose signature the authorizer has already verified
(spec ``02-inbound-authorization.md`` §2.7-2.8).

Per-IdP profiles (spec Table 2.4; vendor facts in ``/work/shared/notes/idps.md``):

======== ============================== ================ ==================================
profile  access-token kind marker       user key         audience
======== ============================== ================ ==================================
generic  (``typ`` and the common rules) ``sub``          ``aud``
okta     ``cid`` present                ``uid``/``sub``  ``aud``
entra    ``azp`` (v2) or ``appid`` (v1) ``{tid}/{oid}``  ``aud``, one trailing ``/`` ignored
cognito  ``token_use`` = ``access``     ``sub``          access: none (client instead);
                                                         ID: ``aud`` in ``allowed_clients``
======== ============================== ================ ==================================

Okta's ``uid`` is the stable user id (its access-token ``sub`` is the login name); Entra's
``sub`` is pairwise per application, so the user is ``oid`` within ``tid``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, NamedTuple, TypeGuard

from proctor.reference.authorizer_config import CustomClaimRule, TokenKind

__all__ = [
    "PROFILES",
    "ClaimProfile",
    "ClaimRule",
    "Identity",
    "access_token_client",
    "compile_rule",
    "id_token_client",
    "is_numeric_date",
    "kind_claims_ok",
    "scopes_of",
    "well_typed",
]

ClaimRule = Callable[[Mapping[str, Any]], bool]


class Identity(NamedTuple):
    """Who a token says the caller is, normalised across IdPs (INB-DEC-004).

    Immutable (cached decisions share it); ``claims`` is a read-only view.
    """

    issuer: str
    subject: str
    #: The stable key for the user at this issuer (INB-USER-001).
    user_key: str
    client_id: str | None
    scopes: tuple[str, ...]
    token_kind: TokenKind
    exp: int
    #: The verified payload, unchanged and read-only.
    claims: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """``identity`` in a ``POST /v1/decisions`` response: exactly the INB-DEC-004 members."""
        return {
            "issuer": self.issuer,
            "subject": self.subject,
            "user_key": self.user_key,
            "client_id": self.client_id,
            "scopes": list(self.scopes),
            "claims": dict(self.claims),
        }


def read_only(claims: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(claims)


def is_numeric_date(value: Any) -> bool:
    """RFC 7519 §2 NumericDate: a finite JSON number; a boolean is not a number."""
    kind = type(value)
    return kind is int or (kind is float and value - value == 0)  # inf - inf is nan


# -- shapes (INB-SHAPE-001) ----------------------------------------------------------------

_STRING_CLAIMS: Final = frozenset(("scope", "client_id", "azp", "appid", "cid", "uid", "token_use"))


def _strings_or_string(value: Any) -> bool:
    return type(value) is str or (type(value) is list and all(type(v) is str for v in value))


def well_typed(claims: Mapping[str, Any], entra: bool) -> bool:
    """The registered claims the service reads are present where required and well-typed."""
    sub = claims.get("sub")
    if type(claims.get("iss")) is not str or type(sub) is not str or not sub:
        return False
    if not is_numeric_date(claims.get("exp")):
        return False
    if entra and (type(claims.get("tid")) is not str or type(claims.get("oid")) is not str):
        return False
    for name in ("nbf", "iat"):
        if name in claims and not is_numeric_date(claims[name]):
            return False
    for name in ("aud", "scp"):
        if name in claims and not _strings_or_string(claims[name]):
            return False
    return all(type(claims[name]) is str for name in _STRING_CLAIMS.intersection(claims))


# -- token kinds (INB-KIND-002, INB-KIND-003) ----------------------------------------------

_ID_TOKEN_ONLY: Final = frozenset(("nonce", "at_hash", "c_hash"))
_ACCESS_TOKEN_ONLY: Final = frozenset(("scp", "scope", "cid", "client_id"))
_TOKEN_USE: Final = {"access_token": "access", "id_token": "id"}  # Cognito's values


def kind_claims_ok(claims: Mapping[str, Any], kind: TokenKind, profile: ClaimProfile) -> bool:
    """Content says the same kind as the caller asked for (RFC 8725 §3.12)."""
    use = claims.get("token_use")
    if use is not None and use != _TOKEN_USE[kind]:
        return False
    foreign = _ID_TOKEN_ONLY if kind == "access_token" else _ACCESS_TOKEN_ONLY
    if not foreign.isdisjoint(claims):
        return False
    return profile.marked_as(claims, kind)


# -- clients and scopes (INB-CLIENT-001, INB-SCOPE-001) -------------------------------------

_CLIENT_CLAIMS: Final = ("client_id", "azp", "appid", "cid")


def access_token_client(claims: Mapping[str, Any]) -> str | None:
    """The first present of ``client_id``, ``azp``, ``appid``, ``cid``."""
    for name in _CLIENT_CLAIMS:
        if name in claims:
            value = claims[name]
            return value if type(value) is str else None
    return None


def id_token_client(claims: Mapping[str, Any]) -> str | None:
    """An ID token's client: ``azp``, or its only audience (OpenID Connect Core §2)."""
    if "azp" in claims:
        azp = claims["azp"]
        return azp if type(azp) is str else None
    aud = claims.get("aud")
    if type(aud) is str:
        return aud
    if type(aud) is list and len(aud) == 1 and type(aud[0]) is str:
        return str(aud[0])
    return None


def scopes_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """The union of ``scp`` (array or space-separated string) and ``scope`` (string).

    In order of first appearance, without repeats or empty strings.
    """
    scp, scope = claims.get("scp"), claims.get("scope")
    if scp is None and type(scope) is str:  # the common RFC 9068 shape: one scope string
        parts = scope.split(" ")
        if "" not in parts and len(set(parts)) == len(parts):
            return tuple(parts)
    found: list[str] = []
    for name in ("scp", "scope"):
        value = claims.get(name)
        if type(value) is str:
            found.extend(value.split(" "))
        elif type(value) is list:
            found.extend(v for v in value if type(v) is str)
    return tuple(dict.fromkeys(s for s in found if s))


# -- profiles ------------------------------------------------------------------------------


class ClaimProfile:
    """How the generic profile reads claims; vendor profiles override what differs."""

    name: str = "generic"

    def marked_as(self, claims: Mapping[str, Any], kind: TokenKind) -> bool:
        """The vendor's own kind marker, beyond the common rules."""
        return True

    def user_key(self, claims: Mapping[str, Any], subject: str) -> str:
        return subject


class _Okta(ClaimProfile):
    name = "okta"

    def marked_as(self, claims: Mapping[str, Any], kind: TokenKind) -> bool:
        return kind != "access_token" or "cid" in claims

    def user_key(self, claims: Mapping[str, Any], subject: str) -> str:
        uid = claims.get("uid")
        return uid if type(uid) is str else subject  # app tokens have no uid


class _Entra(ClaimProfile):
    name = "entra"

    def marked_as(self, claims: Mapping[str, Any], kind: TokenKind) -> bool:
        return kind != "access_token" or "azp" in claims or "appid" in claims

    def user_key(self, claims: Mapping[str, Any], subject: str) -> str:
        return f"{claims['tid']}/{claims['oid']}"  # both strings (well_typed)


class _Cognito(ClaimProfile):
    name = "cognito"

    def marked_as(self, claims: Mapping[str, Any], kind: TokenKind) -> bool:
        return "token_use" in claims  # and its value was checked by kind_claims_ok


PROFILES: Final[Mapping[str, ClaimProfile]] = MappingProxyType(
    {p.name: p for p in (ClaimProfile(), _Okta(), _Entra(), _Cognito())}
)


# -- custom claim rules (INB-RULE-001, spec Table 2.3) -------------------------------------


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


_IS_TYPE: Final[dict[str, Callable[[Any], bool]]] = {
    "string": lambda v: type(v) is str,
    "number": _is_number,
    "boolean": lambda v: type(v) is bool,
}


def _string_array(value: Any) -> TypeGuard[list[str]]:
    return type(value) is list and all(type(v) is str for v in value)


def compile_rule(rule: CustomClaimRule) -> ClaimRule:
    """A predicate over verified claims for one rule; typed, nothing coerced."""
    name, expected, kind = rule.claim, rule.value, rule.value_type
    if rule.operator == "contains_any":  # value_type string_list
        wanted = frozenset(expected) if isinstance(expected, list) else frozenset()

        def contains_any(claims: Mapping[str, Any]) -> bool:
            value = claims.get(name)
            if type(value) is str:
                return value in wanted
            return _string_array(value) and not wanted.isdisjoint(value)

        return contains_any

    if rule.operator == "contains":  # value_type string

        def contains(claims: Mapping[str, Any]) -> bool:
            value = claims.get(name)
            return _string_array(value) and expected in value

        return contains

    if kind == "string_list":
        members = frozenset(expected) if isinstance(expected, list) else frozenset()

        def equals_set(claims: Mapping[str, Any]) -> bool:
            value = claims.get(name)
            return _string_array(value) and set(value) == members

        return equals_set

    is_type = _IS_TYPE[kind]

    def equals(claims: Mapping[str, Any]) -> bool:
        value = claims.get(name)
        return is_type(value) and bool(value == expected)

    return equals
