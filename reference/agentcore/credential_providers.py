"""AgentCore credential providers over the vault's provider registry (spec ``05``).

An AgentCore OAuth 2.0 provider is a ``credentialProviderVendor`` (25 values) and an
``oauth2ProviderConfigInput`` union (9 members); it becomes a native provider
(:class:`~proctor.reference.providers.OAuth2ProviderSpec`):

- ``CustomOauth2`` + ``customOauth2ProviderConfig``: a ``custom`` provider with the
  ``oauthDiscovery`` union as ``discovery_url`` or ``authorization_server_metadata``;
- ``Google``/``Github``/``Slack``/``Salesforce``/``Microsoft``/``Atlassian`` + their
  member: the native vendor preset (``tenantId`` is Microsoft's tenant, ``common`` when
  absent);
- ``Okta``/``Cognito``/``Auth0`` + ``includedOauth2ProviderConfig``: the native preset,
  pointed at ``issuer``'s discovery document, or at the explicit endpoints when given
  (PRV-VEND-002);
- every other vendor (``LinkedinOauth2`` has its own member, the rest use
  ``includedOauth2ProviderConfig``): a ``custom`` provider with the given endpoints, the
  issuer's discovery document, or the vendor's published endpoints built in here.

Proctor keeps secrets sealed in its own vault (VLT-ENC-001): ``clientSecretConfig``,
``apiKeySecretConfig`` and the source ``EXTERNAL`` (AWS Secrets Manager) are refused, as
are the AWS networking members (``privateEndpoint``, ``privateEndpointOverrides``,
``certificateConfigurations``), KMS-signed client assertions, ``AWS_IAM_ID_TOKEN_JWT``,
actor tokens and ``NO_CLIENT`` on-behalf-of authentication: a request proctor cannot
honour is answered ``ValidationException`` naming the member, never accepted silently.

Two things AgentCore does not model are set with tags (or through the native API):
``proctor:scopes`` (space-separated) is the OAuth 2.0 provider's allowed scopes
(VLT-REQ-002), ``proctor:allowed-workloads`` (space-separated workload names) the
workloads an API-key provider serves (VLT-APIK-001).

Responses never carry a secret (PRV-CFG-003): ``clientSecretArn``/``apiKeySecretArn``
name it, ``oauth2ProviderConfigOutput`` has exactly one member, and its ``oauthDiscovery``
exactly one member (resolved from the preset for vendor presets).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from proctor.reference.agentcore.arns import ArnFactory
from proctor.reference.agentcore.validation import field_error
from proctor.reference.providers import PRESETS, ProviderMetadata
from proctor.reference.storage.providers import ProviderRecord

__all__ = [
    "ALLOWED_WORKLOADS_TAG",
    "SCOPES_TAG",
    "VENDORS",
    "api_key_body",
    "api_key_view",
    "native_oauth2_body",
    "oauth2_summary",
    "oauth2_view",
    "special_tags",
]

SCOPES_TAG: Final = "proctor:scopes"
ALLOWED_WORKLOADS_TAG: Final = "proctor:allowed-workloads"
INCLUDED: Final = "includedOauth2ProviderConfig"

#: AgentCore vendor -> (its config member, the native vendor).
VENDORS: Final[Mapping[str, tuple[str, str]]] = {
    "CustomOauth2": ("customOauth2ProviderConfig", "custom"),
    "GoogleOauth2": ("googleOauth2ProviderConfig", "google"),
    "GithubOauth2": ("githubOauth2ProviderConfig", "github"),
    "SlackOauth2": ("slackOauth2ProviderConfig", "slack"),
    "SalesforceOauth2": ("salesforceOauth2ProviderConfig", "salesforce"),
    "MicrosoftOauth2": ("microsoftOauth2ProviderConfig", "microsoft"),
    "AtlassianOauth2": ("atlassianOauth2ProviderConfig", "atlassian"),
    "LinkedinOauth2": ("linkedinOauth2ProviderConfig", "custom"),
    "OktaOauth2": (INCLUDED, "okta"),
    "CognitoOauth2": (INCLUDED, "cognito"),
    "Auth0Oauth2": (INCLUDED, "auth0"),
    **{
        vendor: (INCLUDED, "custom")
        for vendor in (
            "XOauth2",
            "OneLoginOauth2",
            "PingOneOauth2",
            "FacebookOauth2",
            "YandexOauth2",
            "RedditOauth2",
            "ZoomOauth2",
            "TwitchOauth2",
            "SpotifyOauth2",
            "DropboxOauth2",
            "NotionOauth2",
            "HubspotOauth2",
            "CyberArkOauth2",
            "FusionAuthOauth2",
        )
    },
}
#: Native vendor -> AgentCore vendor (providers created through the native API).
FROM_NATIVE: Final[Mapping[str, str]] = {
    "custom": "CustomOauth2",
    "google": "GoogleOauth2",
    "github": "GithubOauth2",
    "slack": "SlackOauth2",
    "salesforce": "SalesforceOauth2",
    "microsoft": "MicrosoftOauth2",
    "atlassian": "AtlassianOauth2",
    "okta": "OktaOauth2",
    "cognito": "CognitoOauth2",
    "auth0": "Auth0Oauth2",
}

#: Published endpoints (issuer, authorization, token) of vendors with one global
#: authorization server and no discovery document proctor relies on; each vendor's OAuth
#: 2.0 developer documentation. Tenant-specific vendors (OneLogin, PingOne, CyberArk,
#: FusionAuth) need ``issuer`` or the endpoints.
BUILT_IN: Final[Mapping[str, tuple[str, str, str]]] = {
    "LinkedinOauth2": (
        "https://www.linkedin.com/oauth",
        "https://www.linkedin.com/oauth/v2/authorization",
        "https://www.linkedin.com/oauth/v2/accessToken",
    ),
    "XOauth2": (
        "https://twitter.com",
        "https://twitter.com/i/oauth2/authorize",
        "https://api.twitter.com/2/oauth2/token",
    ),
    "FacebookOauth2": (
        "https://www.facebook.com",
        "https://www.facebook.com/dialog/oauth",
        "https://graph.facebook.com/oauth/access_token",
    ),
    "YandexOauth2": (
        "https://oauth.yandex.com",
        "https://oauth.yandex.com/authorize",
        "https://oauth.yandex.com/token",
    ),
    "RedditOauth2": (
        "https://www.reddit.com",
        "https://www.reddit.com/api/v1/authorize",
        "https://www.reddit.com/api/v1/access_token",
    ),
    "ZoomOauth2": (
        "https://zoom.us",
        "https://zoom.us/oauth/authorize",
        "https://zoom.us/oauth/token",
    ),
    "TwitchOauth2": (
        "https://id.twitch.tv/oauth2",
        "https://id.twitch.tv/oauth2/authorize",
        "https://id.twitch.tv/oauth2/token",
    ),
    "SpotifyOauth2": (
        "https://accounts.spotify.com",
        "https://accounts.spotify.com/authorize",
        "https://accounts.spotify.com/api/token",
    ),
    "DropboxOauth2": (
        "https://www.dropbox.com",
        "https://www.dropbox.com/oauth2/authorize",
        "https://api.dropboxapi.com/oauth2/token",
    ),
    "NotionOauth2": (
        "https://api.notion.com",
        "https://api.notion.com/v1/oauth/authorize",
        "https://api.notion.com/v1/oauth/token",
    ),
    "HubspotOauth2": (
        "https://app.hubspot.com",
        "https://app.hubspot.com/oauth/authorize",
        "https://api.hubapi.com/oauth/v1/token",
    ),
}

_AUTH_METHODS: Final = {
    "CLIENT_SECRET_BASIC": "client_secret_basic",
    "CLIENT_SECRET_POST": "client_secret_post",
    "PRIVATE_KEY_JWT": "private_key_jwt",
}
_UNSUPPORTED: Final = ("privateEndpoint", "privateEndpointOverrides", "certificateConfigurations")
_NO_SECRETS_MANAGER: Final = (
    "be absent: proctor keeps secrets sealed in its own vault, not in AWS Secrets Manager"
)


def special_tags(tags: Mapping[str, str], name: str) -> list[str] | None:
    """The space-separated values of tag ``name``, or ``None`` when it is absent."""
    value = tags.get(name)
    return None if value is None else [v for v in value.split() if v]


def _secret_members(config: Mapping[str, Any], base: str, prefix: str = "client") -> None:
    where = f"{base}." if base else ""
    if config.get(f"{prefix}SecretConfig") is not None:
        raise field_error(f"{where}{prefix}SecretConfig", _NO_SECRETS_MANAGER)
    if config.get(f"{prefix}SecretSource") == "EXTERNAL":
        raise field_error(f"{where}{prefix}SecretSource", "be MANAGED in proctor")


def _discovery(discovery: Mapping[str, Any]) -> dict[str, Any]:
    if discovery.get("discoveryUrl") is not None:
        return {"discovery_url": discovery["discoveryUrl"]}
    metadata = discovery["authorizationServerMetadata"]
    return {
        "authorization_server_metadata": {
            "issuer": metadata["issuer"],
            "authorization_endpoint": metadata["authorizationEndpoint"],
            "token_endpoint": metadata["tokenEndpoint"],
        }
    }


def _custom(config: Mapping[str, Any], base: str) -> dict[str, Any]:
    for member in _UNSUPPORTED:
        if config.get(member) is not None:
            raise field_error(
                f"{base}.{member}",
                "be absent: proctor reaches providers over the network it runs in",
            )
    body = _discovery(config["oauthDiscovery"])
    method = config.get("clientAuthenticationMethod", "CLIENT_SECRET_BASIC")
    if method not in _AUTH_METHODS:
        raise field_error(
            f"{base}.clientAuthenticationMethod",
            "be CLIENT_SECRET_BASIC, CLIENT_SECRET_POST or PRIVATE_KEY_JWT (the service's "
            "own signing key) in proctor",
        )
    body["client_auth_method"] = _AUTH_METHODS[method]
    if config.get("privateKeyJwtConfig") is not None:
        raise field_error(
            f"{base}.privateKeyJwtConfig",
            "be absent: proctor signs client assertions with its own key, not a KMS key",
        )
    obo = config.get("onBehalfOfTokenExchangeConfig")
    if obo is not None:
        exchange = obo.get("tokenExchangeGrantTypeConfig")
        if exchange is not None and exchange.get("actorTokenContent") != "NONE":
            raise field_error(
                f"{base}.onBehalfOfTokenExchangeConfig.tokenExchangeGrantTypeConfig"
                ".actorTokenContent",
                "be NONE in proctor",
            )
        if obo.get("onBehalfOfAuthenticationConfig") is not None:
            raise field_error(
                f"{base}.onBehalfOfTokenExchangeConfig.onBehalfOfAuthenticationConfig",
                "be absent: proctor always authenticates its client",
            )
        grant = "token_exchange" if obo["grantType"] == "TOKEN_EXCHANGE" else "jwt_bearer"
        body["on_behalf_of"] = {"grant": grant}
    return body


def _included(vendor: str, native: str, config: Mapping[str, Any], base: str) -> dict[str, Any]:
    issuer = config.get("issuer")
    authorize = config.get("authorizationEndpoint")
    token = config.get("tokenEndpoint")
    if authorize is not None or token is not None:
        if issuer is None or authorize is None or token is None:
            raise field_error(
                f"{base}.issuer",
                "be given with authorizationEndpoint and tokenEndpoint (all three or none)",
            )
        return {
            "authorization_server_metadata": {
                "issuer": issuer,
                "authorization_endpoint": authorize,
                "token_endpoint": token,
            }
        }
    if issuer is not None:
        return {"discovery_url": issuer.rstrip("/") + "/.well-known/openid-configuration"}
    built_in = BUILT_IN.get(vendor)
    if built_in is not None and native == "custom":
        return {
            "authorization_server_metadata": {
                "issuer": built_in[0],
                "authorization_endpoint": built_in[1],
                "token_endpoint": built_in[2],
            }
        }
    raise field_error(f"{base}.issuer", f"be given for {vendor} (its server is per tenant)")


def native_oauth2_body(
    name: str, vendor: str, union: Mapping[str, Any], scopes: list[str]
) -> tuple[dict[str, Any], str]:
    """The native provider body for an AgentCore create or update, and the config member
    used. Raises ``ValidationException`` for what proctor cannot honour."""
    member, native = VENDORS[vendor]
    given = next(iter(k for k, v in union.items() if v is not None))
    if given != member:
        raise field_error(f"oauth2ProviderConfigInput.{given}", f"be {member} for vendor {vendor}")
    config = union[member]
    base = f"oauth2ProviderConfigInput.{member}"
    _secret_members(config, base)
    body: dict[str, Any] = {"name": name, "vendor": native, "scopes": scopes}
    if config.get("clientId"):
        body["client_id"] = config["clientId"]
    else:
        raise field_error(f"{base}.clientId", "have length greater than or equal to 1")
    if config.get("clientSecret"):
        body["client_secret"] = config["clientSecret"]
    if member == "customOauth2ProviderConfig":
        body.update(_custom(config, base))
    elif member == INCLUDED or vendor == "LinkedinOauth2":
        body.update(_included(vendor, native, config, base))
    elif member == "microsoftOauth2ProviderConfig":
        body["tenant"] = config.get("tenantId") or "common"
    return body, member


# -- views ---------------------------------------------------------------------------------


def _agentcore(record: ProviderRecord) -> dict[str, Any]:
    data = record.config.get("agentcore")
    return dict(data) if isinstance(data, dict) else {}


def vendor_of(record: ProviderRecord) -> str:
    stored = _agentcore(record).get("vendor")
    if isinstance(stored, str) and stored in VENDORS:
        return stored
    return FROM_NATIVE.get(str(record.config.get("vendor")), "CustomOauth2")


def _discovery_view(record: ProviderRecord) -> dict[str, Any]:
    """``oauthDiscovery`` with exactly one member: explicit, else the preset's."""
    config = record.config
    metadata = config.get("authorization_server_metadata")
    if isinstance(metadata, dict):
        return {
            "authorizationServerMetadata": {
                "issuer": metadata["issuer"],
                "authorizationEndpoint": metadata["authorization_endpoint"],
                "tokenEndpoint": metadata["token_endpoint"],
            }
        }
    if config.get("discovery_url"):
        return {"discoveryUrl": config["discovery_url"]}
    preset = PRESETS.get(str(config.get("vendor")))
    if preset is not None and preset.discovery is not None:
        return {"discoveryUrl": preset.discovery(config.get("tenant"))}
    builtin: ProviderMetadata | None = None if preset is None else preset.builtin
    assert builtin is not None  # every preset has a discovery URL or built-in endpoints
    return {
        "authorizationServerMetadata": {
            "issuer": builtin.issuer,
            "authorizationEndpoint": builtin.authorization_endpoint,
            "tokenEndpoint": builtin.token_endpoint,
        }
    }


