"""The public strategies: they produce valid models, their predictions agree with the
reference's token endpoint, and seeded generation is reproducible."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proctor.conformance.chains import AgentPolicy, Chain, ChainRunner, dump_chain, parse_chain
from proctor.conformance.chains.model import AGENT_NAME, MintToken
from proctor.conformance.chains.strategies import (
    AUDIENCES,
    FAULTS,
    RESOURCES,
    SCOPES,
    ChainShape,
    agent_names,
    audiences,
    chain_shapes,
    chains,
    may_act_choices,
    policies,
    predict,
    random_chains,
    resources,
    scope_sets,
    scopes,
)
from proctor.mock_idps.pytest_plugin import MockIdp
from tests.conformance.chains.conftest import START
from tests.conformance.chains.sts import ISSUER, build_sts, sts_client

QUICK = settings(max_examples=40, deadline=None, database=None)


def assert_well_formed(chain: Chain) -> None:
    # valid all the way through: the YAML round trip gives the same model
    assert parse_chain(yaml.safe_load(dump_chain(chain))) == chain
    # linear: each hop's target is the next hop's agent; only the last may fail
    for hop, following in zip(chain.hops, chain.hops[1:], strict=False):
        assert hop.expect.success
        assert hop.to == following.agent
        assert following.subject == "previous"
    assert len({hop.agent for hop in chain.hops}) == len(chain.hops)
    token = chain.user.token
    assert isinstance(token, MintToken)
    assert token.scopes
    assert set(token.scopes) <= set(SCOPES)
    assert chain.hops[0].may_act == (token.may_act or "none")


@QUICK
@given(chains(max_hops=6))
def test_chains_are_valid_linear_models(chain: Chain) -> None:
    assert_well_formed(chain)


@QUICK
@given(chains(min_hops=3, max_hops=3, faults=False))
def test_without_faults_every_hop_is_expected_to_succeed(chain: Chain) -> None:
    assert len(chain.hops) == 3
    assert all(hop.expect.success for hop in chain.hops)
    assert all(hop.actor == "self" for hop in chain.hops)


def test_the_predictions_agree_with_the_reference_token_endpoint(okta: MockIdp) -> None:
    """Each generated chain runs on a fresh in-process STS: every hop must end as
    predicted and no invariant may break (the oracle and the reference agree)."""

    @settings(
        max_examples=30,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(chains(max_hops=5))
    def check(chain: Chain) -> None:
        sts = build_sts(okta, START)
        credentials = sts.provision(chain, okta.issuer())
        with sts_client(sts, okta) as client:
            result = ChainRunner(
                chain,
                client=client,
                issuer=ISSUER,
                credentials=credentials,
                idp_urls={"okta": okta.base_url},
            ).run()
        assert result.ok, [v.describe() for v in result.violations]

    check()


@QUICK
@given(chain_shapes(min_hops=2, max_hops=5))
def test_shapes_plan_distinct_agents_and_one_final_target(shape: ChainShape) -> None:
    assert 2 <= shape.hops <= 5
    assert len(set(shape.agents)) == shape.hops
    assert (shape.final_agent is None) != (shape.final_resource is None)
    assert shape.final_agent not in shape.agents
    assert shape.faults[0] not in ("laundering", "depth")
    assert all(f in (*FAULTS, None) for f in shape.faults)
    assert all(f != "may_act" for f in shape.faults[1:])
    if shape.faults[0] == "may_act":
        assert shape.may_act not in (None, shape.agents[0])


@QUICK
@given(
    agent_names(),
    scopes(),
    scope_sets(min_size=1),
    audiences(),
    resources(),
    policies(),
    st.data(),
)
def test_the_building_blocks_are_valid(
    name: str,
    scope: str,
    scope_set: list[str],
    audience: str,
    resource: str,
    policy: AgentPolicy,
    data: st.DataObject,
) -> None:
    assert AGENT_NAME.fullmatch(name)
    assert scope in SCOPES
    assert scope_set
    assert scope_set == [s for s in SCOPES if s in scope_set]
    assert audience in AUDIENCES
    assert resource in RESOURCES
    assert AgentPolicy.model_validate(policy.model_dump()) == policy
    assert 1 <= policy.max_depth <= 16
    choice = data.draw(may_act_choices(["orchestrator", "subagent"]))
    assert choice in (None, "orchestrator", "subagent")


def test_the_same_seed_gives_the_same_chains() -> None:
    first = [dump_chain(c) for c in random_chains(7, 5, max_hops=4)]
    again = [dump_chain(c) for c in random_chains(7, 5, max_hops=4)]
    other = [dump_chain(c) for c in random_chains(8, 5, max_hops=4)]
    assert first == again
    assert first != other
    for chain in random_chains(11, 20, max_hops=6):
        assert_well_formed(chain)


def test_seeded_chains_without_faults_have_exactly_the_asked_depth() -> None:
    for chain in random_chains(5, 10, min_hops=3, max_hops=3, faults=False):
        assert len(chain.hops) == 3
        assert all(hop.expect.success for hop in chain.hops)


def test_predict_follows_the_profiles_processing_order() -> None:
    policy = AgentPolicy(scopes=["crm.read"], max_depth=1)
    # laundering is decided before the scope (step 8 before step 9)
    expect, _, _ = predict(
        ["crm.read"], 1, None, agent="a", actor=False, requested=["mail.send"], policy=policy
    )
    assert expect.cause == "delegation_laundering"
    # may_act before depth
    expect, _, _ = predict([], 1, "b", agent="a", actor=True, requested=None, policy=policy)
    assert expect.cause == "may_act_mismatch"
    expect, _, _ = predict([], 1, None, agent="a", actor=True, requested=None, policy=policy)
    assert expect.cause == "depth_exceeded"
    # R ∩ S ∩ P, and S ∩ P without R
    expect, granted, depth = predict(
        ["crm.read", "docs.write"],
        0,
        "a",
        agent="a",
        actor=True,
        requested=["crm.read", "mail.send"],
        policy=policy,
    )
    assert (expect.success, granted, depth) == (True, ("crm.read",), 1)
    expect, granted, _ = predict(
        ["docs.write"], 0, None, agent="a", actor=True, requested=None, policy=policy
    )
    assert (expect.success, granted) == (True, ())
    expect, _, _ = predict(
        ["docs.write"], 0, None, agent="a", actor=True, requested=["docs.write"], policy=policy
    )
    assert expect.error == "invalid_scope"
