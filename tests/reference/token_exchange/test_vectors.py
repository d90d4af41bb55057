"""RFC 8693's own examples as data vectors (``vectors/RFC8693-*.json``).

Each file holds the RFC's request and token claims as printed, the settings that put them
in proctor's world (issuer, IdP, clock), and test cases with a verdict: ``valid`` (with the
expected response members and claims) or ``invalid`` (with the expected ``error`` and the
TX-ERR-002 cause). Tokens are re-signed with test keys under the RFC's headers. Each file's
``notes`` say where proctor's profile departs from the RFC's example and why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from proctor.reference.exchange_policy import ExchangePolicy

from .conftest import Service, build_service, decode, sign

VECTORS = sorted((Path(__file__).parent / "vectors").glob("RFC8693-*.json"))
CASES = [
    pytest.param(vector, case, id=f"{path.stem}-tc{case['tcId']}")
    for path in VECTORS
    for vector in [json.loads(path.read_text(encoding="utf-8"))]
    for case in vector["tests"]
]


def test_every_vector_file_has_cases_with_unique_ids() -> None:
    assert [path.name for path in VECTORS] == [
        "RFC8693-appendix-A.1.json",
        "RFC8693-appendix-A.2.json",
        "RFC8693-section-2.3.json",
    ]
    for path in VECTORS:
        vector = json.loads(path.read_text(encoding="utf-8"))
        ids = [case["tcId"] for case in vector["tests"]]
        assert len(ids) == len(set(ids))
        assert {case["result"] for case in vector["tests"]} <= {"valid", "invalid"}


def _service(vector: dict[str, Any], case: dict[str, Any]) -> Service:
    setting = vector["setting"]
    svc = build_service(
        issuer=setting["issuer"],
        idp_issuer=setting["idp_issuer"],
        idp_audience=setting["idp_audience"],
        idp_kid=setting["idp_kid"],
        start=case.get("now", setting["now"]),
        max_lifetime=setting["max_lifetime"],
        idp_clients=(),
    )
    for workload in vector["workloads"]:
        svc.add_workload(
            workload["name"],
            client_id=workload["client_id"],
            secret=workload.get("secret"),
            authorizer="company-idp",
        )
    svc.policies.put(
        ExchangePolicy.model_validate({**vector["policy"], **case.get("policy_changes", {})})
    )
    return svc


def _external(svc: Service, token: dict[str, Any], changes: dict[str, Any]) -> str:
    return sign(token["header"], {**token["claims"], **changes}, svc.idp.key)


def _request(
    svc: Service, vector: dict[str, Any], case: dict[str, Any]
) -> tuple[list[tuple[str, str]], str | None]:
    rfc = vector["rfc"]
    values: dict[str, str | None] = {}
    if "subject_token" in rfc:
        values["$subject_token"] = _external(
            svc, rfc["subject_token"], case.get("subject_changes", {})
        )
    actor = case.get("actor", "rfc")
    if actor == "rfc" and "actor_token" in rfc:
        values["$actor_token"] = _external(svc, rfc["actor_token"], {})
    elif isinstance(actor, dict):
        values["$actor_token"] = svc.cc_token(actor["own_token_of"])
    else:
        values["$actor_token"] = None
    changes = case.get("request_changes", {})
    pairs: list[tuple[str, str]] = []
    for name, value in rfc["request"]:
        value = changes.get(name, values.get(value, value))
        if name.startswith("actor_token") and values["$actor_token"] is None:
            continue
        pairs.append((name, value))
    pairs += [(name, value) for name, value in case.get("extra_params", [])]
    authorization = case.get("authorization", rfc["authorization"])
    if isinstance(authorization, dict):
        authorization = svc.basic(authorization["basic"])
    return pairs, authorization


@pytest.mark.parametrize(("vector", "case"), CASES)
def test_rfc8693_vector(vector: dict[str, Any], case: dict[str, Any]) -> None:
    svc = _service(vector, case)
    pairs, authorization = _request(svc, vector, case)
    result = svc.endpoint.handle(pairs, authorization)
    assert result.body is not None
    if case["result"] == "invalid":
        assert result.status == (401 if case["error"] == "invalid_client" else 400)
        assert result.body["error"] == case["error"], result.body
        assert result.body["error_description"].startswith(case["cause"] + ": "), result.body
        return
    assert result.status == 200, result.body
    expected = case["expected"]
    for name, value in expected.get("response", {}).items():
        assert result.body[name] == value, name
    _, claims = decode(result.body["access_token"])
    for name, value in expected.get("claims", {}).items():
        assert claims[name] == value, name
    for name in expected.get("absent", []):
        assert name not in claims
        assert name not in result.body
    assert claims["exp"] <= vector["rfc"]["subject_token"]["claims"]["exp"]  # TX-EXP-001
