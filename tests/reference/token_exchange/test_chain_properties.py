"""Properties over random delegation chains (hypothesis).

A chain is a user token followed by exchanges agent-0 -> agent-1 -> ... where each hop
may wait, ask for a random scope, drop its actor token, and where the user token may carry a
``may_act``. A small oracle, written from spec 07 independently of the implementation,
predicts each hop's outcome; every issued token must also satisfy the invariants:

- scope never widens: ⊆ requested ∩ subject's ∩ policy's (TX-SCOPE-001);
- ``aud`` is exactly the requested target (TX-TGT-002);
- ``exp`` never grows: <= the subject's and the actor's, <= iat + max lifetime (TX-EXP-*);
- ``act`` nests exactly: the current actor outermost, the subject's ``act`` inside, unchanged
  (TX-ACT-001/002), with nothing but identity members (TX-ACT-003);
- ``may_act`` is honoured (TX-MAYACT-001), laundering is refused (TX-DLG-001), impersonation
  needs the policy (TX-DLG-002), and depth is bounded (TX-DLG-003).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from .conftest import ISSUER, build_service, decode

UNIVERSE = ("crm.read", "finance.read", "docs.write", "mail.send")
MAX_HOPS = 6
scope_sets = st.lists(st.sampled_from(UNIVERSE), unique=True)
wide_sets = st.lists(st.sampled_from(UNIVERSE), unique=True, min_size=3)
requested_scopes = st.lists(st.sampled_from(UNIVERSE), unique=True, min_size=1).map(tuple)


@dataclass(frozen=True)
class Hop:
    wait: int
    scope: tuple[str, ...] | None
    drop_actor: bool


@dataclass(frozen=True)
class Chain:
    user_scopes: tuple[str, ...]
    user_lifetime: int
    may_act: str | None  # None: no may_act; else the client_id it names
    max_depth: int
    impersonation: bool
    policy_scopes: tuple[tuple[str, ...], ...]
    hops: tuple[Hop, ...]


@st.composite
def chains(draw: st.DrawFn) -> Chain:
    n = draw(st.integers(1, MAX_HOPS), label="hops")
    return Chain(
        user_scopes=tuple(draw(st.one_of(scope_sets, wide_sets), label="user scopes")),
        user_lifetime=draw(st.sampled_from([120, 600, 1800, 3600]), label="user lifetime"),
        may_act=draw(
            st.sampled_from([None, None, None, "wl_agent-0", "wl_agent-1"]), label="may_act"
        ),
        max_depth=draw(st.integers(1, MAX_HOPS - 2), label="max_depth"),
        impersonation=draw(st.booleans(), label="impersonation"),
        policy_scopes=tuple(
            tuple(draw(st.one_of(wide_sets, scope_sets), label=f"policy {i} scopes"))
            for i in range(MAX_HOPS)
        ),
        hops=tuple(
            Hop(
                wait=draw(st.sampled_from([0, 0, 0, 30, 200, 700]), label=f"hop {i} wait"),
                scope=draw(
                    st.one_of(st.none(), st.none(), requested_scopes), label=f"hop {i} scope"
                ),
                drop_actor=draw(st.integers(0, 7), label=f"hop {i} actor") == 0,
            )
            for i in range(n)
        ),
    )


def _expected_refusal(
    chain: Chain,
    hop: Hop,
    index: int,
    now: int,
    subject_exp: int,
    subject_has_act: bool,
    subject_depth: int,
    held: tuple[str, ...],
) -> tuple[str, str] | None:
    """What spec 07 says this hop must answer, in TX-REQ-009 order, or None (issue)."""
    if now >= subject_exp:
        return "invalid_request", "subject_token_invalid"
    has_may_act = index == 0 and chain.may_act is not None
    if hop.drop_actor:
        if subject_has_act or has_may_act:
            return "invalid_request", "delegation_laundering"
        if not chain.impersonation:
            return "invalid_request", "impersonation_not_allowed"
    else:
        if has_may_act and chain.may_act != f"wl_agent-{index}":
            return "invalid_request", "may_act_mismatch"
        if subject_depth + 1 > chain.max_depth:
            return "invalid_request", "depth_exceeded"
    if hop.scope is not None:
        granted = set(hop.scope) & set(held) & set(chain.policy_scopes[index])
        if not granted:
            return "invalid_scope", "scope_not_granted"
    return None


def _walk(act: dict[str, Any] | None) -> list[dict[str, Any]]:
    levels = []
    while act is not None:
        levels.append(act)
        act = act.get("act")
    return levels


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(chain=chains())
def test_random_chains_follow_the_profile(chain: Chain) -> None:
    svc = build_service()
    for i in range(MAX_HOPS + 1):
        svc.add_workload(f"agent-{i}")
    for i in range(MAX_HOPS):
        svc.add_policy(
            f"agent-{i}-next",
            f"agent-{i}",
            audiences=[f"wl_agent-{i + 1}"],
            scopes=list(chain.policy_scopes[i]),
            max_depth=chain.max_depth,
            allow_impersonation=chain.impersonation,
        )
    extra: dict[str, Any] = {}
    if chain.may_act is not None:
        extra["may_act"] = {"sub": chain.may_act, "iss": ISSUER}
    subject = svc.user_token(
        scope=" ".join(chain.user_scopes) or None,  # type: ignore[arg-type]
        lifetime=chain.user_lifetime,
        **extra,
    )
    _, subject_claims = decode(subject)
    subject_act: dict[str, Any] | None = None
    held = chain.user_scopes

    for index, hop in enumerate(chain.hops):
        svc.clock.advance(hop.wait)
        now = int(svc.clock.now())
        client = f"agent-{index}"
        expected = _expected_refusal(
            chain,
            hop,
            index,
            now,
            subject_claims["exp"],
            subject_act is not None,
            len(_walk(subject_act)),
            held,
        )
        result = svc.exchange(
            client,
            subject,
            actor=None if hop.drop_actor else "own",
            audience=[f"wl_agent-{index + 1}"],
            scope=" ".join(hop.scope) if hop.scope is not None else None,
        )
        assert result.body is not None
        event(f"hop outcome: {expected[1] if expected else 'issued'}")
        if expected is not None:
            error, cause = expected
            assert result.body["error"] == error, (index, result.body)
            assert result.body["error_description"].startswith(cause + ": "), result.body
            return
        assert result.status == 200, (index, result.body)
        _, claims = decode(result.body["access_token"])

        # scope never widens
        granted = tuple(claims["scope"].split(" ")) if "scope" in claims else ()
        assert set(granted) <= set(held)
        assert set(granted) <= set(chain.policy_scopes[index])
        if hop.scope is not None:
            assert set(granted) <= set(hop.scope)
        assert result.body.get("scope") == (claims.get("scope"))
        # aud is the requested one
        assert claims["aud"] == f"wl_agent-{index + 1}"
        # exp never grows
        assert claims["exp"] <= subject_claims["exp"]
        assert claims["exp"] <= now + 900
        assert claims["exp"] == min(subject_claims["exp"], now + 900)
        assert result.body["expires_in"] == claims["exp"] - claims["iat"]
        # the subject is preserved
        assert claims["sub"] == "00u1sarah"
        assert claims["client_id"] == f"wl_{client}"
        # act nests exactly, current actor outermost
        if hop.drop_actor:
            assert "act" not in claims
        else:
            assert claims["act"]["sub"] == f"wl_{client}"
            assert claims["act"]["iss"] == ISSUER
            assert claims["act"].get("act") == subject_act
            levels = _walk(claims["act"])
            assert len(levels) == len(_walk(subject_act)) + 1 <= chain.max_depth
            for level in levels:
                assert set(level) <= {"sub", "iss", "act"}
        assert "may_act" not in claims

        subject, subject_claims = result.body["access_token"], claims
        subject_act = claims.get("act")
        held = granted
