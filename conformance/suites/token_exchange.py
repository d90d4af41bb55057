"""Token exchange (spec 07, RFC 8693): the token endpoint, delegation and the issued tokens.

The kit plays the scenario's parties over HTTP: a user token from a mock IdP, an
*orchestrator* that exchanges it with its own ``client_credentials`` token as the actor
token, a *sub-agent* that exchanges the result again, an *outsider* without exchange
permission (:class:`~proctor.conformance.exchange.ExchangeSetup`). Under the ``proctor``
profile the kit creates those workloads and their exchange policies itself; under
``rfc8693`` they come from the target config.

- the negative-test catalog ``TX-01`` … ``TX-12``, each its own check with the exact
  error code and status (RFC 8693 §2.2.2: ``invalid_request`` for a bad or unacceptable
  subject or actor token, never ``invalid_grant``);
- the request rules (grant types, repeated parameters, parameter hygiene, token types,
  targets), client authentication (``invalid_client`` 401 with ``WWW-Authenticate``) and
  the ``OA-07`` client-assertion negatives where ``private_key_jwt`` is declared;
- what is issued: ``act`` nesting, ``sub``/``sub_id``, a closed claim set, ``aud``,
  scope, lifetime, the response members;
- hypothesis properties over random delegation chains
  (:mod:`proctor.conformance.chains.strategies`, judged by the chain lab's invariants),
  each example with fresh agents, and over random requests on the configured chain.

Every negative check is bracketed by a positive control: a valid delegation succeeds
before and after it, and is reported twice (CONF-CTRL-002,
:mod:`~proctor.conformance.error_shape`): whether the target refused (no token issued),
and, as ``<check>::error_shape``, whether the refusal had the required status, ``error``
and headers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from proctor.conformance.chains.invariants import (
    ACT_FORBIDDEN,
    HopObservation,
    act_chain,
    check_hop,
    scope_set,
)
from proctor.conformance.chains.model import Chain, MintToken
from proctor.conformance.chains.runner import AgentCredentials, ChainResult, run_chain
from proctor.conformance.chains.strategies import SCOPES as CHAIN_SCOPES
from proctor.conformance.chains.strategies import chains
from proctor.conformance.checks import check
from proctor.conformance.config import Profile
from proctor.conformance.controls import ControlFactory, PositiveControl
from proctor.conformance.error_shape import error_shape
from proctor.conformance.errors import ConformanceFailure
from proctor.conformance.exchange import (
    ACCESS_TOKEN_TYPE,
    AUDIENCE,
    ID_TOKEN_TYPE,
    JWT_BEARER,
    JWT_TOKEN_TYPE,
    REFRESH_TOKEN_TYPE,
    RESOURCE,
    SAML2_TOKEN_TYPE,
    SECOND_AUDIENCE,
    TOKEN_EXCHANGE,
    Client,
    ExchangeSetup,
    audience_of,
    client_credentials,
    decode,
    exchange,
    exchange_pairs,
    exchange_setup,
    expect_error,
    expect_issued,
    oauth_error,
    post_form,
    revoke,
    tamper,
    token_request,
)
from proctor.conformance.native import expect_problem, refused
from proctor.conformance.target import Target

__all__ = ["exchange_setup"]

NEEDS: Final = ["token_exchange", "client_credentials"]
#: Checks that create exchange policies of their own.
OWN_POLICIES: Final = [*NEEDS, "control_plane"]
PROCTOR: Final[list[Profile]] = ["proctor"]
UNLISTED: Final = "urn:proctor:conformance:not-in-any-policy"
#: Claims an exchanged token may carry (TX-CLAIM-002) and a workload's own token (TX-CC-001).
EXCHANGED_CLAIMS: Final = frozenset(
    {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "sub_id", "act"}
)
OWN_CLAIMS: Final = frozenset({"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"})
MAX_LIFETIME: Final = 3600
#: TX-ACT-003: what an act object the service adds may contain.
ACT_MEMBERS: Final = frozenset({"sub", "iss", "client_id", "act"})


# -- helpers ----------------------------------------------------------------------------


def _control(positive_control: ControlFactory, setup: ExchangeSetup) -> PositiveControl:
    """A valid delegation (user token → orchestrator → sub-agent) succeeds."""
    return positive_control(
        "a valid delegation by the orchestrator to the sub-agent succeeds",
        setup.control_exchange,
        expect=200,
    )


def _refused(response: httpx.Response, error: str, what: str, **kwargs: Any) -> None:
    expect_error(response, error, what, **kwargs)


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ConformanceFailure(f"the token's {name} is not a number", observed=repr(value))
    return float(value)


def _subject_claims(setup: ExchangeSetup, token: str) -> dict[str, Any]:
    decoded = decode(token)
    if decoded is None:
        pytest.skip("the configured subject tokens are not JWTs the kit can read")
    return decoded[1]


def _pairs_without(pairs: Sequence[tuple[str, str]], name: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in pairs if k != name]


# -- TX-01 … TX-12 -------------------------------------------------------------------------


@check(
    "TX-REQ-002",
    "TX-REQ-006",
    shape=("TX-REQ-002", "TX-REQ-006", "TX-ERR-001", "ERR-OAUTH-001"),
    catalog="TX-01",
    needs=NEEDS,
)
def test_tx01_subject_token_and_a_supported_type_are_required(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """A missing ``subject_token`` or ``subject_token_type``, or an unsupported type, is
    ``invalid_request`` (RFC 8693 §2.1, §2.2.2)."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        actor = setup.own_token(setup.orchestrator)
        base = exchange_pairs(
            setup.user_token(), actor_token=actor, audience=[setup.subagent.client_id]
        )
        for name in ("subject_token", "subject_token_type"):
            response = token_request(proctor_target, setup.orchestrator, _pairs_without(base, name))
            _refused(response, "invalid_request", f"an exchange without {name}")
        for kind in (SAML2_TOKEN_TYPE, REFRESH_TOKEN_TYPE, "urn:example:unknown-token-type"):
            response = exchange(
                proctor_target,
                setup.orchestrator,
                setup.user_token(),
                subject_token_type=kind,
                actor_token=actor,
                audience=[setup.subagent.client_id],
            )
            _refused(response, "invalid_request", f"subject_token_type {kind}")


