"""Credential providers and resource tokens through boto3, on the shared vault: the 25
vendors and the config union, M2M, the 3-legged flow end to end, on-behalf-of, API keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from botocore.exceptions import ClientError

from proctor.mock_idps.pytest_plugin import MockIdp
from proctor.reference.agentcore.credential_providers import VENDORS
from proctor.reference.clock import ManualClock
from proctor.reference.service import Service

from .conftest import (
    ACCOUNT,
    AGENT,
    AGENT_SECRET,
    APP,
    BOB,
    REGION,
    RETURN_URL,
    SARAH,
    Clients,
    LiveServer,
    client,
    make_service,
)
from .test_workload_tokens import setup_authorizer

pytestmark = pytest.mark.network

SCOPES_TAG = {"proctor:scopes": "notes.read notes.write"}


def crm(aws: Clients, okta: MockIdp, **config: Any) -> dict[str, Any]:
    custom = {
        "oauthDiscovery": {"discoveryUrl": okta.discovery_url("crm")},
        "clientId": AGENT,
        "clientSecret": AGENT_SECRET,
        **config,
    }
    response: dict[str, Any] = aws.cp.create_oauth2_credential_provider(
        name="crm",
        credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": custom},
        tags=SCOPES_TAG,
    )
    return response


def test_oauth2_provider_lifecycle(aws: Clients, okta: MockIdp) -> None:
    created = crm(aws, okta)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["credentialProviderArn"] == (
        f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:token-vault/default/"
        "oauth2credentialprovider/crm"
    )
    assert created["clientSecretArn"]["secretArn"].startswith(
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:bedrock-agentcore-identity!default/"
    )
    assert created["callbackUrl"] == "https://proctor.test/oauth2/callback"
    output = created["oauth2ProviderConfigOutput"]
    assert list(output) == ["customOauth2ProviderConfig"]
    assert output["customOauth2ProviderConfig"]["oauthDiscovery"] == {
        "discoveryUrl": okta.discovery_url("crm")
    }
    assert AGENT_SECRET not in json.dumps(created, default=str)
    got = aws.cp.get_oauth2_credential_provider(name="crm")
    assert got["credentialProviderVendor"] == "CustomOauth2"
    assert got["status"] == "READY"
    assert AGENT_SECRET not in json.dumps(got, default=str)
    updated = aws.cp.update_oauth2_credential_provider(
        name="crm",
        credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={
            "customOauth2ProviderConfig": {
                "oauthDiscovery": {
                    "authorizationServerMetadata": {
                        "issuer": okta.issuer("crm"),
                        "authorizationEndpoint": okta.url("authorize", "crm"),
                        "tokenEndpoint": okta.url("token", "crm"),
                    }
                },
                "clientId": AGENT,
            }
        },
    )
    discovery = updated["oauth2ProviderConfigOutput"]["customOauth2ProviderConfig"]
    assert list(discovery["oauthDiscovery"]) == ["authorizationServerMetadata"]
    arn = created["credentialProviderArn"]
    assert aws.cp.list_tags_for_resource(resourceArn=arn)["tags"] == SCOPES_TAG
    listed = aws.cp.list_oauth2_credential_providers()["credentialProviders"]
    assert [p["name"] for p in listed] == ["crm"]
    assert (
        aws.cp.delete_oauth2_credential_provider(name="crm")["ResponseMetadata"]["HTTPStatusCode"]
        == 204
    )
    with pytest.raises(aws.cp.exceptions.ResourceNotFoundException):
        aws.cp.get_oauth2_credential_provider(name="crm")


def vendor_config(vendor: str) -> dict[str, Any]:
    member = VENDORS[vendor][0]
    config: dict[str, Any] = {"clientId": "client-1", "clientSecret": "secret-1"}
    if member == "customOauth2ProviderConfig":
        config = {
            "oauthDiscovery": {
                "discoveryUrl": "https://as.example/.well-known/openid-configuration"
            },
            **config,
        }
    issuers = {
        "OktaOauth2": "https://example.okta.com/oauth2/default",
        "CognitoOauth2": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc",
        "Auth0Oauth2": "https://tenant.auth0.com/",
        "OneLoginOauth2": "https://tenant.onelogin.com/oidc/2",
        "PingOneOauth2": "https://auth.pingone.eu/env-1/as",
        "CyberArkOauth2": "https://tenant.id.cyberark.cloud/app",
        "FusionAuthOauth2": "https://tenant.fusionauth.io",
    }
    if vendor in issuers:
        config["issuer"] = issuers[vendor]
    if vendor == "MicrosoftOauth2":
        config["tenantId"] = "organizations"
    return {member: config}


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_all_25_vendors(aws: Clients, vendor: str) -> None:
    name = vendor.lower().replace("oauth2", "-p")
    created = aws.cp.create_oauth2_credential_provider(
        name=name, credentialProviderVendor=vendor, oauth2ProviderConfigInput=vendor_config(vendor)
    )
    got = aws.cp.get_oauth2_credential_provider(name=name)
    assert got["credentialProviderVendor"] == vendor
    (member,) = got["oauth2ProviderConfigOutput"]
    assert member == VENDORS[vendor][0]
    assert len(got["oauth2ProviderConfigOutput"][member]["oauthDiscovery"]) == 1
    assert "secret-1" not in json.dumps([created, got], default=str)


def test_vendor_count() -> None:
    assert len(VENDORS) == 25


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"privateEndpoint": {"selfManagedLatticeResource": {
            "resourceConfigurationIdentifier": "rcfg-0123456789abcdefg"}}}, "privateEndpoint"),
        ({"clientSecretConfig": {"secretId": "s", "jsonKey": "k"}}, "clientSecretConfig"),
        ({"clientAuthenticationMethod": "AWS_IAM_ID_TOKEN_JWT"}, "clientAuthenticationMethod"),
    ],
)  # fmt: skip
def test_what_proctor_cannot_honour_is_refused(
    aws: Clients, okta: MockIdp, config: dict[str, Any], field: str
) -> None:
    with pytest.raises(aws.cp.exceptions.ValidationException) as excinfo:
        crm(aws, okta, **config)
    assert excinfo.value.response["fieldList"][0]["name"].endswith(field)


def test_union_member_must_match_the_vendor(aws: Clients) -> None:
    with pytest.raises(aws.cp.exceptions.ValidationException) as excinfo:
        aws.cp.create_oauth2_credential_provider(
            name="mismatch",
            credentialProviderVendor="GoogleOauth2",
            oauth2ProviderConfigInput={"githubOauth2ProviderConfig": {"clientId": "c"}},
        )
    assert "googleOauth2ProviderConfig" in excinfo.value.response["fieldList"][0]["message"]


def workload_with_return_url(aws: Clients) -> None:
    aws.cp.create_workload_identity(name="worker", allowedResourceOauth2ReturnUrls=[RETURN_URL])


def test_m2m(aws: Clients, okta: MockIdp) -> None:
    crm(aws, okta)
    workload_with_return_url(aws)
    wat = aws.worker_dp.get_workload_access_token(workloadName="worker")["workloadAccessToken"]
    response = aws.worker_dp.get_resource_oauth2_token(
        workloadIdentityToken=wat,
        resourceCredentialProviderName="crm",
        scopes=["notes.read"],
        oauth2Flow="M2M",
    )
    assert response["accessToken"]
    assert "authorizationUrl" not in response
    # a scope the provider does not have is refused before any upstream call
    with pytest.raises(aws.worker_dp.exceptions.ValidationException) as excinfo:
        aws.worker_dp.get_resource_oauth2_token(
            workloadIdentityToken=wat,
            resourceCredentialProviderName="crm",
            scopes=["admin"],
            oauth2Flow="M2M",
        )
    assert excinfo.value.response["fieldList"][0]["name"] == "scopes.1.member"


def test_resource_token_errors(aws: Clients, okta: MockIdp) -> None:
    crm(aws, okta)
    workload_with_return_url(aws)
    wat = aws.dp.get_workload_access_token(workloadName="worker")["workloadAccessToken"]
    base = {"resourceCredentialProviderName": "crm", "scopes": [], "oauth2Flow": "M2M"}
    with pytest.raises(aws.dp.exceptions.UnauthorizedException):
        aws.dp.get_resource_oauth2_token(workloadIdentityToken="wat_forged", **base)
    with pytest.raises(aws.dp.exceptions.ResourceNotFoundException):
        aws.dp.get_resource_oauth2_token(
            workloadIdentityToken=wat, **{**base, "resourceCredentialProviderName": "nope"}
        )
    with pytest.raises(aws.dp.exceptions.ValidationException) as excinfo:
        aws.dp.get_resource_oauth2_token(
            workloadIdentityToken=wat, **{**base, "oauth2Flow": "NOT_A_FLOW"}
        )
    assert excinfo.value.response["fieldList"][0]["name"] == "oauth2Flow"
    with pytest.raises(aws.dp.exceptions.ValidationException) as excinfo:
        aws.dp.get_resource_oauth2_token(
            workloadIdentityToken=wat, **{**base, "oauth2Flow": "USER_FEDERATION"}
        )
    assert excinfo.value.response["fieldList"][0]["name"] == "oauth2Flow"  # no user bound


def federation_start(aws: Clients, wat: str, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = aws.worker_dp.get_resource_oauth2_token(
        workloadIdentityToken=wat,
        resourceCredentialProviderName="crm",
        scopes=["notes.read"],
        oauth2Flow="USER_FEDERATION",
        resourceOauth2ReturnUrl=RETURN_URL,
        **extra,
    )
    return response


def consent_in_browser(endpoint: str, okta: MockIdp, authorization_url: str) -> str:
    """The user's browser: the provider (headless approval), proctor's callback, and the
    redirect to the registered return URL; the ``session_id`` it carries."""
    with okta.client() as browser:
        at_provider = browser.get(authorization_url)
    assert at_provider.status_code == 302, at_provider.text
    callback = urlsplit(at_provider.headers["location"])
    assert callback.path == "/oauth2/callback"
    back = httpx.get(f"{endpoint}{callback.path}?{callback.query}")
    assert back.status_code == 303
    location = back.headers["location"]
    assert location.startswith(RETURN_URL + "?")
    return parse_qs(urlsplit(location).query)["session_id"][0]


def test_three_legged_flow_end_to_end(aws: Clients, okta: MockIdp, service: Service) -> None:
    crm(aws, okta)
    workload_with_return_url(aws)
    wat = aws.worker_dp.get_workload_access_token_for_user_id(
        workloadName="worker", userId="sarah"
    )["workloadAccessToken"]
    started = federation_start(aws, wat)
    assert started["sessionStatus"] == "IN_PROGRESS"
    assert started["sessionUri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert "accessToken" not in started
    # polling before the user consents: the same session, still in progress
    polled = federation_start(aws, wat, sessionUri=started["sessionUri"], forceAuthentication=False)
    assert polled["sessionUri"] == started["sessionUri"]
    assert polled["sessionStatus"] == "IN_PROGRESS"
    session_id = consent_in_browser(aws.endpoint, okta, started["authorizationUrl"])
    assert session_id == started["sessionUri"]
    # completion bound to the user: another user id is refused and ends the session
    completed = aws.worker_dp.complete_resource_token_auth(
        userIdentifier={"userId": "sarah"}, sessionUri=session_id
    )
    assert completed["ResponseMetadata"]["HTTPStatusCode"] == 200
    token = federation_start(aws, wat, sessionUri=session_id)
    assert token["accessToken"]
    # consent persisted: the next request needs no session
    again = federation_start(aws, wat)
    assert again["accessToken"]
    ops = [e.operation for e in service.audit.query().items]
    assert "session.callback" in ops
    assert "session.complete" in ops


def test_completion_by_another_user_is_refused(aws: Clients, okta: MockIdp) -> None:
    crm(aws, okta)
    workload_with_return_url(aws)
    wat = aws.worker_dp.get_workload_access_token_for_user_id(
        workloadName="worker", userId="sarah"
    )["workloadAccessToken"]
    started = federation_start(aws, wat)
    session_id = consent_in_browser(aws.endpoint, okta, started["authorizationUrl"])
    with pytest.raises(aws.worker_dp.exceptions.AccessDeniedException):
        aws.worker_dp.complete_resource_token_auth(
            userIdentifier={"userId": "mallory"}, sessionUri=session_id
        )
    # the session is over: polling is an error, never an endless FAILED status
    with pytest.raises(ClientError) as excinfo:
        federation_start(aws, wat, sessionUri=session_id)
    assert excinfo.value.response["Error"]["Code"] in (
        "ResourceNotFoundException",
        "ValidationException",
    )
    with pytest.raises(aws.worker_dp.exceptions.ResourceNotFoundException):
        aws.worker_dp.complete_resource_token_auth(
            userIdentifier={"userId": "sarah"},
            sessionUri="urn:ietf:params:oauth:request_uri:unknown",
        )


def test_return_url_must_be_registered(aws: Clients, okta: MockIdp) -> None:
    crm(aws, okta)
    aws.cp.create_workload_identity(name="worker")
    wat = aws.worker_dp.get_workload_access_token_for_user_id(
        workloadName="worker", userId="sarah"
    )["workloadAccessToken"]
    with pytest.raises(aws.worker_dp.exceptions.ValidationException) as excinfo:
        federation_start(aws, wat)
    assert excinfo.value.response["fieldList"][0]["name"] == "resourceOauth2ReturnUrl"


def test_expired_session_is_an_error(tmp_path: Path, okta: MockIdp, clock: ManualClock) -> None:
    # development mode: the clock can move past the session's life without stale signatures
    service, http = make_service(
        tmp_path, clock, okta, agentcore_credentials=None, agentcore_dev_mode=True
    )
    try:
        with LiveServer(service.asgi_app()) as url:
            aws = Clients(
                url,
                client("bedrock-agentcore-control", url),
                client("bedrock-agentcore", url),
                client("bedrock-agentcore", url),
                client("bedrock-agentcore-control", url),
            )
            crm(aws, okta)
            aws.cp.create_workload_identity(name="worker")  # no return URL registered
            wat = aws.dp.get_workload_access_token_for_user_id(
                workloadName="worker", userId="sarah"
            )["workloadAccessToken"]
            started = federation_start(aws, wat)  # dev mode registers the return URL
            assert aws.cp.get_workload_identity(name="worker")[
                "allowedResourceOauth2ReturnUrls"
            ] == [RETURN_URL]
            clock.advance(service.settings.session_ttl + 1)
            okta.clock.advance(service.settings.session_ttl + 1)
            with pytest.raises(aws.dp.exceptions.ValidationException) as excinfo:
                federation_start(aws, wat, sessionUri=started["sessionUri"])
            assert excinfo.value.response["fieldList"][0]["name"] == "sessionUri"
            assert "session_expired" in excinfo.value.response["fieldList"][0]["message"]
    finally:
        service.close()
        http.close()


def test_on_behalf_of(aws: Clients, okta: MockIdp, service: Service) -> None:
    crm(aws, okta, onBehalfOfTokenExchangeConfig={"grantType": "TOKEN_EXCHANGE"})
    workload_with_return_url(aws)
    setup_authorizer(aws.endpoint, okta)
    user_token = okta.mint(user=SARAH, client_id=APP, server="default")
    wat = aws.worker_dp.get_workload_access_token_for_jwt(
        workloadName="worker", userToken=user_token
    )["workloadAccessToken"]
    response = aws.worker_dp.get_resource_oauth2_token(
        workloadIdentityToken=wat,
        resourceCredentialProviderName="crm",
        scopes=["notes.read"],
        oauth2Flow="ON_BEHALF_OF_TOKEN_EXCHANGE",
        audiences=["api://crm"],
    )
    assert response["accessToken"]
    exchanges = [
        e for e in okta.requests("token") if "token-exchange" in e.form.get("grant_type", "")
    ]
    assert exchanges
    # a user-id token carries no JWT to exchange
    by_id = aws.worker_dp.get_workload_access_token_for_user_id(workloadName="worker", userId=BOB)[
        "workloadAccessToken"
    ]
    with pytest.raises(aws.worker_dp.exceptions.AccessDeniedException):
        aws.worker_dp.get_resource_oauth2_token(
            workloadIdentityToken=by_id,
            resourceCredentialProviderName="crm",
            scopes=["notes.read"],
            oauth2Flow="ON_BEHALF_OF_TOKEN_EXCHANGE",
        )


def test_api_keys(aws: Clients) -> None:
    aws.cp.create_workload_identity(name="worker")
    aws.cp.create_workload_identity(name="other")
    created = aws.cp.create_api_key_credential_provider(
        name="openai", apiKey="sk-live-123", tags={"proctor:allowed-workloads": "worker"}
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["credentialProviderArn"].endswith(
        ":token-vault/default/apikeycredentialprovider/openai"
    )
    assert "sk-live-123" not in json.dumps(created, default=str)
    got = aws.cp.get_api_key_credential_provider(name="openai")
    assert "sk-live-123" not in json.dumps(got, default=str)
    wat = aws.worker_dp.get_workload_access_token(workloadName="worker")["workloadAccessToken"]
    key = aws.worker_dp.get_resource_api_key(
        workloadIdentityToken=wat, resourceCredentialProviderName="openai"
    )
    assert key["apiKey"] == "sk-live-123"
    aws.cp.update_api_key_credential_provider(name="openai", apiKey="sk-live-456")
    assert (
        aws.dp.get_resource_api_key(
            workloadIdentityToken=wat, resourceCredentialProviderName="openai"
        )["apiKey"]
        == "sk-live-456"
    )
    other = aws.dp.get_workload_access_token(workloadName="other")["workloadAccessToken"]
    with pytest.raises(aws.dp.exceptions.ResourceNotFoundException):
        aws.dp.get_resource_api_key(
            workloadIdentityToken=other, resourceCredentialProviderName="openai"
        )
    # the tag changes who is allowed
    arn = created["credentialProviderArn"]
    aws.cp.tag_resource(resourceArn=arn, tags={"proctor:allowed-workloads": "worker other"})
    assert (
        aws.dp.get_resource_api_key(
            workloadIdentityToken=other, resourceCredentialProviderName="openai"
        )["apiKey"]
        == "sk-live-456"
    )
    # the worker principal cannot present the other workload's token
    with pytest.raises(aws.worker_dp.exceptions.UnauthorizedException):
        aws.worker_dp.get_resource_api_key(
            workloadIdentityToken=other, resourceCredentialProviderName="openai"
        )
    pages = list(
        aws.cp.get_paginator("list_api_key_credential_providers").paginate(
            PaginationConfig={"PageSize": 1}
        )
    )
    assert [p["name"] for page in pages for p in page["credentialProviders"]] == ["openai"]
    aws.cp.delete_api_key_credential_provider(name="openai")
    with pytest.raises(aws.dp.exceptions.ResourceNotFoundException):
        aws.dp.get_resource_api_key(
            workloadIdentityToken=wat, resourceCredentialProviderName="openai"
        )
