"""The inbound authorizer: is this IdP token acceptable here, and whose is it?

:meth:`Authorizer.decide` answers with a :class:`Decision` (allow with the normalised
identity, or deny with one reason code) and never raises because of the token or the
state of the IdP (INB-DEC-003). The checks run in the order of spec Table 2.2 and the
first failure is the reason (INB-ORDER-001):

0. the requested kind is one of the configured ``token_kinds`` → ``wrong_token_kind``;
1. size (more than 64 KiB, or not ASCII) and strict compact parsing
   (:mod:`proctor.reference.compact_jws`) → ``malformed``;
2. ``alg`` in the allow-list; ``none`` in any spelling and every HMAC algorithm never
   are (RFC 8725 §3.1) → ``alg_not_allowed``;
3. ``typ`` among the kind's configured values (RFC 8725 §3.11, RFC 7515 §4.1.9) →
   ``wrong_token_kind``;
4. the key for ``(kid, alg)`` from the issuer's JWKS, refreshing at most once per
   interval on a miss; ``jku``/``x5u``/``jwk``/``x5c`` are never used (RFC 8725 §3.10)
   → ``unknown_key``;
5. the signature (RFC 7515 §5.2) → ``bad_signature``. No claim is read before this;
6. registered claims present and well-typed (INB-SHAPE-001) → ``malformed``;
7. ``iss`` identical to the expected issuer (RFC 9068 §4, RFC 8725 §3.8); for Entra's
   ``{tenantid}`` template the token's ``tid`` (a GUID) is substituted; a key with its
   own ``issuer`` member must match too, so one tenant's key never validates another
   tenant's token → ``wrong_issuer``;
8. ``exp`` (RFC 7519 §4.1.4): now ≥ exp + leeway → ``expired``;
9. ``nbf``/``iat`` beyond now + leeway → ``not_yet_valid``;
10. kind claims (RFC 8725 §3.12, :func:`~proctor.reference.claims.kind_claims_ok`) →
    ``wrong_token_kind``;
11. audience (RFC 8725 §3.9): ``aud`` intersects ``allowed_audiences`` (exact strings;
    the ``entra`` profile ignores one trailing ``/``); Cognito access tokens have no
    ``aud`` and Cognito ID tokens are checked against ``allowed_clients`` →
    ``wrong_audience``;
12. the client (``client_id``/``azp``/``appid``/``cid``; for ID tokens ``azp`` or the
    single ``aud``) in ``allowed_clients`` when that is non-empty → ``client_not_allowed``;
13. a scope from ``scp``/``scope`` in ``allowed_scopes`` when that is non-empty →
    ``scope_not_allowed``;
14. each custom claim rule, in order → ``claim_rule_failed:<claim>``.

**How an ID token is kept out of an access-token check.** The caller names the kind it
requires. The kind must be configured (step 0); the token's ``typ`` must be one of that
kind's configured values (step 3: ``at+jwt`` vs. ``JWT`` separates them whenever the IdP
types its tokens); and its content must agree (step 10): an access token never carries
``nonce``/``at_hash``/``c_hash`` or a ``token_use`` other than ``access``, an ID token never
carries ``scp``/``scope``/``cid``/``client_id`` or a ``token_use`` other than ``id``, and
each vendor profile adds its marker (Cognito ``token_use``, Okta ``cid``, Entra
``azp``/``appid`` on access tokens). Last, an ID token's ``aud`` is a client id, which an
access-token authorizer does not list in ``allowed_audiences``.

**Decision cache** (INB-CACHE-001/002). Only ``allow`` decisions are cached, keyed by
SHA-256 of the token and the requested kind, in a bounded LRU per authorizer. An entry
is used only while ``now < exp`` of the token and for at most ``cache_max_age`` seconds
(default 300), only with the configuration version and key-set generation it was
computed with: a configuration change, or a JWKS whose keys changed, invalidates it.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple

import httpx

from proctor.reference.authorizer_config import (
    TENANT_PLACEHOLDER,
    AuthorizerConfig,
    TokenKind,
    normalize_typ,
)
from proctor.reference.claims import (
    PROFILES,
    ClaimProfile,
    ClaimRule,
    Identity,
    access_token_client,
    compile_rule,
    id_token_client,
    kind_claims_ok,
    read_only,
    scopes_of,
    well_typed,
)
from proctor.reference.clock import Clock
from proctor.reference.compact_jws import MalformedJws, parse_compact
from proctor.reference.jwks import DiscoveryKeySource, KeySource, VerificationKey

__all__ = [
    "MAX_TOKEN_LENGTH",
    "REASONS",
    "Authorizer",
    "Decision",
    "Reason",
]

#: Longer tokens are ``malformed`` unread (INB-PARSE-001, JWT-17).
MAX_TOKEN_LENGTH: Final = 65_536

Reason = Literal[
    "ok",
    "expired",
    "not_yet_valid",
    "bad_signature",
    "unknown_key",
    "alg_not_allowed",
    "wrong_issuer",
    "wrong_audience",
    "client_not_allowed",
    "scope_not_allowed",
    "wrong_token_kind",
    "malformed",
]
#: Every reason code except the parametrised ``claim_rule_failed:<claim>``.
REASONS: Final[tuple[str, ...]] = Reason.__args__  # type: ignore[attr-defined]

_GUID: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one token: allow with the identity, or deny with a reason code."""

    allowed: bool
    #: ``ok``, one of :data:`REASONS`, or ``claim_rule_failed:<claim>``.
    reason: str
    identity: Identity | None = None
    #: On a deny after the signature and the issuer were verified: ``(iss, sub)``, for the
    #: audit log only (AUD-EVT-003); never in the response (INB-DEC-005).
    verified_user: tuple[str, str] | None = None

    def __bool__(self) -> bool:
        raise TypeError("a Decision is not a boolean: test decision.allowed")

    def as_dict(self) -> dict[str, Any]:
        """The body of a ``POST /v1/decisions`` response (INB-DEC-004, INB-DEC-005)."""
        if self.identity is None:
            return {"decision": "allow" if self.allowed else "deny", "reason": self.reason}
        return {"decision": "allow", "reason": self.reason, "identity": self.identity.as_dict()}


