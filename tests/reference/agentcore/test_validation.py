"""What botocore leaves to the server: lengths, patterns, enums and unions answered with
``ValidationException``, its ``reason`` and ``fieldList``, decoded into the modeled class."""

from __future__ import annotations

import datetime
import json
from typing import Any

import httpx
import pytest
from botocore.exceptions import ParamValidationError

from proctor.reference.agentcore.model import INPUTS, SHAPES
from proctor.reference.agentcore.sigv4 import SignedRequest, sign
from proctor.reference.agentcore.validation import check
from proctor.reference.agentcore.wire import ValidationException
from proctor.reference.service import Service

from .conftest import ADMIN_KEY, ADMIN_SECRET, REGION, Clients, client


def refusal(excinfo: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    response: dict[str, Any] = excinfo.value.response
    assert response["Error"]["Code"] == "ValidationException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return response


# -- the validator on the model (no network) ----------------------------------------------


def violations(operation: str, body: Any) -> tuple[str, list[dict[str, str]]]:
    with pytest.raises(ValidationException) as excinfo:
        check(SHAPES, INPUTS[operation], body)
    return excinfo.value.reason, excinfo.value.field_list


def test_valid_bodies_pass() -> None:
    check(SHAPES, INPUTS["GetTokenVault"], {})
    check(SHAPES, INPUTS["CreateWorkloadIdentity"], {"name": "abc", "unknown": 1})
    check(
        SHAPES,
        INPUTS["GetResourceOauth2Token"],
        {
            "workloadIdentityToken": "wat_x",
            "resourceCredentialProviderName": "crm",
            "scopes": [],
            "oauth2Flow": "M2M",
            "customParameters": {"prompt.x": "1"},
        },
    )


def test_union_needs_exactly_one_member() -> None:
    both = {"userIdentifier": {"userId": "u", "userToken": "a.b.c"}, "sessionUri": "urn:x"}
    reason, fields = violations("CompleteResourceTokenAuth", both)
    assert reason == "FieldValidationFailed"
    names = [f["name"] for f in fields]
    assert "userIdentifier" in names
    assert "sessionUri" in names  # and the pattern of the session URI, in the same answer
    reason, fields = violations(
        "CompleteResourceTokenAuth",
        {"userIdentifier": {}, "sessionUri": "urn:ietf:params:oauth:request_uri:abc"},
    )
    assert [f["name"] for f in fields] == ["userIdentifier"]
    assert "exactly one member" in fields[0]["message"]


def test_nested_unions_and_lists() -> None:
    body = {
        "name": "p",
        "credentialProviderVendor": "CustomOauth2",
        "oauth2ProviderConfigInput": {
            "customOauth2ProviderConfig": {
                "oauthDiscovery": {"discoveryUrl": "https://x/no-well-known"},
                "privateEndpointOverrides": [{"domain": "", "privateEndpoint": {}}],
            }
        },
    }
    _, fields = violations("CreateOauth2CredentialProvider", body)
    names = {f["name"] for f in fields}
    base = "oauth2ProviderConfigInput.customOauth2ProviderConfig"
    assert f"{base}.oauthDiscovery.discoveryUrl" in names
    assert f"{base}.privateEndpointOverrides.1.member.domain" in names
    assert f"{base}.privateEndpointOverrides.1.member.privateEndpoint" in names


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("not an object", "(body)"),
        ({"maxResults": "ten"}, "maxResults"),
        ({"maxResults": True}, "maxResults"),
        ({"nextToken": 5}, "nextToken"),
    ],
)
def test_wrong_json_types_cannot_parse(body: Any, expected: str) -> None:
    reason, fields = violations("ListWorkloadIdentities", body)
    assert reason == "CannotParse"
    assert fields[0]["name"] == expected


def test_values_are_never_echoed() -> None:
    secret = "s3cr3t-value-" + "x" * 3000
    with pytest.raises(ValidationException) as excinfo:
        check(SHAPES, INPUTS["CreateApiKeyCredentialProvider"], {"name": secret})
    assert "s3cr3t" not in json.dumps(excinfo.value.body())


# -- through boto3 -----------------------------------------------------------------------


@pytest.mark.network
def test_patterns_botocore_does_not_check(aws: Clients) -> None:
    with pytest.raises(aws.cp.exceptions.ValidationException) as excinfo:
        aws.cp.create_workload_identity(name="bad name!")
    response = refusal(excinfo)
    assert response["reason"] == "FieldValidationFailed"
    assert response["fieldList"] == [
        {
            "name": "name",
            "message": "Value at 'name' failed to satisfy constraint: Member must satisfy "
            "regular expression pattern: [A-Za-z0-9_.-]+",
        }
    ]
    assert response["Error"]["Message"].startswith("1 validation error detected")


