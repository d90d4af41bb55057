"""Hypothesis strategies for delegation chains (a public API for other test suites).

Every strategy here produces valid :mod:`~proctor.conformance.chains.model` objects, and
:func:`chains` produces whole :class:`~proctor.conformance.chains.model.Chain` models
whose hops carry the outcome **proctor's profile of RFC 8693** predicts (spec 07): the
chain lab, the conformance kit's token-exchange suite and any team's own tests can run
them against a token endpoint and compare::

    from hypothesis import given
    from proctor.conformance.chains import run_chain
    from proctor.conformance.chains.strategies import chains

    @given(chains(max_hops=4))
    def test_my_sts_keeps_the_invariants(chain):
        result = run_chain(chain, client=my_client, issuer=MY_ISSUER, credentials=...)
        assert result.ok, [v.describe() for v in result.violations]

The building blocks:

- :func:`agent_names`, :func:`scopes`, :func:`scope_sets`, :func:`audiences`,
  :func:`resources`: the vocabulary;
- :func:`may_act_choices`: ``None`` or one of the given agents;
- :func:`policies`: an agent's :class:`~proctor.conformance.chains.model.AgentPolicy`;
- :func:`chain_shapes`: the structure of a chain (which agents, in which order, towards
  which final target, with which ``may_act`` and which deliberate fault per hop);
- :func:`chains`: a shape filled in with scopes, policies, and predicted outcomes.

Every chain is linear: the user's token goes to the first agent, each agent delegates to
the next one (the next agent's ``client_id`` is the audience, so it may exchange the
token, TX-SUBJ-004) and the last hop targets a resource or a final agent. A hop may carry
a **fault** (a scope the subject does not hold, an actor ``may_act`` does not name, a
laundering attempt, an impersonation the policy forbids, a chain one level too deep);
the chain ends at the first hop predicted to fail.

Seeded generation without hypothesis
------------------------------------
The chain builders are written once against a tiny :class:`Chooser` interface. The
hypothesis strategies drive them with hypothesis draws (so failures shrink);
:func:`random_chains` drives the *same* builders with :class:`random.Random` seeded by
the caller, so ``proctor chain random --seed 7`` prints the same chains on every machine
and every hypothesis version.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, TypeVar

from hypothesis import strategies as st

from proctor.conformance.chains.model import (
    AGENT_NAME,
    DEFAULT_MAX_DEPTH,
    AgentPolicy,
    Chain,
    Expect,
)

__all__ = [
    "AGENT_POOL",
    "AUDIENCES",
    "FAULTS",
    "RESOURCES",
    "SCOPES",
    "ChainShape",
    "Chooser",
    "Fault",
    "HypothesisChooser",
    "RandomChooser",
    "agent_names",
    "audiences",
    "build_chain",
    "build_shape",
    "chain_shapes",
    "chains",
    "may_act_choices",
    "policies",
    "predict",
    "random_chains",
    "resources",
    "scope_sets",
    "scopes",
]

T = TypeVar("T")

#: The scope vocabulary of generated chains (the mock Okta's ``default`` API has the
#: first three; the others are there so requests can ask for what nobody holds).
SCOPES: Final[tuple[str, ...]] = (
    "crm.read",
    "finance.read",
    "docs.write",
    "mail.send",
    "crm.write",
)
#: Agent names of generated chains: roles first, then numbered agents.
AGENT_POOL: Final[tuple[str, ...]] = (
    "orchestrator",
    "planner",
    "researcher",
    "sub-agent",
    "summariser",
    "crm-agent",
    "finance-agent",
    "mail-agent",
    *(f"agent-{n:02d}" for n in range(1, 21)),
)
#: Final targets that are not agents (RFC 8707 resource indicators).
RESOURCES: Final[tuple[str, ...]] = (
    "https://crm.example/mcp",
    "https://mail.example/mcp",
    "https://docs.example/api",
    "https://finance.example/ledger",
)
#: Logical audiences (RFC 8693 §2.1 ``audience``) for suites that need them.
AUDIENCES: Final[tuple[str, ...]] = ("crm-api", "urn:example:mail", "api://finance", "docs")

Fault = Literal["scope", "may_act", "laundering", "impersonation", "impersonation_allowed", "depth"]
#: The deliberate faults a hop may carry (``impersonation_allowed`` is not a fault of
#: the endpoint: the policy allows it, and the hop is expected to succeed without act).
FAULTS: Final[tuple[Fault, ...]] = (
    "scope",
    "may_act",
    "laundering",
    "impersonation",
    "impersonation_allowed",
    "depth",
)
#: How often "no fault" is drawn against each fault (4 : 1 each).
_NO_FAULT_WEIGHT: Final = 4
MAX_HOPS: Final = 16


# -- the chooser: one builder, two sources of randomness ----------------------------------


class Chooser(Protocol):
    """The choices the builders make. Implemented over hypothesis and over ``random``."""

    def integer(self, low: int, high: int) -> int: ...

    def choice(self, options: Sequence[T]) -> T: ...

    def subset(self, options: Sequence[T], min_size: int = 0) -> list[T]:
        """Distinct elements of ``options``, in the order of ``options``."""
        ...

    def sample(self, options: Sequence[T], k: int) -> list[T]:
        """``k`` distinct elements of ``options``, in drawn order."""
        ...


class HypothesisChooser:
    """Choices drawn by hypothesis (inside ``@st.composite``), so examples shrink."""

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw

    def integer(self, low: int, high: int) -> int:
        return self._draw(st.integers(low, high))

    def choice(self, options: Sequence[T]) -> T:
        return self._draw(st.sampled_from(list(options)))

    def subset(self, options: Sequence[T], min_size: int = 0) -> list[T]:
        if not options:
            return []
        picked = self._draw(
            st.lists(st.sampled_from(list(options)), unique=True, min_size=min_size)
        )
        return [option for option in options if option in picked]

    def sample(self, options: Sequence[T], k: int) -> list[T]:
        if k == 0:
            return []
        drawn: list[T] = self._draw(
            st.lists(st.sampled_from(list(options)), unique=True, min_size=k, max_size=k)
        )
        return drawn


class RandomChooser:
    """Choices from a seeded :class:`random.Random` (reproducible, no hypothesis)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def integer(self, low: int, high: int) -> int:
        return self._rng.randint(low, high)

    def choice(self, options: Sequence[T]) -> T:
        return options[self._rng.randrange(len(options))]

    def subset(self, options: Sequence[T], min_size: int = 0) -> list[T]:
        picked = [option for option in options if self._rng.random() < 0.5]
        while len(picked) < min(min_size, len(options)):
            extra = options[self._rng.randrange(len(options))]
            if extra not in picked:
                picked.append(extra)
        return [option for option in options if option in picked]

    def sample(self, options: Sequence[T], k: int) -> list[T]:
        return self._rng.sample(list(options), k)


