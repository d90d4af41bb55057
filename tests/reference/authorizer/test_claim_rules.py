"""Custom claim rules (INB-RULE-001, spec Table 2.3): typed, strict, in order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from proctor.reference.authorizer import Authorizer
from proctor.reference.authorizer_config import AuthorizerConfig, CustomClaimRule
from proctor.reference.claims import compile_rule

MISSING = object()

# (operator, value_type, value, claim value, passes)
CASES: list[tuple[str, str, Any, Any, bool]] = [
    ("equals", "string", "sales", "sales", True),
    ("equals", "string", "sales", "Sales", False),
    ("equals", "string", "sales", ["sales"], False),
    ("equals", "string", "5", 5, False),
    ("equals", "string", "sales", MISSING, False),
    ("equals", "number", 5, 5, True),
    ("equals", "number", 5, 5.0, True),
    ("equals", "number", 1.5, 1.5, True),
    ("equals", "number", 5, "5", False),
    ("equals", "number", 1, True, False),  # a boolean is not a number
    ("equals", "number", 5, 6, False),
    ("equals", "number", 5, [5], False),
    ("equals", "boolean", True, True, True),
    ("equals", "boolean", False, False, True),
    ("equals", "boolean", True, "true", False),
    ("equals", "boolean", True, 1, False),
    ("equals", "boolean", False, 0, False),
    ("equals", "boolean", False, None, False),
    ("equals", "string_list", ["a", "b"], ["b", "a"], True),
    ("equals", "string_list", ["a", "b"], ["a", "b", "a"], True),
    ("equals", "string_list", ["a", "b"], ["a"], False),
    ("equals", "string_list", ["a", "b"], ["a", "b", "c"], False),
    ("equals", "string_list", ["a", "b"], "a b", False),
    ("equals", "string_list", ["a", "b"], ["a", "b", 1], False),
    ("contains", "string", "sales", ["everyone", "sales"], True),
    ("contains", "string", "sales", ["Sales"], False),
    ("contains", "string", "sales", "sales", False),  # a string is not an array
    ("contains", "string", "sales", "salesforce", False),  # no substring match
    ("contains", "string", "1", [1], False),
    ("contains", "string", "sales", ["sales", 1], False),  # not an array of strings
    ("contains", "string", "sales", MISSING, False),
    ("contains_any", "string_list", ["a", "b"], ["b", "c"], True),
    ("contains_any", "string_list", ["a", "b"], "a", True),
    ("contains_any", "string_list", ["a", "b"], ["c"], False),
    ("contains_any", "string_list", ["a", "b"], "c", False),
    ("contains_any", "string_list", ["a", "b"], [], False),
    ("contains_any", "string_list", ["1"], [1], False),
    ("contains_any", "string_list", ["a"], {"a": 1}, False),
    ("contains_any", "string_list", ["a", "b"], MISSING, False),
]


@pytest.mark.parametrize(("operator", "value_type", "value", "claim", "passes"), CASES)
def test_rule(operator: str, value_type: str, value: Any, claim: Any, passes: bool) -> None:
    rule = CustomClaimRule.model_validate(
        {"claim": "c", "operator": operator, "value": value, "value_type": value_type}
    )
    claims = {} if claim is MISSING else {"c": claim}
    assert compile_rule(rule)(claims) is passes


@pytest.mark.parametrize(
    ("operator", "value_type", "value"),
    [
        ("contains", "number", 1),
        ("contains", "boolean", True),
        ("contains", "string_list", ["a"]),
        ("contains_any", "string", "a"),
        ("contains_any", "number", 1),
        ("equals", "string", 5),
        ("equals", "number", "5"),
        ("equals", "number", True),
        ("equals", "boolean", "true"),
        ("equals", "string_list", "a"),
        ("contains_any", "string_list", []),
        ("equals", "string_list", [1]),
        ("equals", "regex", "a.*"),
        ("startswith", "string", "a"),
    ],
)
def test_combinations_outside_table_2_3_are_refused(
    operator: str, value_type: str, value: Any
) -> None:
    with pytest.raises(ValidationError):
        CustomClaimRule.model_validate(
            {"claim": "c", "operator": operator, "value": value, "value_type": value_type}
        )


def test_rules_apply_in_order_and_name_the_first_failure(
    make_authorizer: Callable[..., Authorizer],
    make_config: Callable[..., AuthorizerConfig],
    mint: Any,
) -> None:
    rules = [
        {"claim": "groups", "operator": "contains", "value": "sales", "value_type": "string"},
        {"claim": "email_verified", "operator": "equals", "value": True, "value_type": "boolean"},
        {"claim": "level", "operator": "equals", "value": 3, "value_type": "number"},
    ]
    authorizer = make_authorizer(make_config(custom_claims=rules))
    good = {"email_verified": True, "level": 3.0}
    assert authorizer.decide(mint(good)).allowed
    both_bad = {"groups": ["everyone"], "email_verified": "true", "level": 3}
    assert authorizer.decide(mint(both_bad)).reason == "claim_rule_failed:groups"
    assert authorizer.decide(mint({**good, "email_verified": "true"})).reason == (
        "claim_rule_failed:email_verified"
    )
    assert authorizer.decide(mint({**good, "level": "3"})).reason == "claim_rule_failed:level"
    assert authorizer.decide(mint({"email_verified": True})).reason == "claim_rule_failed:level"


def test_claim_names_are_not_paths(
    make_authorizer: Callable[..., Authorizer],
    make_config: Callable[..., AuthorizerConfig],
    mint: Any,
) -> None:
    rule = {"claim": "org.team", "operator": "equals", "value": "crm", "value_type": "string"}
    authorizer = make_authorizer(make_config(custom_claims=[rule]))
    assert authorizer.decide(mint({"org.team": "crm"})).allowed
    assert authorizer.decide(mint({"org": {"team": "crm"}})).reason == (
        "claim_rule_failed:org.team"
    )


def test_at_most_50_rules(make_config: Callable[..., AuthorizerConfig]) -> None:
    rule = {"claim": "c", "operator": "equals", "value": "x", "value_type": "string"}
    assert len(make_config(custom_claims=[rule] * 50).custom_claims) == 50
    with pytest.raises(ValidationError):
        make_config(custom_claims=[rule] * 51)
