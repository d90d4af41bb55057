"""Positive controls and vendor pitfalls for Okta, Entra ID and Cognito token shapes.

Shapes follow ``/work/shared/notes/idps.md`` (decoded real tokens and vendor docs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from proctor.mock_idps.keys import KeyRing, SigningKey, generate_key
from proctor.reference.authorizer import Authorizer
from proctor.reference.authorizer_config import AuthorizerConfig

NOW = 1_800_000_000


def _config(**members: Any) -> AuthorizerConfig:
    return AuthorizerConfig.model_validate({"name": "vendor-idp", **members})


# -- Okta ------------------------------------------------------------------------------------

OKTA = "https://acme.okta.example/oauth2/default"
OKTA_CLIENT = "0oabs52gkuX4VzYtJ1t7"


@pytest.fixture
def okta(
    make_idp: Callable[..., Any],
    make_authorizer: Callable[..., Authorizer],
    keypool: dict[str, Any],
) -> tuple[KeyRing, Authorizer]:
    ring = KeyRing([SigningKey(keypool["rs-other"], "RS256")])
    idp = make_idp(OKTA, ring, jwks_uri=f"{OKTA}/v1/keys")
    config = _config(
        discovery_url=f"{OKTA}/.well-known/openid-configuration",
        allowed_audiences=["api://default"],
        allowed_clients=[OKTA_CLIENT],
        allowed_scopes=["crm.read"],
        idp_profile="okta",
        custom_claims=[
            {"claim": "groups", "operator": "contains", "value": "sales", "value_type": "string"}
        ],
    )
    return ring, make_authorizer(config, server=idp)


def _okta_access(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "ver": 1,
        "jti": "AT.wQd1eyqvvTx0r1sv2XWYHyW7N7aRpq0-qEeY0gs9SoI",
        "iss": OKTA,
        "aud": "api://default",
        "iat": NOW,
        "exp": NOW + 3600,
        "cid": OKTA_CLIENT,
        "uid": "00u1p220v6dmsCwco1t7",
        "scp": ["crm.read", "openid"],
        "auth_time": NOW - 60,
        "sub": "sarah@acme.example",
        "groups": ["Everyone", "sales"],
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_okta_custom_server_access_token(okta: tuple[KeyRing, Authorizer]) -> None:
    ring, authorizer = okta
    decision = authorizer.decide(ring.sign(_okta_access()))  # header: alg and kid only
    assert decision.allowed
    identity = decision.identity
    assert identity is not None
    assert identity.subject == "sarah@acme.example"  # the login name...
    assert identity.user_key == "00u1p220v6dmsCwco1t7"  # ...but the user is uid
    assert identity.client_id == OKTA_CLIENT
    assert identity.scopes == ("crm.read", "openid")


def test_okta_client_credentials_token_uses_sub(okta: tuple[KeyRing, Authorizer]) -> None:
    ring, authorizer = okta
    claims = _okta_access(uid=None, sub=OKTA_CLIENT, scp=["crm.read"], groups=["sales"])
    identity = authorizer.decide(ring.sign(claims)).identity
    assert identity is not None
    assert identity.user_key == OKTA_CLIENT


@pytest.mark.parametrize(
    "claims",
    [
        # An Okta ID token: aud is the client, no cid, nonce and at_hash.
        {
            "ver": 1,
            "jti": "ID.4eAWJOCMB3SX8XewDfVR",
            "iss": OKTA,
            "aud": OKTA_CLIENT,
            "sub": "00u1p220v6dmsCwco1t7",
            "iat": NOW,
            "exp": NOW + 3600,
            "amr": ["pwd"],
            "idp": "00ok1u7AsAkrwdZL3z0g3",
            "nonce": "n-0S6_WzA2Mj",
            "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
            "auth_time": NOW,
        },
        # The same without nonce/at_hash (from the token endpoint): no cid is enough.
        {
            "ver": 1,
            "iss": OKTA,
            "aud": "api://default",
            "sub": "00u1p220v6dmsCwco1t7",
            "iat": NOW,
            "exp": NOW + 3600,
            "groups": ["sales"],
        },
    ],
    ids=["id-token", "id-token-shape-without-nonce"],
)
def test_okta_id_token_is_not_an_access_token(
    okta: tuple[KeyRing, Authorizer], claims: dict[str, Any]
) -> None:
    ring, authorizer = okta
    assert authorizer.decide(ring.sign(claims)).reason == "wrong_token_kind"


def test_okta_org_server_token_is_unknown_key(okta: tuple[KeyRing, Authorizer]) -> None:
    """Org-server tokens are signed by keys missing from the published set."""
    ring, authorizer = okta
    hidden = SigningKey(generate_key("RS256"), "RS256", published=False)
    token = ring.sign(
        _okta_access(), key=hidden, header={"typ": "application/okta-internal-at+jwt"}
    )
    assert authorizer.decide(token).reason == "unknown_key"


def test_okta_scp_must_hold_an_allowed_scope(okta: tuple[KeyRing, Authorizer]) -> None:
    ring, authorizer = okta
    assert authorizer.decide(ring.sign(_okta_access(scp=["openid"]))).reason == (
        "scope_not_allowed"
    )
    assert authorizer.decide(ring.sign(_okta_access(groups=["Everyone"]))).reason == (
        "claim_rule_failed:groups"
    )


# -- Entra ID --------------------------------------------------------------------------------

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
LOGIN = "https://login.microsoftonline.com"
V2_TEMPLATE = f"{LOGIN}/{{tenantid}}/v2.0"
API_APP = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
CLIENT_APP = "0a1b2c3d-1111-2222-3333-444455556666"


def _v2(tenant: str = TENANT, **changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "aud": API_APP,
        "iss": f"{LOGIN}/{tenant}/v2.0",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 4500,
        "aio": "ASQA2/8TAAAA",
        "azp": CLIENT_APP,
        "azpacr": "0",
        "name": "Sarah Sales",
        "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474",
        "preferred_username": "sarah@contoso.example",
        "rh": "I",
        "scp": "access_as_user crm.read",
        "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ",
        "tid": tenant,
        "uti": "fqiBqXLPj0eQa82S-IYFAA",
        "ver": "2.0",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _entra(
    make_idp: Callable[..., Any],
    make_authorizer: Callable[..., Authorizer],
    ring: KeyRing,
    *,
    tenant_path: str,
    discovery_issuer: str,
    **config: Any,
) -> Authorizer:
    discovery = f"{LOGIN}/{tenant_path}/v2.0/.well-known/openid-configuration"
    idp = make_idp(
        f"{LOGIN}/{tenant_path}/v2.0",
        ring,
        discovery_url=discovery,
        jwks_uri=f"{LOGIN}/{tenant_path}/discovery/v2.0/keys",
        discovery_issuer=discovery_issuer,
    )
    members: dict[str, Any] = {
        "discovery_url": discovery,
        "allowed_audiences": [API_APP],
        "allowed_clients": [CLIENT_APP],
        "idp_profile": "entra",
    }
    members.update(config)
    return make_authorizer(_config(**members), server=idp)


@pytest.fixture
def entra_ring(keypool: dict[str, Any]) -> KeyRing:
    return KeyRing(
        [SigningKey(keypool["rs-other"], "RS256", extra={"issuer": V2_TEMPLATE, "x5t": "x"})]
    )


def test_entra_v2_single_tenant(
    make_idp: Callable[..., Any], make_authorizer: Callable[..., Authorizer], keypool: Any
) -> None:
    ring = KeyRing(
        [SigningKey(keypool["rs-other"], "RS256", extra={"issuer": f"{LOGIN}/{TENANT}/v2.0"})]
    )
    authorizer = _entra(
        make_idp,
        make_authorizer,
        ring,
        tenant_path=TENANT,
        discovery_issuer=f"{LOGIN}/{TENANT}/v2.0",
        allowed_scopes=["crm.read"],
    )
    decision = authorizer.decide(ring.sign(_v2(), header={"typ": "JWT"}))
    assert decision.allowed
    identity = decision.identity
    assert identity is not None
    assert identity.user_key == f"{TENANT}/690222be-ff1a-4d56-abd1-7e4f7d38e474"
    assert identity.client_id == CLIENT_APP
    assert identity.scopes == ("access_as_user", "crm.read")
    # Another tenant's token (its own issuer) is not this authorizer's.
    other = ring.sign(_v2(OTHER_TENANT), header={"typ": "JWT"})
    assert authorizer.decide(other).reason == "wrong_issuer"
    # oid is required in the entra profile: the user key needs it.
    no_oid = ring.sign(_v2(oid=None), header={"typ": "JWT"})
    assert authorizer.decide(no_oid).reason == "malformed"


def test_entra_v1_token_with_explicit_issuer_and_slash_variants(
    make_idp: Callable[..., Any], make_authorizer: Callable[..., Authorizer], keypool: Any
) -> None:
    v1_issuer = f"https://sts.windows.net/{TENANT}/"
    ring = KeyRing([SigningKey(keypool["rs-other"], "RS256", extra={"x5t": "kid"})])
    discovery = f"{LOGIN}/{TENANT}/.well-known/openid-configuration"
    idp = make_idp(
        v1_issuer,
        ring,
        discovery_url=discovery,
        jwks_uri=f"{LOGIN}/{TENANT}/discovery/keys",
    )
    config = _config(
        discovery_url=discovery,
        issuer=v1_issuer,  # v1 metadata names an issuer on another host
        allowed_audiences=["api://crm-agent"],
        allowed_clients=[CLIENT_APP],
        idp_profile="entra",
    )
    authorizer = make_authorizer(config, server=idp)
    v1 = {
        "aud": "api://crm-agent/",
        "iss": v1_issuer,
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 4500,
        "appid": CLIENT_APP,
        "appidacr": "0",
        "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474",
        "scp": "user_impersonation",
        "sub": "pairwise-sub",
        "tid": TENANT,
        "unique_name": "sarah@contoso.example",
        "upn": "sarah@contoso.example",
        "ver": "1.0",
    }
    header = {"typ": "JWT", "x5t": ring.active().kid}
    decision = authorizer.decide(ring.sign(v1, header=header))
    assert decision.allowed, decision
    assert decision.identity is not None
    assert decision.identity.client_id == CLIENT_APP
    assert authorizer.decide(ring.sign({**v1, "aud": "api://crm-agent"}, header=header)).allowed
    assert authorizer.decide(
        ring.sign({**v1, "aud": "api://crm-agent//"}, header=header)
    ).reason == ("wrong_audience")
    # The same token minus the trailing slash in the issuer is another issuer.
    bare = {**v1, "iss": v1_issuer.rstrip("/")}
    assert authorizer.decide(ring.sign(bare, header=header)).reason == "wrong_issuer"


def test_entra_v1_metadata_without_explicit_issuer_is_unusable(
    make_idp: Callable[..., Any], make_authorizer: Callable[..., Authorizer], keypool: Any
) -> None:
    """INB-DISC-002: the derived issuer (login.microsoftonline.com) ≠ sts.windows.net."""
    v1_issuer = f"https://sts.windows.net/{TENANT}/"
    ring = KeyRing([SigningKey(keypool["rs-other"], "RS256")])
    discovery = f"{LOGIN}/{TENANT}/.well-known/openid-configuration"
    idp = make_idp(v1_issuer, ring, discovery_url=discovery, jwks_uri=f"{LOGIN}/keys")
    config = _config(
        discovery_url=discovery, allowed_audiences=["api://crm-agent"], idp_profile="entra"
    )
    authorizer = make_authorizer(config, server=idp)
    token = ring.sign(
        {
            "iss": v1_issuer,
            "aud": "api://crm-agent",
            "appid": "a",
            "tid": TENANT,
            "oid": "o",
            "sub": "s",
            "exp": NOW + 60,
        },
        header={"typ": "JWT"},
    )
    assert authorizer.decide(token).reason == "unknown_key"
    assert idp.jwks_fetches == 0  # the key set of an unverified issuer is never fetched


def test_entra_multi_tenant_template(
    make_idp: Callable[..., Any], make_authorizer: Callable[..., Authorizer], entra_ring: KeyRing
) -> None:
    authorizer = _entra(
        make_idp,
        make_authorizer,
        entra_ring,
        tenant_path="common",
        discovery_issuer=V2_TEMPLATE,
        issuer=V2_TEMPLATE,
    )

    def sign(claims: dict[str, Any]) -> str:
        return entra_ring.sign(claims, header={"typ": "JWT"})

    for tenant in (TENANT, OTHER_TENANT, TENANT.upper()):
        decision = authorizer.decide(sign(_v2(tenant)))
        assert decision.allowed, tenant
        assert decision.identity is not None
        assert decision.identity.issuer == f"{LOGIN}/{tenant}/v2.0"
    # tid must be a GUID, and iss must be the template filled with *that* tid.
    assert authorizer.decide(sign(_v2("common"))).reason == "wrong_issuer"
    assert authorizer.decide(sign(_v2(tid=OTHER_TENANT))).reason == "wrong_issuer"
    assert authorizer.decide(sign(_v2(tid=None))).reason == "malformed"
    assert authorizer.decide(sign(_v2(iss=V2_TEMPLATE))).reason == "wrong_issuer"
    # An ID token of the same tenant is not an access token (no azp/appid).
    id_token = _v2(azp=None, azpacr=None, scp=None, aud=CLIENT_APP, nonce="n")
    assert authorizer.decide(sign(id_token)).reason == "wrong_token_kind"
    assert authorizer.decide(sign(_v2(azp=None, azpacr=None))).reason == "wrong_token_kind"


def test_entra_tenants_are_restricted_by_a_rule(
    make_idp: Callable[..., Any], make_authorizer: Callable[..., Authorizer], entra_ring: KeyRing
) -> None:
    rule = {
        "claim": "tid",
        "operator": "contains_any",
        "value_type": "string_list",
        "value": [TENANT],
    }
    authorizer = _entra(
        make_idp,
        make_authorizer,
        entra_ring,
        tenant_path="common",
        discovery_issuer=V2_TEMPLATE,
        issuer=V2_TEMPLATE,
        custom_claims=[rule],
    )
    assert authorizer.decide(entra_ring.sign(_v2(TENANT), header={"typ": "JWT"})).allowed
    other = entra_ring.sign(_v2(OTHER_TENANT), header={"typ": "JWT"})
    assert authorizer.decide(other).reason == "claim_rule_failed:tid"


def test_entra_key_issuer_binds_a_key_to_its_tenant(
    make_idp: Callable[..., Any], make_authorizer: Callable[..., Authorizer], keypool: Any
) -> None:
    """INB-ENTRA-002: a key whose own ``issuer`` names tenant A never validates tenant B."""
    shared = SigningKey(keypool["rs-other"], "RS256", extra={"issuer": V2_TEMPLATE})
    tenant_a_only = SigningKey(
        keypool["rs"], "RS256", purpose="a", extra={"issuer": f"{LOGIN}/{TENANT}/v2.0"}
    )
    ring = KeyRing([shared, tenant_a_only])
    authorizer = _entra(
        make_idp,
        make_authorizer,
        ring,
        tenant_path="common",
        discovery_issuer=V2_TEMPLATE,
        issuer=V2_TEMPLATE,
    )
    header = {"typ": "JWT"}
    assert authorizer.decide(ring.sign(_v2(TENANT), purpose="a", header=header)).allowed
    assert authorizer.decide(ring.sign(_v2(OTHER_TENANT), header=header)).allowed
    forged = ring.sign(_v2(OTHER_TENANT), purpose="a", header=header)
    assert authorizer.decide(forged).reason == "wrong_issuer"


def test_entra_graph_style_token_is_not_ours(
    make_idp: Callable[..., Any], make_authorizer: Callable[..., Authorizer], entra_ring: KeyRing
) -> None:
    authorizer = _entra(
        make_idp,
        make_authorizer,
        entra_ring,
        tenant_path="common",
        discovery_issuer=V2_TEMPLATE,
        issuer=V2_TEMPLATE,
    )
    graph = _v2(aud="00000003-0000-0000-c000-000000000000")
    assert authorizer.decide(entra_ring.sign(graph, header={"typ": "JWT"})).reason == (
        "wrong_audience"
    )


# -- Cognito ---------------------------------------------------------------------------------

COGNITO = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab12CdEf"
APP_CLIENT = "1example23456789abcdefghij"


@pytest.fixture
def cognito_ring(keypool: dict[str, Any]) -> KeyRing:
    """Cognito signs ID and access tokens with different keys."""
    return KeyRing(
        [
            SigningKey(keypool["rs-other"], "RS256", purpose="access"),
            SigningKey(keypool["rs"], "RS256", purpose="id"),
        ]
    )


def _cognito(
    make_idp: Callable[..., Any],
    make_authorizer: Callable[..., Authorizer],
    ring: KeyRing,
    **config: Any,
) -> Authorizer:
    idp = make_idp(COGNITO, ring, jwks_uri=f"{COGNITO}/.well-known/jwks.json")
    members: dict[str, Any] = {
        "discovery_url": f"{COGNITO}/.well-known/openid-configuration",
        "allowed_clients": [APP_CLIENT],
        "idp_profile": "cognito",
    }
    members.update(config)
    return make_authorizer(_config(**members), server=idp)


def _cognito_access(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "cognito:groups": ["sales"],
        "iss": COGNITO,
        "version": 2,
        "client_id": APP_CLIENT,
        "origin_jti": "bbbbbbbb-cccc-dddd-eeee-ffffffffffff",
        "event_id": "cccccccc-dddd-eeee-ffff-aaaaaaaaaaaa",
        "token_use": "access",
        "scope": "openid crm-api/crm.read",
        "auth_time": NOW,
        "exp": NOW + 3600,
        "iat": NOW,
        "jti": "dddddddd-eeee-ffff-aaaa-bbbbbbbbbbbb",
        "username": "sarah",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _cognito_id(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "cognito:groups": ["sales"],
        "email_verified": True,
        "iss": COGNITO,
        "cognito:username": "sarah",
        "origin_jti": "bbbbbbbb-cccc-dddd-eeee-ffffffffffff",
        "aud": APP_CLIENT,
        "event_id": "cccccccc-dddd-eeee-ffff-aaaaaaaaaaaa",
        "token_use": "id",
        "auth_time": NOW,
        "exp": NOW + 3600,
        "iat": NOW,
        "jti": "eeeeeeee-ffff-aaaa-bbbb-cccccccccccc",
        "email": "sarah@example.com",
        "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_cognito_access_token_without_aud(
    make_idp: Callable[..., Any], make_authorizer: Callable[..., Authorizer], cognito_ring: KeyRing
) -> None:
    rule = {
        "claim": "cognito:groups",
        "operator": "contains",
        "value": "sales",
        "value_type": "string",
    }
    authorizer = _cognito(
        make_idp,
        make_authorizer,
        cognito_ring,
        allowed_scopes=["crm-api/crm.read"],
        custom_claims=[rule],
    )
    decision = authorizer.decide(cognito_ring.sign(_cognito_access(), purpose="access"))
    assert decision.allowed
    identity = decision.identity
    assert identity is not None
    assert identity.user_key == "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    assert identity.client_id == APP_CLIENT
    assert identity.scopes == ("openid", "crm-api/crm.read")
    other_client = _cognito_access(client_id="someoneelse")
    assert authorizer.decide(cognito_ring.sign(other_client, purpose="access")).reason == (
        "client_not_allowed"
    )
    no_use = _cognito_access(token_use=None)
    assert authorizer.decide(cognito_ring.sign(no_use, purpose="access")).reason == (
        "wrong_token_kind"
    )
    flattened = _cognito_access(**{"cognito:groups": "sales"})  # API Gateway's flattening
    assert authorizer.decide(cognito_ring.sign(flattened, purpose="access")).reason == (
        "claim_rule_failed:cognito:groups"
    )


def test_cognito_id_token_is_never_an_access_token(
    make_idp: Callable[..., Any], make_authorizer: Callable[..., Authorizer], cognito_ring: KeyRing
) -> None:
    kinds = [{"kind": "access_token", "typ": [None]}, {"kind": "id_token", "typ": [None]}]
    authorizer = _cognito(make_idp, make_authorizer, cognito_ring, token_kinds=kinds)
    id_token = cognito_ring.sign(_cognito_id(), purpose="id")
    access = cognito_ring.sign(_cognito_access(), purpose="access")
    assert authorizer.decide(id_token, "access_token").reason == "wrong_token_kind"
    assert authorizer.decide(access, "id_token").reason == "wrong_token_kind"
    decision = authorizer.decide(id_token, "id_token")
    assert decision.allowed
    assert decision.identity is not None
    assert decision.identity.client_id == APP_CLIENT
    # Without at_hash (token endpoint) token_use alone still tells them apart.
    plain_id = cognito_ring.sign(_cognito_id(at_hash=None), purpose="id")
    assert authorizer.decide(plain_id, "access_token").reason == "wrong_token_kind"
    # An ID token is audience-checked against the app clients.
    foreign = cognito_ring.sign(_cognito_id(aud="another-client"), purpose="id")
    assert authorizer.decide(foreign, "id_token").reason == "wrong_audience"
