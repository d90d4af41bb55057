"""Workload access tokens: the binding of one workload to at most one user (spec ``04``).

A workload access token (WAT) is opaque: ``wat_`` and 256 random bits, base64url
(WAT-FMT-001). The service keeps only its SHA-256 and, beside it, the binding fixed at
issuance (WAT-BIND-001): the workload and the user, who is

- nobody, for ``{}``;
- the ``issuer``/``subject``/``user_key`` of a user token that the workload's own
  authorizer allowed (WAT-JWT-001; TERM-USER-001: the issuer is part of the user);
- ``{"issuer": "urn:proctor:user-id", "subject": id, "user_key": id}`` for a user id the
  workload asserts, when it is allowed to (WAT-UID-001).

Lifetime (WAT-LIFE-001/002): the configured lifetime (60-3600 s, default 900), cut to the
user token's ``exp`` (no leeway); a user token accepted only thanks to the authorizer's
leeway yields ``user_token_rejected``/``expired`` instead of a token.

Validation (WAT-USE-001/002) answers :class:`~proctor.reference.errors.TokenInvalid` with
one and the same description for a token that is malformed, unknown, expired, revoked, or
issued to another workload, so the answer is no oracle. A token is also refused when it
predates the presenting workload's creation: a workload deleted and re-created under the
same name never inherits a token (WID-STATE-002, WAT-REV-001).

The binding policy (which user a request names) is :func:`bind_user`; the HTTP layer calls
it outside any transaction (it may fetch an IdP's keys), then :meth:`WorkloadTokens.issue`
inside the transaction that also appends the audit event.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from proctor.reference.authorizer import Decision
from proctor.reference.authorizer_config import AuthorizerConfig, TokenKind
from proctor.reference.clock import Clock
from proctor.reference.credentials import new_secret
from proctor.reference.errors import Forbidden, TokenInvalid, UserTokenRejected, ValidationFailed
from proctor.reference.storage.database import Transaction
from proctor.reference.storage.workload_tokens import WorkloadTokenRecord, WorkloadTokenRepository
from proctor.reference.storage.workloads import WorkloadRecord

__all__ = [
    "MAX_TTL",
    "MIN_TTL",
    "TOKEN_PREFIX",
    "USER_ID_ISSUER",
    "Binding",
    "InvalidWorkloadAccessToken",
    "IssuedToken",
    "RejectedUserToken",
    "UserBinding",
    "WorkloadTokens",
    "bind_user",
    "check_user_id",
    "token_hash",
]

TOKEN_PREFIX: Final = "wat_"  # noqa: S105 - a prefix, not a credential
#: WAT-UID-001: the issuer namespace of caller-asserted user ids.
USER_ID_ISSUER: Final = "urn:proctor:user-id"
#: WAT-LIFE-001: bounds of the configured lifetime.
MIN_TTL: Final = 60
MAX_TTL: Final = 3600
_MAX_TOKEN: Final = 512
_MAX_USER_ID: Final = 128
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TOKEN_SHAPED: Final = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")
_INVALID: Final = "The workload access token is not valid."
_REJECTED: Final = "The user token was not accepted by the workload's authorizer."
#: ERR-BEARER-001/002: a 401 about a token in the body, on the data plane.
CHALLENGE: Final = 'Basic realm="proctor", Bearer realm="proctor", error="invalid_token"'


class RejectedUserToken(UserTokenRejected):
    """``401 user_token_rejected`` with the data plane's challenges (ERR-BEARER-001/002).

    ``user`` is the ``(issuer, subject)`` of a token whose signature and issuer verified,
    for the audit event (AUD-EVT-003); it never reaches the response."""

    def __init__(self, reason: str, user: tuple[str, str] | None = None) -> None:
        super().__init__(_REJECTED, reason=reason)
        self.user = user

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": CHALLENGE}


class InvalidWorkloadAccessToken(TokenInvalid):
    """``401 token_invalid``, one description for every cause (WAT-USE-001/002), with the
    data plane's challenges (ERR-BEARER-001/002)."""

    def __init__(self) -> None:
        super().__init__(_INVALID)

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": CHALLENGE}


