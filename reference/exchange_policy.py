"""Exchange policies: what one workload may obtain at the token endpoint, and their evaluation.

An exchange policy (``/v1/exchange-policies``, spec ``07-token-exchange.md`` §Exchange
policy) is the only source of exchange permissions. It names its ``client`` workload, the
issuers whose subject tokens that workload may exchange (``self`` is the service itself),
the targets (``audiences``, ``resources``) it may ask tokens for, the ``scopes`` they may
carry, how deep a delegation chain may grow (``max_depth``), and whether impersonation,
ID-token subjects, or actors other than the client are allowed::

    {"name": "orchestrator-to-subagents", "client": "orchestrator",
     "subject_issuers": ["https://idp.example/oauth2/default", "self"],
     "audiences": ["wl_sub91c2"], "resources": [], "scopes": ["crm.read"],
     "max_depth": 5, "allow_impersonation": false, "allow_id_token_subjects": false,
     "actor": "client"}

Evaluation, in the order the token endpoint applies it:

- :func:`select_policy` (TX-TGT-001): the one policy of the client that contains *every*
  requested target; a client with no policy at all gets ``unauthorized_client``, a request
  no single policy covers gets ``invalid_target``;
- :func:`granted_scopes` (TX-SCOPE-001/002, TX-CC-002): requested ∩ held ∩ allowed, never
  wider than any of them.

:class:`ExchangePolicy` validates a document (TX-POL-001); :func:`check_policy_set` adds the
rules that need the other policies and the issuer (TX-POL-002). Whether ``client`` names a
registered workload is the control plane's check, against the directory.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from typing import Annotated, Final, Literal, Protocol
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from proctor.reference.authorizer_config import check_url
from proctor.reference.errors import (
    Conflict,
    InvalidScope,
    InvalidTarget,
    UnauthorizedClient,
    ValidationFailed,
)

__all__ = [
    "SELF_ISSUER",
    "ActorRule",
    "ExchangePolicy",
    "InMemoryPolicySource",
    "PolicySource",
    "check_policy_set",
    "granted_scopes",
    "is_absolute_uri",
    "is_scope_token",
    "parse_scope",
    "select_policy",
]

#: The ``subject_issuers`` value that stands for the service's own tokens.
SELF_ISSUER: Final = "self"
ActorRule = Literal["client", "any_registered_workload"]

_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{2,63}"
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN: Final = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
# RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":".
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# RFC 3986 §2: the characters a URI may contain (unreserved, reserved, and "%").
_URI_CHARS: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%"
)
_MAX_LIST = 100
_MAX_VALUE = 2048

Name = Annotated[StrictStr, Field(pattern=f"^{_NAME}$")]
Text = Annotated[StrictStr, Field(min_length=1, max_length=_MAX_VALUE)]


def is_scope_token(value: str) -> bool:
    """One RFC 6749 §3.3 ``scope-token``."""
    return _SCOPE_TOKEN.fullmatch(value) is not None


def parse_scope(value: str) -> tuple[str, ...]:
    """The scope set of a ``scope`` parameter, in order, without repeats.

    Values are separated by spaces (RFC 6749 §3.3); a value with a character outside the
    scope-token syntax is refused with ``invalid_scope`` (TX-SCOPE-003).
    """
    tokens = [token for token in value.split(" ") if token]
    if not tokens or not all(is_scope_token(token) for token in tokens):
        raise InvalidScope("scope_not_granted: scope is not a list of RFC 6749 scope tokens")
    return tuple(dict.fromkeys(tokens))


def is_absolute_uri(value: str) -> bool:
    """An absolute URI without a fragment (RFC 8707 §2, RFC 8693 §2.1 ``resource``)."""
    if not value or len(value) > _MAX_VALUE or "#" in value:
        return False
    if not set(value) <= _URI_CHARS:
        return False
    match = _SCHEME.match(value)
    return match is not None and match.end() < len(value)


def _no_duplicates(values: tuple[str, ...], what: str) -> tuple[str, ...]:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} has duplicate entries")
    return values


def _loopback_allowed(info: ValidationInfo) -> bool:
    context = info.context
    if isinstance(context, dict):
        return bool(context.get("allow_loopback_http", True))
    return True


class ExchangePolicy(BaseModel):
    """One exchange policy document (TX-POL-001). Unknown members are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    #: The workload (by name) this policy lets exchange.
    client: Name
    #: Issuers whose subject tokens may be exchanged; ``self`` = the service's own tokens.
    subject_issuers: Annotated[tuple[Text, ...], Field(min_length=1, max_length=_MAX_LIST)]
    audiences: Annotated[tuple[Text, ...], Field(max_length=_MAX_LIST)] = ()
    resources: Annotated[tuple[Text, ...], Field(max_length=_MAX_LIST)] = ()
    scopes: Annotated[tuple[Text, ...], Field(max_length=_MAX_LIST)] = ()
    max_depth: Annotated[StrictInt, Field(ge=1, le=16)] = 5
    allow_impersonation: StrictBool = False
    allow_id_token_subjects: StrictBool = False
    actor: ActorRule = "client"

    @field_validator("subject_issuers")
    @classmethod
    def _issuers(cls, values: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for value in values:
            if value == SELF_ISSUER:
                continue
            check_url(value, "subject_issuers", allow_loopback_http=_loopback_allowed(info))
            if urlsplit(value).query:
                raise ValueError("an issuer has no query (RFC 8414 §2)")
        return _no_duplicates(values, "subject_issuers")

    @field_validator("audiences")
    @classmethod
    def _audiences(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not value.isprintable() or value != value.strip():
                raise ValueError("an audience is printable text without surrounding spaces")
        return _no_duplicates(values, "audiences")

    @field_validator("resources")
    @classmethod
    def _resources(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not is_absolute_uri(value):
                raise ValueError("a resource is an absolute URI without a fragment (RFC 8707)")
        return _no_duplicates(values, "resources")

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not is_scope_token(value):
                raise ValueError("a scope is one RFC 6749 §3.3 scope-token")
        return _no_duplicates(values, "scopes")

    @model_validator(mode="after")
    def _has_targets(self) -> ExchangePolicy:
        if not self.audiences and not self.resources:
            raise ValueError("audiences and resources are not both empty")
        return self

    @property
    def targets(self) -> frozenset[str]:
        return frozenset(self.audiences) | frozenset(self.resources)


def check_policy_set(policy: ExchangePolicy, others: Iterable[ExchangePolicy], issuer: str) -> None:
    """TX-POL-002 for a policy about to be created or replaced (``others`` excludes it).

    Raises :class:`ValidationFailed` when a target is the service's issuer (a downstream
    token must never be valid at the service itself) and :class:`Conflict` when a target
    is already another policy's of the same client (one target maps to one policy).
    """
    if issuer in policy.targets:
        field = "/audiences" if issuer in policy.audiences else "/resources"
        raise ValidationFailed(
            "A target must not be the service's own issuer identifier.",
            errors=[{"field": field, "message": "must not be the service's issuer"}],
        )
    for other in others:
        shared = policy.targets & other.targets
        if other.name != policy.name and other.client == policy.client and shared:
            raise Conflict(f"A target is already permitted by policy {other.name!r}.")


class PolicySource(Protocol):
    """Where the token endpoint reads exchange policies (storage in a deployment)."""

    def policies_for(self, client: str) -> Sequence[ExchangePolicy]:
        """Every policy whose ``client`` is this workload name."""
        ...


class InMemoryPolicySource:
    """A :class:`PolicySource` in process memory."""

    def __init__(self, policies: Iterable[ExchangePolicy] = ()) -> None:
        self._lock = threading.Lock()
        self._policies: dict[str, ExchangePolicy] = {}
        for policy in policies:
            self.put(policy)

    def put(self, policy: ExchangePolicy) -> None:
        with self._lock:
            self._policies[policy.name] = policy

    def delete(self, name: str) -> None:
        with self._lock:
            self._policies.pop(name, None)

    def policies_for(self, client: str) -> Sequence[ExchangePolicy]:
        with self._lock:
            return sorted(
                (p for p in self._policies.values() if p.client == client), key=lambda p: p.name
            )


def select_policy(
    policies: Sequence[ExchangePolicy],
    audiences: Sequence[str],
    resources: Sequence[str],
) -> ExchangePolicy:
    """The applicable policy of a request (TX-TGT-001, exact case-sensitive comparison).

    ``policies`` are the client's. Raises :class:`UnauthorizedClient` when there are none
    and :class:`InvalidTarget` when no single one contains every requested target.
    """
    if not policies:
        raise UnauthorizedClient("no_exchange_policy: the workload is the client of no policy")
    wanted_audiences, wanted_resources = set(audiences), set(resources)
    for policy in sorted(policies, key=lambda p: p.name):
        if wanted_audiences <= set(policy.audiences) and wanted_resources <= set(policy.resources):
            return policy
    raise InvalidTarget("target_not_allowed: no exchange policy permits every requested target")


def granted_scopes(
    requested: Sequence[str] | None,
    held: Sequence[str],
    allowed: Sequence[str],
) -> tuple[str, ...]:
    """R ∩ S ∩ P (TX-SCOPE-001), or S ∩ P when nothing was requested (TX-SCOPE-002).

    Order follows ``requested`` (or ``held``); the result is never wider than any input.
    """
    held_set, allowed_set = set(held), set(allowed)
    source = held if requested is None else requested
    return tuple(s for s in dict.fromkeys(source) if s in held_set and s in allowed_set)