# -- shapes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainShape:
    """The structure of a linear chain.

    ``agents[i]`` makes hop ``i + 1``; the last hop targets ``final_resource`` when set,
    else ``final_agent``. ``may_act`` is the agent the user's token names (``None``:
    no ``may_act``). ``faults[i]`` is hop ``i + 1``'s deliberate fault, or ``None``.
    """

    agents: tuple[str, ...]
    final_agent: str | None
    final_resource: str | None
    may_act: str | None
    faults: tuple[Fault | None, ...]

    @property
    def hops(self) -> int:
        return len(self.agents)


def _fault_options(hop: int, faults: bool) -> list[Fault | None]:
    if not faults:
        return [None]
    options: list[Fault | None] = [None] * (_NO_FAULT_WEIGHT * len(FAULTS))
    for fault in FAULTS:
        if fault == "may_act" and hop != 1:
            continue  # only the user's token carries may_act
        if fault == "laundering" and hop == 1:
            continue  # the user's token carries no act (may_act faults cover hop 1)
        if fault in ("impersonation", "impersonation_allowed") and hop != 1:
            continue  # later subjects carry act: that is the laundering fault
        if fault == "depth" and hop == 1:
            continue  # max_depth is at least 1
        options += [fault] * _NO_FAULT_WEIGHT
    return options


def build_shape(
    chooser: Chooser, *, min_hops: int = 1, max_hops: int = 4, faults: bool = True
) -> ChainShape:
    """A :class:`ChainShape` from ``chooser`` (see :func:`chain_shapes`)."""
    if not 1 <= min_hops <= max_hops <= MAX_HOPS:
        raise ValueError(f"need 1 <= min_hops <= max_hops <= {MAX_HOPS}")
    hops = chooser.integer(min_hops, max_hops)
    to_resource = chooser.choice((True, False))
    names = chooser.sample(AGENT_POOL, hops + (0 if to_resource else 1))
    agents = tuple(names[:hops])
    hop_faults = tuple(chooser.choice(_fault_options(n, faults)) for n in range(1, hops + 1))
    if hop_faults[0] == "may_act":
        others = [name for name in names if name != agents[0]] or [
            name for name in AGENT_POOL if name != agents[0]
        ][:1]
        may_act: str | None = chooser.choice(others)
    else:
        may_act = chooser.choice((None, None, agents[0]))
    return ChainShape(
        agents=agents,
        final_agent=None if to_resource else names[hops],
        final_resource=chooser.choice(RESOURCES) if to_resource else None,
        may_act=may_act,
        faults=hop_faults,
    )


# -- the prediction ---------------------------------------------------------------------------


