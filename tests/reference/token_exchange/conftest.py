"""An in-process security token service for the token-exchange tests.

:func:`build_service` wires the framework-free core exactly as the HTTP layer will: the
key ring, the access-token service with its registry, the client authenticator, the
exchange policies, the inbound authorizer for external subject tokens (a real
:class:`~proctor.reference.authorizer.Authorizer` over a test IdP's keys), the token
endpoint with both grants, introspection and revocation. Everything lives in memory and
time is a :class:`~proctor.reference.clock.ManualClock`.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.jwk import ECKey

from proctor.reference.authorizer import Authorizer
from proctor.reference.authorizer_config import AuthorizerConfig
from proctor.reference.client_auth import (
    ClientAuthenticator,
    InMemoryJtiStore,
    InMemoryWorkloadDirectory,
    Workload,
)
from proctor.reference.clock import ManualClock
from proctor.reference.credentials import CredentialHasher, new_secret
from proctor.reference.encryption import Envelope, LocalKeyProvider
from proctor.reference.exchange_policy import ExchangePolicy, InMemoryPolicySource
from proctor.reference.grants import ClientCredentialsGrant, OAuthResult, TokenEndpoint
from proctor.reference.introspection import IntrospectionEndpoint
from proctor.reference.jwks import StaticKeySource
from proctor.reference.keys import InMemoryKeyStore, SigningKeys
from proctor.reference.revocation import RevocationEndpoint
from proctor.reference.token_exchange import (
    ACCESS_TOKEN_TYPE,
    AuthorizerSubjectValidator,
    TokenExchangeGrant,
)
from proctor.reference.tokens import AccessTokens, InMemoryTokenRegistry

ISSUER = "https://proctor.example"
IDP_ISSUER = "https://idp.example/oauth2/default"
IDP_AUDIENCE = "api://default"
IDP_CLIENT = "app-client"
START = 1_767_225_600.0
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWS, unverified (assertions only)."""
    header, payload, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
    )


def sign(header: Mapping[str, Any], claims: Mapping[str, Any], key: ECKey) -> str:
    payload = json.dumps(claims, separators=(",", ":")).encode()
    return jws.serialize_compact(dict(header), payload, key, algorithms=[header["alg"]])


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@dataclass
class FakeIdp:
    """An IdP that signs user tokens with one ES256 key."""

    issuer: str
    key: ECKey = field(
        default_factory=lambda: ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    )
    kid: str = "idp-key-1"

    def jwks(self) -> dict[str, Any]:
        public = self.key.as_dict(private=False)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "ES256"}]}

    def token(
        self, claims: Mapping[str, Any], *, typ: str | None = "at+jwt", kid: str | None = None
    ) -> str:
        header: dict[str, Any] = {"alg": "ES256", "kid": kid or self.kid}
        if typ is not None:
            header["typ"] = typ
        return sign(header, claims, self.key)


@dataclass
class Service:
    """The wired core plus helpers to drive it like a client would."""

    clock: ManualClock
    issuer: str
    idp: FakeIdp
    idp_audience: str
    keys: SigningKeys
    registry: InMemoryTokenRegistry
    tokens: AccessTokens
    hasher: CredentialHasher
    directory: InMemoryWorkloadDirectory
    replay: InMemoryJtiStore
    clients: ClientAuthenticator
    policies: InMemoryPolicySource
    authorizer: Authorizer
    endpoint: TokenEndpoint
    introspection: IntrospectionEndpoint
    revocation: RevocationEndpoint
    secrets: dict[str, str] = field(default_factory=dict)
    workloads: dict[str, Workload] = field(default_factory=dict)

    # -- registration -------------------------------------------------------------------

    def add_workload(
        self,
        name: str,
        *,
        client_id: str | None = None,
        method: str = "client_secret_basic",
        jwks: Mapping[str, Any] | None = None,
        disabled: bool = False,
        authorizer: str | None = "company-idp",
        secret: str | None = None,
    ) -> Workload:
        secret_hash = None
        if method != "private_key_jwt":
            secret = secret or new_secret()
            self.secrets[name] = secret
            secret_hash = self.hasher.hash(secret)
        workload = Workload(
            name=name,
            client_id=client_id or f"wl_{name}",
            token_endpoint_auth_method=method,  # type: ignore[arg-type]
            secret_hash=secret_hash,
            jwks=jwks,
            disabled=disabled,
            authorizer=authorizer,
        )
        self.directory.put(workload)
        self.workloads[name] = workload
        return workload

    def add_policy(self, name: str, client: str, **members: Any) -> ExchangePolicy:
        document: dict[str, Any] = {
            "name": name,
            "client": client,
            "subject_issuers": [self.idp.issuer, "self"],
        }
        document.update(members)
        policy = ExchangePolicy.model_validate(document)
        self.policies.put(policy)
        return policy

    def client_id(self, name: str) -> str:
        return self.workloads[name].client_id

    def basic(self, name: str) -> str:
        return basic(self.client_id(name), self.secrets[name])

    # -- requests ------------------------------------------------------------------------

    def token_request(
        self, pairs: Sequence[tuple[str, str]], client: str | None = None
    ) -> OAuthResult:
        return self.endpoint.handle(pairs, self.basic(client) if client else None)

    def cc_token(self, name: str, *targets: tuple[str, str], scope: str | None = None) -> str:
        pairs = [("grant_type", "client_credentials"), *targets]
        if scope is not None:
            pairs.append(("scope", scope))
        result = self.token_request(pairs, name)
        assert result.status == 200, result.body
        assert result.body is not None
        return str(result.body["access_token"])

    def exchange(
        self,
        client: str,
        subject: str,
        *,
        actor: str | None = "own",
        audience: Sequence[str] = (),
        resource: Sequence[str] = (),
        scope: str | None = None,
        subject_type: str = ACCESS_TOKEN_TYPE,
        actor_type: str = ACCESS_TOKEN_TYPE,
        extra: Sequence[tuple[str, str]] = (),
    ) -> OAuthResult:
        """A token-exchange request by ``client``; ``actor="own"`` sends the client's own
        ``client_credentials`` token as actor token, ``None`` sends none."""
        pairs = [
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", subject_type),
        ]
        if actor == "own":
            actor = self.cc_token(client)
        if actor is not None:
            pairs += [("actor_token", actor), ("actor_token_type", actor_type)]
        pairs += [("audience", a) for a in audience] + [("resource", r) for r in resource]
        if scope is not None:
            pairs.append(("scope", scope))
        pairs += list(extra)
        return self.token_request(pairs, client)

    def user_token(
        self,
        sub: str = "00u1sarah",
        *,
        scope: str = "crm.read finance.read docs.write",
        lifetime: int = 3600,
        **claims: Any,
    ) -> str:
        now = int(self.clock.now())
        body: dict[str, Any] = {
            "iss": self.idp.issuer,
            "sub": sub,
            "aud": self.idp_audience,
            "client_id": IDP_CLIENT,
            "scope": scope,
            "iat": now,
            "exp": now + lifetime,
        }
        body.update(claims)
        return self.idp.token({k: v for k, v in body.items() if v is not None})


