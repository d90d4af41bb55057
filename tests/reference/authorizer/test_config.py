"""Authorizer configuration: spec Table 2.1, INB-CFG-002, defaults of Table 2.4."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from proctor.reference.authorizer_config import (
    AuthorizerConfig,
    expected_issuer_from_discovery_url,
    normalize_typ,
)

BASE: dict[str, Any] = {
    "name": "company-okta",
    "discovery_url": "https://company.okta.com/oauth2/default/.well-known/openid-configuration",
    "allowed_audiences": ["api://default"],
}


def make(context: dict[str, Any] | None = None, **changes: Any) -> AuthorizerConfig:
    return AuthorizerConfig.model_validate({**BASE, **changes}, context=context)


def test_defaults_match_table_2_1() -> None:
    config = make()
    assert config.model_dump(mode="json") == {
        "name": "company-okta",
        "discovery_url": BASE["discovery_url"],
        "issuer": None,
        "allowed_audiences": ["api://default"],
        "allowed_clients": [],
        "allowed_scopes": [],
        "custom_claims": [],
        "token_kinds": [{"kind": "access_token", "typ": ["at+jwt"]}],
        "algorithms": ["RS256"],
        "leeway_seconds": 60,
        "idp_profile": "generic",
    }


@pytest.mark.parametrize(
    ("profile", "typ"),
    [
        ("generic", ["at+jwt"]),
        ("okta", [None, "application/okta-internal-at+jwt"]),
        ("entra", ["JWT"]),
        ("cognito", [None]),
    ],
)
def test_token_kind_defaults_per_profile(profile: str, typ: list[str | None]) -> None:
    changes: dict[str, Any] = {"idp_profile": profile}
    if profile == "cognito":
        changes.update(allowed_audiences=[], allowed_clients=["app"])
    config = make(**changes)
    assert [rule.model_dump() for rule in config.token_kinds] == [
        {"kind": "access_token", "typ": tuple(typ)}
    ]


def test_typ_values_compare_normalised() -> None:
    config = make(token_kinds=[{"kind": "access_token", "typ": ["application/AT+JWT", None]}])
    assert config.typ_rules() == {"access_token": frozenset({"at+jwt", None})}
    assert normalize_typ("JWT") == "jwt"
    assert normalize_typ("application/okta-internal-at+jwt") == "okta-internal-at+jwt"
    assert normalize_typ("application/vnd.x/y") == "application/vnd.x/y"


@pytest.mark.parametrize(
    ("url", "issuer"),
    [
        (
            "https://company.okta.com/oauth2/default/.well-known/openid-configuration",
            "https://company.okta.com/oauth2/default",
        ),
        (
            "https://as.example/.well-known/oauth-authorization-server/tenant1",
            "https://as.example/tenant1",
        ),
        ("https://as.example/.well-known/oauth-authorization-server", "https://as.example"),
        (
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab12/.well-known/openid-configuration",
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab12",
        ),
        (
            "https://company.okta.com/oauth2/default/.well-known/oauth-authorization-server",
            "https://company.okta.com/oauth2/default",
        ),
    ],
)
def test_expected_issuer_is_derived_from_the_discovery_url(url: str, issuer: str) -> None:
    assert expected_issuer_from_discovery_url(url) == issuer
    assert make(discovery_url=url).configured_issuer() == issuer


INVALID: list[tuple[str, dict[str, Any]]] = [
    ("alg none", {"algorithms": ["none"]}),
    ("alg None", {"algorithms": ["RS256", "None"]}),
    ("alg HS256", {"algorithms": ["HS256"]}),
    ("alg hs512", {"algorithms": ["hs512"]}),
    ("alg RSA1_5", {"algorithms": ["RSA1_5"]}),
    ("alg Ed25519", {"algorithms": ["Ed25519"]}),
    ("no algorithms", {"algorithms": []}),
    ("duplicate algorithm", {"algorithms": ["RS256", "RS256"]}),
    ("http discovery", {"discovery_url": "http://idp.example/.well-known/openid-configuration"}),
    ("discovery query", {"discovery_url": BASE["discovery_url"] + "?client_id=x"}),
    ("discovery fragment", {"discovery_url": BASE["discovery_url"] + "#x"}),
    ("discovery other path", {"discovery_url": "https://idp.example/keys"}),
    ("discovery relative", {"discovery_url": "/.well-known/openid-configuration"}),
    (
        "discovery credentials",
        {"discovery_url": "https://u:p@idp.example/.well-known/openid-configuration"},
    ),
    ("issuer http", {"issuer": "http://idp.example"}),
    ("issuer query", {"issuer": "https://idp.example/?x=1"}),
    ("tenant template outside entra", {"issuer": "https://login.example/{tenantid}/v2.0"}),
    (
        "tenant template twice",
        {"idp_profile": "entra", "issuer": "https://login.example/{tenantid}/{tenantid}"},
    ),
    ("empty audiences", {"allowed_audiences": []}),
    ("empty audience string", {"allowed_audiences": [""]}),
    ("duplicate audiences", {"allowed_audiences": ["a", "a"]}),
    ("101 audiences", {"allowed_audiences": [f"a{i}" for i in range(101)]}),
    ("cognito with audiences", {"idp_profile": "cognito", "allowed_clients": ["app"]}),
    ("cognito without clients", {"idp_profile": "cognito", "allowed_audiences": []}),
    ("scope with space", {"allowed_scopes": ["a b"]}),
    ("leeway negative", {"leeway_seconds": -1}),
    ("leeway too large", {"leeway_seconds": 301}),
    ("leeway string", {"leeway_seconds": "60"}),
    ("unknown profile", {"idp_profile": "auth0"}),
    ("unknown member", {"jwks_uri": "https://idp.example/keys"}),
    ("created_at", {"created_at": 0}),
    ("name short", {"name": "ab"}),
    ("name long", {"name": "a" * 65}),
    ("name leading dash", {"name": "-okta"}),
    ("name slash", {"name": "company/okta"}),
    ("no token kinds", {"token_kinds": []}),
    ("kind twice", {"token_kinds": [{"kind": "access_token", "typ": [None]}] * 2}),
    ("unknown kind", {"token_kinds": [{"kind": "refresh_token", "typ": [None]}]}),
    ("empty typ list", {"token_kinds": [{"kind": "access_token", "typ": []}]}),
    ("typ duplicates", {"token_kinds": [{"kind": "access_token", "typ": ["JWT", "jwt"]}]}),
]


@pytest.mark.parametrize("changes", [c for _, c in INVALID], ids=[n for n, _ in INVALID])
def test_invalid_configurations_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make(**changes)


def test_loopback_http_only_in_development_mode() -> None:
    url = "http://127.0.0.1:9000/.well-known/openid-configuration"
    with pytest.raises(ValidationError):
        make(discovery_url=url)
    dev = {"allow_loopback_http": True}
    assert make(dev, discovery_url=url).discovery_url == url
    assert make(dev, discovery_url="http://localhost/.well-known/openid-configuration")
    assert make(dev, discovery_url="http://[::1]:8/.well-known/openid-configuration")
    with pytest.raises(ValidationError):
        make(dev, discovery_url="http://idp.example/.well-known/openid-configuration")
    with pytest.raises(ValidationError):
        make(dev, discovery_url="http://127.0.0.1.nip.io/.well-known/openid-configuration")


def test_entra_template_and_cognito_shapes_are_accepted() -> None:
    entra = make(
        idp_profile="entra",
        issuer="https://login.microsoftonline.com/{tenantid}/v2.0",
        discovery_url="https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration",
    )
    assert entra.configured_issuer() == "https://login.microsoftonline.com/{tenantid}/v2.0"
    cognito = make(idp_profile="cognito", allowed_audiences=[], allowed_clients=["app"])
    assert cognito.allowed_audiences == ()


def test_the_model_is_immutable() -> None:
    config = make()
    with pytest.raises(ValidationError):
        config.leeway_seconds = 0