def token_hash(token: str) -> str:
    """WAT-FMT-001: what is stored instead of the token: hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class UserBinding:
    """The user a token is bound to (TERM-USER-001: issuer and subject together)."""

    issuer: str
    subject: str
    user_key: str

    def as_dict(self) -> dict[str, str]:
        """WAT-RESP-001: exactly ``issuer``, ``subject`` and ``user_key``."""
        return {"issuer": self.issuer, "subject": self.subject, "user_key": self.user_key}

    @property
    def asserted(self) -> bool:
        """Whether this user is a caller-asserted id rather than an IdP-verified one."""
        return self.issuer == USER_ID_ISSUER


@dataclass(frozen=True, slots=True)
class Binding:
    """What a valid token stands for: this workload, this user (or none), until then."""

    workload: str
    client_id: str
    user: UserBinding | None
    expires_at: int


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str = field(repr=False)
    expires_at: int
    expires_in: int
    user: UserBinding | None

    def response(self) -> dict[str, Any]:
        """WAT-RESP-001: the body of a successful issuance."""
        return {
            "workload_access_token": self.token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "user": None if self.user is None else self.user.as_dict(),
        }


def check_user_id(user_id: str) -> None:
    """WAT-UID-001: 1-128 characters without control characters. proctor also refuses a
    value shaped like a JWT: it would be a user token passed as an id, and the id goes
    into the audit log, which never holds a token (AUD-SEC-001)."""
    if not 1 <= len(user_id) <= _MAX_USER_ID or _CONTROL.search(user_id):
        raise ValidationFailed(
            "user_id is 1 to 128 characters without control characters.",
            errors=[{"field": "/user_id", "message": "1-128 characters, no control characters"}],
        )
    if _TOKEN_SHAPED.search(user_id):
        raise ValidationFailed(
            "user_id looks like a token; send a user token as user_token.",
            errors=[{"field": "/user_id", "message": "must not be a token"}],
        )


def requested_kind(config: AuthorizerConfig) -> TokenKind:
    """WAT-JWT-001: ``access_token`` when the authorizer accepts it, else ``id_token``."""
    kinds = {rule.kind for rule in config.token_kinds}
    return "access_token" if "access_token" in kinds else "id_token"


#: ``decide(authorizer_name, token, kind)``: the decision of the named authorizer.
Decide = Callable[[str, str, TokenKind], Decision]
#: ``kind_of(authorizer_name)``: the kind to ask for (see :func:`requested_kind`).
KindOf = Callable[[str], TokenKind]


def bind_user(
    workload: WorkloadRecord,
    *,
    user_token: str | None,
    user_id: str | None,
    decide: Decide,
    kind_of: KindOf,
    now: float,
) -> tuple[UserBinding | None, int | None]:
    """WAT-REQ-001, WAT-JWT-001, WAT-UID-001, WAT-LIFE-002: the user the request names and
    the latest expiry the token may have (``None``: only the configured lifetime).

    Raises :class:`Forbidden` (no authorizer; user ids not allowed),
    :class:`UserTokenRejected` (with the decision's reason), :class:`ValidationFailed`.
    """
    if user_token is not None and user_id is not None:
        raise ValidationFailed(
            "Send user_token or user_id, not both.",
            errors=[{"field": "/user_id", "message": "not with user_token"}],
        )
    if user_id is not None:
        if not workload.config.get("allow_user_id_tokens", False):
            raise Forbidden("This workload may not assert user ids.")
        check_user_id(user_id)
        return UserBinding(USER_ID_ISSUER, user_id, user_id), None
    if user_token is None:
        return None, None
    authorizer = workload.config.get("authorizer")
    if not isinstance(authorizer, str):
        raise Forbidden("This workload has no authorizer for user tokens.")
    decision = decide(authorizer, user_token, kind_of(authorizer))
    if not decision.allowed or decision.identity is None:
        raise RejectedUserToken(decision.reason, decision.verified_user)
    identity = decision.identity
    if now >= identity.exp:  # accepted only thanks to the leeway (WAT-LIFE-002)
        raise RejectedUserToken("expired", (identity.issuer, identity.subject))
    return UserBinding(identity.issuer, identity.subject, identity.user_key), identity.exp


class WorkloadTokens:
    """Issues, validates and revokes workload access tokens."""

    def __init__(self, tokens: WorkloadTokenRepository, clock: Clock, *, ttl: int = 900) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not MIN_TTL <= ttl <= MAX_TTL:
            raise ValueError(f"the workload access token lifetime is {MIN_TTL}-{MAX_TTL} seconds")
        self._tokens = tokens
        self._clock = clock
        self.ttl = ttl

    def issue(
        self,
        workload: WorkloadRecord,
        user: UserBinding | None,
        *,
        not_after: int | None = None,
        tx: Transaction | None = None,
    ) -> IssuedToken:
        """WAT-FMT-001, WAT-BIND-001, WAT-LIFE-001/002: a fresh token bound to
        ``workload`` and ``user``, expiring at the earlier of now + lifetime and
        ``not_after``."""
        now = self._clock.now()
        start = int(now)
        expires_at = start + self.ttl
        if not_after is not None:
            if not_after <= now:
                raise RejectedUserToken("expired")
            expires_at = min(expires_at, not_after)
        token = new_secret(TOKEN_PREFIX)
        self._tokens.store(
            token_hash(token),
            workload.name,
            expires_at=expires_at,
            user_issuer=None if user is None else user.issuer,
            user_subject=None if user is None else user.subject,
            user_key=None if user is None else user.user_key,
            user_id=user.subject if user is not None and user.asserted else None,
            tx=tx,
        )
        return IssuedToken(token, expires_at, expires_at - start, user)

    def validate(
        self, token: object, presenting: WorkloadRecord, *, tx: Transaction | None = None
    ) -> Binding:
        """WAT-USE-001/002: the binding of ``token`` if ``presenting`` may use it now,
        else :class:`TokenInvalid` (always the same description)."""
        if (
            not isinstance(token, str)
            or not token.startswith(TOKEN_PREFIX)
            or len(token) > _MAX_TOKEN
            or not token.isascii()
        ):
            raise InvalidWorkloadAccessToken()
        record = self._tokens.get(token_hash(token), tx=tx)
        if (
            record is None
            or not record.is_active(self._clock.now())
            or record.workload != presenting.name
            or record.issued_at < presenting.created_at
            or presenting.disabled
        ):
            raise InvalidWorkloadAccessToken()
        return Binding(presenting.name, presenting.client_id, _user_of(record), record.expires_at)

    def revoke(self, token: str, *, tx: Transaction | None = None) -> bool:
        """Revokes one token; ``False`` when no such token is stored."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN:
            return False
        return self._tokens.revoke(token_hash(token), tx=tx)

    def revoke_for_workload(self, workload: str, *, tx: Transaction | None = None) -> int:
        """WAT-REV-001: every token of the workload."""
        return self._tokens.revoke_for_workload(workload, tx=tx)


def _user_of(record: WorkloadTokenRecord) -> UserBinding | None:
    if record.user_issuer is None or record.user_subject is None:
        return None
    return UserBinding(
        record.user_issuer, record.user_subject, record.user_key or record.user_subject
    )
