"""The token endpoint: form parameters, client authentication, grant dispatch, results.

``POST /oauth2/token`` (spec ``07-token-exchange.md``) is a small pipeline. Each step is one
function, and the table below is the order of TX-REQ-009; the first step that fails
decides the error::

    step                           where                                   fails with
    1  URL query, media type, size  the HTTP layer (TX-REQ-005)             invalid_request
    2  repeated parameters          FormRequest.parse      (TX-REQ-004)     invalid_request
    3  client authentication        ClientAuthenticator    (TX-CAUTH-*)     invalid_client,
                                                                            invalid_request
    4  grant_type                   TokenEndpoint.handle   (TX-REQ-001)     invalid_request,
                                                                            unsupported_grant_type
    5+ the grant                    Grant.handle: ClientCredentialsGrant here,
                                    TokenExchangeGrant in token_exchange.py

A **grant** declares, like node-oidc-provider's grant modules and authlib's grant classes,
its ``grant_type``, the ``parameters`` it reads and which of them may ``repeat`` (only
``audience`` and ``resource``, RFC 8693 §2.1 and RFC 8707 §2); everything else repeated is
``invalid_request`` even with equal values (TX-REQ-004). Unknown parameters are ignored and
empty values count as absent (RFC 6749 §3.2, TX-REQ-005).

Every request, granted or refused, yields an :class:`AuditRecord` (TX-AUDIT-001): the core
never writes the audit log itself; the wiring appends ``record.event_fields(request_id)``
with :class:`proctor.reference.audit.AuditLog` in the request's transaction.

Error descriptions begin with the cause code of TX-ERR-002 (``depth_exceeded: ...``), which
:attr:`AuditRecord.cause` keeps for logs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

from proctor.reference.client_auth import (
    CLIENT_AUTH_PARAMETERS,
    AuthenticatedClient,
    ClientAuthenticator,
)
from proctor.reference.clock import Clock
from proctor.reference.errors import (
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from proctor.reference.exchange_policy import (
    PolicySource,
    is_absolute_uri,
    is_scope_token,
    parse_scope,
    select_policy,
)
from proctor.reference.tokens import AccessTokens, IssuedToken, IssuedTokenRecord, scope_string

__all__ = [
    "BEARER",
    "CLIENT_CREDENTIALS",
    "NO_STORE",
    "TOKEN_EXCHANGE",
    "AuditRecord",
    "ClientCredentialsGrant",
    "FormRequest",
    "Grant",
    "GrantResult",
    "OAuthResult",
    "TokenEndpoint",
    "TokenResponse",
    "cause_of",
    "requested_scopes_for_audit",
    "requested_targets",
]

#: RFC 8693 §2.1.
TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
#: RFC 6749 §4.4.
CLIENT_CREDENTIALS: Final = "client_credentials"
#: RFC 6750: the ``token_type`` of every token the service issues (TX-RESP-001).
BEARER: Final = "Bearer"
#: ERR-OAUTH-003 (RFC 6749 §5.1): no OAuth endpoint response is ever cached.
NO_STORE: Final[Mapping[str, str]] = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_CAUSE: Final = re.compile(r"^([a-z_]+): ")
#: Parameter names a refusal may mention (never an unknown, attacker-chosen name).
_KNOWN_PARAMETERS: Final = frozenset(
    (
        "grant_type",
        "scope",
        "audience",
        "resource",
        "subject_token",
        "subject_token_type",
        "actor_token",
        "actor_token_type",
        "requested_token_type",
        "token",
        "token_type_hint",
        *CLIENT_AUTH_PARAMETERS,
    )
)


# -- requests -----------------------------------------------------------------------------------


class FormRequest:
    """The parameters of an ``application/x-www-form-urlencoded`` body, in order.

    Build it with :meth:`parse` from the decoded ``(name, value)`` pairs, so repeats stay
    visible (a ``dict`` would hide them).
    """

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._pairs = tuple(pairs)
        self._values: dict[str, list[str]] = {}
        for name, value in self._pairs:
            self._values.setdefault(name, []).append(value)

    @classmethod
    def parse(cls, pairs: Iterable[tuple[str, str]], repeatable: Iterable[str] = ()) -> FormRequest:
        """Drop empty values (TX-REQ-005); refuse repeats outside ``repeatable`` (TX-REQ-004)."""
        allowed = frozenset(repeatable)
        kept: list[tuple[str, str]] = []
        seen: set[str] = set()
        for name, value in pairs:
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError("form pairs are (str, str)")
            if value == "":
                continue
            if name in seen and name not in allowed:
                label = name if name in _KNOWN_PARAMETERS else "a parameter"
                raise InvalidRequest(f"malformed_request: {label} appears more than once")
            seen.add(name)
            kept.append((name, value))
        return cls(kept)

    def get(self, name: str) -> str | None:
        values = self._values.get(name)
        return values[0] if values else None

    def all(self, name: str) -> tuple[str, ...]:
        return tuple(self._values.get(name, ()))

    def in_order(self, *names: str) -> tuple[str, ...]:
        """The values of several parameters in the order they were sent."""
        return tuple(value for name, value in self._pairs if name in names)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    @property
    def params(self) -> Mapping[str, str]:
        """The first value of each parameter (for single-valued parameters: the value)."""
        return {name: values[0] for name, values in self._values.items()}


def requested_targets(request: FormRequest) -> tuple[tuple[str, ...], tuple[str, ...], list[str]]:
    """``(audiences, resources, targets in request order)``, duplicates removed.

    A ``resource`` that is not an absolute URI without a fragment is ``invalid_target``
    (RFC 8707 §2, RFC 8693 §2.1, TX-REQ-008).
    """
    resources = tuple(dict.fromkeys(request.all("resource")))
    for resource in resources:
        if not is_absolute_uri(resource):
            raise InvalidTarget(
                "target_not_allowed: a resource must be an absolute URI without a fragment"
            )
    audiences = tuple(dict.fromkeys(request.all("audience")))
    targets = list(dict.fromkeys(request.in_order("audience", "resource")))
    return audiences, resources, targets


def requested_scopes_for_audit(request: FormRequest) -> list[str]:
    """The requested scope values that are well formed (for a refusal's audit event)."""
    raw = request.get("scope") or ""
    return [token for token in dict.fromkeys(raw.split(" ")) if token and is_scope_token(token)]


# -- results ------------------------------------------------------------------------------------


@dataclass
class AuditRecord:
    """The audit event of one OAuth endpoint decision, without ``seq``/``id``/``time``/
    hashes (AUD-EVT-001). Filled in as the request is processed."""

    operation: str
    workload: str | None = None
    user: dict[str, str] | None = None
    #: Current actor first (RFC 8693 §4.1, AUD-EVT-003).
    actor_chain: list[str] = field(default_factory=list)
    #: The requested (or issued) targets; for logs, not an audit event member.
    audience: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    decision: Literal["allow", "deny"] = "deny"
    #: ``ok``, or the OAuth ``error`` code (TX-AUDIT-001, AUD-EVT-004).
    reason: str = "ok"
    #: The TX-ERR-002 cause code of a refusal (``depth_exceeded``), for logs.
    cause: str | None = None
    #: Internal detail of a refusal, for logs only; never on the wire.
    detail: str | None = None

    def allow(self) -> None:
        self.decision, self.reason, self.cause = "allow", "ok", None

    def deny(self, error: OAuthError) -> None:
        self.decision, self.reason = "deny", error.error
        self.cause = cause_of(error)
        self.detail = error.detail

    def event_fields(self, request_id: str) -> dict[str, Any]:
        """The members :meth:`proctor.reference.audit.AuditLog.append` takes."""
        return {
            "request_id": request_id,
            "operation": self.operation,
            "workload": self.workload,
            "user": dict(self.user) if self.user is not None else None,
            "actor_chain": list(self.actor_chain),
            "provider": None,
            "scopes": sorted(set(self.scopes)),
            "decision": self.decision,
            "reason": self.reason,
        }


def cause_of(error: OAuthError) -> str | None:
    """The TX-ERR-002 cause code an error description starts with, if any."""
    match = _CAUSE.match(error.description)
    return match.group(1) if match else None


@dataclass(frozen=True)
class TokenResponse:
    """A successful token response (RFC 6749 §5.1, RFC 8693 §2.2.1). Never a
    ``refresh_token`` (TX-RESP-002)."""

    access_token: str = field(repr=False)
    token_type: str
    expires_in: int
    scope: str | None = None
    #: Only for token exchange (RFC 8693 §2.2.1: REQUIRED there).
    issued_token_type: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"access_token": self.access_token}
        if self.issued_token_type is not None:
            body["issued_token_type"] = self.issued_token_type
        body["token_type"] = self.token_type
        body["expires_in"] = self.expires_in
        if self.scope is not None:
            body["scope"] = self.scope
        return body