@pytest.mark.network
def test_lengths_botocore_does_not_check(aws: Clients) -> None:
    with pytest.raises(aws.cp.exceptions.ValidationException) as excinfo:
        aws.cp.create_workload_identity(name="a" * 256)
    assert refusal(excinfo)["fieldList"][0]["message"].endswith(
        "have length less than or equal to 255"
    )
    with pytest.raises(aws.cp.exceptions.ValidationException) as excinfo:
        aws.cp.list_workload_identities(maxResults=21)
    assert refusal(excinfo)["fieldList"][0]["name"] == "maxResults"
    aws.cp.create_workload_identity(name="worker")
    with pytest.raises(aws.dp.exceptions.ValidationException) as excinfo:
        aws.dp.get_workload_access_token_for_user_id(workloadName="worker", userId="u" * 129)
    assert refusal(excinfo)["fieldList"][0]["name"] == "userId"


@pytest.mark.network
def test_several_violations_are_listed(aws: Clients) -> None:
    with pytest.raises(aws.cp.exceptions.ValidationException) as excinfo:
        aws.cp.create_workload_identity(
            name="bad name!",
            allowedResourceOauth2ReturnUrls=["no scheme here"],
            tags={"bad!key": "v"},
        )
    response = refusal(excinfo)
    assert response["Error"]["Message"].startswith("3 validation errors detected")
    assert [f["name"] for f in response["fieldList"]] == [
        "name",
        "allowedResourceOauth2ReturnUrls.1.member",
        "tags.key",
    ]


@pytest.mark.network
def test_proctor_rules_stricter_than_the_model(aws: Clients) -> None:
    # the model allows a leading underscore and 255 characters; TERM-NAME-001 does not
    with pytest.raises(aws.cp.exceptions.ValidationException) as excinfo:
        aws.cp.create_workload_identity(name="_hidden")
    assert "proctor's name rule" in refusal(excinfo)["fieldList"][0]["message"]
    # a return URL the native directory refuses (not https, not loopback http)
    with pytest.raises(aws.cp.exceptions.ValidationException) as excinfo:
        aws.cp.create_workload_identity(
            name="urls", allowedResourceOauth2ReturnUrls=["http://app.example/return"]
        )
    assert refusal(excinfo)["fieldList"][0]["name"].startswith("allowedResourceOauth2ReturnUrls")


@pytest.mark.network
def test_server_checks_what_the_client_skipped(aws: Clients) -> None:
    # required members and minimums, with botocore's own validation turned off
    loose = client("bedrock-agentcore-control", aws.endpoint, parameter_validation=False)
    with pytest.raises(loose.exceptions.ValidationException) as excinfo:
        loose.create_workload_identity()
    response = refusal(excinfo)
    assert response["fieldList"][0]["message"].endswith("Member must not be null")
    with pytest.raises(loose.exceptions.ValidationException) as excinfo:
        loose.list_workload_identities(maxResults="ten")
    assert refusal(excinfo)["reason"] == "CannotParse"
    # the strict client refuses the same request locally
    with pytest.raises(ParamValidationError):
        aws.cp.create_workload_identity(name="ab")


def signed_post(endpoint: str, path: str, body: bytes, content_type: str) -> httpx.Response:
    host = endpoint.removeprefix("http://")
    amz_date = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    headers = [("host", host), ("x-amz-date", amz_date), ("content-type", content_type)]
    authorization = sign(
        SignedRequest("POST", path, "", headers, body),
        access_key_id=ADMIN_KEY,
        secret=ADMIN_SECRET,
        amz_date=amz_date,
        region=REGION,
        signed_headers=("content-type", "host", "x-amz-date"),
    )
    return httpx.post(
        endpoint + path,
        content=body,
        headers={
            "x-amz-date": amz_date,
            "content-type": content_type,
            "authorization": authorization,
        },
    )


@pytest.mark.network
def test_raw_bodies(aws: Clients, service: Service) -> None:
    broken = signed_post(aws.endpoint, "/identities/ListWorkloadIdentities", b"{nope", "text/plain")
    assert broken.status_code == 400
    assert broken.headers["x-amzn-errortype"] == "ValidationException"
    assert broken.json()["__type"] == "ValidationException"
    assert broken.json()["reason"] == "CannotParse"
    # any content type, and an empty body is {}
    listed = signed_post(aws.endpoint, "/identities/ListWorkloadIdentities", b"", "text/plain")
    assert listed.status_code == 200
    assert listed.json() == {"workloadIdentities": []}
    assert listed.headers["x-amzn-requestid"].startswith("req_")
    created = signed_post(
        aws.endpoint,
        "/identities/CreateWorkloadIdentity",
        b'{"name": "raw", "allowedResourceOauth2ReturnUrls": []}',
        "application/x-amz-json-1.1",
    )
    assert created.status_code == 201
    # nothing null: absent members are left out
    assert "null" not in created.text
    deleted = signed_post(aws.endpoint, "/identities/DeleteWorkloadIdentity", b'{"name":"raw"}',
                          "application/json")  # fmt: skip
    assert deleted.status_code == 204
    assert deleted.content == b""
