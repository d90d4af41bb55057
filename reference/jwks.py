"""The issuer's signing keys: discovery, JWKS fetching and the key cache.

A :class:`KeySource` gives the authorizer an immutable :class:`KeySet`: the issuer the
tokens must carry and an index from ``(kid, alg)`` to a bound verifier. Looking a key up
is one dict access; a key appears in the index only for the algorithms it can serve.

:class:`DiscoveryKeySource` reads the IdP's metadata through an injected
:class:`httpx.Client`:

- the discovery document (OpenID Connect Discovery 1.0 §4, or RFC 8414 §3) must name the
  expected issuer *exactly* (OIDC Discovery §4.3, RFC 8414 §3.3, INB-DISC-002): the
  configured ``issuer``, or else the one the discovery URL names; its ``jwks_uri`` must
  be ``https`` (INB-DISC-001);
- both documents are cached for the response's ``Cache-Control: max-age`` (RFC 9111
  §5.2.2.1) minus ``Age``, clamped between a floor (60 s) and a ceiling (24 h); without
  ``max-age``, or with ``no-cache``/``no-store``, for the floor (INB-JWKS-001);
- a token whose ``kid`` is unknown triggers at most one refresh per
  ``refresh_interval`` (default 60 s) across all threads: a lock plus a
  "someone-already-refreshed" check, so a burst of such tokens costs one fetch
  (INB-JWKS-002);
- when the IdP fails (5xx, timeout, transport error, malformed JSON, a document that
  breaks the rules above), the last good keys keep being served, without time limit,
  and the failure is recorded in :class:`JwksStats`; retries wait ``refresh_interval``
  (INB-JWKS-003). Before any good copy exists the key set is empty, so tokens are
  denied ``unknown_key``: an IdP failure never becomes an error of the caller;
- fetches time out after 10 s, bodies over 1 MiB are refused, redirects are not
  followed (INB-JWKS-004).

A key is usable only if its ``kty``/curve fits the algorithm (no RSA key ever verifies an
``ES256`` token, and symmetric keys are never imported), its own ``alg`` (when present)
is that algorithm, its ``use`` (when present) is ``sig`` and its ``key_ops`` (when
present) include ``verify`` (RFC 7517 §4.2-4.4, RFC 8725 §3.1). An Entra key's
``issuer`` member is kept so the authorizer can bind the key to its tenant.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from proctor.reference.authorizer_config import (
    ALLOWED_ALGORITHMS,
    AuthorizerConfig,
    check_url,
    expected_issuer_from_discovery_url,
)
from proctor.reference.clock import Clock
from proctor.reference.compact_jws import MIN_RSA_BITS, Verifier, verifier_for
from proctor.reference.offload import may_block

__all__ = [
    "DiscoveryKeySource",
    "JwksStats",
    "KeySet",
    "KeySource",
    "StaticKeySource",
    "VerificationKey",
    "cache_lifetime",
    "import_jwks",
]

_KEY_TYPES: Final[dict[str, type[RSAKey] | type[ECKey] | type[OKPKey]]] = {
    "RSA": RSAKey,
    "EC": ECKey,
    "OKP": OKPKey,
}


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One JWK bound to one algorithm."""

    kid: str | None
    alg: str
    verify: Verifier = field(repr=False, compare=False)
    #: Entra's per-key ``issuer`` member (possibly the ``{tenantid}`` template).
    issuer: str | None = None


@dataclass(frozen=True, slots=True)
class KeySet:
    """An immutable snapshot of an issuer's usable keys."""

    #: The issuer tokens must carry (for Entra possibly the ``{tenantid}`` template).
    issuer: str
    index: Mapping[tuple[str | None, str], VerificationKey]
    #: Changes whenever the key material changes (cached decisions check it).
    generation: int = 0
    expires_at: float = float("inf")


class KeySource(Protocol):
    """Where an authorizer gets keys. Implementations are thread-safe."""

    def current(self, now: float) -> KeySet:
        """The key set to use now (possibly empty); never raises."""
        ...

    def refresh_unknown_kid(self, seen: KeySet, now: float) -> KeySet:
        """Called after ``seen`` had no key for a token: maybe refresh, return the newest."""
        ...


def _modulus_bits(n: Any) -> int:
    if not isinstance(n, str) or not n.isascii():
        return 0
    try:
        raw = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except ValueError:
        return 0
    return int.from_bytes(raw, "big").bit_length()