@dataclass(frozen=True)
class GrantResult:
    response: TokenResponse
    issued: IssuedToken


@dataclass(frozen=True)
class OAuthResult:
    """What an OAuth endpoint answers, framework-free: status, JSON body (``None`` for an
    empty body), headers, the audit records to append, and the error if refused."""

    status: int
    body: dict[str, Any] | None
    headers: dict[str, str]
    audit: tuple[AuditRecord, ...]
    error: OAuthError | None = None
    issued: IssuedTokenRecord | None = None

    @classmethod
    def refused(cls, error: OAuthError, *audit: AuditRecord) -> OAuthResult:
        headers = {**error.headers(), **NO_STORE}
        return cls(error.status, error.body(), headers, audit, error)


# -- grants -------------------------------------------------------------------------------------


class Grant(Protocol):
    """One grant type of the token endpoint."""

    #: The ``grant_type`` value it handles.
    grant_type: str
    #: The parameters it reads (besides ``grant_type`` and client authentication).
    parameters: frozenset[str]
    #: Which of them may appear more than once (TX-REQ-004).
    repeatable: frozenset[str]
    #: The audit operation (AUD-OPS-001).
    operation: str

    def handle(
        self, request: FormRequest, client: AuthenticatedClient, audit: AuditRecord
    ) -> GrantResult:
        """Issue a token or raise an :class:`OAuthError`; fill ``audit`` as facts are known."""
        ...