_DENY: Final[dict[str, Decision]] = {reason: Decision(False, reason) for reason in REASONS}
MALFORMED: Final = _DENY["malformed"]
ALG_NOT_ALLOWED: Final = _DENY["alg_not_allowed"]
UNKNOWN_KEY: Final = _DENY["unknown_key"]
BAD_SIGNATURE: Final = _DENY["bad_signature"]
EXPIRED: Final = _DENY["expired"]
NOT_YET_VALID: Final = _DENY["not_yet_valid"]
WRONG_ISSUER: Final = _DENY["wrong_issuer"]
WRONG_TOKEN_KIND: Final = _DENY["wrong_token_kind"]
WRONG_AUDIENCE: Final = _DENY["wrong_audience"]
CLIENT_NOT_ALLOWED: Final = _DENY["client_not_allowed"]
SCOPE_NOT_ALLOWED: Final = _DENY["scope_not_allowed"]
_KIND_BYTE: Final = {"access_token": b"a", "id_token": b"i"}


def _audience_set(config: AuthorizerConfig) -> frozenset[str]:
    """Accepted ``aud`` values; Entra v1 URIs also with/without one trailing ``/``."""
    accepted = set(config.allowed_audiences)
    if config.idp_profile == "entra":  # INB-ENTRA-003
        for audience in config.allowed_audiences:
            accepted.add(audience + "/")
            if audience.endswith("/"):
                accepted.add(audience[:-1])
    return frozenset(accepted)


@dataclass(frozen=True, slots=True)
class _Plan:
    """A configuration compiled for the hot path."""

    config: AuthorizerConfig
    version: int
    key_source: KeySource
    algorithms: frozenset[str]
    leeway: int
    typs: Mapping[str, frozenset[str | None]]
    audiences: frozenset[str]
    clients: frozenset[str]
    scopes: frozenset[str]
    rules: tuple[tuple[ClaimRule, Decision], ...]
    profile: ClaimProfile
    entra: bool
    cognito: bool

    @classmethod
    def build(cls, config: AuthorizerConfig, key_source: KeySource, version: int) -> _Plan:
        return cls(
            config=config,
            version=version,
            key_source=key_source,
            algorithms=frozenset(config.algorithms),
            leeway=config.leeway_seconds,
            typs=config.typ_rules(),
            audiences=_audience_set(config),
            clients=frozenset(config.allowed_clients),
            scopes=frozenset(config.allowed_scopes),
            rules=tuple(
                (compile_rule(rule), Decision(False, f"claim_rule_failed:{rule.claim}"))
                for rule in config.custom_claims
            ),
            profile=PROFILES[config.idp_profile],
            entra=config.idp_profile == "entra",
            cognito=config.idp_profile == "cognito",
        )


class _Entry(NamedTuple):
    decision: Decision
    expires_at: float
    version: int
    generation: int