def import_jwks(document: Mapping[str, Any]) -> tuple[list[VerificationKey], list[str]]:
    """The usable ``(key, alg)`` pairs of a JWKS, and why the other keys were skipped.

    Raises ``ValueError`` when ``document`` is not a JWK Set (RFC 7517 §5).
    """
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise ValueError('a JWK Set has a "keys" array')
    usable: list[VerificationKey] = []
    skipped: list[str] = []
    for position, jwk in enumerate(keys):
        label = f"keys[{position}]"
        if not isinstance(jwk, dict):
            skipped.append(f"{label}: not an object")
            continue
        kid, own_alg, use, ops = (jwk.get(n) for n in ("kid", "alg", "use", "key_ops"))
        issuer = jwk.get("issuer")
        if kid is not None and not isinstance(kid, str):
            skipped.append(f"{label}: kid is not a string")
            continue
        if use is not None and use != "sig":
            skipped.append(f"{label}: use is {use!r}")
            continue
        if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
            skipped.append(f"{label}: key_ops exclude verify")
            continue
        if own_alg is not None and (
            not isinstance(own_alg, str) or own_alg not in ALLOWED_ALGORITHMS
        ):
            skipped.append(f"{label}: alg {own_alg!r} is not an asymmetric JWS algorithm")
            continue
        kty = jwk.get("kty")
        key_cls = _KEY_TYPES.get(kty) if isinstance(kty, str) else None
        if key_cls is None:  # "oct" and anything unknown (RFC 7517 §5: ignore)
            skipped.append(f"{label}: kty {jwk.get('kty')!r} is not used")
            continue
        if kty == "RSA" and _modulus_bits(jwk.get("n")) < MIN_RSA_BITS:
            skipped.append(f"{label}: RSA modulus under {MIN_RSA_BITS} bits")  # RFC 7518 §3.3
            continue
        public = {k: v for k, v in jwk.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
        try:
            native = key_cls.import_key(public).public_key
        except (JoseError, ValueError, TypeError) as exc:
            skipped.append(f"{label}: {type(exc).__name__}")
            continue
        algs = (own_alg,) if own_alg is not None else sorted(ALLOWED_ALGORITHMS)
        bound = 0
        for alg in algs:
            verify = verifier_for(alg, native)
            if verify is not None:
                usable.append(
                    VerificationKey(kid, alg, verify, issuer if isinstance(issuer, str) else None)
                )
                bound += 1
        if not bound:
            skipped.append(f"{label}: no allowed algorithm fits this key")
    return usable, skipped


def _index(keys: Iterable[VerificationKey]) -> dict[tuple[str | None, str], VerificationKey]:
    """``(kid, alg) -> key``; a token without ``kid`` finds the only key for its ``alg``."""
    index: dict[tuple[str | None, str], VerificationKey] = {}
    by_alg: dict[str, list[VerificationKey]] = {}
    for key in keys:
        if key.kid is not None:
            index.setdefault((key.kid, key.alg), key)
        by_alg.setdefault(key.alg, []).append(key)
    for alg, candidates in by_alg.items():
        if len(candidates) == 1:
            index[(None, alg)] = candidates[0]
    return index


def _fingerprint(document: Mapping[str, Any]) -> str:
    return json.dumps(document.get("keys"), sort_keys=True, separators=(",", ":"))


class StaticKeySource:
    """A fixed JWKS: for tests, benchmarks and keys the service already holds."""

    def __init__(self, jwks: Mapping[str, Any], issuer: str) -> None:
        keys, _ = import_jwks(jwks)
        self._keyset = KeySet(issuer=issuer, index=_index(keys))

    def current(self, now: float) -> KeySet:
        return self._keyset

    def refresh_unknown_kid(self, seen: KeySet, now: float) -> KeySet:
        return self._keyset


@dataclass
class JwksStats:
    """Counters of one key source, for ``/metrics``."""

    discovery_fetches: int = 0
    jwks_fetches: int = 0
    fetch_failures: int = 0
    unknown_kid_refreshes: int = 0
    unknown_kid_refreshes_suppressed: int = 0
    skipped_keys: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    last_success_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "discovery_fetches": self.discovery_fetches,
            "jwks_fetches": self.jwks_fetches,
            "fetch_failures": self.fetch_failures,
            "unknown_kid_refreshes": self.unknown_kid_refreshes,
            "unknown_kid_refreshes_suppressed": self.unknown_kid_refreshes_suppressed,
            "skipped_keys": self.skipped_keys,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "last_success_at": self.last_success_at,
        }


