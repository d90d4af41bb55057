"""RFC 8693 token exchange: proctor's security token service, step by step.

This module is meant to be read. It implements the token-exchange grant of
``POST /oauth2/token`` as proctor's profile of RFC 8693 specifies it (spec
``07-token-exchange.md``, requirement prefix ``TX``), with no web framework and no storage:
both come in through small protocols.

What token exchange is
----------------------
A client holds a token that names a party (the **subject**: Sarah, whose IdP token an
agent received) and wants a new token for a next hop. RFC 8693 §1.1 distinguishes

- **impersonation**: the new token names only the subject; whoever holds it *is* Sarah
  to the next hop (proctor allows it only when the policy says so, TX-DLG-002);
- **delegation**: the new token names the subject in ``sub`` and the party acting for her
  in ``act`` (RFC 8693 §4.1). The actor proves its identity with an **actor token**.

Chains nest: when a sub-agent re-exchanges a delegated token, the new ``act`` names the
sub-agent and carries the previous ``act`` inside it, so the *outermost* ``act`` is the
current actor and the innermost the first one::

    {"sub": "00u1sarah",
     "act": {"sub": "wl_sub91c2", "iss": "https://proctor.example",      <- current actor
             "act": {"sub": "wl_orch7f3a", "iss": "https://proctor.example"}}}  <- earlier

The request (RFC 8693 §2.1), form-encoded, with client authentication::

    grant_type=urn:ietf:params:oauth:grant-type:token-exchange
    subject_token=...        subject_token_type=urn:ietf:params:oauth:token-type:access_token
    actor_token=...          actor_token_type=urn:ietf:params:oauth:token-type:access_token
    audience=wl_sub91c2      (repeatable; or resource=https://..., also repeatable)
    scope=crm.read           requested_token_type=... (optional)

The response (RFC 8693 §2.2.1): ``access_token``, ``issued_token_type``, ``token_type``
(``Bearer``), ``expires_in``, ``scope``; never a ``refresh_token`` (TX-RESP-002). Every
refusal of a subject or actor token is ``invalid_request``, never ``invalid_grant``
(RFC 8693 §2.2.2, TX-ERR-001).

Where proctor is stricter than RFC 8693 (each rule names why in the spec)
--------------------------------------------------------------------------
RFC 8693 leaves most policy to the deployment. An agent platform cannot, so proctor fixes:

- the client is always authenticated, and only a workload with an exchange policy may
  exchange (TX-CAUTH-001, TX-TGT-001);
- every issued token names its next hop in ``aud``; the target must be in the policy
  (TX-REQ-008, TX-TGT-001/002);
- an own subject token can only be exchanged by a workload it was issued to or for
  (TX-SUBJ-004), so a stolen delegated token cannot be redeemed elsewhere;
- the actor is always a registered workload, normally the authenticated client itself
  (TX-ACTOR-001/002), and never the subject (TX-ACTOR-003);
- ``may_act`` in the subject token is enforced (TX-MAYACT-001, RFC 8693 §4.4);
- a subject token that already carries ``act`` or ``may_act`` cannot be exchanged
  without an actor token: otherwise the delegation markers would be laundered away
  (TX-DLG-001, the Keycloak #52691 bypass);
- chains are bounded by the policy's ``max_depth`` (TX-DLG-003);
- ``act`` objects carry identity claims only, never ``exp``/``nbf``/``iat``/``jti``/``aud``
  (TX-ACT-003/004); the earlier chain is copied member for member (TX-ACT-002);
- scope only narrows: requested ∩ held ∩ policy (TX-SCOPE-001);
- the new token never outlives the subject or the actor token (TX-EXP-001/002);
- the issued token records its parents, so revoking any token revokes everything
  exchanged from it, down the chain (AS-CASC-001).

The pipeline
------------
:meth:`TokenExchangeGrant.handle` runs the steps of TX-REQ-009 after client
authentication; each is one function below, and the first that fails decides the error::

    4  the client has an exchange policy        handle                 unauthorized_client
    5  the request's parameters                  parse_exchange_request invalid_request,
                                                                        invalid_target
    6  the applicable policy from the targets    select_policy          invalid_target
    7  the subject token, then the actor token   _validate_subject      invalid_request
                                                 _validate_actor        invalid_request
    8  laundering, impersonation, may_act, depth check_delegation       invalid_request
    9  scope, then issuance                      _grant_scope, _issue   invalid_scope

Validation of **external** subject tokens (a user's token from the company IdP) is the
inbound authorizer's job (TX-SUBJ-002); it comes in through the :class:`SubjectValidator`
protocol (:class:`AuthorizerSubjectValidator` adapts
:class:`proctor.reference.authorizer.Authorizer`). The service's **own** tokens are
validated by :class:`proctor.reference.tokens.AccessTokens`, including revocation of the
token and of every token it derives from.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

from proctor.reference.authorizer import Authorizer
from proctor.reference.client_auth import AuthenticatedClient, Workload, WorkloadDirectory
from proctor.reference.clock import Clock
from proctor.reference.compact_jws import MalformedJws, parse_compact
from proctor.reference.errors import (
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    UnauthorizedClient,
)
from proctor.reference.exchange_policy import (
    SELF_ISSUER,
    ExchangePolicy,
    PolicySource,
    granted_scopes,
    parse_scope,
    select_policy,
)
from proctor.reference.grants import (
    BEARER,
    TOKEN_EXCHANGE,
    AuditRecord,
    FormRequest,
    GrantResult,
    TokenResponse,
    requested_scopes_for_audit,
    requested_targets,
)
from proctor.reference.tokens import (
    AccessTokens,
    OwnTokenRejected,
    VerifiedToken,
    act_chain,
    act_depth,
    act_problem,
    scope_string,
)

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "ACTOR_TOKEN_TYPES",
    "ID_TOKEN_TYPE",
    "JWT_TOKEN_TYPE",
    "REQUESTED_TOKEN_TYPES",
    "SUBJECT_TOKEN_TYPES",
    "AuthorizerSubjectValidator",
    "ExchangeRequest",
    "ExternalSubject",
    "Subject",
    "SubjectRejected",
    "SubjectValidator",
    "TokenExchangeGrant",
    "check_delegation",
    "parse_exchange_request",
]

# -- token type identifiers (RFC 8693 §3, TX-REQ-006, TX-REQ-007) ------------------------------

ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
JWT_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105
ID_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105
#: ``id_token`` only for an external subject, and only where the policy allows it.
SUBJECT_TOKEN_TYPES: Final = frozenset((ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, ID_TOKEN_TYPE))
ACTOR_TOKEN_TYPES: Final = frozenset((ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE))
#: What the service can issue; ``jwt`` names the same token (TX-REQ-007).
REQUESTED_TOKEN_TYPES: Final = frozenset((ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE))

TokenKind = Literal["access_token", "id_token"]


# -- external subject tokens (TX-SUBJ-002) ------------------------------------------------------


@dataclass(frozen=True)
class ExternalSubject:
    """A user token from an IdP that the inbound authorizer accepted."""

    issuer: str
    subject: str
    #: The scope set the authorizer normalised from ``scope``/``scp``.
    scopes: tuple[str, ...]
    exp: int
    #: The verified claims (read for ``act`` and ``may_act``).
    claims: Mapping[str, Any] = field(repr=False)


class SubjectRejected(Exception):
    """The authorizer refused an external subject token; ``reason`` is its decision
    reason (``expired``, ``wrong_audience``, ``claim_rule_failed:groups``, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SubjectValidator(Protocol):
    """Validates an external subject token for the workload that presents it."""

    def validate(self, token: str, kind: TokenKind, workload: Workload) -> ExternalSubject:
        """Accept the token as a ``kind`` or raise :class:`SubjectRejected`."""
        ...


class AuthorizerSubjectValidator:
    """:class:`SubjectValidator` over the inbound authorizers (TX-SUBJ-002).

    ``authorizers`` maps an authorizer name to its :class:`Authorizer` (or ``None``). The
    workload's own ``authorizer`` decides; a workload without one exchanges no external
    tokens. The authorizer checks the issuer, so a token of any other IdP is refused.
    """

    def __init__(self, authorizers: Callable[[str], Authorizer | None]) -> None:
        self._authorizers = authorizers

    def validate(self, token: str, kind: TokenKind, workload: Workload) -> ExternalSubject:
        name = workload.authorizer
        authorizer = self._authorizers(name) if name is not None else None
        if authorizer is None:
            raise SubjectRejected("no_authorizer")
        decision = authorizer.decide(token, kind)
        identity = decision.identity
        if not decision.allowed or identity is None:
            raise SubjectRejected(decision.reason)
        return ExternalSubject(
            issuer=identity.issuer,
            subject=identity.subject,
            scopes=identity.scopes,
            exp=identity.exp,
            claims=identity.claims,
        )


# -- step 5: the request ------------------------------------------------------------------------


@dataclass(frozen=True)
class ExchangeRequest:
    """A syntactically valid token-exchange request (TX-REQ-002 to TX-REQ-008)."""

    subject_token: str = field(repr=False)
    subject_token_type: str
    actor_token: str | None = field(repr=False)
    actor_token_type: str | None
    requested_token_type: str
    audiences: tuple[str, ...]
    resources: tuple[str, ...]
    #: Every target, in request order, without repeats: the issued ``aud`` (TX-TGT-002).
    targets: tuple[str, ...]
    #: The raw ``scope`` parameter; parsed at step 9 (TX-SCOPE-003).
    scope: str | None


def _malformed(text: str) -> InvalidRequest:
    return InvalidRequest(f"malformed_request: {text}")


def parse_exchange_request(request: FormRequest) -> ExchangeRequest:
    """Step 5: required parameters, token types, targets (TX-REQ-002, -003, -006 to -008)."""
    subject_token = request.get("subject_token")
    subject_token_type = request.get("subject_token_type")
    if subject_token is None or subject_token_type is None:
        raise _malformed("subject_token and subject_token_type are required")
    actor_token = request.get("actor_token")
    actor_token_type = request.get("actor_token_type")
    if (actor_token is None) != (actor_token_type is None):
        raise _malformed("actor_token and actor_token_type come together")
    if subject_token_type not in SUBJECT_TOKEN_TYPES:
        raise _malformed("subject_token_type is not a supported token type")
    if actor_token_type is not None and actor_token_type not in ACTOR_TOKEN_TYPES:
        raise _malformed("actor_token_type is not a supported token type")
    requested_token_type = request.get("requested_token_type") or ACCESS_TOKEN_TYPE
    if requested_token_type not in REQUESTED_TOKEN_TYPES:
        raise _malformed("requested_token_type is not a token type the service issues")
    audiences, resources, targets = requested_targets(request)
    if not targets:
        raise InvalidTarget("target_not_allowed: an audience or resource is required")
    return ExchangeRequest(
        subject_token=subject_token,
        subject_token_type=subject_token_type,
        actor_token=actor_token,
        actor_token_type=actor_token_type,
        requested_token_type=requested_token_type,
        audiences=audiences,
        resources=resources,
        targets=tuple(targets),
        scope=request.get("scope"),
    )


# -- step 7: the subject and the actor ----------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """The validated subject of an exchange."""

    #: The subject token's ``iss`` (the service's issuer for an own token).
    token_issuer: str
    sub: str
    #: (issuer, subject) of TX-ACTOR-003: ``sub_id`` when present, else (``iss``, ``sub``).
    identity: tuple[str, str]
    #: The audit ``user`` when the subject is a user (verified), else ``None``.
    user: dict[str, str] | None
    #: ``sub_id`` for the issued token (TX-CLAIM-001).
    sub_id: Mapping[str, Any] | None
    scopes: tuple[str, ...]
    exp: int
    act: Mapping[str, Any] | None
    has_may_act: bool
    may_act: Any
    #: The own subject token, if it is one: a parent of the issued token (AS-CASC-001).
    own: VerifiedToken | None = None


@dataclass(frozen=True)
class Actor:
    """The validated actor: a registered workload proven by an own token."""

    client_id: str
    token: VerifiedToken


def _subject_invalid(text: str, detail: str | None = None) -> InvalidRequest:
    return InvalidRequest(f"subject_token_invalid: {_printable(text)}", detail=detail)


def _actor_invalid(text: str, detail: str | None = None) -> InvalidRequest:
    return InvalidRequest(f"actor_token_invalid: {_printable(text)}", detail=detail)


def _printable(text: str) -> str:
    """Keep only characters RFC 6749 §5.2 allows in ``error_description``."""
    return "".join(c for c in text if c in _DESCRIPTION_CHARS)


_DESCRIPTION_CHARS: Final = frozenset(
    chr(c) for c in (0x20, 0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F))
)


