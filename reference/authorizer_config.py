"""The operator's configuration of one inbound authorizer (spec: ``02-inbound-authorization.md``).

An authorizer names the IdP (by its discovery document), the audiences, clients and
scopes it accepts, extra claim rules, the token kinds it accepts with their ``typ``
values, the signature algorithms, the clock leeway and the IdP profile that says how
vendor claims are read. The model is closed (unknown members are rejected) and
validated when it is built, so an :class:`~proctor.reference.authorizer.Authorizer`
never sees an unsafe configuration:

- algorithms come from an allow-list of asymmetric JWS algorithms; ``none`` and the
  HMAC family are refused (RFC 8725 §3.1, §3.2; INB-CFG-002);
- the discovery URL and issuer are ``https`` without query or fragment; ``http`` on a
  loopback host only in insecure development mode (TERM-DEV-001), which a caller turns
  on with the validation context ``{"allow_loopback_http": True}``;
- the audience is always checked (RFC 8725 §3.9): ``allowed_audiences`` is non-empty,
  except in the ``cognito`` profile, where it is empty and ``allowed_clients`` is not
  (Cognito access tokens carry no ``aud``, INB-COG-001);
- custom claim rules use only the operator/type combinations of spec Table 2.3.

Member rules are spec Table 2.1; defaults for ``token_kinds`` are Table 2.4.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "ALLOWED_ALGORITHMS",
    "DEFAULT_TOKEN_KINDS",
    "TENANT_PLACEHOLDER",
    "AuthorizerConfig",
    "CustomClaimRule",
    "IdpProfile",
    "TokenKind",
    "TokenKindRule",
    "expected_issuer_from_discovery_url",
    "is_loopback_http",
    "normalize_typ",
]

TokenKind = Literal["access_token", "id_token"]
IdpProfile = Literal["generic", "okta", "entra", "cognito"]
Algorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
]

#: Asymmetric JWS algorithms an authorizer may allow (RFC 7518 §3.1, RFC 8037 §3.1).
ALLOWED_ALGORITHMS: Final[frozenset[str]] = frozenset(
    ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
)

#: Entra's multi-tenant issuer template placeholder (``common``/``organizations`` metadata).
TENANT_PLACEHOLDER: Final = "{tenantid}"

#: ``typ`` values accepted per profile when ``token_kinds`` is not given. Vendor facts:
#: Okta custom authorization servers and Cognito send no ``typ``; Entra sends ``JWT``;
#: a generic IdP is expected to follow RFC 9068 §2.1 (``at+jwt``).
DEFAULT_TOKEN_KINDS: Final[dict[str, list[dict[str, Any]]]] = {
    "generic": [{"kind": "access_token", "typ": ["at+jwt"]}],
    "okta": [{"kind": "access_token", "typ": [None, "application/okta-internal-at+jwt"]}],
    "entra": [{"kind": "access_token", "typ": ["JWT"]}],
    "cognito": [{"kind": "access_token", "typ": [None]}],
}

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,63}")
_OIDC_SUFFIX = "/.well-known/openid-configuration"
_RFC8414_SEGMENT = "/.well-known/oauth-authorization-server"
_MAX_LIST = 100
_MAX_RULES = 50
_MAX_VALUE = 1024

_RULE_COMBINATIONS: Final = frozenset(
    (
        ("equals", "string"),
        ("equals", "number"),
        ("equals", "boolean"),
        ("equals", "string_list"),
        ("contains", "string"),
        ("contains_any", "string_list"),
    )
)

Text = Annotated[StrictStr, Field(min_length=1, max_length=_MAX_VALUE)]
TypValue = Annotated[StrictStr, Field(min_length=1, max_length=128)]


def normalize_typ(value: str) -> str:
    """The comparable form of a ``typ`` value (RFC 7515 §4.1.9).

    Media types compare case-insensitively, and ``application/`` may be omitted when the
    rest contains no other ``/``: ``application/AT+JWT`` and ``at+jwt`` are the same.
    """
    lowered = value.lower()
    if lowered.startswith("application/") and "/" not in lowered[12:]:
        return lowered[12:]
    return lowered


def is_loopback_http(url: str) -> bool:
    """True for ``http`` URLs whose host is ``localhost`` or a loopback address."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str, *, allow_loopback_http: bool, query: bool = False) -> None:
    """Raise ``ValueError`` unless ``url`` is absolute ``https`` (or loopback ``http``)
    without fragment (and without query unless ``query``)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unbalanced IPv6 bracket
        raise ValueError(f"{what} is not a URL") from exc
    if parts.fragment or "#" in url:
        raise ValueError(f"{what} must not have a fragment")
    if not query and (parts.query or "?" in url):
        raise ValueError(f"{what} must not have a query")
    if not parts.hostname:
        raise ValueError(f"{what} must be an absolute URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{what} must not carry credentials")
    if parts.scheme == "https":
        return
    if allow_loopback_http and is_loopback_http(url):
        return
    raise ValueError(f"{what} must use https (http only on loopback in development mode)")


def expected_issuer_from_discovery_url(url: str) -> str:
    """The issuer a discovery URL names.

    - OpenID Connect Discovery 1.0 §4: ``{issuer}/.well-known/openid-configuration``;
    - RFC 8414 §3: ``{origin}/.well-known/oauth-authorization-server{issuer path}``;
    - the suffix form ``{issuer}/.well-known/oauth-authorization-server`` that Okta also
      serves.

    Raises ``ValueError`` for any other URL.
    """
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path
    if path.endswith(_OIDC_SUFFIX):
        return origin + path[: -len(_OIDC_SUFFIX)]
    if path == _RFC8414_SEGMENT or path.startswith(_RFC8414_SEGMENT + "/"):
        return origin + path[len(_RFC8414_SEGMENT) :]
    if path.endswith(_RFC8414_SEGMENT):
        return origin + path[: -len(_RFC8414_SEGMENT)]
    raise ValueError(
        "discovery_url must end in /.well-known/openid-configuration or use "
        "/.well-known/oauth-authorization-server (RFC 8414 §3)"
    )


def _loopback_allowed(info: ValidationInfo) -> bool:
    context = info.context
    return isinstance(context, dict) and context.get("allow_loopback_http") is True


def _unique(values: tuple[Any, ...], what: str) -> tuple[Any, ...]:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} has duplicate entries")
    return values


class CustomClaimRule(BaseModel):
    """One extra claim check, applied in order after the standard checks (INB-RULE-001).

    Comparison is typed; nothing is coerced (a number never equals its string form, a
    boolean is not a number). The combinations (spec Table 2.3):

    - ``equals`` with ``string``, ``number`` (``1`` equals ``1.0``) or ``boolean``: the
      claim has that JSON type and equals ``value``; with ``string_list``: the claim is an
      array of strings with the same set of elements;
    - ``contains`` with ``string``: the claim is an array of strings with an element
      equal to ``value``;
    - ``contains_any`` with ``string_list``: the claim is an array of strings sharing an
      element with ``value``, or a string equal to one of its elements.

    A missing claim fails the rule.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    claim: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    operator: Literal["equals", "contains", "contains_any"]
    value: StrictBool | StrictInt | StrictFloat | StrictStr | list[StrictStr]
    value_type: Literal["string", "string_list", "number", "boolean"]

    @model_validator(mode="after")
    def _consistent(self) -> CustomClaimRule:
        value, kind = self.value, self.value_type
        matches = {
            "string": isinstance(value, str),
            "boolean": isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "string_list": isinstance(value, list),
        }[kind]
        if not matches:
            raise ValueError(f"value does not have value_type {kind!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("value must be a finite number")
        if isinstance(value, list):
            if not value or len(value) > _MAX_LIST:
                raise ValueError(f"a string_list value has 1-{_MAX_LIST} entries")
            if any(len(v) > _MAX_VALUE for v in value):
                raise ValueError(f"strings are at most {_MAX_VALUE} characters")
        elif isinstance(value, str) and len(value) > _MAX_VALUE:
            raise ValueError(f"strings are at most {_MAX_VALUE} characters")
        if (self.operator, kind) not in _RULE_COMBINATIONS:
            raise ValueError(f"operator {self.operator!r} does not take value_type {kind!r}")
        return self


class TokenKindRule(BaseModel):
    """A token kind the authorizer accepts and its acceptable ``typ`` header values.

    ``None`` in ``typ`` means "no ``typ`` header". Values are kept as given and compared
    in their :func:`normalize_typ` form (INB-KIND-001).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: TokenKind
    typ: Annotated[tuple[TypValue | None, ...], Field(min_length=1, max_length=16)]

    @field_validator("typ")
    @classmethod
    def _distinct(cls, value: tuple[str | None, ...]) -> tuple[str | None, ...]:
        _unique(tuple(None if v is None else normalize_typ(v) for v in value), "typ")
        return value


class AuthorizerConfig(BaseModel):
    """Configuration of one inbound authorizer (the ``/v1/authorizers`` resource body).

    ``created_at``/``updated_at`` belong to storage, not here.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StrictStr
    discovery_url: Annotated[StrictStr, Field(max_length=2048)]
    issuer: Annotated[StrictStr, Field(max_length=2048)] | None = None
    allowed_audiences: Annotated[tuple[Text, ...], Field(max_length=_MAX_LIST)] = ()
    allowed_clients: Annotated[tuple[Text, ...], Field(max_length=_MAX_LIST)] = ()
    allowed_scopes: Annotated[tuple[Text, ...], Field(max_length=_MAX_LIST)] = ()
    custom_claims: Annotated[tuple[CustomClaimRule, ...], Field(max_length=_MAX_RULES)] = ()
    token_kinds: Annotated[tuple[TokenKindRule, ...], Field(min_length=1, max_length=2)]
    algorithms: Annotated[tuple[Algorithm, ...], Field(min_length=1, max_length=10)] = ("RS256",)
    leeway_seconds: Annotated[StrictInt, Field(ge=0, le=300)] = 60
    idp_profile: IdpProfile = "generic"

    @model_validator(mode="before")
    @classmethod
    def _default_token_kinds(cls, data: Any) -> Any:
        if isinstance(data, dict) and "token_kinds" not in data:
            profile = data.get("idp_profile", "generic")
            # An unknown profile string is reported on idp_profile alone (validation_failed,
            # INB-CFG-002), not also as a missing token_kinds.
            if isinstance(profile, str):
                defaults = DEFAULT_TOKEN_KINDS.get(profile, DEFAULT_TOKEN_KINDS["generic"])
                return {**data, "token_kinds": defaults}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("name is 3-64 characters [A-Za-z0-9][A-Za-z0-9_.-]*")
        return value

    @field_validator("discovery_url")
    @classmethod
    def _discovery_url(cls, value: str, info: ValidationInfo) -> str:
        check_url(value, "discovery_url", allow_loopback_http=_loopback_allowed(info))
        expected_issuer_from_discovery_url(value)
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if value.count(TENANT_PLACEHOLDER) > 1:
            raise ValueError(f"issuer contains {TENANT_PLACEHOLDER} at most once")
        check_url(
            value.replace(TENANT_PLACEHOLDER, "tenant"),
            "issuer",
            allow_loopback_http=_loopback_allowed(info),
        )
        return value

    @field_validator("algorithms", mode="before")
    @classmethod
    def _algorithms(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            for alg in value:
                if isinstance(alg, str) and (alg.lower() == "none" or alg.upper().startswith("HS")):
                    raise ValueError(
                        f"{alg!r} is never allowed: only asymmetric algorithms (RFC 8725 §3.1)"
                    )
        return value

    @field_validator("allowed_audiences", "allowed_clients", "allowed_scopes", "algorithms")
    @classmethod
    def _no_duplicates(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return _unique(value, str(info.field_name))

    @field_validator("allowed_scopes")
    @classmethod
    def _scope_tokens(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for scope in value:
            if any(c in scope for c in ' "\\') or not scope.isprintable():
                raise ValueError("a scope is one RFC 6749 §3.3 scope-token")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> AuthorizerConfig:
        kinds = [rule.kind for rule in self.token_kinds]
        _unique(tuple(kinds), "token_kinds")
        issuer = self.issuer or ""
        if TENANT_PLACEHOLDER in issuer and self.idp_profile != "entra":
            raise ValueError(f"the {TENANT_PLACEHOLDER} issuer template is Entra-only")
        if self.idp_profile == "cognito":
            if self.allowed_audiences:
                raise ValueError(
                    "Cognito access tokens carry no aud: allowed_audiences must be empty; "
                    "ID tokens are checked against allowed_clients (INB-COG-001)"
                )
            if not self.allowed_clients:
                raise ValueError("the cognito profile needs allowed_clients (INB-COG-001)")
        elif not self.allowed_audiences:
            raise ValueError("allowed_audiences must not be empty (RFC 8725 §3.9)")
        return self

    def typ_rules(self) -> dict[str, frozenset[str | None]]:
        """Accepted :func:`normalize_typ` values per configured kind."""
        return {
            rule.kind: frozenset(None if t is None else normalize_typ(t) for t in rule.typ)
            for rule in self.token_kinds
        }

    def configured_issuer(self) -> str:
        """The issuer the tokens must carry: ``issuer`` or the one the discovery URL names."""
        return self.issuer or expected_issuer_from_discovery_url(self.discovery_url)
