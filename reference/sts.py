"""The security token service, assembled: storage, keys, grants, endpoints and their seams.

:meth:`SecurityTokenService.attach` builds the authorization server of spec
``07-token-exchange.md`` on top of an assembled :class:`~proctor.reference.service.Service`
and plugs it into the identity core::

    storage        StoredKeyStore, StoredTokenRegistry, ExchangePolicyRepository,
                   ClientAssertionJtiRepository (RFC 7523 jti replay, WID-PKJ-004)
    keys           SigningKeys (ES256 by default, RS256 by setting): bootstrapped on the
                   first start; rotated and pruned by maintain()
    tokens         AccessTokens (RFC 9068), max lifetime = settings.access_token_ttl
    clients        ClientAuthenticator over the workload directory (TX-CAUTH-*)
    grants         ClientCredentialsGrant, TokenExchangeGrant (external subject tokens
                   through the workload's inbound authorizer, TX-SUBJ-002)
    endpoints      TokenEndpoint, IntrospectionEndpoint, RevocationEndpoint
    HTTP           OAuthRoutes (/oauth2/*, JWKS, RFC 8414 metadata) and
                   ExchangePolicyRoutes (/v1/exchange-policies)
    seams          workload_auth.bearer = WorkloadBearerVerifier (data-plane Bearer,
                   WID-AUTH-001); directory.revocation_hooks += revoke the workload's
                   tokens and their descendants when it is disabled or deleted
                   (WID-STATE-001/002), inside the directory's transaction

Maintenance (:meth:`SecurityTokenService.maintain`) is explicit, so tests drive it with a
manual clock and ``proctor serve`` calls it periodically (every minute is plenty). Under
a lock shared by every node it makes sure a key signs, publishes the next key
``publish_ahead`` seconds before the current one has signed for ``rotation_interval``
seconds (AS-JWKS-002), and forgets keys no token can need any more (AS-JWKS-003); then it
purges expired token records and client-assertion ``jti`` records.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from starlette.routing import BaseRoute

from proctor.reference.audit import AuditLog
from proctor.reference.authorizers import AuthorizerRegistry
from proctor.reference.claims import Identity
from proctor.reference.client_auth import (
    AuthMethod,
    ClientAuthenticator,
    Workload,
    WorkloadBearerVerifier,
)
from proctor.reference.clock import Clock
from proctor.reference.directory import Directory
from proctor.reference.errors import UpstreamError
from proctor.reference.grants import ClientCredentialsGrant, Grant, OAuthResult, TokenEndpoint
from proctor.reference.http.oauth import Handler, OAuthRoutes, authorization_server_metadata
from proctor.reference.http.policies import ExchangePolicyRoutes
from proctor.reference.introspection import IntrospectionEndpoint
from proctor.reference.keys import SIGNING_ALGORITHMS, SigningAlgorithm, SigningKeys
from proctor.reference.revocation import RevocationEndpoint, revoke_issued_to
from proctor.reference.storage.assertions import ClientAssertionJtiRepository
from proctor.reference.storage.database import Database, Transaction
from proctor.reference.storage.issued_tokens import StoredTokenRegistry
from proctor.reference.storage.keys import StoredKeyStore, lock_key_maintenance
from proctor.reference.storage.policies import ExchangePolicyRepository
from proctor.reference.storage.workloads import WorkloadRecord
from proctor.reference.token_exchange import (
    AuthorizerSubjectValidator,
    ExternalSubject,
    SubjectRejected,
    TokenExchangeGrant,
    TokenKind,
)
from proctor.reference.tokens import AccessTokens, revoked_ancestor

if TYPE_CHECKING:
    from proctor.reference.service import Service

__all__ = [
    "DEFAULT_ROTATION_INTERVAL",
    "DirectoryWorkloads",
    "Maintenance",
    "RegistrySubjects",
    "SecurityTokenService",
]

log = logging.getLogger("proctor.sts")

#: How long a key signs before the next one takes over (a week).
DEFAULT_ROTATION_INTERVAL: Final = 7 * 24 * 3600
#: How long a node reuses the key set it read (the JWKS ``max-age`` is lowered by as much,
#: so a key is published on every node at least ``max-age`` before it signs).
KEY_RELOAD_INTERVAL: Final = 5
#: AS-JWKS-003: retired keys stay published 300 s past the last ``exp`` they signed.
RELYING_PARTY_LEEWAY: Final = 300
_SECRET_METHODS: Final = frozenset(("client_secret_basic", "client_secret_post"))


class DirectoryWorkloads:
    """The token endpoint's :class:`~proctor.reference.client_auth.WorkloadDirectory` over
    the service's :class:`Directory`, read from storage on every call (a disabled or
    deleted workload fails at once on every node, WID-STATE-001/002). A secret hash made
    under another pepper is withheld, so it never matches."""

    def __init__(self, directory: Directory) -> None:
        self._directory = directory
        self._seen: ContextVar[dict[str, Workload | None] | None] = ContextVar(
            f"workloads_seen_{id(self)}", default=None
        )

    @contextmanager
    def request_scope(self) -> Iterator[None]:
        """Within one request a workload is read once (client and actor are usually the
        same workload); the next request reads it again."""
        token = self._seen.set({})
        try:
            yield
        finally:
            self._seen.reset(token)

    def by_client_id(self, client_id: str) -> Workload | None:
        seen = self._seen.get()
        if seen is not None and client_id in seen:
            return seen[client_id]
        record = self._directory.find_by_client_id(client_id)
        workload = None if record is None else self.adapt(record)
        if seen is not None:
            seen[client_id] = workload
        return workload

    def scoped(self, handler: Handler) -> Handler:
        """``handler`` with each call in its own :meth:`request_scope`."""

        def handle(pairs: Iterable[tuple[str, str]], authorization: str | None) -> OAuthResult:
            with self.request_scope():
                return handler(pairs, authorization)

        return handle

    def adapt(self, record: WorkloadRecord) -> Workload:
        config = record.config
        method = config.get("token_endpoint_auth_method") or "client_secret_basic"
        usable = record.secret_key_id == self._directory.secret_key_id
        jwks = config.get("jwks")
        authorizer = config.get("authorizer")
        return Workload(
            name=record.name,
            client_id=record.client_id,
            token_endpoint_auth_method=cast(AuthMethod, method),
            secret_hash=record.secret_hash if usable and method in _SECRET_METHODS else None,
            jwks=jwks if isinstance(jwks, dict) else None,
            disabled=record.disabled,
            authorizer=authorizer if isinstance(authorizer, str) else None,
        )


class RegistrySubjects:
    """External subject tokens judged by the workload's inbound authorizer (TX-SUBJ-002),
    over the :class:`AuthorizerRegistry` (so a replaced configuration applies at once).
    An IdP that cannot be reached is a refusal (``unknown_key``), never a 5xx."""

    def __init__(self, authorizers: AuthorizerRegistry) -> None:
        self._inner = AuthorizerSubjectValidator(authorizers.authorizer)

    def validate(self, token: str, kind: TokenKind, workload: Workload) -> ExternalSubject:
        try:
            return self._inner.validate(token, kind, workload)
        except UpstreamError:
            raise SubjectRejected("unknown_key") from None


@dataclass(frozen=True)
class Maintenance:
    """What one :meth:`SecurityTokenService.maintain` run did."""

    #: The kid of a key created by this run (bootstrapped or published as next).
    created: str | None
    #: Kids of keys forgotten because no token they signed can still be valid.
    pruned: tuple[str, ...]
    purged_tokens: int
    purged_assertions: int


class SecurityTokenService:
    """The assembled authorization server. Build it with :meth:`attach`."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        issuer: str,
        audit: AuditLog,
        keys: SigningKeys,
        key_store: StoredKeyStore,
        registry: StoredTokenRegistry,
        policies: ExchangePolicyRepository,
        assertions: ClientAssertionJtiRepository,
        tokens: AccessTokens,
        clients: ClientAuthenticator,
        token_endpoint: TokenEndpoint,
        introspection: IntrospectionEndpoint,
        revocation: RevocationEndpoint,
        oauth_routes: OAuthRoutes,
        policy_routes: ExchangePolicyRoutes,
        rotation_interval: int = DEFAULT_ROTATION_INTERVAL,
    ) -> None:
        if rotation_interval <= keys.publish_ahead:
            raise ValueError("a key signs longer than it is published ahead")
        self.database = database
        self.clock = clock
        self.issuer = issuer
        self.audit = audit
        self.keys = keys
        self.key_store = key_store
        self.registry = registry
        self.policies = policies
        self.assertions = assertions
        self.tokens = tokens
        self.clients = clients
        self.token_endpoint = token_endpoint
        self.introspection = introspection
        self.revocation = revocation
        self.oauth_routes = oauth_routes
        self.policy_routes = policy_routes
        self.rotation_interval = rotation_interval
        self.bearer = WorkloadBearerVerifier(tokens)

    @classmethod
    def attach(
        cls,
        service: Service,
        *,
        algorithm: str | None = None,
        rotation_interval: int = DEFAULT_ROTATION_INTERVAL,
    ) -> SecurityTokenService:
        """Build the STS from ``service``'s components and plug it into them (the
        data-plane Bearer seam and the directory's revocation hooks). The first start
        creates the first signing key. ``algorithm`` defaults to the setting
        ``signing_algorithm`` when the settings have one, else ES256 (AS-FMT-001)."""
        settings = service.settings
        clock = service.clock
        database = service.database
        issuer = service.issuer
        chosen = algorithm or getattr(settings, "signing_algorithm", None) or "ES256"
        if chosen not in SIGNING_ALGORITHMS:
            raise ValueError(f"the signing algorithm is one of {SIGNING_ALGORITHMS}")
        key_store = StoredKeyStore(database, clock)
        keys = SigningKeys(
            key_store,
            service.envelope,
            clock,
            algorithm=cast(SigningAlgorithm, chosen),
            max_token_lifetime=settings.access_token_ttl,
            leeway=RELYING_PARTY_LEEWAY,
            reload_interval=KEY_RELOAD_INTERVAL,
        )
        registry = StoredTokenRegistry(database, clock)
        policies = ExchangePolicyRepository(database, clock, issuer=issuer)
        assertions = ClientAssertionJtiRepository(database, clock)
        tokens = AccessTokens(
            keys,
            registry,
            issuer,
            clock,
            max_lifetime=settings.access_token_ttl,
            leeway=settings.leeway,
        )
        workloads = DirectoryWorkloads(service.directory)
        clients = ClientAuthenticator(
            workloads, service.hasher, assertions, issuer, clock, leeway=settings.leeway
        )
        subjects = RegistrySubjects(service.authorizers)

        def own_token_revoked(identity: Identity) -> bool:
            """AS-CASC-002: an inbound authorizer configured for this service's own issuer
            sees a revocation (of the token or any ancestor) at once."""
            jti = identity.claims.get("jti")
            if identity.issuer != issuer or not isinstance(jti, str):
                return False
            return revoked_ancestor(registry, jti) is not None

        service.authorizers.revocation_check = own_token_revoked
        grants: list[Grant] = [
            ClientCredentialsGrant(tokens, policies, clock),
            TokenExchangeGrant(tokens, policies, workloads, subjects, clock),
        ]
        token_endpoint = TokenEndpoint(clients, grants)
        introspection = IntrospectionEndpoint(clients, tokens)
        revocation = RevocationEndpoint(clients, tokens, clock)
        oauth_routes = OAuthRoutes(
            database=database,
            audit=service.audit,
            registry=registry,
            token=workloads.scoped(token_endpoint.handle),
            introspect=workloads.scoped(introspection.handle),
            revoke=workloads.scoped(revocation.handle),
            keys=keys,
            jwks_max_age=keys.max_age - KEY_RELOAD_INTERVAL,
            metadata=authorization_server_metadata(issuer, token_endpoint.grant_types),
            core_threads=getattr(settings, "oauth_threads", 4),
        )
        policy_routes = ExchangePolicyRoutes(
            admin=service.admin,
            recorder=service.recorder,
            policies=policies,
            allow_loopback_http=settings.allow_loopback_http,
        )
        sts = cls(
            database=database,
            clock=clock,
            issuer=issuer,
            audit=service.audit,
            keys=keys,
            key_store=key_store,
            registry=registry,
            policies=policies,
            assertions=assertions,
            tokens=tokens,
            clients=clients,
            token_endpoint=token_endpoint,
            introspection=introspection,
            revocation=revocation,
            oauth_routes=oauth_routes,
            policy_routes=policy_routes,
            rotation_interval=rotation_interval,
        )
        sts.maintain()
        service.workload_auth.bearer = sts.bearer
        service.directory.revocation_hooks.append(sts.revoke_workload_tokens)
        return sts

    def routes(self) -> list[BaseRoute]:
        """``/oauth2/token|introspect|revoke|jwks``, the RFC 8414 metadata and
        ``/v1/exchange-policies``."""
        return [*self.oauth_routes.routes(), *self.policy_routes.routes()]

    # -- seams ------------------------------------------------------------------------------

    def revoke_workload_tokens(self, record: WorkloadRecord, tx: Transaction) -> None:
        """The directory's revocation hook (WID-STATE-001/002): every token issued to the
        workload, and every token derived from them, revoked in ``tx``."""
        with self.registry.bound(tx):
            revoke_issued_to(self.registry, record.client_id, int(self.clock.now()))

    # -- maintenance --------------------------------------------------------------------------

    def maintain(self, now: float | None = None) -> Maintenance:
        """Keys and housekeeping; safe to call on every node at any time (see the module
        docstring). ``now`` (default: the clock) decides whether rotation is due; the key
        ring itself reads the service clock."""
        now = self.clock.now() if now is None else now
        created: str | None = None
        with self.database.transaction() as tx, self.key_store.bound(tx):
            lock_key_maintenance(tx)
            before = {record.kid for record in self.key_store.list_keys()}
            current = self.keys.bootstrap()
            if current.kid not in before:
                created = current.kid  # the first key: a creation, not a rotation
            elif now >= current.activates_at + self.rotation_interval - self.keys.publish_ahead:
                published = self.keys.rotate()
                if published.kid not in before:
                    created = published.kid
                    self.audit.append(_rotation_event(), tx=tx)
            pruned = tuple(self.keys.prune())
        purged_tokens = self.registry.purge_expired(math.floor(now))
        purged_assertions = self.assertions.purge_expired()
        if created or pruned:
            log.info(
                "signing keys maintained",
                extra={"fields": {"created": created, "pruned": len(pruned)}},
            )
        return Maintenance(created, pruned, purged_tokens, purged_assertions)


def _rotation_event() -> dict[str, Any]:
    return {
        "request_id": "maint_" + secrets.token_hex(8),
        "operation": "signing_key.rotate",
        "workload": None,
        "user": None,
        "actor_chain": [],
        "provider": None,
        "scopes": [],
        "decision": "allow",
        "reason": "ok",
    }
