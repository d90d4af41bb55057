"""What an emulator remembers between requests: sign-in transactions, sessions, consents,
authorization codes, grant families, refresh tokens, issued access tokens and device
grants. In memory, thread-safe, gone on restart (a mock has no durable state).

A *family* is everything issued from one user authorization: the code, every refresh
token rotated from it and every access token minted on the way. Reusing a rotated refresh
token or a redeemed code revokes the whole family (RFC 9700 §4.14.2, RFC 6749 §4.1.2).
Issued tokens are indexed by the SHA-256 of the token string, not by a claim, because
vendors name their token ID differently (``jti``, ``uti``) or not at all.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AuthorizationCode",
    "AuthorizationRequest",
    "DeviceGrant",
    "Family",
    "IssuedToken",
    "RefreshToken",
    "Session",
    "State",
    "Transaction",
    "token_hash",
]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC §3.1.2.1)."""

    server_id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None = None
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    prompt: frozenset[str] = frozenset()
    params: tuple[tuple[str, str], ...] = ()
    """Every parameter as sent, for vendor parameters the engine does not interpret
    (Google's ``access_type``, RFC 8707 ``resource``)."""


@dataclass
class Transaction:
    """A sign-in in progress: the login and consent pages refer to it by ``id``."""

    id: str
    kind: Literal["authorize", "device"]
    server_id: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    request: AuthorizationRequest | None = None
    device_code: str | None = None
    username: str | None = None
    auth_time: int | None = None
    consented: bool = False


@dataclass
class Session:
    id: str
    username: str
    auth_time: int


@dataclass
class Family:
    """One authorization's tokens; ``revoked`` invalidates all of them."""

    id: str
    server_id: str
    client_id: str
    username: str | None
    scopes: tuple[str, ...]
    auth_time: int | None
    revoked: bool = False


@dataclass
class AuthorizationCode:
    code: str
    request: AuthorizationRequest
    username: str
    auth_time: int
    expires_at: float
    used: bool = False
    family_id: str | None = None


@dataclass
class RefreshToken:
    value: str
    family_id: str
    expires_at: float | None
    used_at: float | None = None


@dataclass
class IssuedToken:
    """A JWT the emulator signed (by a grant or the admin API)."""

    kind: Literal["access", "id"]
    server_id: str
    client_id: str | None
    username: str | None
    scopes: tuple[str, ...]
    claims: dict[str, Any]
    expires_at: float | None
    not_before: float | None = None
    family_id: str | None = None
    revoked: bool = False


@dataclass
class DeviceGrant:
    """RFC 8628 device authorization: ``pending`` until approved or denied on the page."""

    device_code: str
    user_code: str
    server_id: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    interval: int
    status: Literal["pending", "approved", "denied", "consumed"] = "pending"
    username: str | None = None
    auth_time: int | None = None
    last_poll: float | None = None


@dataclass
class State:
    """All mutable emulator state behind one lock (take it with :meth:`locked`)."""

    transactions: dict[str, Transaction] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    consents: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    families: dict[str, Family] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    issued: dict[str, IssuedToken] = field(default_factory=dict)
    devices: dict[str, DeviceGrant] = field(default_factory=dict)
    user_codes: dict[str, str] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @contextmanager
    def locked(self) -> Iterator[State]:
        with self._lock:
            yield self

    @staticmethod
    def new_id(nbytes: int = 32) -> str:
        return secrets.token_urlsafe(nbytes)

    def clear(self) -> None:
        with self._lock:
            for store in (
                self.transactions,
                self.sessions,
                self.consents,
                self.codes,
                self.families,
                self.refresh_tokens,
                self.issued,
                self.devices,
                self.user_codes,
            ):
                store.clear()

    def revoke_family(self, family_id: str) -> None:
        """Revoke every refresh and access token issued from one authorization."""
        with self._lock:
            family = self.families.get(family_id)
            if family is not None:
                family.revoked = True
            for record in self.issued.values():
                if record.family_id == family_id:
                    record.revoked = True

    def purge(self, now: float) -> None:
        """Drop what expired long enough ago to be of no use (bounded memory): a day
        after expiry for tokens, an hour for codes and device grants."""
        with self._lock:
            for key in [k for k, t in self.transactions.items() if t.expires_at <= now]:
                del self.transactions[key]
            # Codes stay a while after expiry so a late replay is still recognised.
            for key in [k for k, c in self.codes.items() if c.expires_at + 3600 <= now]:
                del self.codes[key]
            for key in [k for k, d in self.devices.items() if d.expires_at + 3600 <= now]:
                self.user_codes.pop(self.devices[key].user_code, None)
                del self.devices[key]
            day = 86_400
            for key in [
                k
                for k, t in self.issued.items()
                if t.expires_at is not None and t.expires_at + day <= now
            ]:
                del self.issued[key]
            for key in [
                k
                for k, r in self.refresh_tokens.items()
                if r.expires_at is not None and r.expires_at + day <= now
            ]:
                del self.refresh_tokens[key]