@check(
    "TX-REQ-003",
    "TX-REQ-006",
    shape=("TX-REQ-003", "TX-REQ-006"),
    catalog="TX-02",
    needs=NEEDS,
)
def test_tx02_actor_token_and_its_type_come_together(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """``actor_token`` without ``actor_token_type``, the type without the token, or an
    unsupported actor type (an ID token) is ``invalid_request`` (RFC 8693 §2.1)."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        actor = setup.own_token(setup.orchestrator)
        user = setup.user_token()
        target = [("audience", setup.subagent.client_id)]
        variants = {
            "actor_token without actor_token_type": [("actor_token", actor)],
            "actor_token_type without actor_token": [("actor_token_type", ACCESS_TOKEN_TYPE)],
            "actor_token_type id_token": [
                ("actor_token", actor),
                ("actor_token_type", ID_TOKEN_TYPE),
            ],
        }
        for what, extra in variants.items():
            pairs = exchange_pairs(user, audience=()) + extra + target
            response = token_request(proctor_target, setup.orchestrator, pairs)
            _refused(response, "invalid_request", what)


@check(
    "TX-SUBJ-001",
    "TX-SUBJ-003",
    "TX-ACTOR-001",
    "AS-FMT-004",
    shape=("TX-SUBJ-001", "TX-SUBJ-003", "TX-ACTOR-001", "TX-ERR-001"),
    catalog="TX-03",
    needs=NEEDS,
)
def test_tx03_forged_expired_or_foreign_tokens_are_invalid_request(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """Forged, malformed and expired subject or actor tokens are ``invalid_request`` and
    never ``invalid_grant`` (RFC 8693 §2.2.2)."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        user = setup.user_token()
        actor = setup.own_token(setup.orchestrator)
        first = expect_issued(setup.delegate(), "T1", proctor_target)
        subjects = {
            "a user token with a flipped signature bit": (setup.orchestrator, tamper(user)),
            "a subject token that is not a JWT": (setup.orchestrator, "not-a-token"),
            "T1 with a flipped signature bit": (setup.subagent, tamper(first.token)),
        }
        for what, (client, subject) in subjects.items():
            audience = [
                setup.subagent.client_id if client is setup.orchestrator else setup.audience
            ]
            own_actor = actor if client is setup.orchestrator else setup.own_token(client)
            response = exchange(
                proctor_target, client, subject, actor_token=own_actor, audience=audience
            )
            _refused(response, "invalid_request", what)
        response = exchange(
            proctor_target,
            setup.orchestrator,
            user,
            actor_token=tamper(actor),
            audience=[setup.subagent.client_id],
        )
        _refused(response, "invalid_request", "an actor token with a flipped signature bit")
        if setup.can_mint:
            for preset in ("expired", "bad_signature", "unknown_kid", "alg_none"):
                subject = setup.mint(presets=[preset])
                response = exchange(
                    proctor_target,
                    setup.orchestrator,
                    subject,
                    actor_token=actor,
                    audience=[setup.subagent.client_id],
                )
                _refused(response, "invalid_request", f"a user token minted {preset}")


@check("TX-TGT-001", shape=("TX-TGT-001",), catalog="TX-04", needs=NEEDS)
def test_tx04_targets_outside_the_policy_are_invalid_target(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """A target no single policy of the client permits is ``invalid_target``, alone or
    next to a permitted one (RFC 8693 §2.2.2, RFC 8707 §2)."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        actor = setup.own_token(setup.orchestrator)
        for audience, resource in (
            ([UNLISTED], []),
            ([setup.subagent.client_id, UNLISTED], []),
            ([setup.subagent.client_id], ["https://not-allowed.conformance.example/api"]),
        ):
            response = exchange(
                proctor_target,
                setup.orchestrator,
                setup.user_token(),
                actor_token=actor,
                audience=audience,
                resource=resource,
            )
            _refused(response, "invalid_target", f"audience {audience} resource {resource}")


@check("TX-SCOPE-001", "TX-SCOPE-003", shape=("TX-SCOPE-003",), catalog="TX-05", needs=NEEDS)
def test_tx05_scope_never_widens(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """Requested scopes the subject does not hold are dropped, never granted; a request of
    which nothing can be granted is ``invalid_scope`` (RFC 6749 §3.3)."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        user = setup.user_token()
        held = scope_set(_subject_claims(setup, user))
        if not held:
            pytest.skip("the configured subject tokens carry no scope")
        extra = [s for s in CHAIN_SCOPES if s not in held] or ["conformance.extra"]
        requested = " ".join([*sorted(held), *extra])
        issued = expect_issued(
            setup.delegate(user, scope=requested), "a delegation asking for more", proctor_target
        )
        widened = issued.scopes - held
        if widened:
            raise ConformanceFailure(
                "the issued token has scopes the subject does not hold",
                expected=f"a subset of {sorted(held)}",
                observed=f"also {sorted(widened)}",
            )
        response_scope = issued.body.get("scope")
        if isinstance(response_scope, str) and set(response_scope.split()) - held:
            raise ConformanceFailure(
                "the response's scope is wider than the subject's", observed=response_scope
            )
        if not issued.scopes:
            pytest.skip("T1 was granted no scope, so T2 cannot be judged")
        second = expect_issued(
            setup.delegate(issued.token, client=setup.subagent, scope=requested),
            "T2",
            proctor_target,
        )
        if not second.scopes <= issued.scopes:
            raise ConformanceFailure(
                "T2 has scopes T1 does not hold",
                observed=f"{sorted(second.scopes - issued.scopes)}",
            )
        response = setup.delegate(setup.user_token(), scope=" ".join(extra))
        _refused(response, "invalid_scope", "a request for scopes the subject does not hold")


def _may_act(setup: ExchangeSetup, client: Client, **changes: Any) -> str:
    may_act: Any = {"sub": client.client_id, "iss": setup.target.base_url, **changes}
    return setup.mint(claims={"may_act": may_act})


@check("TX-MAYACT-001", shape=("TX-MAYACT-001", "TX-ERR-001"), catalog="TX-06", needs=NEEDS)
def test_tx06_an_actor_not_named_in_may_act_is_refused(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """``may_act`` names who may act: another actor, another issuer or a malformed
    ``may_act`` is ``invalid_request``; the named actor succeeds and the issued token does
    not carry the ``may_act`` on (RFC 8693 §4.4)."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        named = expect_issued(
            setup.delegate(_may_act(setup, setup.orchestrator)),
            "a delegation by the actor may_act names",
            proctor_target,
        )
        if "may_act" in named.claims:
            raise ConformanceFailure("the issued token carries the subject's may_act on")
        variants = {
            "may_act naming the sub-agent": _may_act(setup, setup.subagent),
            "may_act naming another issuer": _may_act(
                setup, setup.orchestrator, iss="https://other-sts.conformance.example"
            ),
        }
        variants["a may_act that is a string"] = setup.mint(
            claims={"may_act": setup.orchestrator.client_id}
        )
        variants["a may_act without sub"] = setup.mint(
            claims={"may_act": {"iss": proctor_target.base_url}}
        )
        for what, subject in variants.items():
            _refused(setup.delegate(subject), "invalid_request", what)


def _launderer(setup: ExchangeSetup) -> tuple[Client, Client]:
    """A delegator and an agent whose policy allows impersonation (``proctor`` profile):
    only the laundering rule can stop an exchange without actor by the latter."""
    issuers = setup.issuers()
    launderer = setup.agent(
        "launderer",
        policy={
            "subject_issuers": issuers,
            "audiences": [AUDIENCE],
            "allow_impersonation": True,
            "scopes": list(CHAIN_SCOPES),
        },
    )
    delegator = setup.agent(
        "l-orch",
        policy={
            "subject_issuers": issuers,
            "audiences": [launderer.client_id],
            "scopes": list(CHAIN_SCOPES),
        },
    )
    return delegator, launderer


@check("TX-DLG-001", shape=("TX-DLG-001", "TX-ERR-001"), catalog="TX-07", needs=NEEDS)
def test_tx07_delegated_tokens_are_not_laundered(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """A subject token carrying ``act`` or ``may_act`` exchanged without an actor token is
    ``invalid_request``, even where the policy allows impersonation (Keycloak #52691).

    Under the ``proctor`` profile the exchanging agent's policy allows impersonation (an
    impersonation of a plain user token succeeds), so only the laundering rule can refuse.
    """
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        if setup.store is not None:
            delegator, client = _launderer(setup)
            audience = AUDIENCE
            first = expect_issued(
                setup.delegate(client=delegator, audience=[client.client_id]),
                "a delegation to the impersonation-allowed agent",
                proctor_target,
            )
            plain = exchange(proctor_target, client, setup.user_token(), audience=[audience])
            expect_issued(plain, "an impersonation the policy allows", proctor_target)
            may_act_client = client
        else:
            client, audience = setup.subagent, setup.audience
            first = expect_issued(setup.delegate(), "T1", proctor_target)
            may_act_client = setup.orchestrator
        response = exchange(proctor_target, client, first.token, audience=[audience])
        _refused(response, "invalid_request", "T1 (with act) exchanged without an actor token")
        if setup.can_mint:
            subject = _may_act(setup, may_act_client)
            target = audience if may_act_client is client else setup.subagent.client_id
            response = exchange(proctor_target, may_act_client, subject, audience=[target])
            _refused(
                response,
                "invalid_request",
                "a may_act subject token exchanged without an actor token",
            )


def _act_objects(act: Any) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    while isinstance(act, Mapping) and len(found) < 64:
        found.append(act)
        act = act.get("act")
    return found


@check("TX-ACT-001", "TX-ACT-002", "TX-ACT-003", "TX-CLAIM-001", catalog="TX-08", needs=NEEDS)
def test_tx08_act_names_the_current_actor_outermost(
    proctor_target: Target, exchange_setup: ExchangeSetup
) -> None:
    """T1's ``act`` is the orchestrator; T2's is the sub-agent with T1's ``act`` nested
    unchanged; no ``act`` level carries ``exp``, ``nbf``, ``iat``, ``jti`` or ``aud``; ``sub``
    is preserved (RFC 8693 §4.1)."""
    setup = exchange_setup
    issuer = proctor_target.base_url
    user = setup.user_token()
    first, second = setup.chain(user)
    act1, act2 = first.claims.get("act"), second.claims.get("act")
    if not isinstance(act1, Mapping) or act1.get("sub") != setup.orchestrator.client_id:
        raise ConformanceFailure(
            "T1's act does not name the orchestrator",
            expected=f"act.sub {setup.orchestrator.client_id!r}",
            observed=json.dumps(act1),
        )
    if act1.get("iss") != issuer:
        raise ConformanceFailure("T1's act.iss is not the issuer", observed=repr(act1.get("iss")))
    if not isinstance(act2, Mapping) or act2.get("sub") != setup.subagent.client_id:
        raise ConformanceFailure(
            "T2's outermost act is not the sub-agent", observed=json.dumps(act2)
        )
    if act2.get("act") != act1:
        raise ConformanceFailure(
            "T2 does not nest T1's act unchanged",
            expected=json.dumps(act1),
            observed=json.dumps(act2.get("act")),
        )
    if act_chain(act2) != [setup.subagent.client_id, setup.orchestrator.client_id]:
        raise ConformanceFailure("T2's actor chain is wrong", observed=str(act_chain(act2)))
    for name, token in (("T1", first), ("T2", second)):
        for level, act in enumerate(_act_objects(token.claims.get("act")), 1):
            bad = [m for m in ACT_FORBIDDEN if m in act]
            bad += sorted(set(act) - ACT_MEMBERS - set(ACT_FORBIDDEN))
            if bad:
                raise ConformanceFailure(f"{name}'s act level {level} carries {', '.join(bad)}")
    sub = _subject_claims(setup, user).get("sub")
    for name, token in (("T1", first), ("T2", second)):
        if token.claims.get("sub") != sub:
            raise ConformanceFailure(
                f"{name}'s sub is not the user's",
                expected=repr(sub),
                observed=repr(token.claims.get("sub")),
            )


@check(
    "TX-ACTOR-003",
    "TX-DLG-002",
    shape=("TX-ACTOR-003", "TX-DLG-002"),
    catalog="TX-09",
    needs=NEEDS,
)
def test_tx09_self_delegation_and_unpermitted_impersonation_are_refused(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """An exchange whose actor is its subject, or without an actor token where the policy
    does not allow impersonation, is ``invalid_request`` (Keycloak #50204)."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        response = exchange(
            proctor_target,
            setup.orchestrator,
            setup.user_token(),
            audience=[setup.subagent.client_id],
        )
        _refused(response, "invalid_request", "an exchange without an actor token")
        own = setup.own_token(setup.orchestrator)
        actor = setup.own_token(setup.orchestrator)
        response = exchange(
            proctor_target,
            setup.orchestrator,
            own,
            actor_token=actor,
            audience=[setup.subagent.client_id],
        )
        _refused(response, "invalid_request", "the orchestrator delegating its own token to itself")


@check("TX-EXP-001", "TX-EXP-002", catalog="TX-10", needs=NEEDS)
def test_tx10_derived_tokens_never_outlive_their_subject_or_actor(
    proctor_target: Target, exchange_setup: ExchangeSetup
) -> None:
    """A token issued for a short-lived subject expires no later than it, and no later
    than the actor token, at every hop."""
    setup = exchange_setup
    user = setup.mint(lifetime=120) if setup.can_mint else setup.user_token()
    subject_exp = _number(_subject_claims(setup, user), "exp")
    actor = setup.own_token(setup.orchestrator)
    actor_exp = _number(_subject_claims(setup, actor), "exp")
    first = expect_issued(
        exchange(
            proctor_target,
            setup.orchestrator,
            user,
            actor_token=actor,
            audience=[setup.subagent.client_id],
        ),
        "T1",
        proctor_target,
    )
    second = expect_issued(setup.delegate(first.token, client=setup.subagent), "T2", proctor_target)
    exp1, exp2 = _number(first.claims, "exp"), _number(second.claims, "exp")
    if exp1 > subject_exp:
        raise ConformanceFailure(
            "T1 outlives the user's token", expected=f"exp <= {subject_exp}", observed=f"exp {exp1}"
        )
    if exp1 > actor_exp:
        raise ConformanceFailure(
            "T1 outlives the actor token", expected=f"exp <= {actor_exp}", observed=f"exp {exp1}"
        )
    if exp2 > exp1:
        raise ConformanceFailure(
            "T2 outlives its subject T1", expected=f"exp <= {exp1}", observed=f"exp {exp2}"
        )


@check(
    "AS-CASC-001",
    "TX-SUBJ-003",
    shape=("TX-SUBJ-003", "TX-ERR-001"),
    catalog="TX-10",
    needs=[*NEEDS, "revocation"],
)
def test_tx10_revoking_the_subject_invalidates_what_was_derived(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """After T1 is revoked, neither T1 nor a token derived from it can be exchanged again
    (with a third agent: T2, issued to the sub-agent for it, by that agent)."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        first = expect_issued(setup.delegate(), "T1", proctor_target)
        second = None
        if setup.third is not None:
            second = expect_issued(
                setup.delegate(
                    first.token, client=setup.subagent, audience=[setup.third.client_id]
                ),
                "T2 for the third agent",
                proctor_target,
            )
        done = revoke(proctor_target, setup.orchestrator, first.token)
        if done.status_code != 200:
            raise ConformanceFailure(
                "the orchestrator cannot revoke T1", observed=f"HTTP {done.status_code}"
            )
        response = setup.delegate(first.token, client=setup.subagent)
        _refused(response, "invalid_request", "a revoked T1 as subject token")
        if setup.third is not None and second is not None:
            response = setup.delegate(second.token, client=setup.third, audience=[setup.audience])
            _refused(response, "invalid_request", "T2, derived from a revoked T1, as subject")


def _depth_agents(setup: ExchangeSetup, max_depth: int) -> tuple[Client, Client]:
    issuers = setup.issuers()
    limited = setup.agent(
        f"depth{max_depth}",
        policy={
            "subject_issuers": issuers,
            "audiences": [AUDIENCE],
            "max_depth": max_depth,
            "scopes": list(CHAIN_SCOPES),
        },
    )
    delegator = setup.agent(
        f"d{max_depth}-orch",
        policy={
            "subject_issuers": issuers,
            "audiences": [limited.client_id],
            "scopes": list(CHAIN_SCOPES),
        },
    )
    return delegator, limited


@check(
    "TX-DLG-003",
    shape=("TX-DLG-003", "TX-ERR-001"),
    catalog="TX-11",
    needs=OWN_POLICIES,
    profiles=PROCTOR,
)
def test_tx11_chains_deeper_than_max_depth_are_refused(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """With ``max_depth: 1`` a second delegation is ``invalid_request``; with
    ``max_depth: 2`` the same delegation succeeds."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        for max_depth, allowed in ((2, True), (1, False)):
            delegator, limited = _depth_agents(setup, max_depth)
            first = expect_issued(
                setup.delegate(client=delegator, audience=[limited.client_id]),
                "a first delegation",
                proctor_target,
            )
            response = setup.delegate(first.token, client=limited, audience=[AUDIENCE])
            if allowed:
                expect_issued(response, "a delegation of depth 2 under max_depth 2")
            else:
                _refused(response, "invalid_request", "a delegation of depth 2 under max_depth 1")


@check(
    "TX-REQ-006",
    "TX-REQ-007",
    "TX-RESP-001",
    shape=("TX-REQ-006",),
    catalog="TX-12",
    needs=NEEDS,
)
def test_tx12_id_tokens_where_disallowed_are_refused_and_issued_token_type_is_present(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """An ID token as subject where the policy does not allow it is ``invalid_request``;
    every successful response carries ``issued_token_type`` (RFC 8693 §2.2.1).

    Skipped where the kit cannot mint an ID token (no mock IdP): the refusal is the
    catalog case, and a check declaring an error shape must judge one.
    ``issued_token_type`` is judged on every target by the response checks too.
    """
    setup = exchange_setup
    id_token = setup.mint(presets=["id_token"])
    with _control(positive_control, setup).bracket() as first:
        body = first.json()
        if body.get("issued_token_type") != ACCESS_TOKEN_TYPE:
            raise ConformanceFailure(
                "a successful exchange must name issued_token_type",
                expected=ACCESS_TOKEN_TYPE,
                observed=repr(body.get("issued_token_type")),
            )
        response = setup.delegate(id_token, subject_token_type=ID_TOKEN_TYPE)
        _refused(response, "invalid_request", "an ID token subject the policy disallows")


# -- request rules -----------------------------------------------------------------------------


@check(
    "TX-REQ-001",
    "ERR-HTTP-003",
    shape=("TX-REQ-001", "ERR-OAUTH-004", "ERR-HTTP-003"),
    needs=NEEDS,
)
def test_grant_type_is_required_and_only_two_are_supported(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """No ``grant_type`` is ``invalid_request``; any grant other than
    ``client_credentials`` and token exchange is ``unsupported_grant_type``."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        pairs = exchange_pairs(
            setup.user_token(), grant_type=None, audience=[setup.subagent.client_id]
        )
        _refused(
            token_request(proctor_target, setup.orchestrator, pairs),
            "invalid_request",
            "a request without grant_type",
        )
        for grant in (
            "authorization_code",
            "password",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "urn:example:unknown",
        ):
            response = token_request(
                proctor_target,
                setup.orchestrator,
                [
                    ("grant_type", grant),
                    ("code", "x"),
                    ("username", "u"),
                    ("password", "p"),
                    ("refresh_token", "r"),
                ],
            )
            _refused(response, "unsupported_grant_type", f"grant_type {grant}")
        headers, auth = setup.orchestrator.auth(proctor_target.base_url)
        as_json = proctor_target.client.post(
            proctor_target.endpoint("token"),
            json={**dict(auth), **dict(pairs), "grant_type": TOKEN_EXCHANGE},
            headers=headers,
        )
        _refused(as_json, "invalid_request", "a token request with a JSON body")


@check("TX-REQ-004", shape=("TX-REQ-004",), needs=NEEDS)
def test_only_audience_and_resource_may_repeat(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """Any parameter but ``audience`` and ``resource`` sent twice (even with equal values)
    is ``invalid_request``; two audiences are accepted (RFC 8693 §2.1)."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        actor = setup.own_token(setup.orchestrator)
        base = exchange_pairs(
            setup.user_token(), actor_token=actor, scope=None, audience=[setup.subagent.client_id]
        )
        base.append(("requested_token_type", ACCESS_TOKEN_TYPE))
        for name in (
            "grant_type",
            "subject_token",
            "subject_token_type",
            "actor_token",
            "actor_token_type",
            "requested_token_type",
        ):
            value = next(v for k, v in base if k == name)
            response = token_request(proctor_target, setup.orchestrator, [*base, (name, value)])
            _refused(response, "invalid_request", f"{name} sent twice")
        scoped = [*base, ("scope", "crm.read"), ("scope", "crm.read")]
        _refused(
            token_request(proctor_target, setup.orchestrator, scoped),
            "invalid_request",
            "scope sent twice",
        )
        posted = [("client_id", setup.orchestrator.client_id)] * 2
        response = post_form(
            proctor_target,
            proctor_target.endpoint("token"),
            [*base, *posted],
            setup.orchestrator.basic(),
        )
        _refused(response, "invalid_request", "client_id sent twice")
        if setup.store is not None:
            issued = expect_issued(
                exchange(
                    proctor_target,
                    setup.subagent,
                    expect_issued(setup.delegate(), "T1", proctor_target).token,
                    actor_token=setup.own_token(setup.subagent),
                    audience=[AUDIENCE, SECOND_AUDIENCE],
                ),
                "two audiences",
                proctor_target,
            )
            if audience_of(issued.claims) != [AUDIENCE, SECOND_AUDIENCE]:
                raise ConformanceFailure(
                    "two audiences must both be the token's aud",
                    observed=repr(issued.claims.get("aud")),
                )


@check("TX-REQ-005", shape=("TX-REQ-005",), needs=NEEDS)
def test_empty_and_unknown_parameters_and_query_strings(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """An empty parameter counts as omitted, an unknown one is ignored, and a token
    endpoint URL with a query is ``invalid_request`` (RFC 6749 §3.2)."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        actor = setup.own_token(setup.orchestrator)
        base = exchange_pairs(
            setup.user_token(), actor_token=actor, audience=[setup.subagent.client_id]
        )
        for what, extra in (
            ("an empty scope", [("scope", "")]),
            ("an empty resource", [("resource", "")]),
            ("an unknown parameter", [("conformance_unknown", "1")]),
        ):
            response = token_request(proctor_target, setup.orchestrator, [*base, *extra])
            expect_issued(response, f"an exchange with {what}", proctor_target)
        headers, auth = setup.orchestrator.auth(proctor_target.base_url)
        url = proctor_target.endpoint("token") + "?audience=x"
        response = post_form(proctor_target, url, [*auth, *base], headers)
        _refused(response, "invalid_request", "a token request with a URL query")


@check("TX-REQ-007", shape=("TX-REQ-007",), needs=NEEDS)
def test_requested_token_type(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """``requested_token_type`` ``jwt`` is answered as ``jwt``; an unsupported type
    (ID token, refresh token, SAML) is ``invalid_request`` (RFC 8693 §2.1)."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        issued = expect_issued(
            setup.delegate(requested_token_type=JWT_TOKEN_TYPE),
            "requested_token_type jwt",
            proctor_target,
        )
        if issued.body.get("issued_token_type") != JWT_TOKEN_TYPE:
            raise ConformanceFailure(
                "requested jwt, answered another issued_token_type",
                observed=repr(issued.body.get("issued_token_type")),
            )
        for kind in (ID_TOKEN_TYPE, REFRESH_TOKEN_TYPE, SAML2_TOKEN_TYPE):
            _refused(
                setup.delegate(requested_token_type=kind),
                "invalid_request",
                f"requested_token_type {kind}",
            )


@check("TX-REQ-008", shape=("TX-REQ-008",), needs=NEEDS)
def test_a_well_formed_target_is_required(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """No target, or a ``resource`` that is relative, not a URI or has a fragment, is
    ``invalid_target`` (RFC 8707 §2)."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        _refused(setup.delegate(audience=[]), "invalid_target", "an exchange without a target")
        for resource in ("crm/mcp", "not a uri", "https://crm.conformance.example/mcp#frag"):
            response = setup.delegate(audience=[], resource=[resource])
            _refused(response, "invalid_target", f"resource {resource!r}")


@check("TX-TGT-001", shape=("TX-TGT-001", "ERR-OAUTH-004"), needs=NEEDS)
def test_a_client_without_exchange_permission_is_unauthorized_client(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """A client that may not use token exchange is ``unauthorized_client`` (RFC 6749
    §5.2)."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        response = setup.delegate(client=setup.outsider, audience=[setup.audience])
        _refused(response, "unauthorized_client", "a token exchange by the outsider")


# -- client authentication -------------------------------------------------------------------


def _unauthenticated_variants(
    setup: ExchangeSetup,
) -> dict[str, tuple[dict[str, str], list[tuple[str, str]]]]:
    client = setup.orchestrator
    wrong = Client(client.name, client.client_id, "wrong-" + (client.secret or "secret"))
    unknown = Client("unknown", "conformance-unknown-client", "conformance-secret-value")
    return {
        "no client authentication": ({}, []),
        "a client_id alone (a public client)": ({}, [("client_id", client.client_id)]),
        "an unknown client": (unknown.basic(), []),
        "a wrong secret (Basic)": (wrong.basic(), []),
        "a wrong secret (post)": ({}, wrong.post()),
        "a Bearer token instead of client credentials": (
            {"Authorization": "Bearer conformance-not-a-credential"},
            [],
        ),
    }


@check("TX-CAUTH-001", shape=("TX-CAUTH-001", "ERR-OAUTH-002"), needs=NEEDS)
def test_client_authentication_is_required(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """Every unauthenticated token request is ``invalid_client``, HTTP 401 with a
    ``WWW-Authenticate`` challenge (RFC 6749 §5.2)."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        pairs = exchange_pairs(
            setup.user_token(),
            actor_token=setup.own_token(setup.orchestrator),
            audience=[setup.subagent.client_id],
        )
        for what, (headers, auth) in _unauthenticated_variants(setup).items():
            response = post_form(
                proctor_target, proctor_target.endpoint("token"), [*auth, *pairs], headers
            )
            _refused(response, "invalid_client", what)


@check("TX-CAUTH-002", "AS-META-003", shape=("TX-CAUTH-002", "AS-META-003"), needs=NEEDS)
def test_secret_methods_are_accepted_and_unsupported_ones_refused(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """A secret client authenticates with Basic and with the body alike; an HMAC
    assertion (``client_secret_jwt``) or an unknown assertion type is ``invalid_client``."""
    setup = exchange_setup
    client = setup.orchestrator
    if client.secret is None:
        pytest.skip("the orchestrator does not authenticate with a secret")
    with _control(positive_control, setup).bracket():
        for what, (headers, auth) in {
            "Basic": (client.basic(), []),
            "the body": ({}, client.post()),
        }.items():
            response = post_form(
                proctor_target,
                proctor_target.endpoint("token"),
                [*auth, ("grant_type", "client_credentials")],
                headers,
            )
            expect_issued(response, f"client_credentials authenticated in {what}", proctor_target)
        hmac_assertion = _hs256_assertion(client, proctor_target.base_url)
        variants = {
            "an HS256 client assertion (client_secret_jwt)": [
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", hmac_assertion),
            ],
            "an unknown client_assertion_type": [
                ("client_assertion_type", "urn:example:unknown"),
                ("client_assertion", hmac_assertion),
                ("client_id", client.client_id),
            ],
        }
        for what, auth in variants.items():
            response = post_form(
                proctor_target,
                proctor_target.endpoint("token"),
                [*auth, ("grant_type", "client_credentials")],
            )
            _refused(response, "invalid_client", what)


def _hs256_assertion(client: Client, audience: str) -> str:
    import base64
    import hashlib
    import hmac
    import secrets
    import time

    def segment(value: Mapping[str, Any]) -> str:
        raw = json.dumps(dict(value), separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    now = int(time.time())
    signing = (
        segment({"alg": "HS256", "typ": "JWT"})
        + "."
        + segment(
            {
                "iss": client.client_id,
                "sub": client.client_id,
                "aud": audience,
                "jti": secrets.token_urlsafe(12),
                "iat": now,
                "exp": now + 60,
            }
        )
    )
    mac = hmac.new((client.secret or "").encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


@check("TX-CAUTH-003", shape=("TX-CAUTH-003",), needs=NEEDS)
def test_one_authentication_method_per_request(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """Basic together with a body secret is ``invalid_request``; a body ``client_id`` that
    is not the authenticated client is ``invalid_client`` (RFC 6749 §2.3)."""
    setup = exchange_setup
    client = setup.orchestrator
    if client.secret is None:
        pytest.skip("the orchestrator does not authenticate with a secret")
    with _control(positive_control, setup).bracket():
        grant = [("grant_type", "client_credentials")]
        response = post_form(
            proctor_target,
            proctor_target.endpoint("token"),
            [*client.post(), *grant],
            client.basic(),
        )
        _refused(response, "invalid_request", "Basic and client_secret in the body")
        response = post_form(
            proctor_target,
            proctor_target.endpoint("token"),
            [("client_id", setup.subagent.client_id), *grant],
            client.basic(),
        )
        _refused(response, "invalid_client", "a body client_id naming another client")


def _pkj_client(setup: ExchangeSetup) -> Client:
    if setup.store is not None:
        return setup.agent("pkj", method="private_key_jwt")
    config = setup.target.config
    for name, creds in config.credentials.clients.items():
        if creds.auth_method == "private_key_jwt":
            from proctor.conformance.exchange import client_from_config

            return client_from_config(name, creds)
    pytest.skip("no client with auth_method private_key_jwt under credentials.clients")


def _assertion_control(
    positive_control: ControlFactory, target: Target, client: Client
) -> PositiveControl:
    return positive_control(
        "client_credentials with a valid client assertion succeeds",
        lambda: client_credentials(target, client),
        expect=200,
    )


def _assertion_refused(target: Target, client: Client, what: str, assertion: str) -> None:
    response = post_form(
        target,
        target.endpoint("token"),
        [
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
            ("grant_type", "client_credentials"),
        ],
    )
    _refused(response, "invalid_client", what)


PKJ: Final = [*NEEDS, "private_key_jwt"]


@check("WID-PKJ-002", "TX-CAUTH-001", shape=("TX-CAUTH-001",), catalog="OA-07", needs=PKJ)
def test_oa07_an_assertion_for_another_audience_is_refused(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """A client assertion whose ``aud`` is another server is ``invalid_client``."""
    client = _pkj_client(exchange_setup)
    with _assertion_control(positive_control, proctor_target, client).bracket():
        _assertion_refused(
            proctor_target,
            client,
            "an assertion for another audience",
            client.assertion("https://other-as.conformance.example"),
        )


@check("WID-PKJ-002", "TX-CAUTH-001", shape=("TX-CAUTH-001",), catalog="OA-07", needs=PKJ)
def test_oa07_an_assertion_with_an_audience_array_is_refused(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """``aud`` as an array, even ``[issuer]``, is ``invalid_client``
    (draft-ietf-oauth-rfc7523bis: audience injection)."""
    client = _pkj_client(exchange_setup)
    issuer = proctor_target.base_url
    with _assertion_control(positive_control, proctor_target, client).bracket():
        for aud in ([issuer], [issuer, "https://other-as.conformance.example"]):
            _assertion_refused(
                proctor_target,
                client,
                f"an assertion with aud {aud}",
                client.assertion(issuer, aud=aud),
            )


@check("WID-PKJ-002", "TX-CAUTH-001", shape=("TX-CAUTH-001",), catalog="OA-07", needs=PKJ)
def test_oa07_an_assertion_for_the_token_endpoint_url_is_refused(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """``aud`` = the token endpoint URL (allowed by RFC 7523 §3) is ``invalid_client``:
    only the issuer identifier is accepted (rfc7523bis)."""
    client = _pkj_client(exchange_setup)
    with _assertion_control(positive_control, proctor_target, client).bracket():
        _assertion_refused(
            proctor_target,
            client,
            "an assertion for the token endpoint URL",
            client.assertion(proctor_target.endpoint("token")),
        )


@check("WID-PKJ-003", "TX-CAUTH-001", shape=("TX-CAUTH-001",), catalog="OA-07", needs=PKJ)
def test_oa07_an_expired_assertion_is_refused(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """An assertion that expired ten minutes ago (or lives longer than five minutes, or has
    no ``exp``) is ``invalid_client``."""
    import time

    client = _pkj_client(exchange_setup)
    now = int(time.time())
    issuer = proctor_target.base_url
    with _assertion_control(positive_control, proctor_target, client).bracket():
        for what, changes in (
            ("expired", {"iat": now - 900, "exp": now - 600}),
            ("valid for an hour", {"exp": now + 3600}),
            ("without exp", {"exp": None}),
        ):
            _assertion_refused(
                proctor_target, client, f"an assertion {what}", client.assertion(issuer, **changes)
            )


@check("WID-PKJ-004", "TX-CAUTH-001", shape=("TX-CAUTH-001",), catalog="OA-07", needs=PKJ)
def test_oa07_a_replayed_assertion_is_refused(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """The same assertion (same ``jti``) used twice is refused the second time."""
    client = _pkj_client(exchange_setup)
    with _assertion_control(positive_control, proctor_target, client).bracket():
        assertion = client.assertion(proctor_target.base_url)
        form = [
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
            ("grant_type", "client_credentials"),
        ]
        first = post_form(proctor_target, proctor_target.endpoint("token"), form)
        expect_issued(first, "the first use of an assertion", proctor_target)
        _assertion_refused(proctor_target, client, "the same assertion replayed", assertion)


@check(
    "WID-PKJ-001",
    "WID-PKJ-005",
    "TX-CAUTH-002",
    shape=("TX-CAUTH-001", "TX-CAUTH-002"),
    catalog="OA-07",
    needs=PKJ,
)
def test_oa07_assertions_must_be_signed_by_the_client(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """An assertion with ``iss`` ≠ ``sub``, signed by another key, or unsigned is
    ``invalid_client``."""
    from joserfc.jwk import ECKey

    client = _pkj_client(exchange_setup)
    issuer = proctor_target.base_url
    with _assertion_control(positive_control, proctor_target, client).bracket():
        stranger = Client(
            client.name,
            client.client_id,
            None,
            "private_key_jwt",
            ECKey.generate_key("P-256", private=True),
            client.kid,
        )
        _assertion_refused(
            proctor_target, client, "an assertion signed by another key", stranger.assertion(issuer)
        )
        _assertion_refused(
            proctor_target,
            client,
            "an assertion whose iss is not its sub",
            client.assertion(issuer, iss="conformance-someone-else"),
        )
        head, body, _ = client.assertion(issuer).split(".")
        none = _replace_header(head, {"alg": "none"})
        _assertion_refused(
            proctor_target, client, "an unsigned assertion (alg none)", f"{none}.{body}."
        )


def _replace_header(segment: str, changes: Mapping[str, Any]) -> str:
    import base64

    header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    header.update(changes)
    raw = json.dumps(header, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# -- subject and actor tokens ------------------------------------------------------------------


@check(
    "TX-SUBJ-002",
    "TX-SUBJ-001",
    shape=("TX-SUBJ-002", "TX-SUBJ-001"),
    needs=OWN_POLICIES,
    profiles=PROCTOR,
)
def test_external_subjects_go_through_the_workloads_authorizer(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """A user token the authorizer denies, an exchange by a workload without an
    authorizer, and an issuer outside ``subject_issuers`` are ``invalid_request``."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        for preset in ("wrong_audience", "wrong_issuer", "not_yet_valid"):
            _refused(
                setup.delegate(setup.mint(presets=[preset])),
                "invalid_request",
                f"a user token minted {preset}",
            )
        policy = {"subject_issuers": setup.issuers(), "audiences": [AUDIENCE]}
        bare = setup.agent("no-authorizer", authorizer=False, policy=policy)
        _refused(
            setup.delegate(client=bare, audience=[AUDIENCE]),
            "invalid_request",
            "an exchange by a workload without an authorizer",
        )
        own_only = setup.agent("self-only", policy={**policy, "subject_issuers": ["self"]})
        _refused(
            setup.delegate(client=own_only, audience=[AUDIENCE]),
            "invalid_request",
            "a user token whose issuer is not in subject_issuers",
        )


@check("TX-SUBJ-004", shape=("TX-SUBJ-004", "TX-ERR-001"), needs=NEEDS)
def test_own_subject_tokens_are_bound_to_their_audience(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """A token issued to the sub-agent for the final audience cannot be exchanged by the
    orchestrator: ``invalid_request``."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        _, second = setup.chain()
        response = setup.delegate(
            second.token, client=setup.orchestrator, audience=[setup.subagent.client_id]
        )
        _refused(response, "invalid_request", "T2 exchanged by a workload it was not issued to")


@check(
    "TX-ACTOR-001",
    "TX-ACTOR-002",
    "AS-FMT-004",
    shape=("TX-ACTOR-001", "TX-ACTOR-002", "TX-ERR-001"),
    needs=NEEDS,
)
def test_the_actor_token_proves_the_requesting_workload(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """A user token, a delegated token (with ``act``) or another workload's token as the
    actor token is ``invalid_request``."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        first = expect_issued(setup.delegate(), "T1", proctor_target)
        actors = {
            "a user token as actor": setup.user_token(),
            "a delegated token (with act) as actor": first.token,
            "the sub-agent's token as the orchestrator's actor": setup.own_token(setup.subagent),
        }
        for what, actor in actors.items():
            response = exchange(
                proctor_target,
                setup.orchestrator,
                setup.user_token(),
                actor_token=actor,
                audience=[setup.subagent.client_id],
            )
            _refused(response, "invalid_request", what)
        if setup.store is not None:
            for_resource = setup.own_token(setup.orchestrator, audience=[AUDIENCE])
            response = exchange(
                proctor_target,
                setup.orchestrator,
                setup.user_token(),
                actor_token=for_resource,
                audience=[setup.subagent.client_id],
            )
            _refused(response, "invalid_request", "an actor token for another audience")


@check("TX-ACT-004", shape=("TX-ACT-004", "TX-ERR-001"), needs=NEEDS)
def test_foreign_act_objects_with_non_identity_claims_are_refused(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """A subject whose ``act`` carries ``exp``/``aud``, is not an object, or nests deeper
    than 16 is ``invalid_request``."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        deep: dict[str, Any] = {"sub": "agent-17"}
        for n in range(16, 0, -1):
            deep = {"sub": f"agent-{n}", "act": deep}
        for what, act in (
            ("an act with exp", {"sub": "prior-agent", "exp": 4_102_444_800}),
            ("a nested act with aud", {"sub": "a", "act": {"sub": "b", "aud": "x"}}),
            ("an act that is a string", "prior-agent"),
            ("an act nested 17 deep", deep),
        ):
            _refused(setup.delegate(setup.mint(claims={"act": act})), "invalid_request", what)


@check("TX-ACT-005", "TX-MAYACT-001", shape=("TX-MAYACT-001",), needs=NEEDS)
def test_prior_actors_decide_nothing(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """A prior actor nested in ``act`` neither satisfies ``may_act`` nor lets a workload
    act: only the current actor counts (RFC 8693 §4.1)."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        act = {"sub": setup.orchestrator.client_id, "iss": proctor_target.base_url}
        subject = setup.mint(
            claims={
                "act": {"sub": "conformance-current-actor", "act": act},
                "may_act": {"sub": "conformance-current-actor", "iss": proctor_target.base_url},
            }
        )
        _refused(
            setup.delegate(subject),
            "invalid_request",
            "a may_act naming another actor, the orchestrator only nested in act",
        )
        prior = {"sub": setup.subagent.client_id, "iss": proctor_target.base_url}
        subject = setup.mint(
            claims={
                "act": {"sub": "conformance-current-actor", "act": prior},
                "may_act": {"sub": setup.orchestrator.client_id, "iss": proctor_target.base_url},
            }
        )
        expect_issued(
            setup.delegate(subject),
            "a delegation by the actor may_act names, whatever the nested actors",
        )


# -- what is issued ------------------------------------------------------------------------------


@check("TX-CLAIM-001", "TX-CLAIM-002", "AS-FMT-002", "SEC-PRIV-001", needs=NEEDS)
def test_issued_tokens_carry_exactly_the_profiles_claims(
    proctor_target: Target, exchange_setup: ExchangeSetup
) -> None:
    """T1 and T2 carry exactly ``iss sub aud exp iat jti client_id`` plus ``scope``,
    ``sub_id`` and ``act``; ``sub_id`` names the user at her IdP and is copied unchanged;
    no other claim of the user's token is copied."""
    setup = exchange_setup
    user = (
        setup.mint(claims={"conformance_marker": "copied?", "email": "x@example.com"})
        if setup.can_mint
        else setup.user_token()
    )
    user_claims = _subject_claims(setup, user)
    first, second = setup.chain(user)
    for name, issued, client in (("T1", first, setup.orchestrator), ("T2", second, setup.subagent)):
        extra = set(issued.claims) - EXCHANGED_CLAIMS
        missing = {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "act"} - set(
            issued.claims
        )
        if extra or missing:
            raise ConformanceFailure(
                f"{name} does not carry exactly the profile's claims",
                observed=f"extra {sorted(extra)}, missing {sorted(missing)}",
            )
        if issued.claims["client_id"] != client.client_id:
            raise ConformanceFailure(
                f"{name}'s client_id is not the requesting client",
                observed=repr(issued.claims["client_id"]),
            )
        if issued.claims["iss"] != proctor_target.base_url:
            raise ConformanceFailure(
                f"{name}'s iss is not the issuer", observed=repr(issued.claims["iss"])
            )
        if "scope" in issued.claims and not isinstance(issued.claims["scope"], str):
            raise ConformanceFailure(f"{name}'s scope is not a space-separated string")
    own_subject = user_claims.get("iss") == proctor_target.base_url
    expected = (
        user_claims.get("sub_id")
        if own_subject
        else {"format": "iss_sub", "iss": user_claims.get("iss"), "sub": user_claims.get("sub")}
    )
    if first.claims.get("sub_id") != expected:
        raise ConformanceFailure(
            "T1's sub_id does not name the user at her issuer",
            expected=json.dumps(expected),
            observed=json.dumps(first.claims.get("sub_id")),
        )
    if second.claims.get("sub_id") != first.claims.get("sub_id"):
        raise ConformanceFailure("T2 does not copy T1's sub_id unchanged")
    if len({first.claims["jti"], second.claims["jti"]}) != 2:
        raise ConformanceFailure("two issued tokens share a jti")


@check("TX-TGT-002", "AS-FMT-003", needs=NEEDS)
def test_aud_is_exactly_the_requested_targets(
    proctor_target: Target, exchange_setup: ExchangeSetup
) -> None:
    """One target gives ``aud`` as that string; several give an array in request order,
    duplicates removed; the issuer is never in it."""
    setup = exchange_setup
    first = expect_issued(setup.delegate(), "T1", proctor_target)
    if first.claims.get("aud") != setup.subagent.client_id:
        raise ConformanceFailure(
            "one requested audience must be aud as a string",
            expected=repr(setup.subagent.client_id),
            observed=repr(first.claims.get("aud")),
        )
    if setup.store is None:
        return
    actor = setup.own_token(setup.subagent)
    requested = [SECOND_AUDIENCE, AUDIENCE, SECOND_AUDIENCE]
    response = exchange(
        proctor_target,
        setup.subagent,
        first.token,
        actor_token=actor,
        audience=requested,
        resource=[RESOURCE],
    )
    second = expect_issued(response, "an exchange for three targets", proctor_target)
    wanted = [SECOND_AUDIENCE, AUDIENCE, RESOURCE]
    if second.claims.get("aud") != wanted:
        raise ConformanceFailure(
            "aud must be the requested targets in order, without repeats",
            expected=json.dumps(wanted),
            observed=json.dumps(second.claims.get("aud")),
        )


@check("TX-SCOPE-002", needs=OWN_POLICIES, profiles=PROCTOR)
def test_the_default_scope_is_what_the_subject_holds_within_the_policy(
    proctor_target: Target, exchange_setup: ExchangeSetup
) -> None:
    """Without ``scope``, S ∩ P is granted; when it is empty, the token has no ``scope``."""
    setup = exchange_setup
    user = setup.mint(scopes=["crm.read", "conformance.unlisted"])
    issued = expect_issued(setup.delegate(user), "an exchange without scope", proctor_target)
    if issued.scopes != {"crm.read"}:
        raise ConformanceFailure(
            "the default scope must be S ∩ P",
            expected="crm.read",
            observed=repr(issued.claims.get("scope")),
        )
    user = setup.mint(scopes=["conformance.unlisted"])
    issued = expect_issued(setup.delegate(user), "an exchange with S ∩ P empty", proctor_target)
    if "scope" in issued.claims or "scope" in issued.body:
        raise ConformanceFailure(
            "with nothing to grant, the token and response carry no scope",
            observed=repr(issued.claims.get("scope")),
        )


@check("TX-SCOPE-003", shape=("TX-SCOPE-003",), needs=NEEDS)
def test_malformed_scope_is_invalid_scope(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """A scope with characters outside the scope-token syntax is ``invalid_scope``."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        for scope in ('crm"read', "crm\\read", "crm.read\u00e9"):
            _refused(setup.delegate(scope=scope), "invalid_scope", f"scope {scope!r}")


@check("TX-EXP-003", "TX-RESP-001", "TX-RESP-002", "ERR-OAUTH-003", needs=NEEDS)
def test_token_responses_are_complete_short_lived_and_uncached(
    proctor_target: Target, exchange_setup: ExchangeSetup
) -> None:
    """A token response carries ``access_token``, ``issued_token_type``, ``token_type``
    Bearer, ``expires_in`` = ``exp`` - ``iat`` (at most an hour), ``scope`` when granted,
    no ``refresh_token``, and ``Cache-Control: no-store`` with ``Pragma: no-cache``."""
    setup = exchange_setup
    response = setup.delegate()
    issued = expect_issued(response, "a delegation", proctor_target)
    own = client_credentials(proctor_target, setup.orchestrator)
    refused = setup.delegate(audience=[UNLISTED])
    for what, answer in (
        ("an exchange", response),
        ("client_credentials", own),
        ("a refused exchange", refused),
    ):
        cache = answer.headers.get("cache-control", "").lower()
        if "no-store" not in cache or "no-cache" not in answer.headers.get("pragma", "").lower():
            raise ConformanceFailure(
                f"{what}: the answer must not be cached",
                expected="Cache-Control: no-store, Pragma: no-cache",
                observed=f"{cache!r}, {answer.headers.get('pragma')!r}",
            )
    for what, answer in (("an exchange", response), ("client_credentials", own)):
        body = expect_issued(answer, what, proctor_target)
        if "refresh_token" in body.body:
            raise ConformanceFailure(f"{what} must not issue a refresh_token")
        if str(body.body.get("token_type", "")).lower() != "bearer":
            raise ConformanceFailure(
                f"{what}: token_type must be Bearer", observed=repr(body.body.get("token_type"))
            )
        lifetime = _number(body.claims, "exp") - _number(body.claims, "iat")
        if body.body.get("expires_in") != lifetime:
            raise ConformanceFailure(
                f"{what}: expires_in must be exp - iat",
                expected=str(lifetime),
                observed=repr(body.body.get("expires_in")),
            )
        if not 0 < lifetime <= MAX_LIFETIME:
            raise ConformanceFailure(f"{what}: the token lives {lifetime} s (at most 3600)")
    if issued.body.get("issued_token_type") != ACCESS_TOKEN_TYPE:
        raise ConformanceFailure(
            "issued_token_type is missing or not the access-token type",
            observed=repr(issued.body.get("issued_token_type")),
        )
    if issued.scopes and set(str(issued.body.get("scope", "")).split()) != issued.scopes:
        raise ConformanceFailure(
            "the response's scope must be the token's", observed=repr(issued.body.get("scope"))
        )


@check("TX-CC-001", "AS-FMT-003", needs=["client_credentials"])
def test_a_workloads_own_token(proctor_target: Target, exchange_setup: ExchangeSetup) -> None:
    """A ``client_credentials`` token names the workload in ``sub`` and ``client_id``, has
    no ``act`` or ``sub_id``, exactly the profile's claims, and the issuer as ``aud``."""
    setup = exchange_setup
    issued = expect_issued(
        client_credentials(proctor_target, setup.orchestrator), "client_credentials", proctor_target
    )
    claims = issued.claims
    client_id = setup.orchestrator.client_id
    problems = []
    if claims.get("sub") != client_id or claims.get("client_id") != client_id:
        problems.append(f"sub {claims.get('sub')!r} / client_id {claims.get('client_id')!r}")
    if set(claims) - OWN_CLAIMS:
        problems.append(f"extra claims {sorted(set(claims) - OWN_CLAIMS)}")
    if claims.get("aud") != proctor_target.base_url:
        problems.append(f"aud {claims.get('aud')!r} is not the issuer")
    if problems:
        raise ConformanceFailure("the workload's own token is wrong: " + "; ".join(problems))


@check("TX-CC-002", shape=("TX-CC-002",), needs=OWN_POLICIES, profiles=PROCTOR)
def test_client_credentials_targets_and_scope_follow_the_policy(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """``client_credentials`` for a target outside the policies is ``invalid_target``; a
    scope without a target, or with nothing grantable, is ``invalid_scope``; granted scope
    is R ∩ P."""
    setup = exchange_setup
    client = setup.orchestrator
    control = positive_control(
        "client_credentials succeeds",
        lambda: client_credentials(proctor_target, client),
        expect=200,
    )
    with control.bracket():
        issued = expect_issued(
            client_credentials(
                proctor_target, client, audience=[AUDIENCE], scope="crm.read conformance.unlisted"
            ),
            "client_credentials for a target",
            proctor_target,
        )
        if issued.scopes != {"crm.read"} or issued.claims.get("aud") != AUDIENCE:
            raise ConformanceFailure(
                "granted scope must be R ∩ P and aud the target",
                observed=f"scope {issued.claims.get('scope')!r}, aud {issued.claims.get('aud')!r}",
            )
        _refused(
            client_credentials(proctor_target, client, audience=[UNLISTED]),
            "invalid_target",
            "client_credentials for an unlisted target",
        )
        _refused(
            client_credentials(proctor_target, client, scope="crm.read"),
            "invalid_scope",
            "client_credentials with a scope and no target",
        )
        _refused(
            client_credentials(
                proctor_target, client, audience=[AUDIENCE], scope="conformance.unlisted"
            ),
            "invalid_scope",
            "client_credentials for a scope the policy does not allow",
        )


@check("TX-DLG-002", needs=OWN_POLICIES, profiles=PROCTOR)
def test_impersonation_where_the_policy_allows_it_issues_no_act(
    proctor_target: Target, exchange_setup: ExchangeSetup
) -> None:
    """With ``allow_impersonation: true`` an exchange without actor token succeeds, and
    the issued token has no ``act``."""
    setup = exchange_setup
    _, launderer = _launderer(setup)
    issued = expect_issued(
        exchange(proctor_target, launderer, setup.user_token(), audience=[AUDIENCE]),
        "an allowed impersonation",
        proctor_target,
    )
    if "act" in issued.claims:
        raise ConformanceFailure(
            "an impersonation token must not carry act", observed=json.dumps(issued.claims["act"])
        )


# -- exchange policies on the control plane -----------------------------------------------------


@check(
    "TX-POL-001",
    shape=("TX-POL-001", "TX-TGT-001", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=OWN_POLICIES,
    profiles=PROCTOR,
)
def test_exchange_policies_are_validated(
    proctor_target: Target, exchange_setup: ExchangeSetup
) -> None:
    """Invalid policy documents are ``400 validation_failed``; a policy governs every
    request after it is created, and after it is deleted it governs none."""
    setup = exchange_setup
    store = setup.need_store()
    client = setup.agent("polval")
    name = f"{store.prefix}polval-doc"
    good = {
        "name": name,
        "client": client.name,
        "subject_issuers": setup.issuers(),
        "audiences": [AUDIENCE],
    }
    invalid: dict[str, dict[str, Any]] = {
        "an unregistered client": {"client": f"{store.prefix}no-such-workload"},
        "empty subject_issuers": {"subject_issuers": []},
        "an issuer with a query": {"subject_issuers": ["https://idp.example/t?x=1"]},
        "no target": {"audiences": [], "resources": []},
        "a resource with a fragment": {"resources": ["https://crm.example/api#x"]},
        "a relative resource": {"resources": ["crm/api"]},
        "a malformed scope": {"scopes": ['crm"read']},
        "max_depth 0": {"max_depth": 0},
        "max_depth 17": {"max_depth": 17},
        "an unknown actor rule": {"actor": "anyone"},
    }
    for what, change in invalid.items():
        response = store.post_policy({**good, **change})
        expect_problem(response, 400, "validation_failed", f"a policy with {what}")
    _refused(
        setup.delegate(client=client, audience=[AUDIENCE]),
        "unauthorized_client",
        "an exchange before the client has a policy",
    )
    created = store.post_policy(good)
    if created.status_code != 201:
        raise ConformanceFailure(
            "a valid policy must be created",
            observed=f"HTTP {created.status_code}: {created.text[:200]}",
        )
    expect_issued(
        setup.delegate(client=client, audience=[AUDIENCE]),
        "an exchange right after the policy was created",
        proctor_target,
    )
    deleted = store.delete_policy(name)
    if deleted.status_code != 204:
        raise ConformanceFailure("the policy must be deleted", observed=str(deleted.status_code))
    _refused(
        setup.delegate(client=client, audience=[AUDIENCE]),
        "unauthorized_client",
        "an exchange right after the policy was deleted",
    )


@check(
    "TX-POL-002",
    shape=("TX-POL-002", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=OWN_POLICIES,
    profiles=PROCTOR,
)
def test_policy_targets_are_unambiguous(
    proctor_target: Target, exchange_setup: ExchangeSetup
) -> None:
    """A second policy of the same client sharing a target is ``409 conflict``; the issuer
    itself as a target is ``validation_failed``."""
    setup = exchange_setup
    store = setup.need_store()
    client = setup.agent(
        "unamb", policy={"subject_issuers": setup.issuers(), "audiences": [AUDIENCE]}
    )
    clash = store.post_policy(
        {
            "name": f"{store.prefix}unamb-2",
            "client": client.name,
            "subject_issuers": ["self"],
            "audiences": [AUDIENCE],
        }
    )
    expect_problem(clash, 409, "conflict", "a second policy of the client sharing a target")
    for member in ("audiences", "resources"):
        response = store.post_policy(
            {
                "name": f"{store.prefix}unamb-iss",
                "client": client.name,
                "subject_issuers": ["self"],
                member: [proctor_target.base_url],
            }
        )
        expect_problem(response, 400, "validation_failed", f"a policy with the issuer in {member}")


# -- audit and causes ----------------------------------------------------------------------------


@check(
    "TX-AUDIT-001",
    shape=("TX-TGT-001",),
    needs=[*OWN_POLICIES, "audit"],
    profiles=PROCTOR,
)
def test_token_decisions_are_audited_with_their_chain(
    proctor_target: Target, exchange_setup: ExchangeSetup
) -> None:
    """A delegation appends ``token.exchange`` with reason ``ok``, the user and the actor
    chain; a refusal appends one with the OAuth error as reason; no event carries a
    token."""
    from proctor.conformance.native import audit_events

    setup = exchange_setup
    client = setup.agent(
        "audited", policy={"subject_issuers": setup.issuers(), "audiences": [AUDIENCE]}
    )
    user = setup.user_token()
    first = expect_issued(
        setup.delegate(user, client=client, audience=[AUDIENCE]), "a delegation", proctor_target
    )
    denial = setup.delegate(client=client, audience=[UNLISTED])
    _refused(denial, "invalid_target", "an unlisted target")
    error = oauth_error(denial) or "invalid_target"  # a wrong code is the shape's verdict
    events = audit_events(proctor_target, workload=client.name, operation="token.exchange")
    allowed = [e for e in events if e.get("decision") == "allow"]
    denied = [e for e in events if e.get("decision") == "deny"]
    if not allowed or not denied:
        raise ConformanceFailure(
            "both exchanges must be audited as token.exchange",
            observed=f"{len(allowed)} allowed, {len(denied)} denied",
        )
    event = allowed[-1]
    claims = _subject_claims(setup, user)
    if event.get("reason") != "ok" or event.get("actor_chain") != [client.client_id]:
        raise ConformanceFailure(
            "the allowed event must name reason ok and the actor",
            observed=json.dumps({k: event.get(k) for k in ("reason", "actor_chain")}),
        )
    if event.get("user") != {"issuer": claims.get("iss"), "subject": claims.get("sub")}:
        raise ConformanceFailure(
            "the event must name the verified user", observed=json.dumps(event.get("user"))
        )
    if denied[-1].get("reason") != error:
        raise ConformanceFailure(
            "a refusal is audited with its OAuth error",
            expected=repr(error),
            observed=repr(denied[-1].get("reason")),
        )
    text = json.dumps(events)
    if user in text or first.token in text:
        raise ConformanceFailure("an audit event contains a token")


CAUSES: Final = {
    "no_exchange_policy": "unauthorized_client",
    "target_not_allowed": "invalid_target",
    "actor_is_subject": "invalid_request",
    "delegation_laundering": "invalid_request",
    "impersonation_not_allowed": "invalid_request",
    "scope_not_granted": "invalid_scope",
}


@check(
    "TX-TGT-001",
    "TX-ACTOR-003",
    "TX-DLG-001",
    "TX-DLG-002",
    "TX-SCOPE-003",
    shape=("TX-ERR-002",),
    needs=NEEDS,
)
def test_refusals_name_their_cause(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """Each refusal's ``error_description`` begins with its cause code.

    That each case is refused at all is a MUST of its own requirement; the ``error`` and
    the cause code that begins ``error_description`` are the error shape (TX-ERR-002, a
    SHOULD).
    """
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        first = expect_issued(setup.delegate(), "T1", proctor_target)
        own = setup.own_token(setup.orchestrator)
        cases = {
            "no_exchange_policy": setup.delegate(client=setup.outsider, audience=[setup.audience]),
            "target_not_allowed": setup.delegate(audience=[UNLISTED]),
            "actor_is_subject": setup.delegate(own),
            "delegation_laundering": exchange(
                proctor_target, setup.subagent, first.token, audience=[setup.audience]
            ),
            "impersonation_not_allowed": exchange(
                proctor_target,
                setup.orchestrator,
                setup.user_token(),
                audience=[setup.subagent.client_id],
            ),
            "scope_not_granted": setup.delegate(scope="conformance.nobody-holds-this"),
        }
        for cause, response in cases.items():
            refused(response, f"the {cause} case", expected=f"{CAUSES[cause]} ({cause}: ...)")
        with error_shape():
            wrong = []
            for cause, response in cases.items():
                try:
                    body = response.json()
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    wrong.append(f"{cause}: not a JSON object")
                    continue
                description = str(body.get("error_description", ""))
                if body.get("error") != CAUSES[cause] or not description.startswith(f"{cause}: "):
                    wrong.append(f"{cause}: got {body.get('error')!r} {description[:60]!r}")
            if wrong:
                raise ConformanceFailure(
                    "refusals must begin error_description with their cause",
                    observed="; ".join(wrong),
                )


@check("TX-CAUTH-001", "TX-TGT-001", shape=("TX-REQ-009",), needs=NEEDS)
def test_requests_are_processed_in_the_profiles_order(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """A request with several defects gets the error of the first failing step: repeated
    parameters before client authentication, authentication before the grant type."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        wrong = Client("x", setup.orchestrator.client_id, "wrong-secret-value")
        pairs = exchange_pairs(setup.user_token(), audience=[UNLISTED])
        response = post_form(
            proctor_target,
            proctor_target.endpoint("token"),
            [*pairs, ("grant_type", TOKEN_EXCHANGE)],
            wrong.basic(),
        )
        _refused(response, "invalid_request", "a repeated grant_type with a wrong secret")
        response = post_form(
            proctor_target,
            proctor_target.endpoint("token"),
            [("grant_type", "password")],
            wrong.basic(),
        )
        _refused(response, "invalid_client", "an unsupported grant with a wrong secret")
        response = setup.delegate(client=setup.outsider, audience=[UNLISTED])
        _refused(response, "unauthorized_client", "an outsider asking for an unlisted target")


@check("TX-ACTOR-002", shape=("TX-ACTOR-002",), needs=OWN_POLICIES, profiles=PROCTOR)
def test_another_workload_may_act_only_where_the_policy_says_so(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """Under ``actor: any_registered_workload`` another workload's token obtained for the
    client is accepted as actor (and named in ``act``); one not obtained for it is
    ``invalid_request``."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        client = setup.agent(
            "any-actor",
            policy={
                "subject_issuers": setup.issuers(),
                "audiences": [AUDIENCE],
                "actor": "any_registered_workload",
            },
        )
        helper = setup.agent(
            "helper", policy={"subject_issuers": ["self"], "audiences": [client.client_id]}
        )
        for_client = setup.own_token(helper, audience=[client.client_id])
        issued = expect_issued(
            exchange(
                proctor_target,
                client,
                setup.user_token(),
                actor_token=for_client,
                audience=[AUDIENCE],
            ),
            "a delegation by another workload's actor token obtained for the client",
            proctor_target,
        )
        act = issued.claims.get("act")
        if not isinstance(act, Mapping) or act.get("sub") != helper.client_id:
            raise ConformanceFailure("act must name the acting workload", observed=json.dumps(act))
        response = exchange(
            proctor_target,
            client,
            setup.user_token(),
            actor_token=setup.own_token(helper),
            audience=[AUDIENCE],
        )
        _refused(
            response,
            "invalid_request",
            "another workload's token not obtained for the client as actor",
        )


@check(
    "TX-REQ-006",
    shape=("TX-REQ-006",),
    needs=[*OWN_POLICIES, "workload_tokens"],
    profiles=PROCTOR,
)
def test_workload_access_tokens_are_neither_subject_nor_actor(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """A workload access token (spec 04) as subject or actor token is
    ``invalid_request``, whatever type identifier it is sent under."""
    setup = exchange_setup
    with _control(positive_control, setup).bracket():
        client = setup.orchestrator
        response = proctor_target.client.post(
            proctor_target.url("/v1/workload-access-tokens"),
            json={"user_token": setup.user_token()},
            headers=client.basic(),
        )
        wat = response.json().get("workload_access_token") if response.status_code == 200 else None
        if not isinstance(wat, str):
            raise ConformanceFailure(
                "the orchestrator could not obtain a workload access token",
                observed=f"HTTP {response.status_code}",
            )
        proctor_target.add_secret(wat)
        actor = setup.own_token(client)
        for kind in (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE):
            response = exchange(
                proctor_target,
                client,
                wat,
                subject_token_type=kind,
                actor_token=actor,
                audience=[setup.subagent.client_id],
            )
            _refused(response, "invalid_request", f"a workload access token as subject ({kind})")
        response = exchange(
            proctor_target,
            client,
            setup.user_token(),
            actor_token=wat,
            audience=[setup.subagent.client_id],
        )
        _refused(response, "invalid_request", "a workload access token as actor")


# -- properties ------------------------------------------------------------------------------------


def _judge(violations: Iterable[Any], wanted: set[str]) -> None:
    found = [v.describe() for v in violations if v.invariant in wanted]
    if found:
        raise ConformanceFailure("the chain broke an invariant: " + "; ".join(found))


@check(
    "TX-SCOPE-001",
    "TX-TGT-002",
    "TX-EXP-001",
    "TX-EXP-002",
    "TX-ACT-001",
    "TX-ACT-002",
    "TX-CLAIM-001",
    needs=NEEDS,
)
@given(data=st.data())
def test_random_requests_on_the_configured_chain_keep_the_invariants(
    proctor_target: Target, exchange_setup: ExchangeSetup, data: st.DataObject
) -> None:
    """For random requested scopes, the configured two-hop chain never widens scope,
    aims ``aud`` at the requested target, never extends ``exp`` and nests ``act``."""
    setup = exchange_setup
    user = setup.user_token()
    user_claims = _subject_claims(setup, user)
    held = sorted(scope_set(user_claims))
    universe = list(dict.fromkeys([*held, *CHAIN_SCOPES]))
    previous, previous_claims = user, user_claims
    hops = ((setup.orchestrator, setup.subagent.client_id), (setup.subagent, setup.audience))
    for number, (client, audience) in enumerate(hops, 1):
        requested = data.draw(
            st.none() | st.lists(st.sampled_from(universe), unique=True, min_size=1),
            label=f"scope of hop {number}",
        )
        actor = setup.own_token(client)
        response = exchange(
            proctor_target,
            client,
            previous,
            actor_token=actor,
            audience=[audience],
            scope=" ".join(requested) if requested else None,
        )
        held_now = scope_set(previous_claims)
        if requested and not set(requested) & held_now:
            # Only that nothing is issued: whether an example requests nothing held is up
            # to hypothesis, so the error (invalid_scope, TX-SCOPE-003) is judged by TX-05
            # and by the malformed-scope check, not by this property.
            refused(
                response,
                f"hop {number}: a request of which nothing is held",
                expected="HTTP 400 invalid_scope",
            )
            return
        if requested and setup.store is None and oauth_error(response) == "invalid_scope":
            return  # the rfc8693 target's policy (P) is unknown: R ∩ S ∩ P may be empty
        issued = expect_issued(response, f"hop {number}", proctor_target)
        actor_claims = decode(actor)
        observation = HopObservation(
            hop=number,
            targets=(audience,),
            requested_scope=tuple(requested) if requested else None,
            subject=previous_claims,
            actor=actor_claims[1] if actor_claims else None,
            actor_sent=True,
            actor_client_id=client.client_id,
            succeeded=True,
            issued=issued.claims,
            issuer=proctor_target.base_url,
        )
        _judge(
            check_hop(observation),
            {"scope_narrowing", "audience", "exp_bound", "act_nesting", "subject_preserved"},
        )
        previous, previous_claims = issued.token, issued.claims


def _with_user(chain: Chain, setup: ExchangeSetup) -> Chain:
    token = chain.user.token
    assert isinstance(token, MintToken)
    defaults = setup.mint_defaults
    changed = token.model_copy(
        update={
            "server": defaults.get("server"),
            "client_id": defaults.get("client_id"),
            "user": defaults.get("user", token.user),
        }
    )
    return chain.model_copy(update={"user": chain.user.model_copy(update={"token": changed})})


def _run_random_chain(setup: ExchangeSetup, chain: Chain) -> ChainResult:
    """Run ``chain`` with fresh agents and policies, deleted afterwards."""
    store = setup.need_store()
    target = setup.target
    idp = setup.idp
    assert idp is not None
    assert setup.idp_issuer is not None
    with store.batch():
        prefix = setup.fresh_name("")
        clients = {
            name: store.workload(f"{prefix}{name}", authorizer=setup.authorizer)
            for name in chain.agents
        }
        client_ids = {name: c.client_id for name, c in clients.items()}
        for name in chain.acting_agents():
            document = chain.policy_document(name, client_ids, [setup.idp_issuer])
            if document is not None:
                members = {k: v for k, v in document.items() if k not in ("name", "client")}
                store.policy(clients[name], **members)
        credentials = {name: AgentCredentials(c.client_id, c.secret) for name, c in clients.items()}
        return run_chain(
            _with_user(chain, setup),
            client=target.client,
            token_endpoint=target.endpoint("token"),
            issuer=target.base_url,
            credentials=credentials,
            idp_urls={"okta": idp.origin},
            redactor=target.redactor,
        )


CHAINS: Final = chains(max_hops=3)
#: A chain whose second hop is refused: the sub-agent asks for a scope T1 does not hold
#: (``invalid_scope``). The exact-error-codes property runs it on every run, whatever
#: hypothesis draws, so it always judges at least one refusal's error (CONF-CTRL-002).
REFUSED_CHAIN: Final = Chain.model_validate(
    {
        "name": "a scope the subject does not hold",
        "user": {
            "name": "Sarah",
            "token": {
                "source": "mock_idp_mint",
                "user": "sarah@example.com",
                "scopes": ["crm.read", "finance.read"],
            },
        },
        "agents": {"orchestrator": {}, "subagent": {}, "crm-agent": {}},
        "hops": [
            {"agent": "orchestrator", "to": "subagent", "scope": ["crm.read"]},
            {
                "agent": "subagent",
                "to": "crm-agent",
                "scope": ["finance.read"],
                "expect": {"error": "invalid_scope", "cause": "scope_not_granted"},
                "note": "fault: scope",
            },
        ],
    }
)


@check(
    "TX-SCOPE-001", "TX-TGT-002", "TX-EXP-001", "TX-EXP-002", needs=OWN_POLICIES, profiles=PROCTOR
)
@given(chain=CHAINS)
def test_random_chains_never_widen_scope_retarget_or_extend_lifetime(
    exchange_setup: ExchangeSetup, chain: Chain
) -> None:
    """Over random delegation chains: scope only narrows, ``aud`` is exactly the requested
    targets, and ``exp`` never outlives the subject or the actor token."""
    result = _run_random_chain(exchange_setup, chain)
    _judge(result.violations, {"scope_narrowing", "audience", "exp_bound"})


@check(
    "TX-ACT-001",
    "TX-ACT-002",
    "TX-ACT-003",
    "TX-CLAIM-001",
    "TX-DLG-002",
    needs=OWN_POLICIES,
    profiles=PROCTOR,
)
@given(chain=CHAINS)
def test_random_chains_nest_act_exactly(exchange_setup: ExchangeSetup, chain: Chain) -> None:
    """Over random delegation chains: the current actor is outermost, earlier ``act``
    values are nested unchanged, ``act`` carries identity only, ``sub`` is preserved, and
    an impersonation carries no ``act``."""
    result = _run_random_chain(exchange_setup, chain)
    _judge(result.violations, {"act_nesting", "act_identity_only", "subject_preserved"})


@check("TX-MAYACT-001", "TX-DLG-001", "TX-DLG-003", needs=OWN_POLICIES, profiles=PROCTOR)
@given(chain=CHAINS)
def test_random_chains_honour_may_act_laundering_and_depth(
    exchange_setup: ExchangeSetup, chain: Chain
) -> None:
    """Over random delegation chains with faults: nothing is issued to an actor
    ``may_act`` does not name, nothing is laundered, no chain exceeds ``max_depth``."""
    result = _run_random_chain(exchange_setup, chain)
    _judge(result.violations, {"may_act", "laundering", "depth_limit"})


@check(
    "TX-MAYACT-001",
    "TX-DLG-001",
    "TX-DLG-002",
    "TX-DLG-003",
    "TX-SCOPE-003",
    shape=("TX-ERR-001", "TX-MAYACT-001", "TX-DLG-001", "TX-DLG-002", "TX-DLG-003", "TX-SCOPE-003"),
    needs=OWN_POLICIES,
    profiles=PROCTOR,
)
@given(chain=CHAINS)
@example(chain=REFUSED_CHAIN)
def test_random_chains_end_with_the_exact_error_codes(
    exchange_setup: ExchangeSetup, chain: Chain
) -> None:
    """Every hop of a random chain succeeds or fails as the profile predicts
    (``strategies.predict``), with exactly the predicted ``error`` code.

    A hop that ends otherwise than predicted (issued where a refusal is predicted, refused
    where success is, or answered other than 4xx) fails the check; a predicted refusal
    with another ``error`` is the error shape's verdict. Besides the drawn chains, every
    run includes one with a refused hop (``REFUSED_CHAIN``).
    """
    result = _run_random_chain(exchange_setup, chain)
    wrong: list[str] = []
    codes: list[str] = []
    refusals = 0
    for hop in result.hops:
        if hop.outcome == "skipped":
            continue
        expect = hop.hop.expect
        label = f"hop {hop.number} ({hop.hop.note or 'no fault'})"
        got = "success" if hop.succeeded else f"HTTP {hop.status} {hop.outcome}"
        status = hop.status or 0
        refusal = not hop.succeeded and 400 <= status < 500 and status != 429  # 429: throttled
        if expect.success:
            if not hop.succeeded:
                wrong.append(f"{label}: expected success, got {got}")
        elif not refusal:
            wrong.append(f"{label}: expected a refusal ({expect.error or 'any error'}), got {got}")
        else:
            refusals += 1
            if expect.error and hop.outcome != expect.error:
                codes.append(f"{label}: expected {expect.error}, got {hop.outcome}")
    if wrong:
        raise ConformanceFailure("hops ended other than the profile predicts: " + "; ".join(wrong))
    if refusals:
        with error_shape():
            if codes:
                raise ConformanceFailure(
                    "refused hops carried another error than the profile predicts: "
                    + "; ".join(codes)
                )
