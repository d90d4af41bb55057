"""The AgentCore Identity wire API (profile ``agentcore``), driven through boto3.

Each check calls the target with the real AWS clients (``bedrock-agentcore`` and
``bedrock-agentcore-control``, :mod:`proctor.conformance.agentcore`) and cites the proctor
requirement the AgentCore behaviour maps to; where the wire rule itself has no requirement
of its own, the docstring names the AgentCore must-have of
``notes/agentcore.md`` ("MH-n") it covers. The target provisions nothing by hand but what
:func:`~proctor.conformance.agentcore.setup_lines` lists: the kit creates its workload
identities and credential providers (``conf-<run id>-...``) through the AgentCore control
plane and deletes them at the end.

Capabilities: ``workload_identity`` (the directory operations), ``workload_tokens``
(GetWorkloadAccessToken*), ``inbound_authorization`` (…ForJWT and ``userToken``
completion, with ``agentcore.jwt_workload``), ``vault`` (credential providers, M2M, API
keys, with ``agentcore.oauth_provider``), ``three_legged`` (USER_FEDERATION through the
kit's mock provider), ``consent`` (a completed session's token is reused),
``workload_principals`` (credentials limited to one workload). The SigV4 checks are
skipped when the target declares ``agentcore.dev_mode``.

A negative check is reported twice (CONF-CTRL-002): whether the target refused (a 4xx,
nothing issued or created; :meth:`~proctor.conformance.agentcore.AgentCore.fails`) under
the check's own IDs, and whether the refusal had the required exception, status and
members (``expect``, ``validation``, or assertions in
:func:`~proctor.conformance.error_shape.error_shape`) as ``<check>::error_shape``. The
shape cites ERR-CODE-001, the proctor error code an AgentCore exception stands for
(``forbidden`` is ``AccessDeniedException``, ``not_found`` ``ResourceNotFoundException``,
...), and the requirement that names the code for that case, where one does.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any, Final

import pytest
from pydantic import SecretStr

from proctor.conformance.agentcore import (
    AgentCore,
    AgentCoreRun,
    AwsError,
    BrowserResult,
    OAuthSetup,
    static_config,
)
from proctor.conformance.checks import check
from proctor.conformance.config import AwsCredentials, Profile
from proctor.conformance.error_shape import error_shape
from proctor.conformance.errors import ConformanceFailure
from proctor.conformance.idps import decode_segment
from proctor.conformance.target import Target

PROFILES: Final[list[Profile]] = ["agentcore"]
WID: Final = ["workload_identity"]
TOKENS: Final = ["workload_identity", "workload_tokens"]
VAULT: Final = [*TOKENS, "vault"]
FEDERATION: Final = [*VAULT, "three_legged"]
PRINCIPALS: Final = [*VAULT, "workload_principals"]
#: VLT-SESS-001: the request URI form and at least 256 random bits in base64url.
SESSION_URI: Final = re.compile(r"urn:ietf:params:oauth:request_uri:[A-Za-z0-9._~-]{43,}")
AUTH_FAILURE_STATUSES: Final = (400, 401, 403)


@pytest.fixture(scope="module")
def agentcore(proctor_target: Target) -> Iterator[AgentCoreRun]:
    """The run's clients and what it created (deleted when the suite ends); SKIPS every
    check when boto3 is not installed."""
    run = AgentCoreRun(proctor_target)
    try:
        yield run
    finally:
        run.close()


def _status(response: dict[str, Any]) -> int:
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _request_id(response: dict[str, Any]) -> str:
    return str(response.get("ResponseMetadata", {}).get("RequestId", ""))


def _no_dev_mode(ac: AgentCore) -> None:
    if ac.dev_mode:
        pytest.skip("the target declares agentcore.dev_mode: it accepts any signature")


def _registers_on_use(ac: AgentCore) -> None:
    if ac.dev_mode:
        pytest.skip(
            "the target declares agentcore.dev_mode: it may register return URLs and scopes "
            "on first use"
        )


def _wrong(keys: AwsCredentials, **changes: Any) -> AwsCredentials:
    return keys.model_copy(update=changes)


def _secret_free(ac: AgentCore, secret: str, what: str) -> None:
    body = ac.last.text if ac.last is not None else ""
    if secret in body:
        raise ConformanceFailure(f"{what} echoes the secret it was given")


# -- workload identities ----------------------------------------------------------------


@check(
    "WID-DIR-001",
    "WID-STATE-002",
    shape=("WID-DIR-001", "ERR-CODE-001"),
    needs=WID,
    profiles=PROFILES,
)
def test_workload_identity_lifecycle(agentcore: AgentCoreRun) -> None:
    """Create 201, Get and Update 200, Delete 204 with an empty body, then not found.

    AgentCore must-haves MH-1 (exact paths), MH-2 (empty lists), MH-3 (camelCase, nothing
    empty), MH-4 (statuses and ``x-amzn-RequestId``), MH-7 (epoch-second timestamps).
    """
    ac = agentcore.ac
    control = ac.control()
    name = agentcore.name("life")
    created = agentcore.create_workload(name, [])
    assert _status(created) == 201, f"CreateWorkloadIdentity answered {_status(created)}"
    assert _request_id(created), "no x-amzn-RequestId on the response"
    assert created.get("name") == name, f"name {created.get('name')!r}"
    arn = created.get("workloadIdentityArn")
    assert isinstance(arn, str), "no workloadIdentityArn"
    assert arn, "an empty workloadIdentityArn"
    got = ac.call(control, "get_workload_identity", name=name)
    assert _status(got) == 200
    raw = ac.last_json()
    for member in ("createdTime", "lastUpdatedTime"):
        value = raw.get(member)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        assert number, f"{member} is not epoch seconds as a JSON number: {value!r}"
    assert got.get("workloadIdentityArn") == arn, "Get returns another ARN than Create"
    url = ac.settings.return_url
    updated = ac.call(
        control, "update_workload_identity", name=name, allowedResourceOauth2ReturnUrls=[url]
    )
    assert _status(updated) == 200
    assert updated.get("allowedResourceOauth2ReturnUrls") == [url]
    again = ac.call(control, "get_workload_identity", name=name)
    assert again.get("allowedResourceOauth2ReturnUrls") == [url], "the update was not kept"
    deleted = ac.call(control, "delete_workload_identity", name=name)
    agentcore.forget_workload(name)
    assert _status(deleted) == 204, f"DeleteWorkloadIdentity answered {_status(deleted)}"
    assert ac.last is not None, "no response recorded"
    assert not ac.last.content, "Delete answered with a body"
    ac.expect(
        control,
        "get_workload_identity",
        ("ResourceNotFoundException",),
        "a deleted workload identity is gone",
        name=name,
    )
    ac.expect(
        control,
        "delete_workload_identity",
        ("ResourceNotFoundException",),
        "deleting it again finds nothing",
        name=name,
    )


@check("WID-DIR-001", shape=("WID-DIR-001", "ERR-CODE-001"), needs=WID, profiles=PROFILES)
def test_duplicate_workload_identity_is_a_conflict(agentcore: AgentCoreRun) -> None:
    """A second CreateWorkloadIdentity with a taken name is ``ConflictException`` (409, MH-20)."""
    ac = agentcore.ac
    name = agentcore.workload("dup")
    found = ac.expect(
        ac.control(),
        "create_workload_identity",
        ("ConflictException",),
        "a taken name is a conflict",
        name=name,
    )
    with error_shape():
        assert found.status == 409, f"ConflictException with HTTP {found.status}"


@check("WID-DIR-001", needs=WID, profiles=PROFILES)
def test_workload_identities_paginate(agentcore: AgentCoreRun) -> None:
    """ListWorkloadIdentities pages with ``maxResults`` and ``nextToken`` (MH-17): the
    paginator sees every identity once, with at most ``maxResults`` per page."""
    ac = agentcore.ac
    mine = {agentcore.workload(f"page-{i}") for i in range(3)}
    seen: list[str] = []
    pages = ac.control().get_paginator("list_workload_identities")
    for page in pages.paginate(PaginationConfig={"PageSize": 1}):
        items = page.get("workloadIdentities")
        assert isinstance(items, list), "no workloadIdentities list"
        assert len(items) <= 1, f"a page of maxResults 1 holds {len(items)} items"
        for item in items:
            assert isinstance(item.get("workloadIdentityArn"), str), "an item without its ARN"
            seen.append(str(item.get("name")))
    assert mine <= set(seen), f"missing from the listing: {sorted(mine - set(seen))}"
    repeated = sorted({name for name in seen if seen.count(name) > 1})
    assert not repeated, f"listed more than once: {repeated}"


@check("PRV-KEY-001", "PRV-CFG-003", needs=VAULT, profiles=PROFILES)
def test_credential_providers_paginate(agentcore: AgentCoreRun) -> None:
    """ListApiKeyCredentialProviders and ListOauth2CredentialProviders page with
    ``nextToken`` (MH-17), and no listing carries a secret (MH-18)."""
    ac = agentcore.ac
    control = ac.control()
    key = "sk-conf-" + secrets.token_urlsafe(18)
    secret = "conf-" + secrets.token_urlsafe(18)
    keys = {agentcore.api_key_provider(f"key-{i}", key, []) for i in range(2)}
    oauths = {agentcore.static_oauth_provider(f"static-{i}", secret) for i in range(2)}
    for operation, mine in (
        ("list_api_key_credential_providers", keys),
        ("list_oauth2_credential_providers", oauths),
    ):
        seen: list[str] = []
        for page in control.get_paginator(operation).paginate(PaginationConfig={"PageSize": 1}):
            items = page.get("credentialProviders")
            assert isinstance(items, list), f"{operation}: no credentialProviders list"
            assert len(items) <= 1, f"{operation}: a page of maxResults 1 holds {len(items)}"
            seen += [str(item.get("name")) for item in items]
            _secret_free(ac, key, operation)
            _secret_free(ac, secret, operation)
        assert mine <= set(seen), f"{operation} misses {sorted(mine - set(seen))}"
        assert len(seen) == len(set(seen)), f"{operation} lists a provider twice"


# -- workload access tokens -------------------------------------------------------------


@check("WAT-REQ-001", "WAT-FMT-001", needs=TOKENS, profiles=PROFILES)
def test_workload_access_token_without_user(agentcore: AgentCoreRun) -> None:
    """GetWorkloadAccessToken returns a token (MH-14); two requests give different,
    unguessable tokens."""
    name = agentcore.workload("wat")
    first = agentcore.wat(name)
    second = agentcore.wat(name)
    assert first != second, "two requests returned the same workload access token"
    assert len(first) >= 32, f"a workload access token of {len(first)} characters"


@check("WAT-UID-001", shape=("WAT-UID-001", "ERR-CODE-001"), needs=TOKENS, profiles=PROFILES)
def test_workload_access_token_for_user_id(agentcore: AgentCoreRun) -> None:
    """GetWorkloadAccessTokenForUserId binds a user id (MH-13: the SDK's local bootstrap);
    a user id out of the 1-128 range is refused."""
    ac = agentcore.ac
    name = agentcore.workload("uid")
    token = agentcore.wat(name, user_id=agentcore.name("alice"))
    assert token != agentcore.wat(name), "the user-id token equals a user-less one"
    ac.validation(
        ac.data(),
        "get_workload_access_token_for_user_id",
        "userId",
        "a user id over 128 characters is refused",
        workloadName=name,
        userId="u" * 129,
    )


@check(
    "WAT-JWT-001",
    shape=("WAT-JWT-001", "ERR-CODE-001"),
    needs=[*TOKENS, "inbound_authorization"],
    profiles=PROFILES,
)
def test_workload_access_token_for_jwt(agentcore: AgentCoreRun) -> None:
    """GetWorkloadAccessTokenForJWT accepts a user token the workload trusts and refuses an
    expired one (UnauthorizedException), bracketed by the valid request."""
    ac = agentcore.ac
    workload = agentcore.jwt_workload()
    (valid,) = agentcore.user_tokens(1)
    (expired,) = agentcore.user_tokens(1, presets=["expired"])
    with ac.bracket("a valid user token", lambda: agentcore.wat_for_jwt(workload, valid)):
        ac.expect(
            ac.data(),
            "get_workload_access_token_for_jwt",
            ("UnauthorizedException",),
            "an expired user token gets no workload access token",
            workloadName=workload,
            userToken=expired,
        )


@check(
    "WID-DIR-001",
    "WAT-REQ-001",
    shape=("WID-DIR-001", "ERR-CODE-001"),
    needs=TOKENS,
    profiles=PROFILES,
)
def test_unknown_workload_gets_no_token(agentcore: AgentCoreRun) -> None:
    """A token for a workload identity that does not exist is ResourceNotFoundException."""
    ac = agentcore.ac
    ac.expect(
        ac.data(),
        "get_workload_access_token",
        ("ResourceNotFoundException",),
        "an unknown workload gets no token",
        workloadName=agentcore.name("nobody"),
    )


# -- binding ----------------------------------------------------------------------------


@check("WAT-USE-001", shape=("WAT-USE-001", "ERR-CODE-001"), needs=PRINCIPALS, profiles=PROFILES)
def test_wat_works_only_for_its_workload(agentcore: AgentCoreRun) -> None:
    """A workload access token of workload A presented by workload B's credentials is
    refused like a token that never existed; B's own token works (the control)."""
    ac = agentcore.ac
    _no_dev_mode(ac)
    a, b = agentcore.principals()[:2]
    key = "sk-conf-" + secrets.token_urlsafe(18)
    provider = agentcore.api_key_provider("shared", key, [a, b])
    wat_a = agentcore.wat(a, principal=a)
    wat_b = agentcore.wat(b, principal=b)
    data_b = ac.data(b)

    def own() -> object:
        got = ac.call(
            data_b,
            "get_resource_api_key",
            workloadIdentityToken=wat_b,
            resourceCredentialProviderName=provider,
        )
        assert got.get("apiKey") == key
        return got

    with ac.bracket("workload B with its own token", own):
        foreign = ac.fails(
            data_b,
            "get_resource_api_key",
            workloadIdentityToken=wat_a,
            resourceCredentialProviderName=provider,
        )
        forged = ac.fails(
            data_b,
            "get_resource_api_key",
            workloadIdentityToken="wat_" + secrets.token_urlsafe(32),
            resourceCredentialProviderName=provider,
        )
    with error_shape():
        if (foreign.code, foreign.status) != (forged.code, forged.status):
            raise ConformanceFailure(
                "another workload's token must be refused like an unknown one",
                expected=str(forged),
                observed=str(foreign),
            )
        assert foreign.code == "UnauthorizedException", f"refused with {foreign}"


@check(
    "SEC-DEPUTY-001",
    "WAT-USE-001",
    shape=("ERR-CODE-001",),
    needs=PRINCIPALS,
    profiles=PROFILES,
)
def test_workload_principal_acts_only_for_itself(agentcore: AgentCoreRun) -> None:
    """Workload B's credentials get no token for workload A (the ``workloadName`` in the
    body does not choose the identity)."""
    ac = agentcore.ac
    _no_dev_mode(ac)
    a, b = agentcore.principals()[:2]
    with ac.bracket("B asks for its own token", lambda: agentcore.wat(b, principal=b)):
        ac.expect(
            ac.data(b),
            "get_workload_access_token",
            ("AccessDeniedException",),
            "a workload principal gets no token for another workload",
            workloadName=a,
        )


@check("WID-ADMIN-001", shape=("ERR-CODE-001",), needs=PRINCIPALS, profiles=PROFILES)
def test_workload_principal_has_no_control_plane(agentcore: AgentCoreRun) -> None:
    """Workload credentials cannot call the control plane (AccessDeniedException)."""
    ac = agentcore.ac
    _no_dev_mode(ac)
    a = agentcore.principals()[0]
    with ac.bracket("the admin lists", lambda: ac.call(ac.control(), "list_workload_identities")):
        ac.expect(
            ac.client("control", principal=a),
            "create_workload_identity",
            ("AccessDeniedException",),
            "a workload principal cannot create workload identities",
            name=agentcore.name("by-a-workload"),
        )


@check("WAT-USE-002", shape=("WAT-USE-002", "ERR-CODE-001"), needs=VAULT, profiles=PROFILES)
def test_invalid_wat_is_refused(agentcore: AgentCoreRun) -> None:
    """An unknown or malformed workload access token is UnauthorizedException, the same
    for both, at GetResourceApiKey and GetResourceOauth2Token."""
    ac = agentcore.ac
    data = ac.data()
    name = agentcore.workload("badwat")
    key = "sk-conf-" + secrets.token_urlsafe(18)
    provider = agentcore.api_key_provider("badwat", key, [name])
    oauth = agentcore.static_oauth_provider("badwat-oauth", "conf-" + secrets.token_urlsafe(12))
    wat = agentcore.wat(name)
    control = lambda: ac.call(  # noqa: E731
        data, "get_resource_api_key", workloadIdentityToken=wat,
        resourceCredentialProviderName=provider,
    )  # fmt: skip
    seen: list[AwsError] = []
    with ac.bracket("the workload's own token", control):
        for bad in ("wat_" + secrets.token_urlsafe(32), "not-a-token", wat[:-4] + "AAAA"):
            seen.append(
                ac.expect(
                    data, "get_resource_api_key", ("UnauthorizedException",),
                    "an invalid workload access token is refused",
                    workloadIdentityToken=bad, resourceCredentialProviderName=provider,
                )
            )  # fmt: skip
            seen.append(
                ac.expect(
                    data, "get_resource_oauth2_token", ("UnauthorizedException",),
                    "an invalid workload access token is refused",
                    workloadIdentityToken=bad, resourceCredentialProviderName=oauth,
                    scopes=[], oauth2Flow="M2M",
                )
            )  # fmt: skip
    statuses = {(e.code, e.status) for e in seen}
    with error_shape():
        assert len(statuses) == 1, f"invalid tokens are refused differently: {sorted(statuses)}"


@check(
    "WID-STATE-002",
    "WAT-USE-002",
    shape=("WAT-USE-002", "ERR-CODE-001"),
    needs=VAULT,
    profiles=PROFILES,
)
def test_deleted_workload_tokens_stay_dead(agentcore: AgentCoreRun) -> None:
    """A token of a deleted workload identity is refused, also after an identity of the
    same name is created again (a name is not an identity)."""
    ac = agentcore.ac
    data = ac.data()
    name = agentcore.workload("reborn")
    key = "sk-conf-" + secrets.token_urlsafe(18)
    provider = agentcore.api_key_provider("reborn", key, [name])
    old = agentcore.wat(name)
    ac.call(data, "get_resource_api_key", workloadIdentityToken=old,
            resourceCredentialProviderName=provider)  # fmt: skip
    ac.call(ac.control(), "delete_workload_identity", name=name)
    agentcore.forget_workload(name)
    agentcore.create_workload(name, [])
    new = agentcore.wat(name)
    with ac.bracket(
        "a token of the new identity",
        lambda: ac.call(data, "get_resource_api_key", workloadIdentityToken=new,
                        resourceCredentialProviderName=provider),
    ):  # fmt: skip
        ac.expect(
            data, "get_resource_api_key", ("UnauthorizedException",),
            "the old identity's token is dead",
            workloadIdentityToken=old, resourceCredentialProviderName=provider,
        )  # fmt: skip


# -- credential providers and the vault -------------------------------------------------


@check("PRV-CFG-003", "PRV-CFG-001", needs=VAULT, profiles=PROFILES)
def test_oauth2_provider_never_echoes_its_secret(agentcore: AgentCoreRun) -> None:
    """Create, Get, Update and List of an OAuth2 provider never return the client secret
    (MH-18); ``oauth2ProviderConfigOutput`` and ``oauthDiscovery`` hold exactly one member
    (MH-8); the provider has an ARN and a ``clientSecretArn``."""
    ac = agentcore.ac
    control = ac.control()
    secret = "conf-" + secrets.token_urlsafe(24)
    ac.target.add_secret(secret)
    name = agentcore.static_oauth_provider("echo", secret)
    _secret_free(ac, secret, "CreateOauth2CredentialProvider")
    got = ac.call(control, "get_oauth2_credential_provider", name=name)
    _secret_free(ac, secret, "GetOauth2CredentialProvider")
    raw = ac.last_json()
    output = raw.get("oauth2ProviderConfigOutput")
    assert isinstance(output, dict), "no oauth2ProviderConfigOutput object"
    assert len(output) == 1, f"oauth2ProviderConfigOutput holds {sorted(output)}, not one member"
    (config,) = output.values()
    discovery = config.get("oauthDiscovery") if isinstance(config, dict) else None
    assert isinstance(discovery, dict), "no oauthDiscovery object"
    assert len(discovery) == 1, f"oauthDiscovery holds {sorted(discovery)}, not one member"
    assert isinstance(got.get("credentialProviderArn"), str), "no credentialProviderArn"
    assert isinstance((got.get("clientSecretArn") or {}).get("secretArn"), str), (
        "no clientSecretArn.secretArn"
    )
    newer = "conf-" + secrets.token_urlsafe(24)
    ac.target.add_secret(newer)
    ac.call(
        control,
        "update_oauth2_credential_provider",
        name=name,
        credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput=static_config(newer),
    )
    _secret_free(ac, newer, "UpdateOauth2CredentialProvider")
    ac.call(control, "get_oauth2_credential_provider", name=name)
    _secret_free(ac, newer, "GetOauth2CredentialProvider")
    ac.call(control, "list_oauth2_credential_providers")
    _secret_free(ac, newer, "ListOauth2CredentialProviders")


@check(
    "PRV-KEY-001",
    "PRV-CFG-003",
    "VLT-APIK-001",
    shape=("VLT-APIK-001", "ERR-CODE-001"),
    needs=VAULT,
    profiles=PROFILES,
)
def test_api_key_provider_and_key(agentcore: AgentCoreRun) -> None:
    """An API-key provider never echoes its key (MH-18); GetResourceApiKey returns it, the
    new one after an update; an unknown or deleted provider is ResourceNotFoundException."""
    ac = agentcore.ac
    control, data = ac.control(), ac.data()
    workload = agentcore.workload("apikey")
    key = "sk-conf-" + secrets.token_urlsafe(24)
    provider = agentcore.api_key_provider("apikey", key, [workload])
    _secret_free(ac, key, "CreateApiKeyCredentialProvider")
    created = ac.call(control, "get_api_key_credential_provider", name=provider)
    _secret_free(ac, key, "GetApiKeyCredentialProvider")
    assert isinstance((created.get("apiKeySecretArn") or {}).get("secretArn"), str), (
        "no apiKeySecretArn.secretArn"
    )
    wat = agentcore.wat(workload)

    def fetch() -> Any:
        return ac.call(
            data, "get_resource_api_key",
            workloadIdentityToken=wat, resourceCredentialProviderName=provider,
        ).get("apiKey")  # fmt: skip

    assert fetch() == key, "GetResourceApiKey did not return the stored key"
    newer = "sk-conf-" + secrets.token_urlsafe(24)
    ac.target.add_secret(newer)
    ac.call(control, "update_api_key_credential_provider", name=provider, apiKey=newer)
    _secret_free(ac, newer, "UpdateApiKeyCredentialProvider")
    assert fetch() == newer, "GetResourceApiKey did not return the updated key"
    ac.call(control, "list_api_key_credential_providers")
    _secret_free(ac, newer, "ListApiKeyCredentialProviders")
    ac.expect(
        data, "get_resource_api_key", ("ResourceNotFoundException",),
        "an unknown API-key provider is not found",
        workloadIdentityToken=wat, resourceCredentialProviderName=agentcore.name("nokey"),
    )  # fmt: skip
    ac.call(control, "delete_api_key_credential_provider", name=provider)
    agentcore.forget_api_key_provider(provider)
    ac.expect(
        data, "get_resource_api_key", ("ResourceNotFoundException",),
        "a deleted provider's key is gone",
        workloadIdentityToken=wat, resourceCredentialProviderName=provider,
    )  # fmt: skip


@check("VLT-M2M-001", needs=VAULT, profiles=PROFILES)
def test_m2m_token(agentcore: AgentCoreRun) -> None:
    """M2M answers ``accessToken`` at once (MH-10), a token the provider issued (active at
    its introspection endpoint); with ``scopes: []`` too (MH-2)."""
    ac = agentcore.ac
    setup = agentcore.oauth()
    workload = agentcore.workload("m2m")
    wat = agentcore.wat(workload)
    for scopes in ([setup.scopes[0]], []):
        got = ac.call(
            ac.data(), "get_resource_oauth2_token",
            workloadIdentityToken=wat, resourceCredentialProviderName=setup.name,
            scopes=scopes, oauth2Flow="M2M",
        )  # fmt: skip
        token = got.get("accessToken")
        assert isinstance(token, str), f"M2M with scopes {scopes} gave no accessToken"
        assert token, "an empty accessToken"
        ac.target.add_secret(token)
        stray = sorted(k for k in ("authorizationUrl", "sessionUri", "sessionStatus") if k in got)
        assert not stray, f"an M2M answer carries {stray}"
        assert agentcore.token_is_active(setup, token), "the provider does not know the token"


@check("VLT-REQ-001", shape=("VLT-REQ-001", "ERR-CODE-001"), needs=VAULT, profiles=PROFILES)
def test_resource_token_request_errors(agentcore: AgentCoreRun) -> None:
    """An unknown provider is ResourceNotFoundException; USER_FEDERATION with a token bound
    to no user is ValidationException naming ``oauth2Flow``."""
    ac = agentcore.ac
    data = ac.data()
    setup = agentcore.oauth()
    workload = agentcore.workload("reqerr")
    wat = agentcore.wat(workload)
    base = {"workloadIdentityToken": wat, "scopes": [setup.scopes[0]], "oauth2Flow": "M2M"}
    good = lambda: ac.call(  # noqa: E731
        data, "get_resource_oauth2_token", resourceCredentialProviderName=setup.name, **base
    )
    with ac.bracket("the M2M request", good):
        ac.expect(
            data, "get_resource_oauth2_token", ("ResourceNotFoundException",),
            "an unknown provider is not found",
            **{**base, "resourceCredentialProviderName": agentcore.name("nowhere")},
        )  # fmt: skip
        ac.validation(
            data, "get_resource_oauth2_token", "oauth2Flow",
            "USER_FEDERATION needs a token bound to a user",
            **{**base, "resourceCredentialProviderName": setup.name,
               "oauth2Flow": "USER_FEDERATION", "resourceOauth2ReturnUrl": ac.settings.return_url},
        )  # fmt: skip


@check("VLT-REQ-002", shape=("VLT-REQ-002", "ERR-CODE-001"), needs=VAULT, profiles=PROFILES)
def test_scope_outside_the_provider_is_refused(agentcore: AgentCoreRun) -> None:
    """A scope the provider does not have (tag ``proctor:scopes``) is ValidationException
    naming ``scopes``, before any upstream call."""
    ac = agentcore.ac
    _registers_on_use(ac)
    data = ac.data()
    setup = agentcore.oauth()
    wat = agentcore.wat(agentcore.ensure_workload("scopes", []))
    base = {
        "workloadIdentityToken": wat,
        "resourceCredentialProviderName": setup.name,
        "oauth2Flow": "M2M",
    }
    good = lambda: ac.call(  # noqa: E731
        data, "get_resource_oauth2_token", scopes=[setup.scopes[0]], **base
    )
    with ac.bracket("a scope the provider has", good):
        ac.validation(
            data, "get_resource_oauth2_token", "scopes",
            "a scope the provider does not have is refused",
            scopes=[setup.scopes[0], "conf.not-a-scope"], **base,
        )  # fmt: skip


# -- the 3-legged flow ------------------------------------------------------------------


def _federation(
    agentcore: AgentCoreRun,
    setup: OAuthSetup,
    wat: str,
    *,
    session_uri: str | None = None,
    return_url: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "workloadIdentityToken": wat,
        "resourceCredentialProviderName": setup.name,
        "scopes": [setup.scopes[0]],
        "oauth2Flow": "USER_FEDERATION",
        "resourceOauth2ReturnUrl": return_url or agentcore.ac.settings.return_url,
    }
    if session_uri is not None:
        params |= {"sessionUri": session_uri, "forceAuthentication": False}
    elif force:
        params["forceAuthentication"] = True
    return agentcore.ac.call(agentcore.ac.data(), "get_resource_oauth2_token", **params)


def _started(found: dict[str, Any]) -> tuple[str, str]:
    url, uri, status = (found.get(k) for k in ("authorizationUrl", "sessionUri", "sessionStatus"))
    if not isinstance(url, str) or not isinstance(uri, str):
        raise ConformanceFailure(
            "USER_FEDERATION without a stored token answers authorizationUrl and sessionUri",
            observed=", ".join(sorted(k for k in found if k != "ResponseMetadata")),
        )
    if status != "IN_PROGRESS":
        raise ConformanceFailure("a new session is IN_PROGRESS", observed=repr(status))
    if "accessToken" in found:
        raise ConformanceFailure("a new session answers no accessToken")
    return url, uri


def _back_at_app(agentcore: AgentCoreRun, result: BrowserResult, session_uri: str) -> None:
    """The callback sends the browser to the return URL with ``session_id`` (MH-16)."""
    url = agentcore.ac.settings.return_url
    if result.status not in (302, 303) or not result.location.startswith(url):
        raise ConformanceFailure(
            "the callback redirects the browser to the registered return URL",
            expected=f"302/303 to {url}?session_id=...",
            observed=f"HTTP {result.status} to {result.location[:120]!r}",
        )
    if result.session_id != session_uri:
        raise ConformanceFailure(
            "the return URL carries session_id = the sessionUri", observed=repr(result.session_id)
        )


def _user_id_session(agentcore: AgentCoreRun, suffix: str) -> tuple[OAuthSetup, str, str, str]:
    """A workload with the return URL, a WAT for a fresh user id, a session consented in
    the browser: (setup, wat, user id, session URI)."""
    setup = agentcore.oauth()
    name = agentcore.ensure_workload(suffix, [agentcore.ac.settings.return_url])
    user = agentcore.name(f"user-{secrets.token_hex(3)}")
    wat = agentcore.wat(name, user_id=user)
    url, uri = _started(_federation(agentcore, setup, wat))
    _back_at_app(agentcore, agentcore.consent(url), uri)
    return setup, wat, user, uri


def _complete(agentcore: AgentCoreRun, uri: str, identifier: dict[str, str]) -> dict[str, Any]:
    return agentcore.ac.call(
        agentcore.ac.data(),
        "complete_resource_token_auth",
        userIdentifier=identifier,
        sessionUri=uri,
    )


def _token_after(agentcore: AgentCoreRun, setup: OAuthSetup, wat: str, uri: str) -> str:
    found = _federation(agentcore, setup, wat, session_uri=uri)
    token = found.get("accessToken")
    if not isinstance(token, str) or not token:
        raise ConformanceFailure(
            "a poll of a completed session answers accessToken",
            observed=", ".join(sorted(k for k in found if k != "ResponseMetadata")),
        )
    agentcore.target.add_secret(token)
    return token


def _flow_by_the_same_user(agentcore: AgentCoreRun) -> str:
    setup, wat, user, uri = _user_id_session(agentcore, "fed")
    _complete(agentcore, uri, {"userId": user})
    return _token_after(agentcore, setup, wat, uri)


@check("VLT-SESS-001", "VLT-SESS-004", needs=FEDERATION, profiles=PROFILES)
def test_user_federation_starts_and_polls_a_session(agentcore: AgentCoreRun) -> None:
    """USER_FEDERATION answers ``authorizationUrl``, a ``sessionUri`` of the request-URI
    form with at least 256 random bits, and ``IN_PROGRESS`` (MH-10); a poll with the
    ``sessionUri`` before the user consents answers the same session, still in progress."""
    setup = agentcore.oauth()
    name = agentcore.workload("start", return_urls=[agentcore.ac.settings.return_url])
    wat = agentcore.wat(name, user_id=agentcore.name("starter"))
    url, uri = _started(_federation(agentcore, setup, wat))
    assert SESSION_URI.fullmatch(uri), f"sessionUri {uri[:60]!r} is not a request URI"
    assert uri not in url, "the authorizationUrl carries the session URI"
    polled = _federation(agentcore, setup, wat, session_uri=uri)
    _, again = _started(polled)
    assert again == uri, "polling answered another session"
    _, other = _started(_federation(agentcore, setup, wat))
    assert other != uri, "two sessions share a sessionUri"


@check("VLT-SESS-002", shape=("VLT-SESS-002", "ERR-CODE-001"), needs=FEDERATION, profiles=PROFILES)
def test_return_url_must_be_registered(agentcore: AgentCoreRun) -> None:
    """A ``resourceOauth2ReturnUrl`` not registered on the workload identity (MH-15) is
    ValidationException and starts no session; the registered one starts a session."""
    _registers_on_use(agentcore.ac)
    setup = agentcore.oauth()
    registered = agentcore.ac.settings.return_url
    name = agentcore.workload("returl", return_urls=[registered])
    wat = agentcore.wat(name, user_id=agentcore.name("returner"))
    with agentcore.ac.bracket(
        "the registered return URL", lambda: _started(_federation(agentcore, setup, wat))
    ):
        for other in (registered + "/elsewhere", registered.rstrip("/") + "/?x=1"):
            agentcore.ac.validation(
                agentcore.ac.data(), "get_resource_oauth2_token", "resourceOauth2ReturnUrl",
                "an unregistered return URL is refused",
                workloadIdentityToken=wat, resourceCredentialProviderName=setup.name,
                scopes=[setup.scopes[0]], oauth2Flow="USER_FEDERATION",
                resourceOauth2ReturnUrl=other,
            )  # fmt: skip


@check("VLT-BIND-001", "VLT-SESS-004", needs=FEDERATION, profiles=PROFILES)
def test_completion_by_the_same_user_yields_the_token(agentcore: AgentCoreRun) -> None:
    """The browser comes back with ``session_id``; CompleteResourceTokenAuth by the user
    the token was minted for answers ``{}`` (MH-12); the next poll answers the provider's
    token; a repeated completion changes nothing."""
    setup, wat, user, uri = _user_id_session(agentcore, "fed")
    completed = _complete(agentcore, uri, {"userId": user})
    rest = {k: v for k, v in completed.items() if k != "ResponseMetadata"}
    assert rest == {}, f"CompleteResourceTokenAuth answers {{}}, not {sorted(rest)}"
    assert _status(completed) == 200
    token = _token_after(agentcore, setup, wat, uri)
    assert agentcore.token_is_active(setup, token), "the provider does not know the token"
    _complete(agentcore, uri, {"userId": user})


@check("VLT-BIND-002", shape=("VLT-BIND-002", "ERR-CODE-001"), needs=FEDERATION, profiles=PROFILES)
def test_completion_by_another_user_fails(agentcore: AgentCoreRun) -> None:
    """CompleteResourceTokenAuth by another user than the one the token was minted for is
    AccessDeniedException; the session is over: a poll is an error, never a FAILED status
    the SDK would poll for ten minutes (MH-11), and the right user cannot complete it any
    more. Bracketed by a flow the same user completes."""
    ac = agentcore.ac
    with ac.bracket("a flow completed by the same user", lambda: _flow_by_the_same_user(agentcore)):
        setup, wat, user, uri = _user_id_session(agentcore, "fed")
        ac.expect(
            ac.data(), "complete_resource_token_auth", ("AccessDeniedException",),
            "another user cannot complete the session",
            userIdentifier={"userId": agentcore.name("mallory")}, sessionUri=uri,
        )  # fmt: skip
        _poll_is_an_error(agentcore, setup, wat, uri, "after a completion by another user")
        ac.fails(
            ac.data(),
            "complete_resource_token_auth",
            userIdentifier={"userId": user},
            sessionUri=uri,
        )


def _poll_is_an_error(
    agentcore: AgentCoreRun, setup: OAuthSetup, wat: str, uri: str, when: str
) -> AwsError:
    ac = agentcore.ac
    exceptions = ac.bc["exceptions"]
    try:
        found = ac.data().get_resource_oauth2_token(
            workloadIdentityToken=wat, resourceCredentialProviderName=setup.name,
            scopes=[setup.scopes[0]], oauth2Flow="USER_FEDERATION", sessionUri=uri,
            resourceOauth2ReturnUrl=ac.settings.return_url,
        )  # fmt: skip
    except exceptions.ClientError as error:
        decoded = ac.decode(ac.data(), error)
        if decoded.status >= 500:
            raise ConformanceFailure(
                f"a poll {when} is a client error, not a retried 5xx", observed=str(decoded)
            ) from None
        return decoded
    status = found.get("sessionStatus")
    raise ConformanceFailure(
        f"a poll {when} must be an error",
        observed=f"sessionStatus {status!r}"
        + (" (the SDK would poll it for ten minutes)" if status == "FAILED" else "")
        + (", with an accessToken" if "accessToken" in found else ""),
    )


@check("VLT-CB-002", "VLT-SESS-004", needs=FEDERATION, profiles=PROFILES)
def test_refused_consent_is_an_error(agentcore: AgentCoreRun) -> None:
    """When the provider sends the browser back with ``error=access_denied``, the target
    returns it to the app with ``session_id``, and polling the session is an error,
    never ``FAILED`` nor an endless ``IN_PROGRESS`` (MH-11)."""
    setup = agentcore.oauth()
    name = agentcore.workload("refuse", return_urls=[agentcore.ac.settings.return_url])
    wat = agentcore.wat(name, user_id=agentcore.name("refuser"))
    url, uri = _started(_federation(agentcore, setup, wat))
    _back_at_app(agentcore, agentcore.refuse(url), uri)
    _poll_is_an_error(agentcore, setup, wat, uri, "of a session the user refused")


@check(
    "VLT-PART-002",
    "VLT-BIND-003",
    shape=("VLT-PART-002", "VLT-BIND-003", "ERR-CODE-001"),
    needs=FEDERATION,
    profiles=PROFILES,
)
def test_unknown_session_is_not_found(agentcore: AgentCoreRun) -> None:
    """A well-formed ``sessionUri`` no session has is ResourceNotFoundException, when
    polled and when completed; a real session is polled fine (the control)."""
    ac = agentcore.ac
    setup = agentcore.oauth()
    name = agentcore.workload("nosess", return_urls=[ac.settings.return_url])
    wat = agentcore.wat(name, user_id=agentcore.name("unknown"))
    _, uri = _started(_federation(agentcore, setup, wat))
    ghost = "urn:ietf:params:oauth:request_uri:" + secrets.token_urlsafe(32)
    with ac.bracket(
        "polling the real session", lambda: _federation(agentcore, setup, wat, session_uri=uri)
    ):
        ac.expect(
            ac.data(), "get_resource_oauth2_token", ("ResourceNotFoundException",),
            "an unknown session is not found",
            workloadIdentityToken=wat, resourceCredentialProviderName=setup.name,
            scopes=[setup.scopes[0]], oauth2Flow="USER_FEDERATION", sessionUri=ghost,
            resourceOauth2ReturnUrl=ac.settings.return_url,
        )  # fmt: skip
        ac.expect(
            ac.data(), "complete_resource_token_auth", ("ResourceNotFoundException",),
            "an unknown session cannot be completed",
            userIdentifier={"userId": agentcore.name("unknown")}, sessionUri=ghost,
        )  # fmt: skip


@check("VLT-3LO-001", "CNS-REC-002", needs=[*FEDERATION, "consent"], profiles=PROFILES)
def test_stored_token_is_reused(agentcore: AgentCoreRun) -> None:
    """After a completed session, the next USER_FEDERATION request of the same workload
    and user answers ``accessToken`` without a new session (persisted consent)."""
    setup, wat, user, uri = _user_id_session(agentcore, "fed")
    _complete(agentcore, uri, {"userId": user})
    _token_after(agentcore, setup, wat, uri)
    again = _federation(agentcore, setup, wat)
    token = again.get("accessToken")
    listed = ", ".join(sorted(k for k in again if k != "ResponseMetadata"))
    assert isinstance(token, str), f"the stored token is not reused: {listed}"
    assert token, "an empty accessToken"
    agentcore.target.add_secret(token)
    assert "authorizationUrl" not in again, "a new session started although consent exists"


@check(
    "VLT-BIND-001",
    "VLT-BIND-002",
    "WAT-UID-001",
    shape=("VLT-BIND-002", "ERR-CODE-001"),
    needs=[*FEDERATION, "inbound_authorization"],
    profiles=PROFILES,
)
def test_completion_with_user_token(agentcore: AgentCoreRun) -> None:
    """A session started with a token from …ForJWT is completed with the same user's
    ``userToken``; in sessions forced afterwards (``forceAuthentication``), another user's
    token, or a ``userId`` equal to the user's subject, is refused (a caller-asserted id
    never matches a verified user)."""
    ac = agentcore.ac
    setup = agentcore.oauth()
    workload = agentcore.jwt_workload()
    agentcore.ensure_return_url(workload, ac.settings.return_url)
    alice, bob = agentcore.user_tokens(2)
    wat = agentcore.wat_for_jwt(workload, alice)

    def session(force: bool) -> str:
        url, uri = _started(_federation(agentcore, setup, wat, force=force))
        _back_at_app(agentcore, agentcore.consent(url), uri)
        return uri

    uri = session(False)
    _complete(agentcore, uri, {"userToken": alice})
    _token_after(agentcore, setup, wat, uri)
    subject = str(decode_segment(alice.split(".")[1]).get("sub", "x"))
    for identifier in ({"userToken": bob}, {"userId": subject}):
        uri = session(True)  # a new authorization although a token is stored
        ac.expect(
            ac.data(), "complete_resource_token_auth", ("AccessDeniedException",),
            f"completion with {next(iter(identifier))} of another identity is refused",
            userIdentifier=identifier, sessionUri=uri,
        )  # fmt: skip


# -- validation the SDK leaves to the server --------------------------------------------


@check(
    "WID-DIR-003",
    "ERR-RULE-001",
    shape=("WID-DIR-003", "ERR-CODE-001"),
    needs=TOKENS,
    profiles=PROFILES,
)
def test_names_and_patterns_are_validated(agentcore: AgentCoreRun) -> None:
    """botocore checks no ``pattern`` and no ``max`` (MH-6): a bad workload name, a name
    over 255 characters, a return URL and a session URI off their patterns are
    ValidationException with a ``reason`` and a ``fieldList`` naming the member."""
    ac = agentcore.ac
    control, data = ac.control(), ac.data()
    name = agentcore.workload("valid")
    good = lambda: ac.call(control, "get_workload_identity", name=name)  # noqa: E731
    with ac.bracket("a valid name", good):
        for bad in ("bad name!", "x" * 256):
            ac.validation(control, "create_workload_identity", "name",
                          f"workload name {bad[:12]!r}… is refused", name=bad)  # fmt: skip
            ac.validation(data, "get_workload_access_token", "workloadName",
                          "a bad workload name is refused", workloadName=bad)  # fmt: skip
        ac.validation(
            control, "create_workload_identity", "allowedResourceOauth2ReturnUrls",
            "a return URL off the pattern is refused",
            name=agentcore.name("badurl"), allowedResourceOauth2ReturnUrls=["not a url"],
        )  # fmt: skip
        ac.validation(
            data, "complete_resource_token_auth", "sessionUri",
            "a session URI off the pattern is refused",
            userIdentifier={"userId": "someone"}, sessionUri="https://not-a-request-uri",
        )  # fmt: skip


@check(
    "VLT-REQ-001",
    "WID-DIR-003",
    shape=("VLT-REQ-001", "WID-DIR-003", "ERR-CODE-001"),
    needs=VAULT,
    profiles=PROFILES,
)
def test_enums_are_validated(agentcore: AgentCoreRun) -> None:
    """botocore checks no ``enum`` (MH-6): ``oauth2Flow`` and ``credentialProviderVendor``
    outside the model's values, and a provider name off its pattern, are
    ValidationException naming the member."""
    ac = agentcore.ac
    control, data = ac.control(), ac.data()
    setup = agentcore.oauth()
    workload = agentcore.workload("enum")
    wat = agentcore.wat(workload)
    base = {
        "workloadIdentityToken": wat,
        "scopes": [],
        "resourceCredentialProviderName": setup.name,
    }
    m2m = lambda: ac.call(data, "get_resource_oauth2_token", oauth2Flow="M2M", **base)  # noqa: E731
    with ac.bracket("an M2M request", m2m):
        ac.validation(data, "get_resource_oauth2_token", "oauth2Flow",
                      "an unknown flow is refused", oauth2Flow="NOT_A_FLOW", **base)  # fmt: skip
        ac.validation(
            data, "get_resource_oauth2_token", "resourceCredentialProviderName",
            "a provider name off its pattern is refused",
            **{**base, "oauth2Flow": "M2M", "resourceCredentialProviderName": "bad name!"},
        )  # fmt: skip
        ac.validation(
            control, "create_oauth2_credential_provider", "credentialProviderVendor",
            "an unknown vendor is refused",
            name=agentcore.name("novendor"), credentialProviderVendor="NotAVendorOauth2",
            oauth2ProviderConfigInput=static_config("conf-" + secrets.token_urlsafe(12)),
        )  # fmt: skip


@check(
    "PRV-CFG-001",
    "VLT-BIND-001",
    shape=("PRV-CFG-001", "ERR-CODE-001"),
    needs=VAULT,
    profiles=PROFILES,
)
def test_unions_need_exactly_one_member(agentcore: AgentCoreRun) -> None:
    """Input unions with two members (sent with botocore's client-side validation off) are
    ValidationException (MH-6): ``userIdentifier``, ``oauth2ProviderConfigInput`` and
    ``oauthDiscovery``."""
    ac = agentcore.ac
    raw_control = ac.client("control", validate=False)
    raw_data = ac.client("data", validate=False)
    secret = "conf-" + secrets.token_urlsafe(12)
    ac.target.add_secret(secret)
    both_sources = static_config(secret)
    discovery = both_sources["customOauth2ProviderConfig"]["oauthDiscovery"]
    discovery["discoveryUrl"] = "https://as.conformance.example/.well-known/openid-configuration"
    good_name = agentcore.name("union-ok")

    def control_create() -> object:
        created = ac.call(
            raw_control, "create_oauth2_credential_provider", name=good_name,
            credentialProviderVendor="CustomOauth2",
            oauth2ProviderConfigInput=static_config(secret),
        )  # fmt: skip
        ac.call(ac.control(), "delete_oauth2_credential_provider", name=good_name)
        return created

    with ac.bracket("a provider with one config member", control_create):
        ac.validation(
            raw_control, "create_oauth2_credential_provider", "oauth2ProviderConfigInput",
            "two config members are refused",
            name=agentcore.name("union-2"), credentialProviderVendor="CustomOauth2",
            oauth2ProviderConfigInput={
                **static_config(secret),
                "githubOauth2ProviderConfig": {"clientId": "c", "clientSecret": secret},
            },
        )  # fmt: skip
        ac.validation(
            raw_control, "create_oauth2_credential_provider", "oauthDiscovery",
            "discoveryUrl and authorizationServerMetadata together are refused",
            name=agentcore.name("union-3"), credentialProviderVendor="CustomOauth2",
            oauth2ProviderConfigInput=both_sources,
        )  # fmt: skip
        ac.validation(
            raw_data, "complete_resource_token_auth", "userIdentifier",
            "userId and userToken together are refused",
            userIdentifier={"userId": "someone", "userToken": "eyJa.eyJb.c"},
            sessionUri="urn:ietf:params:oauth:request_uri:" + secrets.token_urlsafe(32),
        )  # fmt: skip


@check("WID-DIR-001", shape=("WID-DIR-001", "ERR-CODE-001"), needs=WID, profiles=PROFILES)
def test_list_limits_are_validated(agentcore: AgentCoreRun) -> None:
    """``maxResults`` above the model's maximum (20 for workload identities and OAuth2
    providers, 100 for API-key providers) is ValidationException (MH-17)."""
    ac = agentcore.ac
    control = ac.control()
    with ac.bracket(
        "maxResults 20", lambda: ac.call(control, "list_workload_identities", maxResults=20)
    ):
        ac.validation(control, "list_workload_identities", "maxResults",
                      "maxResults 21 is refused", maxResults=21)  # fmt: skip
        ac.validation(control, "list_oauth2_credential_providers", "maxResults",
                      "maxResults 21 is refused", maxResults=21)  # fmt: skip
        ac.validation(control, "list_api_key_credential_providers", "maxResults",
                      "maxResults 101 is refused", maxResults=101)  # fmt: skip


@check("ERR-RULE-001", shape=("ERR-CODE-001",), needs=WID, profiles=PROFILES)
def test_malformed_json_is_refused(agentcore: AgentCoreRun) -> None:
    """A body that is not JSON (signed as sent) is ValidationException with reason
    ``CannotParse``, never a 5xx."""
    ac = agentcore.ac

    def garble(request: Any) -> None:
        request.data = b'{"name": "unterminated'

    garbled = ac.client("control", before_sign=garble)
    found = ac.expect(
        garbled,
        "list_workload_identities",
        ("ValidationException",),
        "malformed JSON is refused",
    )
    with error_shape():
        assert found.reason == "CannotParse", f"reason {found.reason!r}, not CannotParse"


@check("ERR-RULE-001", needs=TOKENS, profiles=PROFILES)
def test_bad_input_never_yields_5xx(agentcore: AgentCoreRun) -> None:
    """Missing members, wrong JSON types, huge values (over and under a 256 KiB body
    limit) and odd characters on every identity operation are refused with a 4xx, never a
    5xx (which the SDKs would retry)."""
    ac = agentcore.ac
    data = ac.client("data", validate=False)
    control = ac.client("control", validate=False)
    huge = "x" * 300_000
    cases: list[tuple[Any, str, dict[str, Any]]] = [
        (data, "get_workload_access_token", {}),
        (data, "get_workload_access_token", {"workloadName": huge}),
        (data, "get_workload_access_token", {"workloadName": huge[:150_000]}),
        (data, "get_workload_access_token_for_jwt", {"workloadName": "w-1", "userToken": "a.b"}),
        (data, "get_workload_access_token_for_user_id", {"workloadName": "w\u0000x", "userId": 7}),
        (data, "get_resource_oauth2_token", {"workloadIdentityToken": "x", "scopes": "notes"}),
        (data, "get_resource_oauth2_token", {
            "workloadIdentityToken": "\ud7ff" * 10, "resourceCredentialProviderName": "p",
            "scopes": [["nested"]], "oauth2Flow": "M2M", "customParameters": {"k": {"v": 1}},
        }),
        (data, "get_resource_api_key", {"workloadIdentityToken": ""}),
        (data, "complete_resource_token_auth", {"userIdentifier": {}, "sessionUri": "urn:x"}),
        (control, "create_workload_identity", {"name": "ok-name", "tags": {"k": 5}}),
        (control, "create_oauth2_credential_provider",
         {"name": "p", "oauth2ProviderConfigInput": {}}),
        (control, "create_api_key_credential_provider", {"name": "\u202e" * 3}),
        (control, "list_workload_identities", {"nextToken": "\u0001not-a-token"}),
    ]  # fmt: skip
    for client, operation, params in cases:
        found = ac.fails(client, operation, **params)
        assert 400 <= found.status < 500, (
            f"{operation} with bad input answered HTTP {found.status} ({found.code})"
        )


# -- error encoding ---------------------------------------------------------------------


@check(
    "WID-DIR-001",
    "WID-DIR-003",
    "WAT-USE-002",
    shape=("ERR-CODE-001",),
    needs=TOKENS,
    profiles=PROFILES,
)
def test_errors_are_modeled_exceptions(agentcore: AgentCoreRun) -> None:
    """Errors carry their exception name (``X-Amzn-ErrorType`` / ``__type``), which
    botocore turns into the modeled classes with the model's status (MH-5), a message and
    a request id: ResourceNotFoundException 404, ConflictException 409,
    ValidationException 400, UnauthorizedException 401. The refusal: an unknown name, a
    taken name, a bad name and a forged token are all refused with a 4xx."""
    ac = agentcore.ac
    control, data = ac.control(), ac.data()
    name = agentcore.workload("errors")
    seen = [
        ac.expect(control, "get_workload_identity", ("ResourceNotFoundException",),
                  "an unknown name", name=agentcore.name("missing")),
        ac.expect(control, "create_workload_identity", ("ConflictException",),
                  "a taken name", name=name),
        ac.expect(control, "create_workload_identity", ("ValidationException",),
                  "a bad name", name="bad name!"),
        ac.expect(data, "get_resource_api_key", ("UnauthorizedException",), "a forged token",
                  workloadIdentityToken="wat_" + secrets.token_urlsafe(32),
                  resourceCredentialProviderName=agentcore.name("any")),
    ]  # fmt: skip
    statuses = {
        "ResourceNotFoundException": 404,
        "ConflictException": 409,
        "ValidationException": 400,
        "UnauthorizedException": 401,
    }
    with error_shape():
        for found in seen:
            assert found.status == statuses.get(found.code), (
                f"{found.code} with HTTP {found.status}"
            )
            assert found.message, f"{found.code} without a message"
            assert found.request_id, f"{found.code} without x-amzn-RequestId"
            assert "Traceback" not in found.body, f"the {found.code} body carries a traceback"


# -- SigV4 ------------------------------------------------------------------------------


@check(
    "WID-AUTH-001",
    "WID-ADMIN-001",
    shape=("WID-AUTH-001", "WID-ADMIN-001"),
    needs=TOKENS,
    profiles=PROFILES,
)
def test_wrong_secret_is_refused(agentcore: AgentCoreRun) -> None:
    """A request signed with the right access key and a wrong secret is refused on both
    planes (MH-9); the same request signed correctly succeeds."""
    ac = agentcore.ac
    _no_dev_mode(ac)
    keys = ac.admin_credentials()
    bad = _wrong(keys, secret_access_key=SecretStr(keys.secret_access_key.get_secret_value() + "x"))
    name = agentcore.workload("sigv4")
    wrong_control = ac.client("control", credentials=bad)
    wrong_data = ac.client("data", credentials=bad)
    with ac.bracket("signed correctly", lambda: agentcore.wat(name)):
        for client, operation, params in (
            (wrong_control, "list_workload_identities", {}),
            (wrong_control, "create_workload_identity", {"name": agentcore.name("forged")}),
            (wrong_data, "get_workload_access_token", {"workloadName": name}),
        ):
            found = ac.fails(client, operation, **params)
            with error_shape():
                assert found.status in AUTH_FAILURE_STATUSES, (
                    f"{operation} with a wrong secret answered {found}"
                )


@check("WID-AUTH-001", shape=("WID-AUTH-001",), needs=TOKENS, profiles=PROFILES)
def test_unknown_key_and_unsigned_requests_are_refused(agentcore: AgentCoreRun) -> None:
    """An unknown access key and an unsigned request are refused (MH-9)."""
    ac = agentcore.ac
    _no_dev_mode(ac)
    keys = ac.admin_credentials()
    ghost = _wrong(keys, access_key_id="AKIDCONFORMGHOST" + secrets.token_hex(2).upper())
    name = agentcore.workload("sigv4-unknown")
    with ac.bracket("signed correctly", lambda: agentcore.wat(name)):
        for client in (ac.client("data", credentials=ghost), ac.client("data", unsigned=True)):
            found = ac.fails(client, "get_workload_access_token", workloadName=name)
            with error_shape():
                assert found.status in AUTH_FAILURE_STATUSES, f"refused with {found}"


@check("WID-AUTH-001", shape=("WID-AUTH-001",), needs=WID, profiles=PROFILES)
def test_signature_covers_the_body(agentcore: AgentCoreRun) -> None:
    """A body changed after signing (another name than the one signed) is refused, and
    nothing is created."""
    ac = agentcore.ac
    _no_dev_mode(ac)
    signed, sent = agentcore.name("signed"), agentcore.name("swapped")
    tampered = ac.client(
        "control", tamper=lambda body: body.replace(signed.encode(), sent.encode())
    )
    with ac.bracket(
        "an untampered request", lambda: ac.call(ac.control(), "list_workload_identities")
    ):
        found = ac.fails(tampered, "create_workload_identity", name=signed)
        with error_shape():
            assert found.status in AUTH_FAILURE_STATUSES, f"a tampered body answered {found}"
    for name in (signed, sent):  # the refusal: the tampered request created nothing
        ac.fails(ac.control(), "get_workload_identity", name=name)