def oauth2_view(
    record: ProviderRecord, arns: ArnFactory, callback_url: str, *, get: bool = True
) -> dict[str, Any]:
    config = record.config
    vendor = vendor_of(record)
    member = str(_agentcore(record).get("member") or VENDORS[vendor][0])
    output: dict[str, Any] = {
        "oauthDiscovery": _discovery_view(record),
        "clientId": config["client_id"],
    }
    if member == "customOauth2ProviderConfig":
        method = {v: k for k, v in _AUTH_METHODS.items()}.get(str(config.get("client_auth_method")))
        output["clientAuthenticationMethod"] = method
        obo = config.get("on_behalf_of")
        if isinstance(obo, dict):
            grant = "TOKEN_EXCHANGE" if obo.get("grant") == "token_exchange" else None
            output["onBehalfOfTokenExchangeConfig"] = {
                "grantType": grant or "JWT_AUTHORIZATION_GRANT"
            }
    view: dict[str, Any] = {
        "clientSecretArn": {"secretArn": arns.secret("oauth2", record.name)},
        "clientSecretSource": "MANAGED",
        "name": record.name,
        "credentialProviderVendor": vendor,
        "credentialProviderArn": arns.oauth2_provider(record.name),
        "callbackUrl": callback_url,
        "oauth2ProviderConfigOutput": {member: output},
        "status": "READY",
        "createdTime": record.created_at,
        "lastUpdatedTime": record.updated_at,
    }
    return view


def oauth2_summary(record: ProviderRecord, arns: ArnFactory) -> dict[str, Any]:
    return {
        "name": record.name,
        "credentialProviderVendor": vendor_of(record),
        "credentialProviderArn": arns.oauth2_provider(record.name),
        "createdTime": record.created_at,
        "lastUpdatedTime": record.updated_at,
    }


def api_key_body(
    name: str, body: Mapping[str, Any], allowed: list[str], *, update: bool
) -> dict[str, Any]:
    _secret_members(body, "", prefix="apiKey")
    native: dict[str, Any] = {"name": name, "allowed_workloads": allowed}
    key = body.get("apiKey")
    if key:
        native["api_key"] = key
    elif not update or key == "":
        raise field_error("apiKey", "have length greater than or equal to 1")
    return native


def api_key_view(record: ProviderRecord, arns: ArnFactory, *, times: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {
        "apiKeySecretArn": {"secretArn": arns.secret("apikey", record.name)},
        "apiKeySecretSource": "MANAGED",
        "name": record.name,
        "credentialProviderArn": arns.api_key_provider(record.name),
    }
    if times:
        view["createdTime"] = record.created_at
        view["lastUpdatedTime"] = record.updated_at
    return view
