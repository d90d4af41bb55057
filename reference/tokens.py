"""The service's own access tokens: RFC 9068 JWTs, issued, recorded and validated here.

Every token the token endpoint issues (``client_credentials`` and token exchange) is a JWS
signed with the current key of :class:`~proctor.reference.keys.SigningKeys`, with the
protected header ``{"alg": "ES256" | "RS256", "kid": ..., "typ": "at+jwt"}`` and exactly
these claims (spec ``07-token-exchange.md``, AS-FMT-001 to AS-FMT-004, TX-CLAIM-002)::

    iss        the service's issuer identifier                      RFC 9068 §2.2
    sub        the subject: a workload's client_id or a user's subject
    sub_id     {"format": "iss_sub", "iss": ..., "sub": ...} for an
               external user, so (issuer, subject) is never lost     RFC 9493 §3.2.5, §4
    aud        the requested target(s), or the issuer when none      RFC 9068 §3, RFC 8707
    client_id  the workload the token was issued to                  RFC 9068 §2.2, RFC 8693 §4.3
    scope      space-separated, only when not empty                  RFC 9068 §2.2.3, RFC 8693 §4.2
    act        the delegation chain, current actor outermost         RFC 8693 §4.1
    iat, exp   exp - iat <= the maximum lifetime (<= 3600 s)          TX-EXP-003
    jti        128 random bits                                       RFC 7519 §4.1.7

**Every issued token is recorded** in a :class:`TokenRegistry` with the ``jti`` of the own
tokens it was derived from (the subject and actor tokens of an exchange). That record is
what makes revocation cascade down a delegation chain (AS-CASC-001): a token is valid only
while neither it *nor any token it derives from* is revoked, which
:func:`revoked_ancestor` checks by walking up the lineage. Because validity is decided by
walking up, a child exchanged concurrently with its parent's revocation is dead as soon as
the parent is, whatever order the two writes land in.

**Validation of the service's own tokens** (:meth:`AccessTokens.validate`, AS-FMT-005,
RFC 9068 §4, RFC 8725) runs in this order and stops at the first failure:

1. size and strict compact parsing (:mod:`proctor.reference.compact_jws`) → ``malformed``;
2. ``typ`` is ``at+jwt`` (or ``application/at+jwt``), so an ID token, a client assertion or
   any other JWT kind is never taken for an access token (RFC 8725 §3.11-3.12)
   → ``wrong_token_type``;
3. ``alg`` is one the service signs with, never ``none`` or HMAC → ``alg_not_allowed``;
4. ``kid`` names a key the service publishes now (RFC 8725 §3.10) → ``unknown_key``;
5. the signature → ``bad_signature``; nothing below reads a claim before this point;
6. ``iss`` is exactly the issuer → ``wrong_issuer``; the claims have their types
   → ``malformed``;
7. ``exp`` is strictly later than now, with no leeway (TX-SUBJ-003: an exchanged token
   never outlives its subject) → ``expired``; ``iat`` not in the future beyond the leeway
   → ``not_yet_valid``;
8. the registry knows the ``jti`` (the token came from this service's token endpoint)
   → ``unknown_token``; neither it nor an ancestor is revoked → ``revoked``.

Steps 1 to 6 depend only on the token's bytes and on whether its key is still
published, so their outcome is remembered for tokens that pass them (an agent presents
its own actor token with every exchange): a token seen before skips to step 4's check
that its key is still published, then steps 7 and 8, which run on every call. The memory
holds at most :data:`VERIFIED_CACHE_SIZE` tokens, by SHA-256 digest, never the tokens.

The audience is not checked here: its rule depends on where the token is presented (the
issuer on the data plane, the requesting workload in an exchange, the caller for
introspection), so the caller checks :attr:`VerifiedToken.aud`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol

from joserfc import jws

from proctor.reference.authorizer_config import normalize_typ
from proctor.reference.clock import Clock
from proctor.reference.compact_jws import MalformedJws, parse_compact
from proctor.reference.keys import SIGNING_ALGORITHMS, SigningKeys

__all__ = [
    "ACCESS_TOKEN_TYP",
    "ACT_FORBIDDEN_CLAIMS",
    "MAX_ACT_NESTING",
    "MAX_TOKEN_LIFETIME",
    "AccessTokens",
    "Grant",
    "InMemoryTokenRegistry",
    "IssuedToken",
    "IssuedTokenRecord",
    "OwnTokenRejected",
    "RejectionReason",
    "TokenRegistry",
    "VerifiedToken",
    "act_chain",
    "act_depth",
    "act_problem",
    "descendants",
    "revoked_ancestor",
    "scope_string",
]

#: RFC 9068 §2.1: the ``typ`` header of a JWT access token.
ACCESS_TOKEN_TYP: Final = "at+jwt"  # noqa: S105 - a media type, not a secret
#: TX-EXP-003: no token the token endpoint issues lives longer than this.
MAX_TOKEN_LIFETIME: Final = 3600
#: TX-ACT-003/TX-ACT-004: never inside ``act``/``may_act`` objects (RFC 8693 §4.1, §4.4
#: call them "not meaningful"; proctor forbids them).
ACT_FORBIDDEN_CLAIMS: Final = frozenset(("exp", "nbf", "iat", "jti", "aud"))
#: TX-ACT-004: deeper ``act`` nesting is refused outright.
MAX_ACT_NESTING: Final = 16
#: Own tokens are small; anything much larger is not one of them.
MAX_OWN_TOKEN_LENGTH: Final = 16 * 1024
#: How many tokens that passed the checks up to the signature and the claims' types
#: :meth:`AccessTokens.validate` remembers, least recently stored first out.
VERIFIED_CACHE_SIZE: Final = 4096

Grant = Literal["client_credentials", "token_exchange"]
RejectionReason = Literal[
    "malformed",
    "wrong_token_type",
    "alg_not_allowed",
    "unknown_key",
    "bad_signature",
    "wrong_issuer",
    "expired",
    "not_yet_valid",
    "unknown_token",
    "revoked",
]


# -- act helpers (RFC 8693 §4.1) ----------------------------------------------------------


def act_problem(act: Any, *, max_nesting: int = MAX_ACT_NESTING) -> str | None:
    """Why an ``act`` value breaks proctor's profile, or ``None`` if it is acceptable.

    Each level must be a JSON object with a string ``sub`` (it identifies the actor) and
    none of :data:`ACT_FORBIDDEN_CLAIMS`; its ``act`` member, if any, is the next level;
    at most ``max_nesting`` levels (TX-ACT-004).
    """
    level = 0
    while act is not None:
        level += 1
        if level > max_nesting:
            return f"act is nested deeper than {max_nesting}"
        if not isinstance(act, Mapping):
            return "act is not a JSON object"
        if type(act.get("sub")) is not str or not act["sub"]:
            return "an act object has no sub"
        if ACT_FORBIDDEN_CLAIMS & act.keys():
            return "an act object carries exp, nbf, iat, jti or aud"
        act = act.get("act")
    return None


def act_depth(act: Mapping[str, Any] | None) -> int:
    """The chain depth: how many ``act`` objects are nested (0 without ``act``)."""
    depth = 0
    while isinstance(act, Mapping):
        depth += 1
        act = act.get("act")
    return depth


def act_chain(act: Mapping[str, Any] | None) -> list[str]:
    """The actors' ``sub`` values, current actor first (the audit's ``actor_chain``)."""
    chain: list[str] = []
    while isinstance(act, Mapping):
        sub = act.get("sub")
        if isinstance(sub, str):
            chain.append(sub)
        act = act.get("act")
    return chain


def scope_string(scopes: Sequence[str]) -> str:
    """RFC 6749 §3.3 / RFC 9068 §2.2.3: one space-separated string."""
    return " ".join(scopes)


def _freeze(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value  # the common leaves, without the ABC checks below
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    """A JSON-ready deep copy of a (possibly frozen) claim value."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value


