"""bedrock-agentcore-control through boto3: workload identities, the token vault's key
configuration, tags, paginators, and the errors botocore decodes into modeled classes."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from proctor.reference.service import Service

from .conftest import ACCOUNT, REGION, Clients

pytestmark = pytest.mark.network

ARN_PREFIX = f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:"


def workload_arn(name: str) -> str:
    return f"{ARN_PREFIX}workload-identity-directory/default/workload-identity/{name}"


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    error: dict[str, Any] = excinfo.value.response["Error"]
    return error


def test_workload_identity_lifecycle(aws: Clients, service: Service) -> None:
    created = aws.cp.create_workload_identity(
        name="orchestrator", allowedResourceOauth2ReturnUrls=["https://app.example/return"]
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["name"] == "orchestrator"
    assert created["workloadIdentityArn"] == workload_arn("orchestrator")
    assert created["allowedResourceOauth2ReturnUrls"] == ["https://app.example/return"]
    assert created["ResponseMetadata"]["RequestId"].startswith("req_")

    got = aws.cp.get_workload_identity(name="orchestrator")
    # epoch seconds on the wire become datetimes in botocore
    assert isinstance(got["createdTime"], datetime.datetime)
    assert got["createdTime"].timestamp() == service.clock.now()
    assert got["lastUpdatedTime"] >= got["createdTime"]

    updated = aws.cp.update_workload_identity(
        name="orchestrator",
        allowedResourceOauth2ReturnUrls=["https://app.example/return", "http://localhost:8081/cb"],
    )
    assert updated["allowedResourceOauth2ReturnUrls"][1] == "http://localhost:8081/cb"
    # one implementation: the native directory sees the same workload
    record = service.directory.get("orchestrator")
    assert record.config["allowed_return_urls"] == updated["allowedResourceOauth2ReturnUrls"]
    assert record.config["allow_user_id_tokens"] is True

    deleted = aws.cp.delete_workload_identity(name="orchestrator")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(aws.cp.exceptions.ResourceNotFoundException):
        aws.cp.get_workload_identity(name="orchestrator")


def test_duplicate_create_is_a_conflict(aws: Clients) -> None:
    aws.cp.create_workload_identity(name="twice")
    with pytest.raises(aws.cp.exceptions.ConflictException) as excinfo:
        aws.cp.create_workload_identity(name="twice")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_update_without_urls_keeps_them(aws: Clients) -> None:
    aws.cp.create_workload_identity(
        name="keeper", allowedResourceOauth2ReturnUrls=["https://app.example/r"]
    )
    kept = aws.cp.update_workload_identity(name="keeper")
    assert kept["allowedResourceOauth2ReturnUrls"] == ["https://app.example/r"]
    cleared = aws.cp.update_workload_identity(name="keeper", allowedResourceOauth2ReturnUrls=[])
    assert cleared.get("allowedResourceOauth2ReturnUrls", []) == []


def test_unknown_names_are_not_found(aws: Clients) -> None:
    for call in (
        lambda: aws.cp.get_workload_identity(name="nobody"),
        lambda: aws.cp.update_workload_identity(name="nobody"),
        lambda: aws.cp.delete_workload_identity(name="nobody"),
    ):
        with pytest.raises(aws.cp.exceptions.ResourceNotFoundException):
            call()


def test_list_paginates_with_next_token(aws: Clients) -> None:
    names = [f"agent-{i:02d}" for i in range(7)]
    for name in names:
        aws.cp.create_workload_identity(name=name)
    first = aws.cp.list_workload_identities(maxResults=3)
    assert [w["name"] for w in first["workloadIdentities"]] == names[:3]
    assert first["workloadIdentities"][0]["workloadIdentityArn"] == workload_arn(names[0])
    assert "nextToken" in first
    paginator = aws.cp.get_paginator("list_workload_identities")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["workloadIdentities"]) for p in pages] == [3, 3, 1]
    assert "nextToken" not in pages[-1]
    seen = [w["name"] for p in pages for w in p["workloadIdentities"]]
    assert seen == names
    # botocore's result-key aggregation (build_full_result) too
    full = paginator.paginate(PaginationConfig={"PageSize": 2}).build_full_result()
    assert [w["name"] for w in full["workloadIdentities"]] == names


def test_list_refuses_a_forged_next_token(aws: Clients) -> None:
    with pytest.raises(aws.cp.exceptions.ValidationException) as excinfo:
        aws.cp.list_workload_identities(nextToken="not-a-token")
    assert excinfo.value.response["reason"] == "FieldValidationFailed"
    assert excinfo.value.response["fieldList"][0]["name"] == "nextToken"


def test_token_vault_reports_the_service_key(aws: Clients) -> None:
    vault = aws.cp.get_token_vault()
    assert vault["tokenVaultId"] == "default"
    assert vault["kmsConfiguration"] == {"keyType": "ServiceManagedKey"}
    assert isinstance(vault["lastModifiedDate"], datetime.datetime)
    same = aws.cp.set_token_vault_cmk(kmsConfiguration={"keyType": "ServiceManagedKey"})
    assert same["kmsConfiguration"] == {"keyType": "ServiceManagedKey"}
    assert aws.cp.get_token_vault(tokenVaultId="default")["tokenVaultId"] == "default"


def test_token_vault_refuses_customer_keys_and_reset(aws: Clients) -> None:
    key = "arn:aws:kms:eu-west-1:210987654321:key/" + "a" * 8 + "-1111-2222-3333-" + "b" * 12
    with pytest.raises(aws.cp.exceptions.ValidationException) as excinfo:
        aws.cp.set_token_vault_cmk(
            kmsConfiguration={"keyType": "CustomerManagedKey", "kmsKeyArn": key}
        )
    assert excinfo.value.response["fieldList"][0]["name"] == "kmsConfiguration.keyType"
    with pytest.raises(aws.cp.exceptions.ValidationException) as excinfo:
        aws.cp.reset_token_vault_key_material(tokenVaultId="default")
    assert excinfo.value.response["reason"] == "FieldValidationFailed"
    with pytest.raises(aws.cp.exceptions.ResourceNotFoundException):
        aws.cp.get_token_vault(tokenVaultId="another")
    with pytest.raises(aws.cp.exceptions.ResourceNotFoundException):
        aws.cp.reset_token_vault_key_material(tokenVaultId="another")


def test_tags_on_workload_identities(aws: Clients, service: Service) -> None:
    aws.cp.create_workload_identity(name="tagged", tags={"team": "sales", "env": "dev"})
    arn = workload_arn("tagged")
    assert aws.cp.list_tags_for_resource(resourceArn=arn)["tags"] == {
        "team": "sales",
        "env": "dev",
    }
    response = aws.cp.tag_resource(resourceArn=arn, tags={"cost center": "4711/b"})
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    aws.cp.untag_resource(resourceArn=arn, tagKeys=["env", "absent"])
    assert aws.cp.list_tags_for_resource(resourceArn=arn)["tags"] == {
        "team": "sales",
        "cost center": "4711/b",
    }
    # the tags survive an update of the return URLs
    aws.cp.update_workload_identity(name="tagged", allowedResourceOauth2ReturnUrls=[])
    assert aws.cp.list_tags_for_resource(resourceArn=arn)["tags"]["team"] == "sales"
    with pytest.raises(aws.cp.exceptions.ValidationException):
        aws.cp.tag_resource(resourceArn=arn, tags={"aws:reserved": "x"})
    with pytest.raises(aws.cp.exceptions.ResourceNotFoundException):
        aws.cp.list_tags_for_resource(resourceArn=workload_arn("ghost"))
    with pytest.raises(aws.cp.exceptions.ResourceNotFoundException):
        aws.cp.tag_resource(
            resourceArn=f"arn:aws:bedrock-agentcore:us-west-2:{ACCOUNT}:runtime/x", tags={"a": "b"}
        )


def test_tag_limit(aws: Clients) -> None:
    aws.cp.create_workload_identity(name="many", tags={f"k{i}": "v" for i in range(50)})
    with pytest.raises(aws.cp.exceptions.ValidationException):
        aws.cp.tag_resource(resourceArn=workload_arn("many"), tags={"one-more": "v"})


def test_workload_principal_cannot_use_the_control_plane(aws: Clients) -> None:
    with pytest.raises(aws.worker_cp.exceptions.AccessDeniedException) as excinfo:
        aws.worker_cp.list_workload_identities()
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_errors_carry_type_header_body_and_request_id(aws: Clients) -> None:
    with pytest.raises(ClientError) as excinfo:
        aws.cp.get_workload_identity(name="missing")
    response = excinfo.value.response
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert response["Error"]["Code"] == "ResourceNotFoundException"
    assert response["Error"]["Message"]
    assert response["ResponseMetadata"]["RequestId"].startswith("req_")


def test_every_call_is_audited(aws: Clients, service: Service) -> None:
    aws.cp.create_workload_identity(name="audited")
    with pytest.raises(aws.cp.exceptions.ConflictException):
        aws.cp.create_workload_identity(name="audited")
    events = service.audit.query(workload="audited").items
    assert [(e.operation, e.decision, e.reason) for e in events] == [
        ("workload.create", "allow", "ok"),
        ("workload.create", "deny", "conflict"),
    ]
    assert events[0].to_dict()["actor_chain"] == ["admin"]
