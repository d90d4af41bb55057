"""The service's own signing keys: generation, rotation, sealed storage and the JWK Set.

Every token the token endpoint issues is signed with the *current* key and verified, by
the service and by relying parties, with the keys published at ``GET /oauth2/jwks``
(spec ``07-token-exchange.md``, AS-FMT-001, AS-FMT-002, AS-JWKS-001 to AS-JWKS-004).

A key lives through four states, all derived from timestamps stored with it, so every node
of a deployment that reads the same :class:`KeyStore` agrees on them without coordination::

    next       published_at <= now < activates_at         in the JWKS, not signing
    current    the key with the latest activates_at <= now in the JWKS, signing
    retired    a later key has activated (at retired_at)   in the JWKS until retired_at
                                                           + max token lifetime + leeway
    removed    past that, or withdrawn (compromised)      gone from the JWKS

- **The next key is published before use** (AS-JWKS-003): :meth:`SigningKeys.rotate`
  publishes a new key that starts signing ``publish_ahead`` seconds later (default 300,
  and never less than the ``max-age`` the JWKS response advertises), so a relying party
  that caches the JWK Set has already seen the ``kid`` when the first token arrives.
- **Retired keys stay published** (AS-JWKS-004) until every token they signed has expired:
  a token lives at most ``max_token_lifetime`` seconds, so a key that stopped signing at
  ``retired_at`` is kept until ``retired_at + max_token_lifetime + leeway``.
- **A kid names one key forever** (AS-JWKS-002): kids are 128 random bits; a kid already
  in the store is never generated again, and :meth:`SigningKeys.prune` forgets only keys
  that can no longer verify anything.
- **ES256 by default, RS256 supported** (AS-FMT-002, RFC 9068 §2.1): the algorithm of new
  keys is a setting; keys of both kinds verify while they are published.
- **Private keys are sealed at rest**: a :class:`KeyRecord` carries the PKCS#8 private key
  encrypted with :class:`~proctor.reference.encryption.Envelope` (AES-256-GCM, the key id
  bound as associated data), so a database dump alone yields no signing key.

The first key of a fresh deployment signs at once (:meth:`SigningKeys.bootstrap`): no relying
party can have cached a JWK Set that did not exist yet.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey

from proctor.reference.clock import Clock
from proctor.reference.compact_jws import MIN_RSA_BITS, Verifier, verifier_for
from proctor.reference.encryption import Envelope, Sealed

__all__ = [
    "DEFAULT_PUBLISH_AHEAD",
    "PRIVATE_MEMBERS",
    "SIGNING_ALGORITHMS",
    "InMemoryKeyStore",
    "KeyRecord",
    "KeyState",
    "KeyStore",
    "SigningAlgorithm",
    "SigningKey",
    "SigningKeys",
    "generate_key",
    "open_key",
    "seal_key",
]

SigningAlgorithm = Literal["ES256", "RS256"]
#: AS-FMT-001/AS-FMT-002: the only algorithms the service signs (and accepts its own
#: tokens) with. Never ``none``, never an HMAC algorithm.
SIGNING_ALGORITHMS: Final[tuple[SigningAlgorithm, ...]] = ("ES256", "RS256")
KeyState = Literal["next", "current", "retired", "removed"]

#: AS-JWKS-003: at least 300 seconds between publication and first use.
DEFAULT_PUBLISH_AHEAD: Final = 300
_AAD_PREFIX: Final = b"proctor/signing-key/"
#: Members a public JWK must never carry (RFC 7517 §9, RFC 7518 §6.2.2, §6.3.2, §6.4).
PRIVATE_MEMBERS: Final = frozenset(("d", "p", "q", "dp", "dq", "qi", "oth", "k"))


@dataclass(frozen=True)
class KeyRecord:
    """A signing key as stored: public JWK in clear, private key sealed."""

    kid: str
    alg: SigningAlgorithm
    #: The public JWK as published (``kid``, ``use`` = ``sig``, ``alg`` included).
    public_jwk: Mapping[str, Any] = field(hash=False)
    #: ``Sealed.to_bytes()`` of the PKCS#8 DER private key; associated data binds the kid.
    sealed_private_key: bytes = field(repr=False)
    published_at: int
    activates_at: int
    #: Set when the key is believed compromised: it is removed at once (AS-JWKS-004).
    withdrawn_at: int | None = None


class KeyStore(Protocol):
    """Where signing keys live (a shared table in a deployment). Thread-safe."""

    def list_keys(self) -> Sequence[KeyRecord]:
        """Every stored key, in any order."""
        ...

    def add_key(self, record: KeyRecord) -> None:
        """Store a new key; ``ValueError`` if its ``kid`` was ever stored before."""
        ...

    def replace_key(self, record: KeyRecord) -> None:
        """Replace the stored key with the same ``kid`` (used to withdraw it)."""
        ...

    def delete_key(self, kid: str) -> None:
        """Forget a key that can no longer verify any token."""
        ...


class InMemoryKeyStore:
    """A :class:`KeyStore` in process memory (tests, single-process development)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, KeyRecord] = {}
        self._ever: set[str] = set()

    def list_keys(self) -> Sequence[KeyRecord]:
        with self._lock:
            return list(self._keys.values())

    def add_key(self, record: KeyRecord) -> None:
        with self._lock:
            if record.kid in self._ever:
                raise ValueError("a kid names one key forever (AS-JWKS-002)")
            self._ever.add(record.kid)
            self._keys[record.kid] = record

    def replace_key(self, record: KeyRecord) -> None:
        with self._lock:
            if record.kid not in self._keys:
                raise ValueError("no such key")
            self._keys[record.kid] = record

    def delete_key(self, kid: str) -> None:
        with self._lock:
            self._keys.pop(kid, None)


PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class SigningKey:
    """An opened key: what the token signer needs."""

    kid: str
    alg: SigningAlgorithm
    private_key: PrivateKey = field(repr=False)
    #: The same key in joserfc's form, for signing.
    jwk: ECKey | RSAKey = field(repr=False)


def generate_key(alg: SigningAlgorithm, *, rsa_bits: int = 2048) -> PrivateKey:
    """A fresh private key for ``alg``: P-256 for ES256, RSA (>= 2048 bits) for RS256."""
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        if rsa_bits < MIN_RSA_BITS:
            raise ValueError(f"RSA keys have at least {MIN_RSA_BITS} bits (RFC 7518 §3.3)")
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    raise ValueError(f"the service signs with {SIGNING_ALGORITHMS}, not {alg!r}")


def _joserfc_key(private_key: PrivateKey) -> ECKey | RSAKey:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return ECKey.import_key(private_key)
    return RSAKey.import_key(private_key)


def _public_jwk(private_key: PrivateKey, kid: str, alg: SigningAlgorithm) -> dict[str, Any]:
    imported = _joserfc_key(private_key)
    public = {k: v for k, v in imported.as_dict(private=False).items() if k not in PRIVATE_MEMBERS}
    return {**public, "kid": kid, "use": "sig", "alg": alg}


def seal_key(
    private_key: PrivateKey,
    *,
    kid: str,
    alg: SigningAlgorithm,
    envelope: Envelope,
    published_at: int,
    activates_at: int,
) -> KeyRecord:
    """The storable form of a key: the PKCS#8 private key sealed under ``envelope``."""
    if alg == "ES256" and not (
        isinstance(private_key, ec.EllipticCurvePrivateKey)
        and private_key.curve.name == "secp256r1"
    ):
        raise TypeError("ES256 needs a P-256 private key")
    if alg == "RS256" and not isinstance(private_key, rsa.RSAPrivateKey):
        raise TypeError("RS256 needs an RSA private key")
    if activates_at < published_at:
        raise ValueError("a key is published before it signs")
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    sealed = envelope.seal(der, _AAD_PREFIX + kid.encode("utf-8"))
    return KeyRecord(
        kid=kid,
        alg=alg,
        public_jwk=_public_jwk(private_key, kid, alg),
        sealed_private_key=sealed.to_bytes(),
        published_at=published_at,
        activates_at=activates_at,
    )