# -- the registry of issued tokens (AS-CASC-001) ------------------------------------------


@dataclass(frozen=True)
class IssuedTokenRecord:
    """What the service remembers of a token it issued. Holds no token material."""

    jti: str
    client_id: str
    sub: str
    aud: tuple[str, ...]
    scopes: tuple[str, ...]
    iat: int
    exp: int
    grant: Grant
    #: The ``jti`` of the own tokens it was derived from: subject, then actor (AS-CASC-001).
    parents: tuple[str, ...] = ()
    #: The ``act`` claim (current actor outermost) and ``sub_id`` claim, for audit.
    act: Mapping[str, Any] | None = field(default=None, hash=False)
    sub_id: Mapping[str, Any] | None = field(default=None, hash=False)
    revoked_at: int | None = None

    @property
    def actor_chain(self) -> list[str]:
        return act_chain(self.act)


class TokenRegistry(Protocol):
    """The issued-token table (shared storage in a deployment). Thread-safe."""

    def add(self, record: IssuedTokenRecord) -> None:
        """Record a newly issued token; ``ValueError`` if the ``jti`` exists."""
        ...

    def get(self, jti: str) -> IssuedTokenRecord | None: ...

    def children(self, jti: str) -> Sequence[str]:
        """The ``jti`` of every token with ``jti`` among its ``parents``."""
        ...

    def issued_to(self, client_id: str) -> Sequence[str]:
        """The ``jti`` of every recorded token whose ``client_id`` is this workload's."""
        ...

    def mark_revoked(self, jti: str, at: int) -> bool:
        """Set ``revoked_at`` if not yet set; ``True`` if this call revoked it."""
        ...

    def purge_expired(self, before: int) -> int:
        """Forget tokens with ``exp <= before``; returns how many."""
        ...


