"""Signing keys of an emulated issuer, with rotation the way vendors do it.

A :class:`KeyRing` holds keys in three states:

- ``next``: published in the JWKS but not yet used to sign (vendors publish keys weeks
  before use so that verifiers have them cached);
- ``active``: the key that signs new tokens (exactly one per purpose);
- ``retired``: no longer signs, still published until :meth:`KeyRing.retire` drops it.

Keys may also be *unpublished* (they sign but never appear in the JWKS), which is how
Okta's org authorization server signs its access tokens, and how a test produces a token
with an unknown ``kid``. Cognito signs ID and access tokens with different keys: a ring
has a ``purpose`` per key for that.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

__all__ = ["KeyRing", "SigningKey", "generate_key"]

KeyState = Literal["next", "active", "retired"]
Algorithm = Literal["RS256", "ES256"]


def generate_key(alg: Algorithm, kid: str | None = None) -> RSAKey | ECKey:
    """A fresh key for ``alg`` with a random ``kid`` unless one is given."""
    kid = kid or secrets.token_urlsafe(16)
    if alg == "RS256":
        return RSAKey.generate_key(2048, parameters={"kid": kid})
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters={"kid": kid})
    raise ValueError(f"unsupported algorithm {alg!r}")


@dataclass
class SigningKey:
    key: RSAKey | ECKey
    alg: Algorithm
    state: KeyState = "active"
    purpose: str = "default"
    published: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    """Extra members for the published JWK (Entra's ``issuer``, ``x5t``, ``use``)."""

    @property
    def kid(self) -> str:
        kid = self.key.kid
        if kid is None:  # generate_key always sets one
            raise ValueError("signing keys need a kid")
        return kid

    def public_jwk(self) -> dict[str, Any]:
        jwk = dict(self.key.as_dict(private=False))
        jwk.setdefault("use", "sig")
        jwk.setdefault("alg", self.alg)
        jwk.update(self.extra)
        return jwk


class KeyRing:
    """The keys of one issuer; thread-safe."""

    def __init__(self, keys: Iterable[SigningKey] = ()) -> None:
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = list(keys)

    @classmethod
    def single(cls, alg: Algorithm = "RS256", *, purposes: Iterable[str] = ("default",)) -> KeyRing:
        """A ring with one active, published key per purpose."""
        return cls(SigningKey(generate_key(alg), alg, purpose=p) for p in purposes)

    # -- reading ---------------------------------------------------------------------
    def active(self, purpose: str = "default") -> SigningKey:
        with self._lock:
            for k in self._keys:
                if k.state == "active" and k.purpose == purpose:
                    return k
        raise LookupError(f"no active key for purpose {purpose!r}")

    def find(self, kid: str) -> SigningKey | None:
        with self._lock:
            return next((k for k in self._keys if k.kid == kid), None)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The published JWK Set: next, active and retired keys that are published."""
        with self._lock:
            return {"keys": [k.public_jwk() for k in self._keys if k.published]}

    def keys(self) -> list[SigningKey]:
        with self._lock:
            return list(self._keys)

    # -- rotation ----------------------------------------------------------------------
    def add(self, key: SigningKey) -> SigningKey:
        with self._lock:
            self._keys.append(key)
        return key

    def publish_next(self, purpose: str = "default", alg: Algorithm | None = None) -> SigningKey:
        """Publish a new key that does not sign yet (step 1 of a rotation).

        The new key inherits the active key's ``published`` flag and JWK extras, so an
        unpublished purpose (Okta's org access-token key) stays unpublished.
        """
        current = self.active(purpose)
        return self.add(
            SigningKey(
                generate_key(alg or current.alg),
                alg or current.alg,
                state="next",
                purpose=purpose,
                published=current.published,
                extra=dict(current.extra),
            )
        )

    def clone(self) -> KeyRing:
        """A ring with the same keys in the same states (key objects are shared)."""
        with self._lock:
            return KeyRing(
                SigningKey(k.key, k.alg, k.state, k.purpose, k.published, dict(k.extra))
                for k in self._keys
            )

    def switch(self, purpose: str = "default") -> SigningKey:
        """Make the oldest ``next`` key active and retire the active one (step 2)."""
        with self._lock:
            pending = [k for k in self._keys if k.state == "next" and k.purpose == purpose]
            if not pending:
                raise LookupError(f"no published next key for purpose {purpose!r}")
            for k in self._keys:
                if k.state == "active" and k.purpose == purpose:
                    k.state = "retired"
            pending[0].state = "active"
            return pending[0]

    def retire(self, kid: str | None = None, purpose: str = "default") -> list[str]:
        """Stop publishing retired keys (step 3): one ``kid``, or all of ``purpose``."""
        with self._lock:
            gone = [
                k
                for k in self._keys
                if k.state == "retired" and (k.kid == kid if kid else k.purpose == purpose)
            ]
            self._keys = [k for k in self._keys if k not in gone]
            return [k.kid for k in gone]

    def rotate(self, purpose: str = "default") -> SigningKey:
        """Publish a next key and switch to it at once (an unannounced rotation)."""
        self.publish_next(purpose)
        return self.switch(purpose)

    # -- signing -----------------------------------------------------------------------
    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        purpose: str = "default",
        header: Mapping[str, Any] | None = None,
        key: SigningKey | None = None,
    ) -> str:
        """A compact JWS over ``claims`` with exactly the given header members.

        The header is ``{"alg", "kid"}`` plus ``header`` (which may override either, or
        set ``typ``): vendors differ in which members they send, so nothing is added
        implicitly.
        """
        signer = key or self.active(purpose)
        protected: dict[str, Any] = {"alg": signer.alg, "kid": signer.kid}
        protected.update(header or {})
        protected = self.complete_header(protected, signer)
        return self.serialize(protected, _json_bytes(claims), signer, algorithms=[signer.alg])

    # -- vendor signing details (overridden by a vendor's ring) -------------------------
    def complete_header(self, header: dict[str, Any], signer: SigningKey) -> dict[str, Any]:
        """The protected header as it will be sent, given the signing key: a vendor's ring
        fills members derived from the key here (Entra's ``x5t``). Unchanged by default."""
        return header

    def serialize(
        self,
        header: Mapping[str, Any],
        payload: bytes,
        signer: SigningKey,
        *,
        algorithms: list[str],
    ) -> str:
        """The compact JWS (RFC 7515 §7.1) of ``payload`` under ``header``; a vendor's ring
        may sign differently (Entra's Microsoft Graph tokens)."""
        return jws.serialize_compact(dict(header), payload, signer.key, algorithms=algorithms)


def _json_bytes(claims: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(claims), separators=(",", ":")).encode()
