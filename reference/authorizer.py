"""The inbound authorizer: is this IdP token acceptable here, and whose is it?

:meth:`Authorizer.decide` answers with a :class:`Decision` (allow, or deny with one
reason code) and never raises for anything in the token. The checks run in this order,
and the first failure is the reason (spec: ``02-inbound-authorization.md``):

1. size: 64 KiB or more, or not ASCII → ``malformed`` (JWT-17);
2. strict compact parsing (:mod:`proctor.reference.compact_jws`) → ``malformed``;
3. ``alg`` in the configured allow-list; ``none`` in any spelling and every HMAC
   algorithm never are (RFC 8725 §3.1) → ``alg_not_allowed``;
4. the key for ``(kid, alg)`` from the issuer's JWKS, refreshing at most once per
   interval on a miss (RFC 8725 §3.10: ``jku``/``x5u``/``jwk``/``x5c`` are never used)
   → ``unknown_key``;
5. the signature (RFC 7515 §5.2) → ``bad_signature``. Nothing below trusts a claim
   before this point;
6. ``exp`` present and not past, with the leeway (RFC 7519 §4.1.4; RFC 9068 §2.2
   requires it) → ``expired`` (a missing or non-numeric one → ``malformed``);
   ``nbf``/``iat`` not in the future beyond the leeway → ``not_yet_valid``;
7. ``iss`` equal to the expected issuer (RFC 9068 §4, RFC 8725 §3.8); for Entra's
   ``{tenantid}`` template the token's ``tid`` (a GUID) is substituted; a key that
   carries its own ``issuer`` must match too, so one tenant's key never validates
   another tenant's token → ``wrong_issuer``;
8. the token kind (RFC 8725 §3.11-3.12): ``typ`` in the configured values for the
   requested kind, and the profile's content marker (Cognito ``token_use``, Okta
   ``cid``, Entra ``appid``/``azp``) → ``wrong_token_kind``;
9. the audience (RFC 8725 §3.9, RFC 9068 §4): ``aud`` (string or array) intersects
   ``allowed_audiences`` for access tokens, ``allowed_clients`` for ID tokens (OpenID
   Connect Core §3.1.3.7); comparison is exact, so Entra's v1 audiences with and
   without a trailing slash both match only if both are configured; a Cognito access
   token has no ``aud`` and is checked by ``client_id`` alone → ``wrong_audience``;
10. the client (profile claim, see :mod:`proctor.reference.claims`) in
    ``allowed_clients`` when that is non-empty → ``client_not_allowed``;
11. for access tokens, at least one of ``allowed_scopes`` when that is non-empty
    → ``scope_not_allowed`` (ID tokens carry no scopes, OpenID Connect Core §2);
12. each custom claim rule, in order → ``claim_rule_failed:<claim>``;
13. a ``sub`` and the profile's user key (Entra: ``tid`` and ``oid``) → ``malformed``.

**How an ID token is kept out of an access-token check.** The caller says which kind it
requires. The token must then carry one of that kind's configured ``typ`` values (so
``at+jwt`` vs. ``JWT`` separates them whenever the IdP types its tokens, and in the
``generic`` profile the configuration may not let the two kinds share a ``typ``), *and*
the profile's vendor marker must say the same kind. A kind the configuration does not
list is never accepted. Finally an ID token's ``aud`` is a client id, which an access
token check compares with ``allowed_audiences``, never with ``allowed_clients``.

**Decision cache.** Decisions are cached by SHA-256 of the token and the requested kind
in a bounded LRU. An entry is used only while ``now < exp`` of the token, only for the
configuration version and key-set generation it was computed with, and only for
outcomes that cannot change before ``exp``: ``allow`` and the denials that depend on the
token and configuration alone. ``expired``, ``not_yet_valid`` and ``unknown_key`` (which
a key rotation can fix) are never cached, nor is anything without a numeric ``exp``.
"""

from __future__ import annotations

import hashlib
import math
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
    compile_rule,
    id_token_client,
    read_only,
    scopes_of,
)
from proctor.reference.clock import Clock
from proctor.reference.compact_jws import MalformedJws, parse_compact
from proctor.reference.jwks import DiscoveryKeySource, KeySet, KeySource, VerificationKey

__all__ = [
    "MAX_TOKEN_LENGTH",
    "REASONS",
    "Authorizer",
    "Decision",
    "Reason",
]

#: Tokens this long or longer are refused unread (JWT-17).
MAX_TOKEN_LENGTH: Final = 64 * 1024

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

