"""The invariants of a delegation chain, checked on the tokens of every hop.

Each hop of a chain is one RFC 8693 token exchange. Whatever the token endpoint decides,
what it issues must keep these promises (spec ``07-token-exchange.md``; the IDs name the
requirement each invariant comes from):

=====================  ==================================================================
invariant              the issued token ...
=====================  ==================================================================
``scope_narrowing``    carries no scope the subject token lacks, nor one the hop did not
                       request (TX-SCOPE-001; RFC 6749 §3.3)
``audience``           is for exactly the requested targets (TX-TGT-002; RFC 8707 §2)
``exp_bound``          expires no later than the subject token, nor than the actor token
                       (TX-EXP-001, TX-EXP-002)
``subject_preserved``  names the same ``sub`` as the subject token (TX-CLAIM-001)
``act_nesting``        names the current actor outermost in ``act`` with the subject's
                       ``act`` unchanged inside it; no ``act`` without an actor token
                       (TX-ACT-001, TX-ACT-002, TX-DLG-002; RFC 8693 §4.1)
``act_identity_only``  has no ``exp``/``nbf``/``aud``/``iat``/``jti`` in any ``act`` or
                       ``may_act`` object (TX-ACT-003; RFC 8693 §4.1, §4.4)
``may_act``            was issued only to the actor the subject's ``may_act`` names, and
                       does not carry that ``may_act`` on (TX-MAYACT-001; RFC 8693 §4.4)
``laundering``         was not issued without an actor token for a subject token that
                       carries ``act`` or ``may_act`` (TX-DLG-001)
``depth_limit``        is no deeper than the agent's ``max_depth`` (TX-DLG-003)
``readable``           is a JWT the lab can decode (otherwise nothing above is checkable)
=====================  ==================================================================

Two more named failures concern the chain file's own expectations:
``expected_outcome`` (the hop succeeded or failed other than the file says) and
``may_act_expected`` (the subject token's ``may_act`` is not what the hop expects).

Everything here is pure: :func:`check_hop` judges one :class:`HopObservation` (decoded
claims, never raw tokens), so a sequence of hand-built tokens can be judged without any
HTTP. Tokens are decoded **without verifying** them (:func:`decode_jwt`): the lab observes
what a token endpoint issues; it does not trust it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from proctor.conformance.chains.model import Expect

__all__ = [
    "ACT_FORBIDDEN",
    "INVARIANTS",
    "HopObservation",
    "Invariant",
    "Violation",
    "act_chain",
    "act_depth",
    "cause_of",
    "check_hop",
    "decode_jwt",
    "scope_set",
]

#: Claims that carry no meaning in ``act``/``may_act`` (RFC 8693 §4.1, §4.4) and that
#: proctor forbids there (TX-ACT-003).
ACT_FORBIDDEN: Final = ("exp", "nbf", "aud", "iat", "jti")
_CAUSE: Final = re.compile(r"^([a-z_]+): ")
_MAX_NESTING: Final = 64


@dataclass(frozen=True)
class Invariant:
    id: str
    requirements: tuple[str, ...]
    title: str


INVARIANTS: Final[Mapping[str, Invariant]] = {
    item.id: item
    for item in (
        Invariant("scope_narrowing", ("TX-SCOPE-001",), "scope never widens"),
        Invariant("audience", ("TX-TGT-002",), "aud is exactly the requested targets"),
        Invariant("exp_bound", ("TX-EXP-001", "TX-EXP-002"), "exp never outlives subject or actor"),
        Invariant("subject_preserved", ("TX-CLAIM-001",), "sub is the subject's sub"),
        Invariant(
            "act_nesting",
            ("TX-ACT-001", "TX-ACT-002", "TX-DLG-002"),
            "current actor outermost, previous act unchanged inside",
        ),
        Invariant("act_identity_only", ("TX-ACT-003",), "act/may_act carry no exp/nbf/aud/iat/jti"),
        Invariant("may_act", ("TX-MAYACT-001",), "may_act is honoured and not carried on"),
        Invariant("laundering", ("TX-DLG-001",), "no delegated token exchanged without actor"),
        Invariant("depth_limit", ("TX-DLG-003",), "chain depth within max_depth"),
        Invariant("readable", (), "the issued token is a JWT the lab can decode"),
        Invariant("expected_outcome", (), "the hop ends as the chain file expects"),
        Invariant("may_act_expected", (), "the subject's may_act is what the hop expects"),
    )
}


@dataclass(frozen=True)
class Violation:
    """One broken invariant at one hop (hops count from 1)."""

    invariant: str
    hop: int
    message: str

    def __post_init__(self) -> None:
        if self.invariant not in INVARIANTS:
            raise ValueError(f"unknown invariant {self.invariant!r}")

    @property
    def requirements(self) -> tuple[str, ...]:
        return INVARIANTS[self.invariant].requirements

    def describe(self) -> str:
        cited = f" [{', '.join(self.requirements)}]" if self.requirements else ""
        return f"hop {self.hop}: {self.invariant}{cited}: {self.message}"


@dataclass(frozen=True)
class HopObservation:
    """What one hop sent and got, decoded; the input of :func:`check_hop`.

    ``subject``/``actor``/``issued`` are decoded claims (``None``: no such token, or not a
    readable JWT). ``actor_sent`` says whether the request carried an ``actor_token``;
    ``actor_client_id`` is the client that obtained it. ``issued_raw_is_jwt`` is ``False``
    when the endpoint answered a token the lab cannot decode. ``max_depth`` is the limit
    that applies to the hop's agent; ``issuer`` the token endpoint's issuer, if known.
    ``may_act_expected`` is a client_id the subject's ``may_act`` should name, ``"none"``
    for no ``may_act``, or ``None`` (not checked).
    """

    hop: int
    targets: tuple[str, ...]
    requested_scope: tuple[str, ...] | None
    subject: Mapping[str, Any] | None
    actor: Mapping[str, Any] | None
    actor_sent: bool
    actor_client_id: str | None
    succeeded: bool
    issued: Mapping[str, Any] | None = None
    issued_raw_is_jwt: bool = True
    error: str | None = None
    error_description: str | None = None
    expect: Expect = field(default_factory=Expect)
    max_depth: int = 5
    issuer: str | None = None
    may_act_expected: str | None = None


# -- decoding (without trusting) --------------------------------------------------------


def _b64json(part: str) -> Any:
    padded = part + "=" * (-len(part) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def decode_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Header and claims of a compact JWS, **unverified**; ``None`` if it is not one.

    The lab inspects what it was given; it never relies on these claims to decide whom
    to trust.
    """
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 256 * 1024:
        return None
    try:
        header, claims = _b64json(parts[0]), _b64json(parts[1])
    except (ValueError, UnicodeError, binascii.Error):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims


