"""The request shapes of the AgentCore Identity operations, with their constraints.

Transcribed from the published Smithy models of ``bedrock-agentcore`` (2024-02-28) and
``bedrock-agentcore-control`` (2023-06-05), as shipped in botocore 1.44.8: for every
identity operation, its input structure and every shape it reaches, with ``min``/``max``
(length, size or value), ``pattern``, ``enum``, ``required`` and ``union``. Members bound
to the URI or the query string (the tagging operations' ``resourceArn`` and ``tagKeys``)
are read from the request line instead and are not listed. Shapes reference each other by
name. ``tests/reference/agentcore/test_model.py`` compares this table with the model that
botocore ships, so a drift is caught.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from proctor.reference.agentcore.validation import (
    Boolean,
    Integer,
    ListOf,
    MapOf,
    Shape,
    String,
    Structure,
)

__all__ = ["INPUTS", "SHAPES"]

SHAPES: Final[Mapping[str, Shape]] = {
    "ActorTokenContentType": String(
        enum=(
            "NONE",
            "M2M",
            "AWS_IAM_ID_TOKEN_JWT",
        )
    ),
    "AdditionalClaimName": String(min=1, max=255, pattern="[A-Za-z0-9_.:#-]+"),
    "AdditionalClaimValue": String(min=1, max=2048),
    "AdditionalClaims": MapOf("AdditionalClaimName", "AdditionalClaimValue", min=1, max=10),
    "AtlassianOauth2ProviderConfigInput": Structure(
        {
            "clientId": "ClientIdType",
            "clientSecret": "DefaultClientSecretType",
            "clientSecretConfig": "SecretReference",
            "clientSecretSource": "SecretSourceType",
        },
        required=("clientId",),
    ),
    "AudienceType": String(min=1, max=2048),
    "AudiencesListType": ListOf("AudienceType"),
    "AuthorizationEndpointType": String(),
    "Boolean": Boolean(),
    "CertificateBucketOwnerAccountId": String(pattern="[0-9]{12}"),
    "CertificateConfiguration": Structure(
        {
            "s3": "S3CertificateConfiguration",
            "secretsManager": "SecretsManagerCertificateConfiguration",
        },
        union=True,
    ),
    "CertificateConfigurationList": ListOf("CertificateConfiguration", min=1, max=1),
    "CertificateS3Uri": String(pattern="s3://.{1,2043}"),
    "CertificateSecretArn": String(
        pattern="arn:aws(-[^:]+)?:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+"
    ),
    "ClientAuthenticationMethodType": String(
        enum=(
            "CLIENT_SECRET_BASIC",
            "CLIENT_SECRET_POST",
            "AWS_IAM_ID_TOKEN_JWT",
            "PRIVATE_KEY_JWT",
        )
    ),
    "ClientIdType": String(min=1, max=256),
    "CompleteResourceTokenAuthRequest": Structure(
        {"userIdentifier": "UserIdentifier", "sessionUri": "RequestUri"},
        required=(
            "userIdentifier",
            "sessionUri",
        ),
    ),
    "CreateApiKeyCredentialProviderRequest": Structure(
        {
            "name": "CredentialProviderName",
            "apiKey": "DefaultApiKeyType",
            "apiKeySecretConfig": "SecretReference",
            "apiKeySecretSource": "SecretSourceType",
            "tags": "TagsMap",
        },
        required=("name",),
    ),
    "CreateOauth2CredentialProviderRequest": Structure(
        {
            "name": "CredentialProviderName",
            "credentialProviderVendor": "CredentialProviderVendorType",
            "oauth2ProviderConfigInput": "Oauth2ProviderConfigInput",
            "tags": "TagsMap",
        },
        required=(
            "name",
            "credentialProviderVendor",
            "oauth2ProviderConfigInput",
        ),
    ),
    "CreateWorkloadIdentityRequest": Structure(
        {
            "name": "WorkloadIdentityNameType",
            "allowedResourceOauth2ReturnUrls": "ResourceOauth2ReturnUrlListType",
            "tags": "TagsMap",
        },
        required=("name",),
    ),
    "CredentialProviderName": String(min=1, max=128, pattern="[a-zA-Z0-9\\-_]+"),
    "CredentialProviderVendorType": String(
        enum=(
            "GoogleOauth2",
            "GithubOauth2",
            "SlackOauth2",
            "SalesforceOauth2",
            "MicrosoftOauth2",
            "CustomOauth2",
            "AtlassianOauth2",
            "LinkedinOauth2",
            "XOauth2",
            "OktaOauth2",
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
            "Auth0Oauth2",
            "CognitoOauth2",
        )
    ),
    "CustomOauth2ProviderConfigInput": Structure(
        {
            "oauthDiscovery": "Oauth2Discovery",
            "clientId": "DefaultClientIdType",
            "clientSecret": "DefaultClientSecretType",
            "clientSecretConfig": "SecretReference",
            "clientSecretSource": "SecretSourceType",
            "onBehalfOfTokenExchangeConfig": "OnBehalfOfTokenExchangeConfigType",
            "clientAuthenticationMethod": "ClientAuthenticationMethodType",
            "privateKeyJwtConfig": "PrivateKeyJwtConfig",
            "privateEndpoint": "PrivateEndpoint",
            "privateEndpointOverrides": "PrivateEndpointOverrides",
            "certificateConfigurations": "CertificateConfigurationList",
        },
        required=("oauthDiscovery",),
    ),
    "CustomRequestKeyType": String(min=1, max=256, pattern="[a-zA-Z0-9\\-_\\.]+"),
    "CustomRequestParametersType": MapOf("CustomRequestKeyType", "CustomRequestValueType"),
    "CustomRequestValueType": String(min=1, max=2048),
    "DefaultApiKeyType": String(min=0, max=65536),
    "DefaultClientIdType": String(min=0, max=256),
    "DefaultClientSecretType": String(min=0, max=2048),
    "DeleteApiKeyCredentialProviderRequest": Structure(
        {"name": "CredentialProviderName"}, required=("name",)
    ),
    "DeleteOauth2CredentialProviderRequest": Structure(
        {"name": "CredentialProviderName"}, required=("name",)
    ),
    "DeleteWorkloadIdentityRequest": Structure(
        {"name": "WorkloadIdentityNameType"}, required=("name",)
    ),
    "DiscoveryUrlType": String(
        pattern="[^\\s?#]+/\\.well-known/(openid-configuration|oauth-authorization-server)(/[^\\s?#]+)?"
    ),
    "EndpointIpAddressType": String(
        enum=(
            "IPV4",
            "IPV6",
        )
    ),
    "GetApiKeyCredentialProviderRequest": Structure(
        {"name": "CredentialProviderName"}, required=("name",)
    ),
    "GetOauth2CredentialProviderRequest": Structure(
        {"name": "CredentialProviderName"}, required=("name",)
    ),
    "GetResourceApiKeyRequest": Structure(
        {
            "workloadIdentityToken": "WorkloadIdentityTokenType",
            "resourceCredentialProviderName": "CredentialProviderName",
        },
        required=(
            "workloadIdentityToken",
            "resourceCredentialProviderName",
        ),
    ),
    "GetResourceOauth2TokenRequest": Structure(
        {
            "workloadIdentityToken": "WorkloadIdentityTokenType",
            "resourceCredentialProviderName": "CredentialProviderName",
            "scopes": "ScopesListType",
            "oauth2Flow": "Oauth2FlowType",
            "sessionUri": "RequestUri",
            "resourceOauth2ReturnUrl": "ResourceOauth2ReturnUrlType",
            "forceAuthentication": "Boolean",
            "customParameters": "CustomRequestParametersType",
            "customState": "State",
            "resources": "ResourcesListType",
            "audiences": "AudiencesListType",
        },
        required=(
            "workloadIdentityToken",
            "resourceCredentialProviderName",
            "scopes",
            "oauth2Flow",
        ),
    ),
    "GetTokenVaultRequest": Structure({"tokenVaultId": "TokenVaultIdType"}),
    "GetWorkloadAccessTokenForJWTRequest": Structure(
        {"workloadName": "WorkloadIdentityNameType", "userToken": "UserTokenType"},
        required=(
            "workloadName",
            "userToken",
        ),
    ),
    "GetWorkloadAccessTokenForUserIdRequest": Structure(
        {"workloadName": "WorkloadIdentityNameType", "userId": "UserIdType"},
        required=(
            "workloadName",
            "userId",
        ),
    ),
    "GetWorkloadAccessTokenRequest": Structure(
        {"workloadName": "WorkloadIdentityNameType"}, required=("workloadName",)
    ),
    "GetWorkloadIdentityRequest": Structure(
        {"name": "WorkloadIdentityNameType"}, required=("name",)
    ),
    "GithubOauth2ProviderConfigInput": Structure(
        {
            "clientId": "ClientIdType",
            "clientSecret": "DefaultClientSecretType",
            "clientSecretConfig": "SecretReference",
            "clientSecretSource": "SecretSourceType",
        },
        required=("clientId",),
    ),
    "GoogleOauth2ProviderConfigInput": Structure(
        {
            "clientId": "ClientIdType",
            "clientSecret": "DefaultClientSecretType",
            "clientSecretConfig": "SecretReference",
            "clientSecretSource": "SecretSourceType",
        },
        required=("clientId",),
    ),
    "IncludedOauth2ProviderConfigInput": Structure(
        {
            "clientId": "ClientIdType",
            "clientSecret": "DefaultClientSecretType",
            "clientSecretConfig": "SecretReference",
            "clientSecretSource": "SecretSourceType",
            "issuer": "IssuerUrlType",
            "authorizationEndpoint": "AuthorizationEndpointType",
            "tokenEndpoint": "TokenEndpointType",
        },
        required=("clientId",),
    ),
    "IssuerUrlType": String(),
    "KeyType": String(
        enum=(
            "CustomerManagedKey",
            "ServiceManagedKey",
        )
    ),
    "KmsConfiguration": Structure(
        {"keyType": "KeyType", "kmsKeyArn": "KmsKeyArn"}, required=("keyType",)
    ),
    "KmsKeyArn": String(
        min=1,
        max=2048,
        pattern="arn:aws(|-cn|-us-gov):kms:[a-zA-Z0-9-]*:[0-9]{12}:key/[a-zA-Z0-9-]{36}",
    ),
    "KmsKeySourceType": Structure({"kmsKeyArn": "KmsKeyArn"}, required=("kmsKeyArn",)),
    "LinkedinOauth2ProviderConfigInput": Structure(
        {
            "clientId": "ClientIdType",
            "clientSecret": "DefaultClientSecretType",
            "clientSecretConfig": "SecretReference",
            "clientSecretSource": "SecretSourceType",
        },
        required=("clientId",),
    ),
    "ListApiKeyCredentialProvidersRequest": Structure(
        {"nextToken": "String", "maxResults": "MaxResults"}
    ),
    "ListOauth2CredentialProvidersRequest": Structure(
        {
            "nextToken": "String",
            "maxResults": "ListOauth2CredentialProvidersRequestMaxResultsInteger",
        }
    ),
    "ListOauth2CredentialProvidersRequestMaxResultsInteger": Integer(min=1, max=20),
    "ListTagsForResourceRequest": Structure({}),
    "ListWorkloadIdentitiesRequest": Structure(
        {"nextToken": "String", "maxResults": "ListWorkloadIdentitiesRequestMaxResultsInteger"}
    ),
    "ListWorkloadIdentitiesRequestMaxResultsInteger": Integer(min=1, max=20),
    "ManagedVpcResource": Structure(
        {
            "vpcIdentifier": "VpcIdentifier",
            "subnetIds": "SubnetIds",
            "endpointIpAddressType": "EndpointIpAddressType",
            "securityGroupIds": "SecurityGroupIds",
            "tags": "TagsMap",
            "routingDomain": "RoutingDomain",
        },
        required=(
            "vpcIdentifier",
            "subnetIds",
            "endpointIpAddressType",
        ),
    ),
    "MaxResults": Integer(min=1, max=100),
    "MicrosoftOauth2ProviderConfigInput": Structure(
        {
            "clientId": "ClientIdType",
            "clientSecret": "DefaultClientSecretType",
            "clientSecretConfig": "SecretReference",
            "clientSecretSource": "SecretSourceType",
            "tenantId": "TenantIdType",
        },
        required=("clientId",),
    ),
    "Oauth2AuthorizationServerMetadata": Structure(
        {
            "issuer": "IssuerUrlType",
            "authorizationEndpoint": "AuthorizationEndpointType",
            "tokenEndpoint": "TokenEndpointType",
            "responseTypes": "ResponseListType",
            "tokenEndpointAuthMethods": "TokenEndpointAuthMethodsType",
        },
        required=(
            "issuer",
            "authorizationEndpoint",
            "tokenEndpoint",
        ),
    ),
    "Oauth2Discovery": Structure(
        {
            "discoveryUrl": "DiscoveryUrlType",
            "authorizationServerMetadata": "Oauth2AuthorizationServerMetadata",
        },
        union=True,
    ),
    "Oauth2FlowType": String(
        enum=(
            "USER_FEDERATION",
            "M2M",
            "ON_BEHALF_OF_TOKEN_EXCHANGE",
        )
    ),
    "Oauth2ProviderConfigInput": Structure(
        {
            "customOauth2ProviderConfig": "CustomOauth2ProviderConfigInput",
            "googleOauth2ProviderConfig": "GoogleOauth2ProviderConfigInput",
            "githubOauth2ProviderConfig": "GithubOauth2ProviderConfigInput",
            "slackOauth2ProviderConfig": "SlackOauth2ProviderConfigInput",
            "salesforceOauth2ProviderConfig": "SalesforceOauth2ProviderConfigInput",
            "microsoftOauth2ProviderConfig": "MicrosoftOauth2ProviderConfigInput",
            "atlassianOauth2ProviderConfig": "AtlassianOauth2ProviderConfigInput",
            "linkedinOauth2ProviderConfig": "LinkedinOauth2ProviderConfigInput",
            "includedOauth2ProviderConfig": "IncludedOauth2ProviderConfigInput",
        },
        union=True,
    ),
    "OnBehalfOfAuthenticationConfig": Structure(
        {"clientAuthenticationMethod": "OnBehalfOfClientAuthenticationMethod"},
        required=("clientAuthenticationMethod",),
    ),
    "OnBehalfOfClientAuthenticationMethod": String(enum=("NO_CLIENT",)),
    "OnBehalfOfTokenExchangeConfigType": Structure(
        {
            "grantType": "OnBehalfOfTokenExchangeGrantTypeType",
            "tokenExchangeGrantTypeConfig": "TokenExchangeGrantTypeConfigType",
            "onBehalfOfAuthenticationConfig": "OnBehalfOfAuthenticationConfig",
        },
        required=("grantType",),
    ),
    "OnBehalfOfTokenExchangeGrantTypeType": String(
        enum=(
            "TOKEN_EXCHANGE",
            "JWT_AUTHORIZATION_GRANT",
        )
    ),
    "PrivateEndpoint": Structure(
        {
            "selfManagedLatticeResource": "SelfManagedLatticeResource",
            "managedVpcResource": "ManagedVpcResource",
        },
        union=True,
    ),
    "PrivateEndpointOverride": Structure(
        {"domain": "PrivateEndpointOverrideDomain", "privateEndpoint": "PrivateEndpoint"},
        required=(
            "domain",
            "privateEndpoint",
        ),
    ),
    "PrivateEndpointOverrideDomain": String(min=1, max=253),
    "PrivateEndpointOverrides": ListOf("PrivateEndpointOverride", min=0, max=5),
    "PrivateKeyJwtConfig": Structure(
        {
            "privateKeySource": "PrivateKeySource",
            "signingAlgorithm": "SigningAlgorithm",
            "additionalHeaderClaims": "AdditionalClaims",
            "additionalPayloadClaims": "AdditionalClaims",
        }
    ),
    "PrivateKeySource": Structure({"kmsKeySource": "KmsKeySourceType"}, union=True),
    "RequestUri": String(
        min=1, max=1024, pattern="urn:ietf:params:oauth:request_uri:[a-zA-Z0-9-._~]+"
    ),
    "ResetTokenVaultKeyMaterialRequest": Structure(
        {"tokenVaultId": "TokenVaultIdType"}, required=("tokenVaultId",)
    ),
    "ResourceConfigurationIdentifier": String(
        min=20,
        max=2048,
        pattern="((rcfg-[0-9a-z]{17})|(arn:[a-z0-9\\-]+:vpc-lattice:[a-zA-Z0-9\\-]+:\\d{12}:resourceconfiguration/rcfg-[0-9a-z]{17}))",
    ),
    "ResourceOauth2ReturnUrlListType": ListOf("ResourceOauth2ReturnUrlType"),
    "ResourceOauth2ReturnUrlType": String(min=1, max=2048, pattern="\\w+:(\\/?\\/?)[^\\s]+"),
    "ResourceType": String(min=1, max=2048),
    "ResourcesListType": ListOf("ResourceType"),
    "ResponseListType": ListOf("ResponseType"),
    "ResponseType": String(),
    "RoutingDomain": String(min=3, max=255),
    "S3CertificateConfiguration": Structure(
        {"uri": "CertificateS3Uri", "bucketOwnerAccountId": "CertificateBucketOwnerAccountId"},
        required=("uri",),
    ),
    "SalesforceOauth2ProviderConfigInput": Structure(
        {
            "clientId": "ClientIdType",
            "clientSecret": "DefaultClientSecretType",
            "clientSecretConfig": "SecretReference",
            "clientSecretSource": "SecretSourceType",
        },
        required=("clientId",),
    ),
    "ScopeType": String(min=1, max=128),
    "ScopesListType": ListOf("ScopeType"),
    "SecretIdType": String(min=1, max=2048),
    "SecretJsonKeyType": String(min=1, max=128),
    "SecretReference": Structure(
        {"secretId": "SecretIdType", "jsonKey": "SecretJsonKeyType"},
        required=(
            "secretId",
            "jsonKey",
        ),
    ),
    "SecretSourceType": String(
        enum=(
            "MANAGED",
            "EXTERNAL",
        )
    ),
    "SecretsManagerCertificateConfiguration": Structure(
        {"secretArn": "CertificateSecretArn"}, required=("secretArn",)
    ),
    "SecurityGroupIdentifier": String(pattern="sg-(([0-9a-z]{8})|([0-9a-z]{17}))"),
    "SecurityGroupIds": ListOf("SecurityGroupIdentifier", min=0, max=5),
    "SelfManagedLatticeResource": Structure(
        {"resourceConfigurationIdentifier": "ResourceConfigurationIdentifier"}, union=True
    ),
    "SetTokenVaultCMKRequest": Structure(
        {"tokenVaultId": "TokenVaultIdType", "kmsConfiguration": "KmsConfiguration"},
        required=("kmsConfiguration",),
    ),
    "SigningAlgorithm": String(
        enum=(
            "RS256",
            "PS256",
            "ES256",
        )
    ),
    "SlackOauth2ProviderConfigInput": Structure(
        {
            "clientId": "ClientIdType",
            "clientSecret": "DefaultClientSecretType",
            "clientSecretConfig": "SecretReference",
            "clientSecretSource": "SecretSourceType",
        },
        required=("clientId",),
    ),
    "State": String(min=1, max=4096),
    "String": String(),
    "SubnetId": String(pattern="subnet-[0-9a-zA-Z]{8,17}"),
    "SubnetIds": ListOf("SubnetId"),
    "TagKey": String(min=1, max=128, pattern="[a-zA-Z0-9\\s._:/=+@-]*"),
    "TagResourceRequest": Structure({"tags": "TagsMap"}, required=("tags",)),
    "TagValue": String(min=0, max=256, pattern="[a-zA-Z0-9\\s._:/=+@-]*"),
    "TagsMap": MapOf("TagKey", "TagValue", min=0, max=50),
    "TenantIdType": String(min=1, max=2048),
    "TokenAuthMethod": String(pattern="(client_secret_post|client_secret_basic)"),
    "TokenEndpointAuthMethodsType": ListOf("TokenAuthMethod", min=1, max=2),
    "TokenEndpointType": String(),
    "TokenExchangeGrantTypeConfigType": Structure(
        {"actorTokenContent": "ActorTokenContentType", "actorTokenScopes": "ScopesListType"},
        required=("actorTokenContent",),
    ),
    "TokenVaultIdType": String(min=1, max=64, pattern="[a-zA-Z0-9\\-_]+"),
    "UntagResourceRequest": Structure({}),
    "UpdateApiKeyCredentialProviderRequest": Structure(
        {
            "name": "CredentialProviderName",
            "apiKey": "DefaultApiKeyType",
            "apiKeySecretConfig": "SecretReference",
            "apiKeySecretSource": "SecretSourceType",
        },
        required=("name",),
    ),
    "UpdateOauth2CredentialProviderRequest": Structure(
        {
            "name": "CredentialProviderName",
            "credentialProviderVendor": "CredentialProviderVendorType",
            "oauth2ProviderConfigInput": "Oauth2ProviderConfigInput",
        },
        required=(
            "name",
            "credentialProviderVendor",
            "oauth2ProviderConfigInput",
        ),
    ),
    "UpdateWorkloadIdentityRequest": Structure(
        {
            "name": "WorkloadIdentityNameType",
            "allowedResourceOauth2ReturnUrls": "ResourceOauth2ReturnUrlListType",
        },
        required=("name",),
    ),
    "UserIdType": String(min=1, max=128),
    "UserIdentifier": Structure({"userToken": "UserTokenType", "userId": "UserIdType"}, union=True),
    "UserTokenType": String(
        min=1, max=131072, pattern="[A-Za-z0-9-_=]+.[A-Za-z0-9-_=]+.[A-Za-z0-9-_=]+"
    ),
    "VpcIdentifier": String(pattern="vpc-(([0-9a-z]{8})|([0-9a-z]{17}))"),
    "WorkloadIdentityNameType": String(min=3, max=255, pattern="[A-Za-z0-9_.-]+"),
    "WorkloadIdentityTokenType": String(min=1, max=131072),
}
INPUTS: Final[Mapping[str, str]] = {
    "GetWorkloadAccessToken": "GetWorkloadAccessTokenRequest",
    "GetWorkloadAccessTokenForJWT": "GetWorkloadAccessTokenForJWTRequest",
    "GetWorkloadAccessTokenForUserId": "GetWorkloadAccessTokenForUserIdRequest",
    "GetResourceOauth2Token": "GetResourceOauth2TokenRequest",
    "GetResourceApiKey": "GetResourceApiKeyRequest",
    "CompleteResourceTokenAuth": "CompleteResourceTokenAuthRequest",
    "CreateWorkloadIdentity": "CreateWorkloadIdentityRequest",
    "GetWorkloadIdentity": "GetWorkloadIdentityRequest",
    "UpdateWorkloadIdentity": "UpdateWorkloadIdentityRequest",
    "DeleteWorkloadIdentity": "DeleteWorkloadIdentityRequest",
    "ListWorkloadIdentities": "ListWorkloadIdentitiesRequest",
    "CreateOauth2CredentialProvider": "CreateOauth2CredentialProviderRequest",
    "GetOauth2CredentialProvider": "GetOauth2CredentialProviderRequest",
    "UpdateOauth2CredentialProvider": "UpdateOauth2CredentialProviderRequest",
    "DeleteOauth2CredentialProvider": "DeleteOauth2CredentialProviderRequest",
    "ListOauth2CredentialProviders": "ListOauth2CredentialProvidersRequest",
    "CreateApiKeyCredentialProvider": "CreateApiKeyCredentialProviderRequest",
    "GetApiKeyCredentialProvider": "GetApiKeyCredentialProviderRequest",
    "UpdateApiKeyCredentialProvider": "UpdateApiKeyCredentialProviderRequest",
    "DeleteApiKeyCredentialProvider": "DeleteApiKeyCredentialProviderRequest",
    "ListApiKeyCredentialProviders": "ListApiKeyCredentialProvidersRequest",
    "GetTokenVault": "GetTokenVaultRequest",
    "SetTokenVaultCMK": "SetTokenVaultCMKRequest",
    "ResetTokenVaultKeyMaterial": "ResetTokenVaultKeyMaterialRequest",
    "TagResource": "TagResourceRequest",
    "UntagResource": "UntagResourceRequest",
    "ListTagsForResource": "ListTagsForResourceRequest",
}