class ClientCredentialsGrant:
    """``grant_type=client_credentials`` (RFC 6749 §4.4): a workload's own token.

    TX-CC-001: ``sub`` = ``client_id`` = the workload's client id, no ``act``, no
    ``sub_id``; ``aud`` = the requested targets, or the issuer when none. TX-CC-002: each
    target must be in one of the workload's exchange policies, the scope is the requested
    scope ∩ that policy's ``scopes``, and no scope is granted without a target.
    """

    grant_type = CLIENT_CREDENTIALS
    parameters = frozenset(("scope", "audience", "resource"))
    repeatable = frozenset(("audience", "resource"))
    operation = "token.issue"

    def __init__(self, tokens: AccessTokens, policies: PolicySource, clock: Clock) -> None:
        self._tokens = tokens
        self._policies = policies
        self._clock = clock

    def handle(
        self, request: FormRequest, client: AuthenticatedClient, audit: AuditRecord
    ) -> GrantResult:
        audit.scopes = requested_scopes_for_audit(request)
        audiences, resources, targets = requested_targets(request)
        audit.audience = targets
        raw_scope = request.get("scope")
        requested = parse_scope(raw_scope) if raw_scope is not None else None
        granted: tuple[str, ...] = ()
        if targets:
            try:
                policy = select_policy(
                    self._policies.policies_for(client.name), audiences, resources
                )
            except UnauthorizedClient:
                raise InvalidTarget(
                    "target_not_allowed: no exchange policy permits the requested targets"
                ) from None
            if requested is not None:
                granted = tuple(s for s in requested if s in set(policy.scopes))
        elif requested is not None:
            raise InvalidScope(
                "scope_not_granted: a workload's own token for the service carries no scope"
            )
        if requested is not None and not granted:
            raise InvalidScope("scope_not_granted: none of the requested scopes can be granted")
        now = self._clock.now()
        iat = math.floor(now)
        issued = self._tokens.issue(
            sub=client.client_id,
            client_id=client.client_id,
            aud=targets or [self._tokens.issuer],
            scopes=granted,
            iat=iat,
            exp=math.floor(now + self._tokens.max_lifetime),
            grant="client_credentials",
        )
        audit.scopes = list(granted)
        audit.audience = list(issued.record.aud)
        response = TokenResponse(
            access_token=issued.token,
            token_type=BEARER,
            expires_in=issued.expires_in,
            scope=scope_string(granted) if granted else None,
        )
        return GrantResult(response, issued)


class TokenEndpoint:
    """``POST /oauth2/token``: parse, authenticate, dispatch (TX-REQ-001, TX-REQ-009).

    :meth:`handle` never raises for bad input: it returns an :class:`OAuthResult` for the
    HTTP layer to render (``status``, JSON ``body``, ``headers``) and the audit record to
    append. Only faults (storage down, an IdP's keys never obtainable) propagate.
    """

    def __init__(self, clients: ClientAuthenticator, grants: Sequence[Grant]) -> None:
        self._clients = clients
        self._grants = {grant.grant_type: grant for grant in grants}
        if len(self._grants) != len(grants):
            raise ValueError("two grants handle the same grant_type")
        self._repeatable = frozenset().union(*(grant.repeatable for grant in grants))

    @property
    def grant_types(self) -> tuple[str, ...]:
        """For ``grant_types_supported`` in the metadata (AS-META-002)."""
        return tuple(self._grants)

    def handle(
        self, pairs: Iterable[tuple[str, str]], authorization: str | None = None
    ) -> OAuthResult:
        audit = AuditRecord(operation="token.issue")
        try:
            request = FormRequest.parse(pairs, self._repeatable)
            client = self._clients.authenticate(authorization, request.params)
            audit.workload = client.name
            audit.actor_chain = [client.client_id]
            grant_type = request.get("grant_type")
            if grant_type is None:
                raise InvalidRequest("malformed_request: grant_type is missing")
            grant = self._grants.get(grant_type)
            if grant is None:
                raise UnsupportedGrantType(
                    "unsupported_grant_type: the grant type is not supported"
                )
            audit.operation = grant.operation
            result = grant.handle(request, client, audit)
        except OAuthError as error:
            audit.deny(error)
            return OAuthResult.refused(error, audit)
        audit.allow()
        return OAuthResult(
            200,
            result.response.body(),
            dict(NO_STORE),
            (audit,),
            None,
            result.issued.record,
        )
