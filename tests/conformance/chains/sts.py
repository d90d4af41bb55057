"""An in-process RFC 8693 token endpoint for the chain lab's tests.

The reference's framework-free core (client authentication, exchange policies, the token
endpoint with both grants, an inbound authorizer over the mock Okta's keys) is wired here
in memory and served through :class:`httpx.MockTransport`, so the runner talks HTTP to
it exactly as it would to a deployed service. Only these tests import the reference; the
lab itself never does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx

from proctor.conformance.chains import AgentCredentials, Chain
from proctor.mock_idps.pytest_plugin import MockIdp
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
from proctor.reference.grants import ClientCredentialsGrant, TokenEndpoint
from proctor.reference.jwks import StaticKeySource
from proctor.reference.keys import InMemoryKeyStore, SigningKeys
from proctor.reference.token_exchange import AuthorizerSubjectValidator, TokenExchangeGrant
from proctor.reference.tokens import AccessTokens, InMemoryTokenRegistry

ISSUER = "https://sts.chains.test"
TOKEN_ENDPOINT = f"{ISSUER}/oauth2/token"
OKTA_AUTHORIZER = "company-okta"


@dataclass
class InProcessSts:
    """The wired core, and the agents registered so far."""

    clock: ManualClock
    endpoint: TokenEndpoint
    hasher: CredentialHasher
    directory: InMemoryWorkloadDirectory
    policies: InMemoryPolicySource
    credentials: dict[str, AgentCredentials] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)

    def add_agent(self, name: str) -> AgentCredentials:
        secret = new_secret()
        workload = Workload(
            name=name,
            client_id=f"wl_{name}",
            secret_hash=self.hasher.hash(secret),
            authorizer=OKTA_AUTHORIZER,
        )
        self.directory.put(workload)
        creds = AgentCredentials(workload.client_id, secret)
        self.credentials[name] = creds
        return creds

    def provision(self, chain: Chain, idp_issuer: str) -> dict[str, AgentCredentials]:
        """Register every agent of ``chain`` and the policies its hops need."""
        for name in chain.agents:
            if name not in self.credentials:
                self.add_agent(name)
        client_ids = {name: c.client_id for name, c in self.credentials.items()}
        for name in chain.acting_agents():
            document = chain.policy_document(name, client_ids, [idp_issuer])
            if document is not None:
                self.policies.put(ExchangePolicy.model_validate(document))
        return {name: self.credentials[name] for name in chain.agents}

    # -- HTTP ------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/oauth-authorization-server":
            return httpx.Response(200, json={"issuer": ISSUER, "token_endpoint": TOKEN_ENDPOINT})
        if request.url.path != "/oauth2/token" or request.method != "POST":
            return httpx.Response(404, json={"error": "not_found"})
        pairs = parse_qsl(request.content.decode("ascii"), keep_blank_values=True)
        self.requests.append(dict(pairs))
        result = self.endpoint.handle(pairs, request.headers.get("authorization"))
        body = json.dumps(result.body).encode() if result.body is not None else b""
        headers = {**result.headers, "Content-Type": "application/json"}
        return httpx.Response(result.status, content=body, headers=headers)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


def okta_authorizer(okta: MockIdp, clock: ManualClock) -> Authorizer:
    issuer = okta.issuer()
    jwks = okta.client().get(okta.jwks_uri()).json()
    config = AuthorizerConfig.model_validate(
        {
            "name": OKTA_AUTHORIZER,
            "discovery_url": f"{issuer}/.well-known/openid-configuration",
            "idp_profile": "okta",
            "allowed_audiences": ["api://default"],
        }
    )
    return Authorizer(config, StaticKeySource(jwks, issuer), clock, cache_size=0)


def build_sts(okta: MockIdp, start: float, *, max_lifetime: int = 900) -> InProcessSts:
    clock = ManualClock(start)
    envelope = Envelope(LocalKeyProvider({"kek-1": os.urandom(32)}, "kek-1"))
    keys = SigningKeys(InMemoryKeyStore(), envelope, clock)
    keys.bootstrap()
    tokens = AccessTokens(keys, InMemoryTokenRegistry(), ISSUER, clock, max_lifetime=max_lifetime)
    hasher = CredentialHasher(os.urandom(32))
    directory = InMemoryWorkloadDirectory()
    clients = ClientAuthenticator(directory, hasher, InMemoryJtiStore(clock), ISSUER, clock)
    policies = InMemoryPolicySource()
    authorizer = okta_authorizer(okta, clock)
    subjects = AuthorizerSubjectValidator(
        lambda name: authorizer if name == OKTA_AUTHORIZER else None
    )
    exchange = TokenExchangeGrant(tokens, policies, directory, subjects, clock)
    endpoint = TokenEndpoint(clients, [ClientCredentialsGrant(tokens, policies, clock), exchange])
    return InProcessSts(clock, endpoint, hasher, directory, policies)


def sts_client(sts: InProcessSts, okta: MockIdp) -> httpx.Client:
    """One client reaching both: the STS by default, the mock Okta by its origin."""
    return httpx.Client(
        transport=sts.transport(), mounts={f"{okta.base_url}/": okta.sync_transport()}
    )


def idp_urls(okta: MockIdp) -> Mapping[str, Any]:
    return {"okta": okta.base_url}