class InMemoryTokenRegistry:
    """A :class:`TokenRegistry` in process memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, IssuedTokenRecord] = {}
        self._children: dict[str, list[str]] = {}

    def add(self, record: IssuedTokenRecord) -> None:
        with self._lock:
            if record.jti in self._records:
                raise ValueError("jti already recorded")
            self._records[record.jti] = record
            for parent in record.parents:
                self._children.setdefault(parent, []).append(record.jti)

    def get(self, jti: str) -> IssuedTokenRecord | None:
        with self._lock:
            return self._records.get(jti)

    def children(self, jti: str) -> Sequence[str]:
        with self._lock:
            return list(self._children.get(jti, ()))

    def issued_to(self, client_id: str) -> Sequence[str]:
        with self._lock:
            return [jti for jti, r in self._records.items() if r.client_id == client_id]

    def mark_revoked(self, jti: str, at: int) -> bool:
        with self._lock:
            record = self._records.get(jti)
            if record is None or record.revoked_at is not None:
                return False
            self._records[jti] = replace(record, revoked_at=at)
            return True

    def purge_expired(self, before: int) -> int:
        with self._lock:
            gone = [jti for jti, r in self._records.items() if r.exp <= before]
            for jti in gone:
                del self._records[jti]
                self._children.pop(jti, None)
            return len(gone)

    def __len__(self) -> int:
        return len(self._records)


def revoked_ancestor(registry: TokenRegistry, jti: str) -> str | None:
    """The ``jti`` of the first revoked token in ``jti``'s lineage (itself included), or
    ``None``. A parent that is no longer recorded has expired, and with it every child
    (TX-EXP-001/TX-EXP-002 bound a child's ``exp`` by its parents'), so it is skipped."""
    seen: set[str] = set()
    pending = [jti]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        record = registry.get(current)
        if record is None:
            continue
        if record.revoked_at is not None:
            return current
        pending.extend(record.parents)
    return None


def descendants(registry: TokenRegistry, jti: str) -> list[str]:
    """Every token derived from ``jti``, transitively, breadth first (AS-CASC-001)."""
    found: list[str] = []
    seen = {jti}
    frontier = [jti]
    while frontier:
        following: list[str] = []
        for parent in frontier:
            for child in registry.children(parent):
                if child not in seen:
                    seen.add(child)
                    found.append(child)
                    following.append(child)
        frontier = following
    return found


# -- issuing and validating -----------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: str = field(repr=False)
    claims: Mapping[str, Any]
    record: IssuedTokenRecord

    @property
    def expires_in(self) -> int:
        return self.record.exp - self.record.iat


class OwnTokenRejected(Exception):
    """A token is not a valid, live token of this service; ``reason`` says why."""

    def __init__(self, reason: RejectionReason) -> None:
        super().__init__(reason)
        self.reason: RejectionReason = reason


@dataclass(frozen=True)
class VerifiedToken:
    """A token of this service whose signature, issuer, lifetime and revocation status
    were checked. ``claims`` is read-only."""

    claims: Mapping[str, Any]
    kid: str
    alg: str
    record: IssuedTokenRecord

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    @property
    def sub(self) -> str:
        return str(self.claims["sub"])

    @property
    def client_id(self) -> str:
        return str(self.claims["client_id"])

    @property
    def aud(self) -> tuple[str, ...]:
        aud = self.claims["aud"]
        return (aud,) if isinstance(aud, str) else tuple(aud)

    @property
    def scopes(self) -> tuple[str, ...]:
        scope = self.claims.get("scope")
        return tuple(s for s in scope.split(" ") if s) if isinstance(scope, str) else ()

    @property
    def exp(self) -> int:
        return int(self.claims["exp"])

    @property
    def iat(self) -> int:
        return int(self.claims["iat"])

    @property
    def act(self) -> Mapping[str, Any] | None:
        act = self.claims.get("act")
        return act if isinstance(act, Mapping) else None

    @property
    def sub_id(self) -> Mapping[str, Any] | None:
        sub_id = self.claims.get("sub_id")
        return sub_id if isinstance(sub_id, Mapping) else None

    @property
    def depth(self) -> int:
        return act_depth(self.act)

    def json_claims(self) -> dict[str, Any]:
        """The claims as plain JSON values (a fresh copy)."""
        thawed: dict[str, Any] = _thaw(self.claims)
        return thawed

    @property
    def actor_chain(self) -> list[str]:
        return act_chain(self.act)


def _is_int(value: Any) -> bool:
    return type(value) is int


def _claims_ok(claims: Mapping[str, Any]) -> bool:
    """The types RFC 9068 §2.2 and this profile give each claim."""
    for name in ("sub", "client_id", "jti"):
        if type(claims.get(name)) is not str or not claims[name]:
            return False
    if not (_is_int(claims.get("exp")) and _is_int(claims.get("iat"))):
        return False
    aud = claims.get("aud")
    if type(aud) is list:
        if not aud or not all(type(a) is str and a for a in aud):
            return False
    elif type(aud) is not str or not aud:
        return False
    if "scope" in claims and type(claims["scope"]) is not str:
        return False
    if "sub_id" in claims and type(claims["sub_id"]) is not dict:
        return False
    return "act" not in claims or act_problem(claims["act"]) is None


class AccessTokens:
    """Issues the service's JWT access tokens and validates them when they come back.

    ``max_lifetime`` is the service's maximum token lifetime (TX-EXP-003: default 900
    seconds, never more than 3600); ``leeway`` applies to ``iat`` only (tokens from another
    node whose clock runs slightly ahead).
    """

    def __init__(
        self,
        keys: SigningKeys,
        registry: TokenRegistry,
        issuer: str,
        clock: Clock,
        *,
        max_lifetime: int = 900,
        leeway: int = 30,
    ) -> None:
        if not 0 < max_lifetime <= MAX_TOKEN_LIFETIME:
            raise ValueError(f"max_lifetime is 1-{MAX_TOKEN_LIFETIME} seconds (TX-EXP-003)")
        if max_lifetime > keys.max_token_lifetime:
            raise ValueError("the key ring must keep retired keys for the maximum lifetime")
        if not issuer:
            raise ValueError("issuer is required")
        self.keys = keys
        self.registry = registry
        self.issuer = issuer
        self.max_lifetime = max_lifetime
        self.leeway = leeway
        self._clock = clock
        #: Tokens that passed steps 1-6, by digest: (kid, alg, frozen claims).
        self._verified: OrderedDict[bytes, tuple[str, str, Mapping[str, Any]]] = OrderedDict()
        self._verified_lock = threading.Lock()

    # -- issuing --------------------------------------------------------------------------

    def issue(
        self,
        *,
        sub: str,
        client_id: str,
        aud: Sequence[str],
        scopes: Sequence[str],
        exp: int,
        grant: Grant,
        parents: Sequence[str] = (),
        act: Mapping[str, Any] | None = None,
        sub_id: Mapping[str, Any] | None = None,
        iat: int | None = None,
    ) -> IssuedToken:
        """Sign, record and return a token. ``exp`` is the caller's decision, bounded here
        by ``iat + max_lifetime``; misuse (an empty ``aud``, a lifetime out of range, an
        ``act`` outside the profile) raises ``ValueError``."""
        iat = int(self._clock.now()) if iat is None else iat
        if not iat < exp <= iat + self.max_lifetime:
            raise ValueError("exp must be after iat and within the maximum lifetime")
        audiences = list(dict.fromkeys(aud))
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise ValueError("aud is one or more non-empty strings")
        if act is not None and act_problem(act) is not None:
            raise ValueError(f"act breaks the profile: {act_problem(act)}")
        jti = secrets.token_hex(16)
        claims: dict[str, Any] = {"iss": self.issuer, "sub": sub}
        if sub_id is not None:
            claims["sub_id"] = _thaw(sub_id)
        claims["aud"] = audiences[0] if len(audiences) == 1 else audiences
        claims["client_id"] = client_id
        if scopes:
            claims["scope"] = scope_string(scopes)
        if act is not None:
            claims["act"] = _thaw(act)
        claims.update(iat=iat, exp=exp, jti=jti)

        key = self.keys.signing_key()
        header = {"alg": key.alg, "kid": key.kid, "typ": ACCESS_TOKEN_TYP}
        payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
        token = jws.serialize_compact(header, payload, key.jwk, algorithms=[key.alg])
        record = IssuedTokenRecord(
            jti=jti,
            client_id=client_id,
            sub=sub,
            aud=tuple(audiences),
            scopes=tuple(scopes),
            iat=iat,
            exp=exp,
            grant=grant,
            parents=tuple(dict.fromkeys(parents)),
            act=_freeze(act) if act is not None else None,
            sub_id=_freeze(sub_id) if sub_id is not None else None,
        )
        self.registry.add(record)
        return IssuedToken(token, _freeze(claims), record)

    # -- validating -----------------------------------------------------------------------

    def validate(self, token: str) -> VerifiedToken:
        """Check a token the service issued (see the module docstring for the order).

        Raises :class:`OwnTokenRejected`; never anything else for bad input.
        """
        if type(token) is not str:
            raise TypeError("token must be a str")
        if len(token) > MAX_OWN_TOKEN_LENGTH or not token.isascii():
            raise OwnTokenRejected("malformed")
        digest = hashlib.sha256(token.encode("ascii")).digest()
        with self._verified_lock:
            seen = self._verified.get(digest)
        if seen is None:
            kid, alg, claims = self._authentic(token)
            with self._verified_lock:
                self._verified[digest] = (kid, alg, claims)
                while len(self._verified) > VERIFIED_CACHE_SIZE:
                    self._verified.popitem(last=False)
        else:
            kid, alg, claims = seen
            if self.keys.verifier(kid, alg) is None:
                raise OwnTokenRejected("unknown_key")  # the key is no longer published
        now = self._clock.now()
        if not now < claims["exp"]:
            raise OwnTokenRejected("expired")
        if claims["iat"] > now + self.leeway:
            raise OwnTokenRejected("not_yet_valid")
        record = self.registry.get(claims["jti"])
        if record is None or record.client_id != claims["client_id"] or record.sub != claims["sub"]:
            raise OwnTokenRejected("unknown_token")
        if revoked_ancestor(self.registry, record.jti) is not None:
            raise OwnTokenRejected("revoked")
        return VerifiedToken(claims, kid, alg, record)

    def _authentic(self, token: str) -> tuple[str, str, Mapping[str, Any]]:
        """Steps 1-6: the token's key id, algorithm and (frozen) authentic claims."""
        try:
            header, claims, signing_input, signature = parse_compact(token)
        except MalformedJws:
            raise OwnTokenRejected("malformed") from None
        typ = header.get("typ")
        if typ is None or normalize_typ(typ) != ACCESS_TOKEN_TYP:
            raise OwnTokenRejected("wrong_token_type")
        alg = header["alg"]
        if alg not in SIGNING_ALGORITHMS:
            raise OwnTokenRejected("alg_not_allowed")
        kid = header.get("kid")
        verify = self.keys.verifier(kid, alg) if kid is not None else None
        if verify is None:
            raise OwnTokenRejected("unknown_key")
        if not verify(signing_input, signature):
            raise OwnTokenRejected("bad_signature")
        # -- the claims are authentic from here on ---------------------------------------
        if claims.get("iss") != self.issuer:
            raise OwnTokenRejected("wrong_issuer")
        if not _claims_ok(claims):
            raise OwnTokenRejected("malformed")
        assert kid is not None
        return kid, alg, _freeze(claims)