def open_key(record: KeyRecord, envelope: Envelope) -> SigningKey:
    """Unseal a stored key. Raises :class:`~proctor.reference.encryption.DecryptionError`
    when the record was tampered with, moved to another kid, or the KEK is unknown."""
    der = envelope.open(
        Sealed.from_bytes(record.sealed_private_key), _AAD_PREFIX + record.kid.encode("utf-8")
    )
    private_key = serialization.load_der_private_key(der, password=None)
    if not isinstance(private_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TypeError("a signing key is EC or RSA")
    if (record.alg == "ES256") != isinstance(private_key, ec.EllipticCurvePrivateKey):
        raise TypeError("the stored key does not fit its algorithm")
    return SigningKey(record.kid, record.alg, private_key, _joserfc_key(private_key))


@dataclass(frozen=True)
class _View:
    """The key set at one instant."""

    published: tuple[KeyRecord, ...]
    current: KeyRecord | None
    states: Mapping[str, KeyState]


class SigningKeys:
    """The service's key ring over a :class:`KeyStore` (spec AS-JWKS-001 to AS-JWKS-004).

    ``max_token_lifetime`` must be at least the longest lifetime of any token the service
    signs (TX-EXP-003 caps it at 3600 seconds); ``leeway`` is the clock skew relying
    parties allow. ``reload_interval`` lets a node reuse what it read from the store for a
    few seconds (0: read it on every call).
    """

    def __init__(
        self,
        store: KeyStore,
        envelope: Envelope,
        clock: Clock,
        *,
        algorithm: SigningAlgorithm = "ES256",
        publish_ahead: int = DEFAULT_PUBLISH_AHEAD,
        max_token_lifetime: int = 3600,
        leeway: int = 30,
        rsa_bits: int = 2048,
        reload_interval: float = 0.0,
    ) -> None:
        if algorithm not in SIGNING_ALGORITHMS:
            raise ValueError(f"algorithm is one of {SIGNING_ALGORITHMS}")
        if publish_ahead < DEFAULT_PUBLISH_AHEAD:
            raise ValueError("publish_ahead is at least 300 seconds (AS-JWKS-003)")
        if not 0 < max_token_lifetime <= 3600:
            raise ValueError("max_token_lifetime is 1-3600 seconds (TX-EXP-003)")
        if leeway < 0 or reload_interval < 0:
            raise ValueError("leeway and reload_interval are not negative")
        if algorithm == "RS256" and rsa_bits < MIN_RSA_BITS:
            raise ValueError(f"RSA keys have at least {MIN_RSA_BITS} bits")
        self._store = store
        self._envelope = envelope
        self._clock = clock
        self.algorithm: SigningAlgorithm = algorithm
        self.publish_ahead = publish_ahead
        self.max_token_lifetime = max_token_lifetime
        self.leeway = leeway
        self._rsa_bits = rsa_bits
        self._reload_interval = reload_interval
        self._lock = threading.Lock()
        self._records: tuple[KeyRecord, ...] = ()
        self._read_at = -math.inf
        self._opened: dict[str, SigningKey] = {}
        self._verifiers: dict[tuple[str, str], Verifier] = {}

    # -- reading --------------------------------------------------------------------------

    def _load(self, now: float, *, fresh: bool = False) -> tuple[KeyRecord, ...]:
        with self._lock:
            if fresh or now - self._read_at >= self._reload_interval or now < self._read_at:
                self._records = tuple(self._store.list_keys())
                self._read_at = now
            return self._records

    def _view(self, now: float, *, fresh: bool = False) -> _View:
        # Withdrawn keys take part in the ordering (a key that a withdrawn key replaced
        # stays retired) but are never published or used.
        records = sorted(
            self._load(now, fresh=fresh), key=lambda r: (r.activates_at, r.published_at, r.kid)
        )
        states: dict[str, KeyState] = {}
        published: list[KeyRecord] = []
        current: KeyRecord | None = None
        for position, record in enumerate(records):
            if record.withdrawn_at is not None or record.published_at > now:
                states[record.kid] = "removed"
                continue
            if record.activates_at > now:
                states[record.kid] = "next"
                published.append(record)
                continue
            # Retired when the first later key activated; published until every token
            # it could have signed has expired.
            successors = [r.activates_at for r in records[position + 1 :] if r.activates_at <= now]
            if not successors:
                states[record.kid] = "current"
                current = record
            elif now < min(successors) + self.max_token_lifetime + self.leeway:
                states[record.kid] = "retired"
            else:
                states[record.kid] = "removed"
                continue
            published.append(record)
        return _View(tuple(published), current, states)

    def state(self, kid: str) -> KeyState:
        """``next``, ``current``, ``retired`` or ``removed`` (also for unknown kids)."""
        return self._view(self._clock.now()).states.get(kid, "removed")

    def jwks(self) -> dict[str, Any]:
        """The JWK Set to publish (AS-JWKS-001): public keys only, each with ``kid``,
        ``use`` = ``sig`` and ``alg``; next, current and retired keys."""
        view = self._view(self._clock.now())
        return {"keys": [dict(record.public_jwk) for record in view.published]}

    @property
    def max_age(self) -> int:
        """The ``Cache-Control: max-age`` for the JWKS response: never more than the time a
        key is published before it signs (AS-JWKS-003)."""
        return self.publish_ahead

    def signing_key(self) -> SigningKey:
        """The current key. ``RuntimeError`` if there is none (call :meth:`bootstrap`)."""
        now = self._clock.now()
        current = self._view(now).current
        if current is None:
            current = self._view(now, fresh=True).current
            if current is None:
                raise RuntimeError("no current signing key: bootstrap the key ring first")
        return self._open(current)

    def verifier(self, kid: str, alg: str) -> Verifier | None:
        """A verifier for a published key with this ``kid`` and ``alg``, else ``None``.

        Only the service's own algorithms qualify, and only with the key's own ``alg``
        (RFC 8725 §3.1). A key that is removed or withdrawn verifies nothing.
        """
        if alg not in SIGNING_ALGORITHMS:
            return None
        view = self._view(self._clock.now())
        for record in view.published:
            if record.kid == kid:
                if record.alg != alg:
                    return None
                return self._verifier(record)
        return None

    def _open(self, record: KeyRecord) -> SigningKey:
        with self._lock:
            key = self._opened.get(record.kid)
        if key is None:
            key = open_key(record, self._envelope)
            with self._lock:
                self._opened[record.kid] = key
        return key

    def _verifier(self, record: KeyRecord) -> Verifier | None:
        index = (record.kid, record.alg)
        with self._lock:
            verify = self._verifiers.get(index)
        if verify is None:
            imported = (ECKey if record.alg == "ES256" else RSAKey).import_key(
                dict(record.public_jwk)
            )
            verify = verifier_for(record.alg, imported.public_key)
            if verify is None:
                return None
            with self._lock:
                self._verifiers[index] = verify
        return verify

    # -- changing ---------------------------------------------------------------------------

    def _new_record(self, published_at: int, activates_at: int) -> KeyRecord:
        taken = {record.kid for record in self._store.list_keys()}
        kid = secrets.token_urlsafe(16)
        while kid in taken:  # pragma: no cover - 128 random bits
            kid = secrets.token_urlsafe(16)
        private_key = generate_key(self.algorithm, rsa_bits=self._rsa_bits)
        return seal_key(
            private_key,
            kid=kid,
            alg=self.algorithm,
            envelope=self._envelope,
            published_at=published_at,
            activates_at=activates_at,
        )

    def bootstrap(self) -> KeyRecord:
        """Make sure a key signs now; on a fresh store, create one that signs at once.

        Returns the current key's record. Idempotent.
        """
        now = self._clock.now()
        view = self._view(now, fresh=True)
        if view.current is not None:
            return view.current
        record = self._new_record(int(now), int(now))
        self._store.add_key(record)
        self._load(now, fresh=True)
        return record

    def rotate(self) -> KeyRecord:
        """Publish the next key now; it starts signing ``publish_ahead`` seconds later.

        If a next key is already published, that one is returned and nothing changes, so
        a periodic job can call this freely. The audit operation is ``signing_key.rotate``.
        """
        now = self._clock.now()
        view = self._view(now, fresh=True)
        pending = [r for r in view.published if view.states[r.kid] == "next"]
        if pending:
            return pending[-1]
        record = self._new_record(int(now), math.ceil(now) + self.publish_ahead)
        self._store.add_key(record)
        self._load(now, fresh=True)
        return record

    def withdraw(self, kid: str) -> None:
        """Remove a key believed compromised, at once; tokens it signed stop verifying.

        If it was the current key, no key signs until :meth:`bootstrap` creates one that
        signs at once (an emergency: relying parties will meet an unknown kid and refetch).
        """
        now = int(self._clock.now())
        for record in self._store.list_keys():
            if record.kid == kid:
                self._store.replace_key(replace(record, withdrawn_at=now))
                self._load(now, fresh=True)
                return
        raise ValueError("no such key")

    def prune(self) -> list[str]:
        """Delete stored keys that are removed (no token they signed can still be valid).

        Their kids stay taken (AS-JWKS-002 is the store's duty: see :meth:`KeyStore.add_key`).
        """
        now = self._clock.now()
        view = self._view(now, fresh=True)
        # Only a prefix in activation order: a later key's activation is what keeps an
        # earlier key retired, so it is forgotten only after every earlier key.
        gone: list[str] = []
        for record in sorted(self._records, key=lambda r: (r.activates_at, r.published_at, r.kid)):
            if view.states.get(record.kid) != "removed" or record.published_at > now:
                break
            gone.append(record.kid)
        for kid in gone:
            self._store.delete_key(kid)
        self._load(now, fresh=True)
        return gone
