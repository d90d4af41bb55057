"""Broken variants of the reference, each with one defect, are caught by the checks aimed
at that defect, and fail nothing unrelated.

Each variant is made by monkeypatching the reference in this process (the embedded
service runs in a thread of it); the reference itself has no switch for any of them.
``must`` are the checks aimed at the defect: each must FAIL. ``may`` are properties and
checks that can meet the defect too, depending on the examples drawn or on the clock
ticking between two hops; no other check may fail.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import Phase, settings

from proctor.conformance import hypothesis_profiles
from proctor.conformance.error_shape import SHAPE_SUFFIX, function_of
from proctor.conformance.results import Outcome
from proctor.conformance.target import TargetConnection
from proctor.reference import revocation, token_exchange, tokens
from tests.conformance.token_exchange.conftest import RunSuites, proctor_factory

pytestmark = pytest.mark.network

Patch = Callable[[pytest.MonkeyPatch], None]


def widen_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exchange grants what is requested (or everything held), without R ∩ S ∩ P."""

    def widened(requested: Any, held: Any, allowed: Any) -> tuple[str, ...]:
        return tuple(dict.fromkeys(requested if requested is not None else held))

    monkeypatch.setattr(token_exchange, "granted_scopes", widened)


def _issue_with(monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    original = token_exchange.TokenExchangeGrant._issue

    def issue(self: Any, exchange: Any, client: Any, subject: Any, *rest: Any) -> Any:
        return original(
            self,
            exchange,
            client,
            dataclasses.replace(
                subject, **{name: value(subject) for name, value in changes.items()}
            ),
            *rest,
        )

    monkeypatch.setattr(token_exchange.TokenExchangeGrant, "_issue", issue)


def drop_nested_act(monkeypatch: pytest.MonkeyPatch) -> None:
    """The issued act names the current actor only: the subject's act is dropped."""
    _issue_with(monkeypatch, act=lambda subject: None)


def outlive_subject(monkeypatch: pytest.MonkeyPatch) -> None:
    """The issued exp ignores the subject token's exp."""
    _issue_with(monkeypatch, exp=lambda subject: subject.exp + 86_400)


def _delegation_with(monkeypatch: pytest.MonkeyPatch, *, actor_sent: bool, **changes: Any) -> None:
    original = token_exchange.check_delegation

    def check(subject: Any, actor: Any, policy: Any, issuer: str) -> int:
        if (actor is not None) is actor_sent:
            subject = dataclasses.replace(subject, **changes)
        return int(original(subject, actor, policy, issuer))

    monkeypatch.setattr(token_exchange, "check_delegation", check)


def ignore_may_act(monkeypatch: pytest.MonkeyPatch) -> None:
    """A delegation does not look at the subject's may_act."""
    _delegation_with(monkeypatch, actor_sent=True, has_may_act=False, may_act=None)


def allow_laundering(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exchange without actor token ignores the subject's act and may_act."""
    _delegation_with(monkeypatch, actor_sent=False, act=None, has_may_act=False, may_act=None)


def no_cascade(monkeypatch: pytest.MonkeyPatch) -> None:
    """Revocation marks the token itself; nothing derived from it is affected."""

    def only_itself(registry: Any, jti: str, at: int) -> list[Any]:
        if not registry.mark_revoked(jti, at):
            return []
        record = registry.get(jti)
        return [record] if record is not None else []

    def itself(registry: Any, jti: str) -> str | None:
        record = registry.get(jti)
        return jti if record is not None and record.revoked_at is not None else None

    monkeypatch.setattr(revocation, "revoke_with_descendants", only_itself)
    monkeypatch.setattr(tokens, "revoked_ancestor", itself)


@dataclass(frozen=True)
class Mutant:
    patch: Patch
    must: frozenset[str]
    may: frozenset[str] = frozenset()
    #: The suites run against the variant (the ones whose checks the defect can meet).
    suites: tuple[str, ...] = ("token_exchange",)


CHAIN_TOKENS = "test_random_chains_never_widen_scope_retarget_or_extend_lifetime"
CHAIN_ACT = "test_random_chains_nest_act_exactly"
CHAIN_DELEGATION = "test_random_chains_honour_may_act_laundering_and_depth"
CHAIN_CODES = "test_random_chains_end_with_the_exact_error_codes"
CONFIGURED = "test_random_requests_on_the_configured_chain_keep_the_invariants"

MUTANTS: dict[str, Mutant] = {
    "widen scope in exchange": Mutant(
        widen_scope,
        must=frozenset(
            {
                "test_tx05_scope_never_widens",
                "test_the_default_scope_is_what_the_subject_holds_within_the_policy",
                # a scope nobody holds is issued instead of refused
                "test_refusals_name_their_cause",
            }
        ),
        may=frozenset({CHAIN_TOKENS, CHAIN_CODES, CONFIGURED}),
    ),
    "drop the nested act": Mutant(
        drop_nested_act,
        must=frozenset({"test_tx08_act_names_the_current_actor_outermost"}),
        may=frozenset(
            {CHAIN_ACT, CONFIGURED, "test_revocations_are_audited_with_every_cascaded_token"}
        ),
        suites=("token_exchange", "authorization_server"),
    ),
    "ignore may_act": Mutant(
        ignore_may_act,
        must=frozenset(
            {
                "test_tx06_an_actor_not_named_in_may_act_is_refused",
                "test_prior_actors_decide_nothing",
            }
        ),
        may=frozenset({CHAIN_DELEGATION, CHAIN_CODES}),
    ),
    "issue tokens that outlive the subject": Mutant(
        outlive_subject,
        must=frozenset({"test_tx10_derived_tokens_never_outlive_their_subject_or_actor"}),
        may=frozenset({CHAIN_TOKENS, CONFIGURED}),
    ),
    "allow laundering": Mutant(
        allow_laundering,
        must=frozenset({"test_tx07_delegated_tokens_are_not_laundered"}),
        may=frozenset({CHAIN_DELEGATION, CHAIN_CODES}),
    ),
    "revocation does not cascade": Mutant(
        no_cascade,
        must=frozenset(
            {
                "test_tx10_revoking_the_subject_invalidates_what_was_derived",
                "test_revoking_a_middle_token_cascades_down_and_never_up",
                "test_revoking_an_actor_token_cascades_to_what_it_acted_for",
                "test_revocations_are_audited_with_every_cascaded_token",
            }
        ),
        suites=("token_exchange", "authorization_server"),
    ),
}


@pytest.fixture
def no_shrinking(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing property is a catch as soon as it fails: shrinking a chain to its minimal
    form (dozens more chains, each provisioned afresh) proves nothing more here."""
    base = hypothesis_profiles._base

    def without_shrink(profile: hypothesis_profiles.HypothesisProfile) -> settings:
        return settings(base(profile), phases=[p for p in Phase if p is not Phase.shrink])

    monkeypatch.setattr(hypothesis_profiles, "_base", without_shrink)


@pytest.mark.usefixtures("no_shrinking")
@pytest.mark.parametrize("defect", list(MUTANTS))
def test_each_defect_is_caught_by_the_checks_aimed_at_it(
    defect: str,
    run_suites: RunSuites,
    reference: TargetConnection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mutant = MUTANTS[defect]
    mutant.patch(monkeypatch)
    done = run_suites(proctor_factory(reference), suites=mutant.suites, max_examples=4)
    assert not done.errors(), "\n".join(done.errors())
    # Every defect here is an acceptance: the refusal results catch it. Where the target
    # did not refuse, the check's error shape fails with it (CONF-CTRL-002); no other
    # check's may.
    failed = {name for name in done.failed() if not name.endswith(SHAPE_SUFFIX)}
    shapes = {function_of(name) for name in done.failed() if name.endswith(SHAPE_SUFFIX)}
    assert mutant.must <= failed, f"{defect}: not caught by {sorted(mutant.must - failed)}"
    aimed = mutant.must | mutant.may
    assert failed | shapes <= aimed, f"{defect}: also failed {sorted((failed | shapes) - aimed)}"
    assert int(done.outcome.exit_code) == 1
    outcomes = done.outcomes()
    assert all(outcomes[name] is Outcome.FAILED for name in mutant.must)