@dataclass
class _State:
    scopes: tuple[str, ...]
    depth: int
    may_act: str | None


def predict(
    state_scopes: Sequence[str],
    depth: int,
    may_act: str | None,
    *,
    agent: str,
    actor: bool,
    requested: Sequence[str] | None,
    policy: AgentPolicy,
) -> tuple[Expect, tuple[str, ...], int]:
    """The profile's decision for one hop of a linear chain (spec 07, TX-REQ-009 steps
    8 and 9): ``(expected outcome, granted scopes, issued depth)``.

    ``state_scopes``/``depth``/``may_act`` describe the subject token (its scope set, its
    number of ``act`` levels, and the agent its ``may_act`` names); ``agent`` exchanges
    it, with its own actor token when ``actor``; ``requested`` is the ``scope`` parameter.
    """
    # step 8: laundering, impersonation, may_act, depth (TX-DLG-001/002, TX-MAYACT-001,
    # TX-DLG-003), in that order
    if not actor:
        if depth > 0 or may_act is not None:
            return Expect(error="invalid_request", cause="delegation_laundering"), (), depth
        if not policy.allow_impersonation:
            return Expect(error="invalid_request", cause="impersonation_not_allowed"), (), depth
        issued_depth = depth
    else:
        if may_act is not None and may_act != agent:
            return Expect(error="invalid_request", cause="may_act_mismatch"), (), depth
        issued_depth = depth + 1
        if issued_depth > policy.max_depth:
            return Expect(error="invalid_request", cause="depth_exceeded"), (), depth
    # step 9: scope = R ∩ S ∩ P, or S ∩ P without R (TX-SCOPE-001/002/003)
    allowed = set(policy.scopes or ())
    held = set(state_scopes)
    source = state_scopes if requested is None else requested
    granted = tuple(s for s in dict.fromkeys(source) if s in held and s in allowed)
    if requested is not None and not granted:
        return Expect(error="invalid_scope", cause="scope_not_granted"), (), depth
    return Expect(), granted, issued_depth


def _hop_plan(
    chooser: Chooser, fault: Fault | None, state: _State
) -> tuple[bool, list[str] | None, AgentPolicy]:
    """``(actor?, requested scope, the agent's policy)`` for one hop and its fault."""
    next_depth = state.depth + 1
    max_depth = chooser.integer(max(next_depth, 1), min(MAX_HOPS, next_depth + 3))
    if next_depth <= DEFAULT_MAX_DEPTH and chooser.choice((True, False)):
        max_depth = DEFAULT_MAX_DEPTH
    held = list(state.scopes)
    core: list[str] = chooser.subset(held, min_size=1) if held else []
    if core and chooser.integer(0, 3) > 0:
        # ask for some of what the subject holds, and maybe for more (which is dropped)
        extra = chooser.subset([s for s in SCOPES if s not in held])
        requested: list[str] | None = [s for s in SCOPES if s in core or s in extra]
    else:
        requested, core = None, []
    # the policy allows what is asked for, and maybe more
    others = chooser.subset([s for s in SCOPES if s not in core])
    policy_scopes = [s for s in SCOPES if s in core or s in others]
    actor = True
    allow_impersonation = False
    if fault == "scope":
        outside = [s for s in SCOPES if s not in held]
        if outside:
            requested = chooser.subset(outside, min_size=1)
    elif fault == "depth" and next_depth > 1:
        max_depth = next_depth - 1
    elif fault in ("laundering", "impersonation"):
        actor = False
    elif fault == "impersonation_allowed":
        actor, allow_impersonation = False, True
    policy = AgentPolicy(
        scopes=policy_scopes,
        max_depth=max_depth,
        allow_impersonation=allow_impersonation,
    )
    return actor, requested, policy