def _unverified_issuer(token: str) -> str | None:
    """The ``iss`` of a compact JWT, unverified, to route it (spec: "Subject token
    validation"). Safe because the token is then verified only with that issuer's keys
    (RFC 8725 §3.8). ``None`` if it is not a well-formed JWT."""
    if len(token) > 64 * 1024 or not token.isascii():
        return None
    try:
        iss = parse_compact(token).payload.get("iss")
    except MalformedJws:
        return None
    return iss if isinstance(iss, str) else None


# -- step 8: delegation semantics ---------------------------------------------------------------


def check_delegation(
    subject: Subject, actor: Actor | None, policy: ExchangePolicy, issuer: str
) -> int:
    """Step 8 (TX-DLG-001, TX-DLG-002, TX-MAYACT-001, TX-DLG-003); returns the issued depth.

    Only the subject's top-level claims and current actor decide anything (TX-ACT-005):
    nested ``act`` levels count for depth and nothing else.
    """
    if actor is None:
        # TX-DLG-001: whatever the policy says, delegation markers are never dropped.
        if subject.act is not None or subject.has_may_act:
            raise InvalidRequest(
                "delegation_laundering: the subject token carries act or may_act but no "
                "actor_token was sent"
            )
        if not policy.allow_impersonation:
            raise InvalidRequest(
                "impersonation_not_allowed: an actor_token is required by the exchange policy"
            )
        return act_depth(subject.act)
    if subject.has_may_act:
        may_act = subject.may_act
        if type(may_act) is not dict or type(may_act.get("sub")) is not str:
            raise _subject_invalid("may_act is not an object with a sub")
        may_act_iss = may_act.get("iss", subject.token_issuer)
        if may_act["sub"] != actor.client_id or may_act_iss != issuer:
            raise InvalidRequest(
                "may_act_mismatch: the subject token does not name this actor in may_act"
            )
    depth = act_depth(subject.act) + 1
    if depth > policy.max_depth:
        raise InvalidRequest(f"depth_exceeded: the chain would exceed max_depth {policy.max_depth}")
    return depth