# -- claim helpers ------------------------------------------------------------------------


def scope_set(claims: Mapping[str, Any]) -> frozenset[str]:
    """A token's scope set: ``scope`` (RFC 8693 §4.2, a space-separated string) or the
    ``scp`` array some IdPs use (Okta, Entra). Empty when the token states none."""
    value = claims.get("scope", claims.get("scp"))
    if isinstance(value, str):
        return frozenset(token for token in value.split(" ") if token)
    if isinstance(value, list):
        return frozenset(str(token) for token in value)
    return frozenset()


def _audience(claims: Mapping[str, Any]) -> frozenset[str] | None:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return frozenset((aud,))
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return frozenset(aud)
    return None


def act_depth(act: Any) -> int:
    """How many ``act`` objects are nested (0 without ``act``)."""
    depth = 0
    while isinstance(act, Mapping) and depth < _MAX_NESTING:
        depth += 1
        act = act.get("act")
    return depth


def act_chain(act: Any) -> list[str]:
    """The actors' ``sub`` values, current actor first."""
    chain: list[str] = []
    while isinstance(act, Mapping) and len(chain) < _MAX_NESTING:
        chain.append(str(act.get("sub")))
        act = act.get("act")
    return chain


def cause_of(description: str | None) -> str | None:
    """The TX-ERR-002 cause code an ``error_description`` begins with, if any."""
    match = _CAUSE.match(description or "")
    return match.group(1) if match else None


def _forbidden_members(value: Any, where: str) -> list[str]:
    found: list[str] = []
    level = 0
    while isinstance(value, Mapping) and level < _MAX_NESTING:
        level += 1
        bad = [name for name in ACT_FORBIDDEN if name in value]
        if bad:
            found.append(f"{where} level {level} carries {', '.join(bad)}")
        value = value.get("act")
    return found


# -- the checks ---------------------------------------------------------------------------


def _outcome(obs: HopObservation) -> list[Violation]:
    expect = obs.expect
    got = "success" if obs.succeeded else (obs.error or "an error")
    if expect.success != obs.succeeded or (expect.error and expect.error != obs.error):
        cause = cause_of(obs.error_description)
        detail = f" ({cause})" if cause and not obs.succeeded else ""
        return [
            Violation(
                "expected_outcome", obs.hop, f"expected {expect.describe()}, got {got}{detail}"
            )
        ]
    if expect.cause and cause_of(obs.error_description) != expect.cause:
        observed = cause_of(obs.error_description) or "no cause code"
        return [
            Violation(
                "expected_outcome",
                obs.hop,
                f"expected cause {expect.cause}, the error_description begins with {observed}",
            )
        ]
    return []


def _may_act_expectation(obs: HopObservation) -> list[Violation]:
    wanted = obs.may_act_expected
    if wanted is None or obs.subject is None:
        return []
    may_act = obs.subject.get("may_act")
    named = may_act.get("sub") if isinstance(may_act, Mapping) else None
    if wanted == "none":
        if "may_act" in obs.subject:
            return [Violation("may_act_expected", obs.hop, f"the subject names {named!r}")]
        return []
    if named != wanted:
        seen = "no may_act" if "may_act" not in obs.subject else f"may_act.sub {named!r}"
        return [Violation("may_act_expected", obs.hop, f"expected {wanted!r}, found {seen}")]
    return []