def cache_lifetime(headers: httpx.Headers, *, floor: float, ceiling: float) -> float:
    """Seconds a response may be reused: ``max-age`` minus ``Age`` (RFC 9111 §4.2.1, §5.1).

    Clamped to ``[floor, ceiling]``; no ``max-age``, ``no-store`` or ``no-cache`` give the
    floor (INB-JWKS-001: even then the service must not fetch on every request).
    """
    lifetime = floor
    directives = [d.strip().lower() for d in headers.get("cache-control", "").split(",")]
    for directive in directives:
        name, _, value = directive.partition("=")
        name = name.strip()
        if name in ("no-store", "no-cache"):
            return floor
        if name == "max-age":
            digits = value.strip().strip('"')
            lifetime = int(digits) if _is_digits(digits) else floor
    age = headers.get("age", "0").strip()
    if _is_digits(age):
        lifetime -= int(age)
    return min(max(lifetime, floor), ceiling)


def _is_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


class _FetchFailed(Exception):
    pass


#: ``hook(document, outcome)``: ``document`` is ``discovery`` or ``jwks``; ``outcome`` is
#: ``ok`` or ``error``. Wire it to a Prometheus counter.
FetchHook = Callable[[str, str], None]


class DiscoveryKeySource:
    """Keys of one IdP, found through its discovery document and cached.

    ``expected_issuer`` is the configured issuer; without it, the one the discovery URL
    names. Thread-safe; fetches happen in the calling thread.
    """

    def __init__(
        self,
        discovery_url: str,
        *,
        http: httpx.Client,
        clock: Clock,
        expected_issuer: str | None = None,
        refresh_interval: float = 60.0,
        min_ttl: float = 60.0,
        max_ttl: float = 86_400.0,
        timeout: float = 10.0,
        max_document_bytes: int = 1024 * 1024,
        allow_loopback_http: bool = False,
        on_fetch: FetchHook | None = None,
    ) -> None:
        check_url(discovery_url, "discovery_url", allow_loopback_http=allow_loopback_http)
        if not 0 < min_ttl <= max_ttl:
            raise ValueError("need 0 < min_ttl <= max_ttl")
        if refresh_interval <= 0 or timeout <= 0:
            raise ValueError("refresh_interval and timeout must be positive")
        self._url = discovery_url
        self._derived_issuer = expected_issuer_from_discovery_url(discovery_url)
        self._configured_issuer = expected_issuer
        self._http = http
        self._clock = clock
        self._refresh_interval = refresh_interval
        self._min_ttl, self._max_ttl = min_ttl, max_ttl
        self._timeout = timeout
        self._max_bytes = max_document_bytes
        self._allow_loopback_http = allow_loopback_http
        self._on_fetch = on_fetch
        self.stats = JwksStats()
        self._lock = threading.Lock()
        self._keyset: KeySet | None = None
        self._empty = KeySet(expected_issuer or self._derived_issuer, {}, 0, -float("inf"))
        self._fingerprint: str | None = None
        self._issuer: str | None = None
        self._jwks_uri: str | None = None
        self._discovery_expires_at = 0.0
        self._last_attempt = -float("inf")
        self._retry_at = -float("inf")

    @classmethod
    def from_config(
        cls, config: AuthorizerConfig, *, http: httpx.Client, clock: Clock, **options: Any
    ) -> DiscoveryKeySource:
        return cls(
            config.discovery_url,
            http=http,
            clock=clock,
            expected_issuer=config.issuer,
            **options,
        )

    # -- KeySource ---------------------------------------------------------------------
    def current(self, now: float) -> KeySet:
        keyset = self._keyset
        if keyset is not None and now < keyset.expires_at:
            return keyset
        if keyset is None:
            if now < self._retry_at:
                return self._empty  # the last attempt failed; wait before the next one
            may_block("the first JWKS fetch")
            with self._lock:
                if self._keyset is None and now >= self._retry_at:
                    self._load(now)
                return self._keyset or self._empty
        # Expired: one thread refreshes, the others keep using the stale set meanwhile.
        if now >= self._retry_at and self._lock.acquire(blocking=False):
            try:
                if self._keyset is keyset:
                    may_block("a JWKS refresh")
                    self._load(now)
            finally:
                self._lock.release()
        return self._keyset or keyset

    def refresh_unknown_kid(self, seen: KeySet, now: float) -> KeySet:
        may_block("a JWKS refresh for an unknown kid")
        with self._lock:
            latest = self._keyset or self._empty
            if latest is not seen:
                return latest  # another thread refreshed while we waited
            if now - self._last_attempt < self._refresh_interval:
                self.stats.unknown_kid_refreshes_suppressed += 1
                return latest
            self.stats.unknown_kid_refreshes += 1
            self._load(now)
            return self._keyset or self._empty

    # -- fetching ------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Fetch now (e.g. when an authorizer is created); True if keys were loaded."""
        with self._lock:
            return self._load(self._clock.now())

    def _load(self, now: float) -> bool:
        """Fetch discovery (when due) and the JWKS; on failure keep the old keys."""
        self._last_attempt = now
        try:
            if self._jwks_uri is None or now >= self._discovery_expires_at:
                try:
                    self._discover(now)
                except _FetchFailed as exc:
                    if self._jwks_uri is None:
                        raise
                    self._record_failure(now, str(exc))  # keep the known jwks_uri
            if self._jwks_uri is None or self._issuer is None:  # pragma: no cover
                raise _FetchFailed("no discovery document")
            document, lifetime = self._get_json(self._jwks_uri, "jwks")
            keys, skipped = import_jwks(document)
            self.stats.skipped_keys = len(skipped)
            if not keys:
                raise _FetchFailed("the JWKS has no usable key")
        except (_FetchFailed, ValueError) as exc:
            self._record_failure(now, str(exc))
            self._retry_at = now + self._refresh_interval
            return False
        fingerprint = _fingerprint(document)
        generation = self._keyset.generation if self._keyset is not None else 0
        if fingerprint != self._fingerprint:
            generation += 1
        self._fingerprint = fingerprint
        self._keyset = KeySet(self._issuer, _index(keys), generation, now + lifetime)
        self.stats.last_success_at = now
        self._retry_at = -float("inf")
        return True

    def _record_failure(self, now: float, error: str) -> None:
        self.stats.fetch_failures += 1
        self.stats.last_error = error
        self.stats.last_error_at = now

    def _discover(self, now: float) -> None:
        document, lifetime = self._get_json(self._url, "discovery")
        issuer = document.get("issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
            raise _FetchFailed("discovery document lacks issuer or jwks_uri")
        self._check_issuer(issuer)
        try:
            check_url(jwks_uri, "jwks_uri", allow_loopback_http=self._allow_loopback_http)
        except ValueError as exc:
            raise _FetchFailed(str(exc)) from exc
        self._issuer, self._jwks_uri = issuer, jwks_uri
        self._discovery_expires_at = now + lifetime

    def _check_issuer(self, issuer: str) -> None:
        """The document names the expected issuer, identically (INB-DISC-002).

        RFC 8414 §3.3, OpenID Connect Discovery 1.0 §4.3. Entra's multi-tenant metadata
        names the template ``https://login.microsoftonline.com/{tenantid}/v2.0``: such an
        authorizer configures that template as its issuer, and the template is compared
        as it is; tokens are then checked with their own ``tid`` (INB-ENTRA-001).
        """
        expected = self._configured_issuer or self._derived_issuer
        if issuer != expected:
            raise _FetchFailed("the discovery document names another issuer")

    def _get_json(self, url: str, document: str) -> tuple[dict[str, Any], float]:
        if document == "jwks":
            self.stats.jwks_fetches += 1
        else:
            self.stats.discovery_fetches += 1
        try:
            with self._http.stream(
                "GET",
                url,
                headers={"Accept": "application/json"},
                timeout=self._timeout,
                follow_redirects=False,
            ) as response:
                if response.status_code != 200:
                    raise _FetchFailed(f"{document}: HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise _FetchFailed(f"{document}: larger than {self._max_bytes} bytes")
                headers = response.headers
            value = json.loads(bytes(body))
            if not isinstance(value, dict):
                raise _FetchFailed(f"{document}: not a JSON object")
        except httpx.HTTPError as exc:
            self._report(document, "error")
            raise _FetchFailed(f"{document}: {type(exc).__name__}") from exc
        except (ValueError, RecursionError) as exc:
            self._report(document, "error")
            raise _FetchFailed(f"{document}: malformed JSON") from exc
        except _FetchFailed:
            self._report(document, "error")
            raise
        self._report(document, "ok")
        lifetime = cache_lifetime(headers, floor=self._min_ttl, ceiling=self._max_ttl)
        return value, lifetime

    def _report(self, document: str, outcome: str) -> None:
        if self._on_fetch is not None:
            self._on_fetch(document, outcome)