# -- the grant ----------------------------------------------------------------------------------


class TokenExchangeGrant:
    """``grant_type=urn:ietf:params:oauth:grant-type:token-exchange`` (RFC 8693).

    Register it with :class:`proctor.reference.grants.TokenEndpoint`. Collaborators:
    ``tokens`` issues and validates the service's own tokens (and records every issued
    token with its parents); ``policies`` lists a workload's exchange policies;
    ``directory`` looks actors up; ``subjects`` validates external subject tokens.
    """

    grant_type = TOKEN_EXCHANGE
    parameters = frozenset(
        (
            "subject_token",
            "subject_token_type",
            "actor_token",
            "actor_token_type",
            "requested_token_type",
            "audience",
            "resource",
            "scope",
        )
    )
    #: RFC 8693 §2.1: only these may appear more than once (TX-REQ-004).
    repeatable = frozenset(("audience", "resource"))
    operation = "token.exchange"

    def __init__(
        self,
        tokens: AccessTokens,
        policies: PolicySource,
        directory: WorkloadDirectory,
        subjects: SubjectValidator,
        clock: Clock,
    ) -> None:
        self._tokens = tokens
        self._issuer = tokens.issuer
        self._policies = policies
        self._directory = directory
        self._subjects = subjects
        self._clock = clock

    def handle(
        self, request: FormRequest, client: AuthenticatedClient, audit: AuditRecord
    ) -> GrantResult:
        audit.scopes = requested_scopes_for_audit(request)
        audit.actor_chain = []
        policies = self._policies.policies_for(client.name)
        # step 4 (TX-TGT-001): the workload is the client of some exchange policy
        if not policies:
            raise UnauthorizedClient(
                "no_exchange_policy: the workload is the client of no exchange policy"
            )
        # step 5
        exchange = parse_exchange_request(request)
        audit.audience = list(exchange.targets)
        # step 6
        policy = select_policy(policies, exchange.audiences, exchange.resources)
        # step 7
        subject = self._validate_subject(exchange, policy, client)
        audit.user = subject.user
        audit.actor_chain = act_chain(subject.act)
        actor = None
        if exchange.actor_token is not None:
            actor = self._validate_actor(exchange.actor_token, policy, client, subject)
            audit.actor_chain = [actor.client_id, *audit.actor_chain]
        # step 8
        check_delegation(subject, actor, policy, self._issuer)
        # step 9
        scopes = self._grant_scope(exchange, subject, policy)
        result = self._issue(exchange, client, subject, actor, scopes)
        audit.scopes = list(scopes)
        audit.actor_chain = result.issued.record.actor_chain
        return result

    # -- step 7 ---------------------------------------------------------------------------

    def _validate_subject(
        self, exchange: ExchangeRequest, policy: ExchangePolicy, client: AuthenticatedClient
    ) -> Subject:
        """TX-SUBJ-001 to TX-SUBJ-004, TX-ACT-004, TX-REQ-006 (ID tokens)."""
        token = exchange.subject_token
        token_issuer = _unverified_issuer(token)
        if token_issuer is None:
            raise _subject_invalid("the subject token is not a JWT")
        if token_issuer == self._issuer:
            return self._own_subject(exchange, policy, client)
        return self._external_subject(exchange, policy, client)

    def _own_subject(
        self, exchange: ExchangeRequest, policy: ExchangePolicy, client: AuthenticatedClient
    ) -> Subject:
        if exchange.subject_token_type == ID_TOKEN_TYPE:
            raise _subject_invalid("a token of this service is not an ID token")
        try:
            verified = self._tokens.validate(exchange.subject_token)
        except OwnTokenRejected as exc:
            raise _subject_invalid(exc.reason) from None
        # TX-SUBJ-004: only a workload the token was issued to or for may exchange it.
        if client.client_id not in verified.aud and verified.client_id != client.client_id:
            raise _subject_invalid("the subject token was not issued to or for this workload")
        if SELF_ISSUER not in policy.subject_issuers:
            raise InvalidRequest(
                "subject_issuer_not_allowed: the policy does not accept this service's tokens"
            )
        sub_id = verified.sub_id
        if sub_id is not None and isinstance(sub_id.get("iss"), str):
            identity = (str(sub_id["iss"]), str(sub_id.get("sub")))
            user: dict[str, str] | None = {"issuer": identity[0], "subject": identity[1]}
        else:
            identity, user = (self._issuer, verified.sub), None
        return Subject(
            token_issuer=self._issuer,
            sub=verified.sub,
            identity=identity,
            user=user,
            sub_id=sub_id,
            scopes=verified.scopes,
            exp=verified.exp,
            act=verified.act,
            has_may_act="may_act" in verified.claims,
            may_act=verified.claims.get("may_act"),
            own=verified,
        )

    def _external_subject(
        self, exchange: ExchangeRequest, policy: ExchangePolicy, client: AuthenticatedClient
    ) -> Subject:
        id_token = exchange.subject_token_type == ID_TOKEN_TYPE
        if id_token and not policy.allow_id_token_subjects:
            raise _subject_invalid("ID token subjects are not allowed by the exchange policy")
        kind: TokenKind = "id_token" if id_token else "access_token"
        try:
            external = self._subjects.validate(exchange.subject_token, kind, client.workload)
        except SubjectRejected as exc:
            raise _subject_invalid(f"rejected: {exc.reason}") from None
        if external.issuer not in policy.subject_issuers:
            raise InvalidRequest(
                "subject_issuer_not_allowed: the policy does not accept this token's issuer"
            )
        act = external.claims.get("act")
        problem = act_problem(act) if "act" in external.claims else None
        if problem is not None:
            raise _subject_invalid(problem)
        return Subject(
            token_issuer=external.issuer,
            sub=external.subject,
            identity=(external.issuer, external.subject),
            user={"issuer": external.issuer, "subject": external.subject},
            sub_id={"format": "iss_sub", "iss": external.issuer, "sub": external.subject},
            # TX-SCOPE-001: an ID token conveys identity, not authority: S is taken to be P.
            scopes=tuple(policy.scopes) if id_token else external.scopes,
            exp=external.exp,
            act=act if isinstance(act, Mapping) else None,
            has_may_act="may_act" in external.claims,
            may_act=external.claims.get("may_act"),
        )

    def _validate_actor(
        self, token: str, policy: ExchangePolicy, client: AuthenticatedClient, subject: Subject
    ) -> Actor:
        """TX-ACTOR-001 to TX-ACTOR-003."""
        if _unverified_issuer(token) != self._issuer:
            raise _actor_invalid("the actor token is not a token of this service")
        try:
            verified = self._tokens.validate(token)
        except OwnTokenRejected as exc:
            raise _actor_invalid(exc.reason) from None
        if verified.act is not None:
            raise _actor_invalid("an actor token carries no act")
        workload = self._directory.by_client_id(verified.sub)
        if workload is None or workload.disabled:
            raise _actor_invalid("the actor is not a registered, enabled workload")
        if self._issuer not in verified.aud and client.client_id not in verified.aud:
            raise _actor_invalid("the actor token is for another audience")
        if verified.sub != client.client_id:
            if policy.actor == "client":
                raise InvalidRequest(
                    "actor_not_allowed: the actor must be the authenticated client"
                )
            if client.client_id not in verified.aud:
                raise InvalidRequest(
                    "actor_not_allowed: the actor token was not obtained for this client"
                )
        if (self._issuer, verified.sub) == subject.identity:
            raise InvalidRequest("actor_is_subject: the actor and the subject are the same")
        return Actor(verified.sub, verified)

    # -- step 9 ---------------------------------------------------------------------------

    def _grant_scope(
        self, exchange: ExchangeRequest, subject: Subject, policy: ExchangePolicy
    ) -> tuple[str, ...]:
        """TX-SCOPE-001 to TX-SCOPE-003: R ∩ S ∩ P, never wider than any of them."""
        requested = parse_scope(exchange.scope) if exchange.scope is not None else None
        scopes = granted_scopes(requested, subject.scopes, policy.scopes)
        if requested is not None and not scopes:
            raise InvalidScope("scope_not_granted: none of the requested scopes can be granted")
        return scopes

    def _issue(
        self,
        exchange: ExchangeRequest,
        client: AuthenticatedClient,
        subject: Subject,
        actor: Actor | None,
        scopes: tuple[str, ...],
    ) -> GrantResult:
        """TX-CLAIM-001/002, TX-ACT-001/002, TX-TGT-002, TX-EXP-001 to -003, TX-RESP-001."""
        now = self._clock.now()
        iat = math.floor(now)
        bounds = [now + self._tokens.max_lifetime, subject.exp]
        if actor is not None:
            bounds.append(actor.token.exp)
        exp = math.floor(min(bounds))
        if exp <= iat:
            if actor is not None and actor.token.exp <= subject.exp:
                raise _actor_invalid("expired")
            raise _subject_invalid("expired")
        act: dict[str, Any] | None = None
        parents = [subject.own.jti] if subject.own is not None else []
        if actor is not None:
            # The current actor outermost; the subject's chain nested unchanged inside.
            act = {"sub": actor.client_id, "iss": self._issuer}
            if subject.act is not None:
                act["act"] = subject.act
            parents.append(actor.token.jti)
        issued = self._tokens.issue(
            sub=subject.sub,
            client_id=client.client_id,
            aud=exchange.targets,
            scopes=scopes,
            iat=iat,
            exp=exp,
            grant="token_exchange",
            parents=parents,
            act=act,
            sub_id=subject.sub_id,
        )
        response = TokenResponse(
            access_token=issued.token,
            issued_token_type=exchange.requested_token_type,
            token_type=BEARER,
            expires_in=issued.expires_in,
            scope=scope_string(scopes) if scopes else None,
        )
        return GrantResult(response, issued)
