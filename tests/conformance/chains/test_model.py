"""The chain file model: valid files load, every example parses, mistakes are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from proctor.conformance.chains import Chain, ChainFileError, dump_chain, load_chain, parse_chain
from proctor.conformance.chains.model import LiteralToken, MintToken
from tests.conformance.chains.conftest import EXAMPLES


def minimal(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "two-hops",
        "user": {"token": {"source": "literal", "token": "eyJ.user.token"}},
        "agents": {"orchestrator": {}, "subagent": {}},
        "hops": [
            {"agent": "orchestrator", "to": "subagent", "scope": "crm.read finance.read"},
            {"agent": "subagent", "resource": ["https://crm.example/mcp"], "scope": ["crm.read"]},
        ],
    }
    data.update(changes)
    return data


def test_a_minimal_chain_loads_with_its_defaults() -> None:
    chain = parse_chain(minimal())
    first, second = chain.hops
    assert first.scope == ["crm.read", "finance.read"]  # a space-separated string is split
    assert second.scope == ["crm.read"]
    assert first.actor == "self"
    assert first.subject == "previous"
    assert first.expect.success
    assert first.expect.describe() == "success"
    assert chain.agents["subagent"].policy.max_depth == 5
    assert isinstance(chain.user.token, LiteralToken)
    assert first.targets({"subagent": "wl_1", "orchestrator": "wl_0"}) == ["wl_1"]


def test_expectations_have_a_short_and_a_long_form() -> None:
    hops = [
        {"agent": "orchestrator", "to": "subagent", "expect": "success"},
        {"agent": "orchestrator", "subject": "user", "to": "subagent", "expect": "invalid_scope"},
        {
            "agent": "subagent",
            "subject": "user",
            "resource": ["https://crm.example/mcp"],
            "expect": {"error": "invalid_request", "cause": "may_act_mismatch"},
        },
    ]
    chain = parse_chain(minimal(hops=hops))
    assert [h.expect.describe() for h in chain.hops] == [
        "success",
        "invalid_scope",
        "invalid_request (may_act_mismatch)",
    ]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_parses_and_round_trips(path: Path) -> None:
    chain = load_chain(path)
    assert chain.hops
    again = parse_chain(yaml.safe_load(dump_chain(chain)))
    assert again == chain


def test_the_required_examples_exist() -> None:
    names = {p.name for p in EXAMPLES.glob("*.yaml")}
    assert {
        "sarah-brief.yaml",
        "may-act-denied.yaml",
        "laundering.yaml",
        "depth-limit.yaml",
    } <= names


def test_the_examples_say_what_they_demonstrate() -> None:
    may_act = load_chain(EXAMPLES / "may-act-denied.yaml")
    assert isinstance(may_act.user.token, MintToken)
    assert may_act.user.token.may_act == "orchestrator"
    assert may_act.hops[0].agent != "orchestrator"
    assert may_act.hops[0].expect.cause == "may_act_mismatch"
    laundering = load_chain(EXAMPLES / "laundering.yaml")
    assert laundering.hops[-1].actor == "none"
    assert laundering.hops[-1].expect.cause == "delegation_laundering"
    depth = load_chain(EXAMPLES / "depth-limit.yaml")
    assert len(depth.hops) > depth.max_depth(depth.hops[-1].agent)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"colour": "blue"}, "colour"),
        ({"agents": {"orchestrator": {"client_idd": "x"}, "subagent": {}}}, "client_idd"),
        ({"user": {"token": {"source": "literal", "token": "t", "extra": 1}}}, "extra"),
        ({"hops": [{"agent": "orchestrator", "to": "subagent", "scopes": "crm.read"}]}, "scopes"),
        (
            {"agents": {"orchestrator": {"policy": {"max_deep": 2}}, "subagent": {}}},
            "max_deep",
        ),
    ],
)
def test_unknown_keys_are_refused(change: dict[str, Any], where: str) -> None:
    with pytest.raises(ChainFileError, match=where):
        parse_chain(minimal(**change))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hops": [{"agent": "nobody", "to": "subagent"}]}, "names no agent"),
        ({"hops": [{"agent": "orchestrator", "to": "nobody"}]}, "names no agent"),
        ({"hops": [{"agent": "orchestrator", "may_act": "nobody"}]}, "names no agent"),
        ({"hops": []}, "at least 1"),
        ({"agents": {"x": {}}}, "agent name"),
        ({"hops": [{"agent": "orchestrator", "expect": "Not An Error"}]}, "not an error code"),
        ({"hops": [{"agent": "orchestrator", "expect": {"cause": "depth"}}]}, "only expected"),
        (
            {
                "hops": [
                    {"agent": "orchestrator", "to": "subagent", "expect": "invalid_request"},
                    {"agent": "subagent", "resource": ["https://crm.example/mcp"]},
                ]
            },
            "expected to fail",
        ),
        (
            {"user": {"token": {"source": "mock_idp_mint", "may_act": "nobody"}}},
            "may_act names no agent",
        ),
        ({"agents": {"orchestrator": {"policy": {"max_depth": 0}}}}, "max_depth"),
    ],
)
def test_inconsistent_chains_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ChainFileError, match=message):
        parse_chain(minimal(**change))


def test_environment_variables_are_interpolated_and_required(tmp_path: Path) -> None:
    path = tmp_path / "chain.yaml"
    data = minimal()
    data["agents"]["orchestrator"] = {"client_id": "orch", "client_secret": "${ORCH_SECRET}"}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    chain = load_chain(path, environ={"ORCH_SECRET": "s3cr3t-value"})
    secret = chain.agents["orchestrator"].client_secret
    assert secret is not None
    assert secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(chain)
    assert "s3cr3t-value" not in dump_chain(chain)
    with pytest.raises(ChainFileError, match="ORCH_SECRET is not set"):
        load_chain(path, environ={})


def test_unreadable_and_non_yaml_files_are_chain_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ChainFileError, match="cannot read"):
        load_chain(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(ChainFileError, match="not valid YAML"):
        load_chain(bad)
    bad.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(ChainFileError, match="mapping at the top level"):
        load_chain(bad)


def test_derived_policies_cover_exactly_the_hops_targets() -> None:
    chain = parse_chain(minimal())
    ids = {"orchestrator": "wl_o", "subagent": "wl_s"}
    first = chain.policy_document("orchestrator", ids, ["https://idp.example"])
    assert first == {
        "name": "orchestrator",
        "client": "orchestrator",
        "subject_issuers": ["https://idp.example", "self"],
        "audiences": ["wl_s"],
        "resources": [],
        "scopes": ["crm.read", "finance.read"],
        "max_depth": 5,
        "allow_impersonation": False,
        "actor": "client",
    }
    second = chain.policy_document("subagent", ids, ["https://idp.example"])
    assert second is not None
    assert second["resources"] == ["https://crm.example/mcp"]
    assert second["scopes"] == ["crm.read"]
    # an agent that never exchanges gets no policy
    lone = Chain.model_validate({**minimal(), "agents": {**minimal()["agents"], "tool": {}}})
    assert lone.policy_document("tool", {**ids, "tool": "wl_t"}, []) is None