def build_service(
    *,
    issuer: str = ISSUER,
    idp_issuer: str = IDP_ISSUER,
    idp_audience: str = IDP_AUDIENCE,
    start: float = START,
    algorithm: str = "ES256",
    max_lifetime: int = 900,
    idp_clients: Sequence[str] = (IDP_CLIENT,),
    idp_kid: str = "idp-key-1",
) -> Service:
    clock = ManualClock(start)
    envelope = Envelope(LocalKeyProvider({"kek-1": os.urandom(32)}, "kek-1"))
    keys = SigningKeys(InMemoryKeyStore(), envelope, clock, algorithm=algorithm)  # type: ignore[arg-type]
    keys.bootstrap()
    registry = InMemoryTokenRegistry()
    tokens = AccessTokens(keys, registry, issuer, clock, max_lifetime=max_lifetime)
    hasher = CredentialHasher(os.urandom(32))
    directory = InMemoryWorkloadDirectory()
    replay = InMemoryJtiStore(clock)
    clients = ClientAuthenticator(directory, hasher, replay, issuer, clock)
    policies = InMemoryPolicySource()
    idp = FakeIdp(idp_issuer, kid=idp_kid)
    kinds: list[dict[str, Any]] = [{"kind": "access_token", "typ": ["at+jwt", None]}]
    if idp_clients:  # ID tokens are audience-restricted to clients
        kinds.append({"kind": "id_token", "typ": ["JWT"]})
    config = AuthorizerConfig(
        name="company-idp",
        discovery_url=f"{idp_issuer}/.well-known/openid-configuration",
        allowed_audiences=[idp_audience, *idp_clients],
        allowed_clients=list(idp_clients),
        token_kinds=kinds,
        algorithms=["ES256"],
        leeway_seconds=0,
    )
    authorizer = Authorizer(config, StaticKeySource(idp.jwks(), idp_issuer), clock, cache_size=0)
    subjects = AuthorizerSubjectValidator(
        lambda name: authorizer if name == "company-idp" else None
    )
    exchange = TokenExchangeGrant(tokens, policies, directory, subjects, clock)
    endpoint = TokenEndpoint(clients, [ClientCredentialsGrant(tokens, policies, clock), exchange])
    return Service(
        clock=clock,
        issuer=issuer,
        idp=idp,
        idp_audience=idp_audience,
        keys=keys,
        registry=registry,
        tokens=tokens,
        hasher=hasher,
        directory=directory,
        replay=replay,
        clients=clients,
        policies=policies,
        authorizer=authorizer,
        endpoint=endpoint,
        introspection=IntrospectionEndpoint(clients, tokens),
        revocation=RevocationEndpoint(clients, tokens, clock),
    )


@pytest.fixture
def svc() -> Service:
    """The design scenario: an orchestrator delegating to a sub-agent, which delegates to
    the CRM's MCP server; each has a policy for its next hop."""
    service = build_service()
    service.add_workload("orchestrator")
    service.add_workload("subagent")
    service.add_workload("crm-mcp")
    service.add_workload("outsider")
    service.add_policy(
        "orchestrator-to-subagent",
        "orchestrator",
        audiences=["wl_subagent"],
        scopes=["crm.read", "finance.read"],
    )
    service.add_policy(
        "subagent-to-crm",
        "subagent",
        audiences=["wl_crm-mcp"],
        resources=["https://crm.example/mcp"],
        scopes=["crm.read"],
    )
    return service