def _issued(obs: HopObservation, issued: Mapping[str, Any]) -> list[Violation]:
    hop = obs.hop
    out: list[Violation] = []
    subject, actor = obs.subject, obs.actor

    # scope_narrowing (TX-SCOPE-001)
    granted = scope_set(issued)
    allowed: frozenset[str] | None = None
    if subject is not None:
        allowed = scope_set(subject)
    if obs.requested_scope is not None:
        requested = frozenset(obs.requested_scope)
        allowed = requested if allowed is None else allowed & requested
    if allowed is not None and not granted <= allowed:
        extra = " ".join(sorted(granted - allowed))
        out.append(Violation("scope_narrowing", hop, f"granted {extra!r} beyond {sorted(allowed)}"))

    # audience (TX-TGT-002)
    if obs.targets:
        aud = _audience(issued)
        if aud != frozenset(obs.targets):
            shown = sorted(aud) if aud is not None else issued.get("aud")
            out.append(
                Violation("audience", hop, f"aud is {shown!r}, requested {list(obs.targets)}")
            )

    # exp_bound (TX-EXP-001, TX-EXP-002)
    exp = issued.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        out.append(Violation("exp_bound", hop, "the issued token has no numeric exp"))
    else:
        for who, claims in (("subject", subject), ("actor", actor)):
            bound = claims.get("exp") if claims is not None else None
            if isinstance(bound, int | float) and not isinstance(bound, bool) and exp > bound:
                out.append(
                    Violation("exp_bound", hop, f"exp {exp} is later than the {who}'s {bound}")
                )

    # subject_preserved (TX-CLAIM-001)
    if subject is not None and issued.get("sub") != subject.get("sub"):
        out.append(
            Violation(
                "subject_preserved",
                hop,
                f"sub {issued.get('sub')!r} differs from the subject's {subject.get('sub')!r}",
            )
        )

    # act_nesting (TX-ACT-001, TX-ACT-002, TX-DLG-002)
    act = issued.get("act")
    if obs.actor_sent:
        expected_actor = actor.get("sub") if actor is not None else obs.actor_client_id
        if not isinstance(act, Mapping):
            out.append(Violation("act_nesting", hop, "a delegation issued no act object"))
        else:
            if expected_actor is not None and act.get("sub") != expected_actor:
                out.append(
                    Violation(
                        "act_nesting",
                        hop,
                        f"outermost act.sub is {act.get('sub')!r}, the actor is {expected_actor!r}",
                    )
                )
            if subject is not None and act.get("act") != subject.get("act"):
                out.append(
                    Violation(
                        "act_nesting",
                        hop,
                        f"the nested act {act_chain(act.get('act'))} is not the subject's "
                        f"act {act_chain(subject.get('act'))} unchanged",
                    )
                )
    elif "act" in issued:
        out.append(Violation("act_nesting", hop, "an exchange without actor_token issued act"))

    # act_identity_only (TX-ACT-003)
    for where in ("act", "may_act"):
        for problem in _forbidden_members(issued.get(where), where):
            out.append(Violation("act_identity_only", hop, problem))

    # may_act (TX-MAYACT-001)
    may_act = subject.get("may_act") if subject is not None else None
    if subject is not None and "may_act" in subject:
        named = may_act.get("sub") if isinstance(may_act, Mapping) else None
        acting = actor.get("sub") if actor is not None else obs.actor_client_id
        if obs.actor_sent and named != acting:
            out.append(
                Violation(
                    "may_act",
                    hop,
                    f"issued to actor {acting!r}; the subject's may_act names {named!r}",
                )
            )
        if obs.actor_sent and isinstance(may_act, Mapping) and obs.issuer is not None:
            named_iss = may_act.get("iss", subject.get("iss"))
            if named_iss != obs.issuer:
                out.append(
                    Violation(
                        "may_act",
                        hop,
                        f"issued although may_act.iss {named_iss!r} is not this issuer",
                    )
                )
        if "may_act" in issued and issued.get("may_act") == may_act:
            out.append(Violation("may_act", hop, "the subject's may_act was carried on"))

    # laundering (TX-DLG-001)
    if not obs.actor_sent and subject is not None:
        markers = [name for name in ("act", "may_act") if name in subject]
        if markers:
            out.append(
                Violation(
                    "laundering",
                    hop,
                    f"issued without an actor token for a subject carrying {', '.join(markers)}",
                )
            )

    # depth_limit (TX-DLG-003)
    depth = act_depth(act)
    if depth > obs.max_depth:
        out.append(
            Violation("depth_limit", hop, f"depth {depth} exceeds max_depth {obs.max_depth}")
        )
    return out


def check_hop(obs: HopObservation) -> list[Violation]:
    """Every invariant ``obs`` breaks, in the order of the module table."""
    found = _outcome(obs) + _may_act_expectation(obs)
    if not obs.succeeded:
        return found
    if obs.issued is None:
        why = "is not a JWT" if not obs.issued_raw_is_jwt else "is missing"
        return [*found, Violation("readable", obs.hop, f"the issued token {why}")]
    return found + _issued(obs, obs.issued)
