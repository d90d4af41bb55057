"""GetWorkloadAccessToken, …ForJWT and …ForUserId through boto3, on the shared tokens."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from proctor.mock_idps.pytest_plugin import MockIdp
from proctor.reference.service import Service
from proctor.reference.workload_tokens import USER_ID_ISSUER

from .conftest import ADMIN_TOKEN, APP, BOB, SARAH, Clients

pytestmark = pytest.mark.network


def setup_authorizer(endpoint: str, okta: MockIdp) -> None:
    """The company Okta as the authorizer of workload ``worker`` (native control plane)."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=endpoint) as http:
        r = http.post(
            "/v1/authorizers",
            headers=admin,
            json={
                "name": "company-okta",
                "discovery_url": okta.discovery_url("default"),
                "allowed_audiences": ["api://default"],
                "allowed_clients": [APP],
                "idp_profile": "okta",
            },
        )
        assert r.status_code == 201, r.text
        current = http.get("/v1/workloads/worker", headers=admin).json()
        body = {
            k: v for k, v in current.items() if k not in ("client_id", "created_at", "updated_at")
        }
        body["authorizer"] = "company-okta"
        r = http.put("/v1/workloads/worker", headers=admin, json=body)
        assert r.status_code == 200, r.text


def binding(service: Service, wat: str) -> Any:
    record = service.directory.get("worker")
    return service.workload_tokens.validate(wat, record)


def test_token_without_user(aws: Clients, service: Service) -> None:
    aws.cp.create_workload_identity(name="worker")
    wat = aws.worker_dp.get_workload_access_token(workloadName="worker")["workloadAccessToken"]
    assert wat.startswith("wat_")
    assert binding(service, wat).user is None
    # the admin principal may act for any workload
    other = aws.dp.get_workload_access_token(workloadName="worker")["workloadAccessToken"]
    assert other != wat


def test_token_for_a_user_id(aws: Clients, service: Service) -> None:
    aws.cp.create_workload_identity(name="worker")
    response = aws.worker_dp.get_workload_access_token_for_user_id(
        workloadName="worker", userId="user-42"
    )
    user = binding(service, response["workloadAccessToken"]).user
    assert (user.issuer, user.subject) == (USER_ID_ISSUER, "user-42")
    assert set(response) == {"workloadAccessToken", "ResponseMetadata"}


def test_token_for_a_jwt(aws: Clients, service: Service, okta: MockIdp) -> None:
    aws.cp.create_workload_identity(name="worker")
    setup_authorizer(aws.endpoint, okta)
    user_token = okta.mint(user=SARAH, client_id=APP, server="default")
    wat = aws.worker_dp.get_workload_access_token_for_jwt(
        workloadName="worker", userToken=user_token
    )["workloadAccessToken"]
    user = binding(service, wat).user
    assert user.issuer == okta.issuer("default")
    assert user.subject == SARAH
    # a token the authorizer refuses (expired) is UnauthorizedException
    expired = okta.mint(user=BOB, client_id=APP, server="default", presets=["expired"])
    with pytest.raises(aws.worker_dp.exceptions.UnauthorizedException):
        aws.worker_dp.get_workload_access_token_for_jwt(workloadName="worker", userToken=expired)


def test_jwt_without_an_authorizer_is_access_denied(aws: Clients, okta: MockIdp) -> None:
    aws.cp.create_workload_identity(name="worker")
    user_token = okta.mint(user=SARAH, client_id=APP, server="default")
    with pytest.raises(aws.worker_dp.exceptions.AccessDeniedException):
        aws.worker_dp.get_workload_access_token_for_jwt(workloadName="worker", userToken=user_token)


def test_a_workload_principal_acts_only_for_itself(aws: Clients) -> None:
    aws.cp.create_workload_identity(name="worker")
    aws.cp.create_workload_identity(name="someone-else")
    with pytest.raises(aws.worker_dp.exceptions.AccessDeniedException):
        aws.worker_dp.get_workload_access_token(workloadName="someone-else")
    # no existence oracle: an unknown workload is refused the same way
    with pytest.raises(aws.worker_dp.exceptions.AccessDeniedException):
        aws.worker_dp.get_workload_access_token(workloadName="no-such-workload")
    with pytest.raises(aws.dp.exceptions.ResourceNotFoundException):
        aws.dp.get_workload_access_token(workloadName="no-such-workload")


def test_principal_of_a_missing_workload_is_refused(aws: Clients) -> None:
    # the worker key maps to workload "worker", which does not exist yet
    with pytest.raises(aws.worker_dp.exceptions.AccessDeniedException):
        aws.worker_dp.get_workload_access_token(workloadName="worker")


def test_disabled_workload_gets_no_token(aws: Clients, service: Service) -> None:
    aws.cp.create_workload_identity(name="worker")
    wat = aws.dp.get_workload_access_token(workloadName="worker")["workloadAccessToken"]
    record = service.directory.get("worker")
    from proctor.reference.agentcore.control import _spec_of

    service.directory.replace("worker", _spec_of(record, disabled=True))
    with pytest.raises(aws.dp.exceptions.AccessDeniedException):
        aws.dp.get_workload_access_token(workloadName="worker")
    with pytest.raises(aws.worker_dp.exceptions.AccessDeniedException):
        aws.worker_dp.get_workload_access_token(workloadName="worker")
    with pytest.raises(Exception, match="not valid"):
        binding(service, wat)


def test_issuance_is_audited_without_the_token(aws: Clients, service: Service) -> None:
    aws.cp.create_workload_identity(name="worker")
    wat = aws.worker_dp.get_workload_access_token_for_user_id(workloadName="worker", userId="u-1")[
        "workloadAccessToken"
    ]
    events = [
        e.to_dict() for e in service.audit.query(operation="workload_access_token.issue").items
    ]
    assert len(events) == 1
    event = events[0]
    assert event["workload"] == "worker"
    assert event["user"] == {"issuer": USER_ID_ISSUER, "subject": "u-1"}
    assert event["actor_chain"] == [service.directory.get("worker").client_id]
    assert wat not in repr(events)