def build_chain(
    chooser: Chooser,
    *,
    min_hops: int = 1,
    max_hops: int = 4,
    faults: bool = True,
    name: str = "random-chain",
    idp: str = "okta",
    user: str = "sarah@example.com",
) -> Chain:
    """A :class:`Chain` from ``chooser`` (see :func:`chains`)."""
    shape = build_shape(chooser, min_hops=min_hops, max_hops=max_hops, faults=faults)
    user_scopes = chooser.subset(SCOPES, min_size=1)
    state = _State(tuple(user_scopes), 0, shape.may_act)
    agents: dict[str, dict[str, Any]] = {}
    hops: list[dict[str, Any]] = []
    for number, (agent, fault) in enumerate(zip(shape.agents, shape.faults, strict=True), 1):
        actor, requested, policy = _hop_plan(chooser, fault, state)
        expect, granted, depth = predict(
            state.scopes,
            state.depth,
            state.may_act,
            agent=agent,
            actor=actor,
            requested=requested,
            policy=policy,
        )
        agents[agent] = {"policy": policy.model_dump(exclude_defaults=True)}
        hop: dict[str, Any] = {"agent": agent}
        last = number == shape.hops
        if not last:
            hop["to"] = shape.agents[number]
        elif shape.final_resource is not None:
            hop["resource"] = [shape.final_resource]
        else:
            hop["to"] = shape.final_agent
        if requested is not None:
            hop["scope"] = requested
        if not actor:
            hop["actor"] = "none"
        if number == 1:
            hop["may_act"] = shape.may_act or "none"
        if fault is not None:
            hop["note"] = f"fault: {fault}"
        hop["expect"] = expect.model_dump(exclude_none=True) or "success"
        hops.append(hop)
        if not expect.success:
            break
        state = _State(granted, depth, None)
    for hop in hops:
        target = hop.get("to")
        if target is not None:
            agents.setdefault(target, {})
    token: dict[str, Any] = {
        "source": "mock_idp_mint",
        "idp": idp,
        "user": user,
        "scopes": user_scopes,
    }
    if shape.may_act is not None:
        token["may_act"] = shape.may_act
        agents.setdefault(shape.may_act, {})
    return Chain.model_validate(
        {
            "name": name,
            "description": f"{len(hops)} hops generated from {shape.hops} planned",
            "user": {"name": "Sarah", "token": token},
            "agents": agents,
            "hops": hops,
        }
    )


def random_chains(
    seed: int,
    count: int,
    *,
    min_hops: int = 1,
    max_hops: int = 4,
    faults: bool = True,
) -> Iterator[Chain]:
    """``count`` chains from ``random.Random(seed)``: the same seed, the same chains."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    chooser = RandomChooser(rng)
    for index in range(1, count + 1):
        yield build_chain(
            chooser,
            min_hops=min_hops,
            max_hops=max_hops,
            faults=faults,
            name=f"random-{seed}-{index}",
        )


# -- the hypothesis strategies ----------------------------------------------------------------


def agent_names() -> st.SearchStrategy[str]:
    """Any valid agent (workload) name: 3-64 characters ``[A-Za-z0-9_.-]``."""
    return st.from_regex(AGENT_NAME, fullmatch=True)


def scopes(universe: Sequence[str] = SCOPES) -> st.SearchStrategy[str]:
    """One scope value (RFC 6749 §3.3 ``scope-token``) from ``universe``."""
    return st.sampled_from(list(universe))


def scope_sets(
    universe: Sequence[str] = SCOPES, *, min_size: int = 0
) -> st.SearchStrategy[list[str]]:
    """A scope set (distinct values, in ``universe`` order)."""
    return st.composite(lambda draw: HypothesisChooser(draw).subset(universe, min_size))()


def audiences() -> st.SearchStrategy[str]:
    """A logical ``audience`` value (RFC 8693 §2.1)."""
    return st.sampled_from(AUDIENCES)


def resources() -> st.SearchStrategy[str]:
    """A ``resource`` indicator: an absolute URI without fragment (RFC 8707 §2)."""
    return st.sampled_from(RESOURCES)


def may_act_choices(agents: Sequence[str]) -> st.SearchStrategy[str | None]:
    """``None`` (no ``may_act``) or one of ``agents``."""
    return st.one_of(st.none(), st.sampled_from(list(agents)))


def policies(universe: Sequence[str] = SCOPES) -> st.SearchStrategy[AgentPolicy]:
    """An agent's exchange policy (as the embedded reference is provisioned)."""
    return st.builds(
        AgentPolicy,
        scopes=scope_sets(universe),
        max_depth=st.integers(1, 16),
        allow_impersonation=st.booleans(),
        actor=st.just("client"),
    )


def _composite(build: Callable[[Chooser], T]) -> st.SearchStrategy[T]:
    return st.composite(lambda draw: build(HypothesisChooser(draw)))()


def chain_shapes(
    *, min_hops: int = 1, max_hops: int = 4, faults: bool = True
) -> st.SearchStrategy[ChainShape]:
    """The structure of a linear chain of ``min_hops`` to ``max_hops`` hops."""
    return _composite(
        lambda chooser: build_shape(chooser, min_hops=min_hops, max_hops=max_hops, faults=faults)
    )


def chains(
    *, min_hops: int = 1, max_hops: int = 4, faults: bool = True, idp: str = "okta"
) -> st.SearchStrategy[Chain]:
    """Whole :class:`Chain` models with predicted outcomes (see the module docstring).

    The user's token is minted at the mock IdP named ``idp`` (the runner needs its URL).
    With ``faults=False`` every hop is expected to succeed.
    """
    return _composite(
        lambda chooser: build_chain(
            chooser, min_hops=min_hops, max_hops=max_hops, faults=faults, idp=idp
        )
    )