_GUID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_ENTRA_FORMS: Final = ("https://login.microsoftonline.com/{}/v2.0", "https://sts.windows.net/{}/")


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one token: allow with the identity, or deny with a reason code."""

    allowed: bool
    #: ``ok``, one of :data:`REASONS`, or ``claim_rule_failed:<claim>``.
    reason: str
    identity: Identity | None = None

    def as_dict(self) -> dict[str, Any]:
        """The body of a ``POST /v1/decisions`` response."""
        body: dict[str, Any] = {"decision": "allow" if self.allowed else "deny"}
        body["reason"] = self.reason
        if self.identity is not None:
            body["identity"] = self.identity.as_dict()
        return body


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
_UNCACHEABLE: Final = frozenset(("expired", "not_yet_valid", "unknown_key"))
_KINDS: Final = frozenset(("access_token", "id_token"))


def _numeric_date(value: Any) -> bool:
    """RFC 7519 §2 NumericDate: a JSON number (not a boolean), finite."""
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))


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

    @classmethod
    def build(cls, config: AuthorizerConfig, key_source: KeySource, version: int) -> _Plan:
        return cls(
            config=config,
            version=version,
            key_source=key_source,
            algorithms=frozenset(config.algorithms),
            leeway=config.leeway_seconds,
            typs=config.typ_rules(),
            audiences=frozenset(config.allowed_audiences),
            clients=frozenset(config.allowed_clients),
            scopes=frozenset(config.allowed_scopes),
            rules=tuple(
                (compile_rule(rule), Decision(False, f"claim_rule_failed:{rule.claim}"))
                for rule in config.custom_claims
            ),
            profile=PROFILES[config.idp_profile],
            entra=config.idp_profile == "entra",
        )


class _Entry(NamedTuple):
    decision: Decision
    expires_at: float
    version: int
    generation: int | None  # None: the outcome did not involve keys


class _DecisionCache:
    """A bounded, thread-safe LRU of decisions."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()

    def get(self, key: bytes, now: float, version: int) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            if now >= entry.expires_at or entry.version != version:
                del self._entries[key]
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def discard(self, key: bytes) -> None:
        with self._lock:
            self._entries.pop(key, None)

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

    ``cache_size=0`` turns the decision cache off.
    """

    def __init__(
        self,
        config: AuthorizerConfig,
        key_source: KeySource,
        clock: Clock,
        *,
        cache_size: int = 10_000,
    ) -> None:
        if not isinstance(config, AuthorizerConfig):
            raise TypeError("config must be an AuthorizerConfig")
        if cache_size < 0:
            raise ValueError("cache_size must be >= 0")
        self._clock = clock
        self._plan = _Plan.build(config, key_source, 1)
        self._cache = _DecisionCache(cache_size) if cache_size else None
        self._lock = threading.Lock()

    @classmethod
    def from_config(
        cls,
        config: AuthorizerConfig,
        *,
        http: httpx.Client,
        clock: Clock,
        cache_size: int = 10_000,
        **key_options: Any,
    ) -> Authorizer:
        """An authorizer whose keys come from the config's discovery URL."""
        source = DiscoveryKeySource.from_config(config, http=http, clock=clock, **key_options)
        return cls(config, source, clock, cache_size=cache_size)

    @property
    def config(self) -> AuthorizerConfig:
        return self._plan.config

    @property
    def key_source(self) -> KeySource:
        return self._plan.key_source

    def reconfigure(self, config: AuthorizerConfig, key_source: KeySource | None = None) -> None:
        """Apply a changed configuration; no cached decision survives it."""
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
        """Allow or deny ``token`` as a ``kind``. Raises only for programmer misuse
        (``TypeError``/``ValueError``) and, when the IdP's keys have never been
        obtainable, :class:`~proctor.reference.errors.UpstreamError`."""
        if type(token) is not str:
            raise TypeError("token must be a str")
        if kind not in _KINDS:
            raise ValueError("kind is access_token or id_token")
        if len(token) >= MAX_TOKEN_LENGTH or not token.isascii():
            return MALFORMED
        now = self._clock.now()
        plan = self._plan
        cache = self._cache
        if cache is None:
            return self._evaluate(plan, token, kind, now)[0]
        key = hashlib.sha256(token.encode("ascii")).digest() + (b"a" if kind[0] == "a" else b"i")
        entry = cache.get(key, now, plan.version)
        if entry is not None:
            if entry.generation is None:
                return entry.decision
            if plan.key_source.current(now).generation == entry.generation:
                return entry.decision
            cache.discard(key)
        decision, cache_until, generation = self._evaluate(plan, token, kind, now)
        if cache_until is not None and now < cache_until and decision.reason not in _UNCACHEABLE:
            cache.put(key, _Entry(decision, cache_until, plan.version, generation))
        return decision

    def _evaluate(
        self, plan: _Plan, token: str, kind: TokenKind, now: float
    ) -> tuple[Decision, float | None, int | None]:
        """The decision, how long it may be cached (``None``: not at all), key generation."""
        try:
            header, payload, signing_input, signature = parse_compact(token)
        except MalformedJws:
            return MALFORMED, None, None
        exp = payload.get("exp")
        cache_until = exp if _numeric_date(exp) else None

        alg = header["alg"]
        if alg not in plan.algorithms:
            return ALG_NOT_ALLOWED, cache_until, None

        source = plan.key_source
        keyset = source.current(now)
        kid = header.get("kid")
        key = keyset.index.get((kid, alg))
        if key is None:
            keyset = source.refresh_unknown_kid(keyset, now)
            key = keyset.index.get((kid, alg))
            if key is None:
                return UNKNOWN_KEY, None, None
        generation = keyset.generation
        if not key.verify(signing_input, signature):
            return BAD_SIGNATURE, cache_until, generation
        # -- the claims are authentic from here on ---------------------------------------
        return (
            self._check_claims(plan, header, payload, kind, now, key, keyset),
            cache_until,
            generation,
        )

    def _check_claims(
        self,
        plan: _Plan,
        header: dict[str, Any],
        payload: dict[str, Any],
        kind: TokenKind,
        now: float,
        key: VerificationKey,
        keyset: KeySet,
    ) -> Decision:
        leeway = plan.leeway
        exp: Any = payload.get("exp")
        if not _numeric_date(exp):
            return MALFORMED
        if now >= exp + leeway:
            return EXPIRED
        for name in ("nbf", "iat"):
            if name in payload:
                value = payload[name]
                if not _numeric_date(value):
                    return MALFORMED
                if value > now + leeway:
                    return NOT_YET_VALID

        iss = payload.get("iss")
        if type(iss) is not str or not self._issuer_ok(plan, iss, payload, key, keyset.issuer):
            return WRONG_ISSUER

        typs = plan.typs.get(kind)
        typ = header.get("typ")
        if typs is None or (None if typ is None else normalize_typ(typ)) not in typs:
            return WRONG_TOKEN_KIND
        profile = plan.profile
        if not profile.is_kind(payload, kind):
            return WRONG_TOKEN_KIND

        access = kind == "access_token"
        allowed = plan.audiences if access else plan.clients
        aud = payload.get("aud")
        if type(aud) is str:
            if aud not in allowed:
                return WRONG_AUDIENCE
        elif type(aud) is list:
            if not any(type(a) is str and a in allowed for a in aud):
                return WRONG_AUDIENCE
        elif not (aud is None and access and profile.access_audience_optional):
            return WRONG_AUDIENCE

        client = profile.access_client(payload) if access else id_token_client(payload)
        if plan.clients and client not in plan.clients:
            return CLIENT_NOT_ALLOWED

        scopes = scopes_of(payload)
        if access and plan.scopes and plan.scopes.isdisjoint(scopes):
            return SCOPE_NOT_ALLOWED

        for rule, denial in plan.rules:
            if not rule(payload):
                return denial

        sub = payload.get("sub")
        if type(sub) is not str or not sub:
            return MALFORMED
        user_key = profile.user_key(payload, sub)
        if user_key is None:
            return MALFORMED
        identity = Identity(
            issuer=iss,
            subject=sub,
            user_key=user_key,
            client_id=client,
            scopes=scopes,
            token_kind=kind,
            exp=int(exp),
            claims=read_only(payload),
        )
        return Decision(True, "ok", identity)

    @staticmethod
    def _issuer_ok(
        plan: _Plan, iss: str, payload: Mapping[str, Any], key: VerificationKey, expected: str
    ) -> bool:
        tid: str | None = None
        if plan.entra:
            value = payload.get("tid")
            if type(value) is str and _GUID.fullmatch(value):
                tid = value
            elif TENANT_PLACEHOLDER in expected or TENANT_PLACEHOLDER in (key.issuer or ""):
                return False  # a template needs the token's tenant, and it must be a GUID
        if tid is not None and TENANT_PLACEHOLDER in expected:
            expected = expected.replace(TENANT_PLACEHOLDER, tid)
        if iss != expected:
            return False
        if key.issuer is None:
            return True
        key_issuer = key.issuer
        if tid is not None:
            key_issuer = key_issuer.replace(TENANT_PLACEHOLDER, tid)
        if key_issuer == iss:
            return True
        # Entra: the tenant's v1 and v2 issuers name the same tenant.
        forms = {form.format(tid) for form in _ENTRA_FORMS} if tid is not None else set()
        return key_issuer in forms and iss in forms