class _DecisionCache:
    """A bounded, thread-safe LRU of ``allow`` decisions."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()

    def get(self, key: bytes, now: float, version: int, generation: int) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if (
                entry is not None
                and now < entry.expires_at
                and entry.version == version
                and entry.generation == generation
            ):
                self._entries.move_to_end(key)
                self.hits += 1
                return entry
            if entry is not None:
                del self._entries[key]
            self.misses += 1
            return None

    def put(self, key: bytes, entry: _Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class Authorizer:
    """Decides on IdP tokens for one :class:`AuthorizerConfig`. Thread-safe, synchronous.

    ``cache_size`` bounds the decision cache (``0`` turns it off); ``cache_max_age`` caps
    the life of an entry in seconds (it never outlives the token's ``exp`` either).
    """

    def __init__(
        self,
        config: AuthorizerConfig,
        key_source: KeySource,
        clock: Clock,
        *,
        cache_size: int = 10_000,
        cache_max_age: float = 300.0,
    ) -> None:
        if not isinstance(config, AuthorizerConfig):
            raise TypeError("config must be an AuthorizerConfig")
        if cache_size < 0 or cache_max_age <= 0:
            raise ValueError("cache_size must be >= 0 and cache_max_age > 0")
        self._clock = clock
        self._plan = _Plan.build(config, key_source, 1)
        self._cache = _DecisionCache(cache_size) if cache_size else None
        self._cache_max_age = cache_max_age
        self._lock = threading.Lock()

    @classmethod
    def from_config(
        cls,
        config: AuthorizerConfig,
        *,
        http: httpx.Client,
        clock: Clock,
        cache_size: int = 10_000,
        cache_max_age: float = 300.0,
        **key_options: Any,
    ) -> Authorizer:
        """An authorizer whose keys come from the config's discovery URL.

        ``key_options`` go to :class:`~proctor.reference.jwks.DiscoveryKeySource`
        (``refresh_interval``, ``min_ttl``, ``max_ttl``, ``timeout``,
        ``allow_loopback_http``, ``on_fetch``...).
        """
        source = DiscoveryKeySource.from_config(config, http=http, clock=clock, **key_options)
        return cls(config, source, clock, cache_size=cache_size, cache_max_age=cache_max_age)

    @property
    def config(self) -> AuthorizerConfig:
        return self._plan.config

    @property
    def key_source(self) -> KeySource:
        return self._plan.key_source

    def reconfigure(self, config: AuthorizerConfig, key_source: KeySource | None = None) -> None:
        """Apply a replaced configuration; no decision cached before survives it.

        Pass a new ``key_source`` when ``discovery_url``, ``issuer`` or ``idp_profile``
        changed.
        """
        if not isinstance(config, AuthorizerConfig):
            raise TypeError("config must be an AuthorizerConfig")
        with self._lock:
            plan = self._plan
            self._plan = _Plan.build(config, key_source or plan.key_source, plan.version + 1)
            if self._cache is not None:
                self._cache.clear()

    def cache_stats(self) -> dict[str, int]:
        cache = self._cache
        if cache is None:
            return {"size": 0, "capacity": 0, "hits": 0, "misses": 0}
        return {
            "size": len(cache),
            "capacity": cache.size,
            "hits": cache.hits,
            "misses": cache.misses,
        }

    # -- deciding --------------------------------------------------------------------------
    def decide(self, token: str, kind: TokenKind = "access_token") -> Decision:
        """Allow or deny ``token`` as a ``kind``.

        Raises only for programmer misuse: ``TypeError`` if ``token`` is not a ``str``,
        ``ValueError`` for a ``kind`` other than ``access_token``/``id_token``.
        """
        if type(token) is not str:
            raise TypeError("token must be a str")
        kind_byte = _KIND_BYTE.get(kind)
        if kind_byte is None:
            raise ValueError("kind is access_token or id_token")
        plan = self._plan
        typs = plan.typs.get(kind)
        if typs is None:
            return WRONG_TOKEN_KIND  # step 0
        if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            return MALFORMED  # step 1, before anything else is computed
        now = self._clock.now()
        cache = self._cache
        if cache is None:
            return self._evaluate(plan, typs, token, kind, now)[0]
        key = hashlib.sha256(token.encode("ascii")).digest() + kind_byte
        entry = cache.get(key, now, plan.version, plan.key_source.current(now).generation)
        if entry is not None:
            return entry.decision
        decision, generation = self._evaluate(plan, typs, token, kind, now)
        identity = decision.identity
        if identity is not None:
            expires_at = min(identity.exp, now + self._cache_max_age)
            if now < expires_at:
                cache.put(key, _Entry(decision, expires_at, plan.version, generation))
        return decision

    def _evaluate(
        self,
        plan: _Plan,
        typs: frozenset[str | None],
        token: str,
        kind: TokenKind,
        now: float,
    ) -> tuple[Decision, int]:
        """The decision and the key-set generation it was made with."""
        try:
            header, payload, signing_input, signature = parse_compact(token)
        except MalformedJws:
            return MALFORMED, 0
        alg = header["alg"]
        if alg not in plan.algorithms:
            return ALG_NOT_ALLOWED, 0
        typ = header.get("typ")
        if (None if typ is None else normalize_typ(typ)) not in typs:
            return WRONG_TOKEN_KIND, 0

        source = plan.key_source
        keyset = source.current(now)
        kid = header.get("kid")
        key = keyset.index.get((kid, alg))
        if key is None:
            keyset = source.refresh_unknown_kid(keyset, now)
            key = keyset.index.get((kid, alg))
            if key is None:
                return UNKNOWN_KEY, keyset.generation
        if not key.verify(signing_input, signature):
            return BAD_SIGNATURE, keyset.generation
        # -- the payload is authentic from here on ----------------------------------------
        decision = self._check_claims(plan, payload, kind, now, key, keyset.issuer)
        return decision, keyset.generation

    def _check_claims(
        self,
        plan: _Plan,
        payload: dict[str, Any],
        kind: TokenKind,
        now: float,
        key: VerificationKey,
        expected_issuer: str,
    ) -> Decision:
        if not well_typed(payload, plan.entra):
            return MALFORMED
        iss: str = payload["iss"]
        quick = iss == expected_issuer and key.issuer is None and not plan.entra
        if not quick and not _issuer_ok(plan, iss, payload, key, expected_issuer):
            return WRONG_ISSUER
        # -- signature and issuer verified: denials from here name the user (AUD-EVT-003) --
        user = (iss, payload["sub"])
        decision = self._check_verified(plan, payload, kind, now, iss)
        if not decision.allowed:
            return Decision(False, decision.reason, None, user)
        return decision

    def _check_verified(
        self, plan: _Plan, payload: dict[str, Any], kind: TokenKind, now: float, iss: str
    ) -> Decision:
        leeway = plan.leeway
        exp = payload["exp"]
        if now >= exp + leeway:
            return EXPIRED
        latest = now + leeway
        nbf = payload.get("nbf")
        if nbf is not None and nbf > latest:
            return NOT_YET_VALID
        iat = payload.get("iat")
        if iat is not None and iat > latest:
            return NOT_YET_VALID

        profile = plan.profile
        if not kind_claims_ok(payload, kind, profile):
            return WRONG_TOKEN_KIND

        access = kind == "access_token"
        # INB-COG-001: Cognito access tokens have no aud; its ID tokens' aud is a client.
        audiences = (None if access else plan.clients) if plan.cognito else plan.audiences
        if audiences is not None:
            aud = payload.get("aud")
            if type(aud) is str:
                if aud not in audiences:
                    return WRONG_AUDIENCE
            elif aud is None or audiences.isdisjoint(aud):
                return WRONG_AUDIENCE

        client = access_token_client(payload) if access else id_token_client(payload)
        if plan.clients and client not in plan.clients:
            return CLIENT_NOT_ALLOWED

        scopes = scopes_of(payload)
        if plan.scopes and plan.scopes.isdisjoint(scopes):
            return SCOPE_NOT_ALLOWED

        for rule, denial in plan.rules:
            if not rule(payload):
                return denial

        sub: str = payload["sub"]
        identity = Identity(
            issuer=iss,
            subject=sub,
            user_key=profile.user_key(payload, sub),
            client_id=client,
            scopes=scopes,
            token_kind=kind,
            exp=int(exp),
            claims=read_only(payload),
        )
        return Decision(True, "ok", identity)


def _issuer_ok(
    plan: _Plan, iss: str, payload: Mapping[str, Any], key: VerificationKey, expected: str
) -> bool:
    """INB-ISS-001, INB-ENTRA-001, INB-ENTRA-002."""
    tid = payload.get("tid")
    guid = tid if type(tid) is str and _GUID.fullmatch(tid) else None
    if plan.entra and TENANT_PLACEHOLDER in expected:
        if guid is None:
            return False
        expected = expected.replace(TENANT_PLACEHOLDER, guid)
    if iss != expected:
        return False
    if key.issuer is None:
        return True
    key_issuer = key.issuer
    if TENANT_PLACEHOLDER in key_issuer:
        if guid is None:
            return False
        key_issuer = key_issuer.replace(TENANT_PLACEHOLDER, guid)
    return key_issuer == iss
