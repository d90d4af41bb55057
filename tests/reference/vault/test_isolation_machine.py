"""A state machine over users, workloads, providers, consents, expiries, refreshes and
revocations (VLT-PART-001, VLT-CLI-004, CNS-REC-003, VLT-REF-001/003, CNS-REV-003).

The vault core runs against scripted authorization servers that remember, for every token
they issue, which (workload, user, provider) the authorization was for. After every
request the machine checks:

- **isolation**: a token returned to workload X for user A and provider P was issued for
  exactly (X, A, P): A never gets B's tokens, X never Y's, P never Q's;
- **scopes**: the returned scopes include the requested ones and never exceed what the
  user granted in the last completed authorization for that triple;
- **consent**: no token is returned while no live consent exists for the triple.

Moderate sizes (CI runs it derandomised).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from proctor.reference.audit import AuditLog
from proctor.reference.audit_trail import Trail
from proctor.reference.clock import ManualClock
from proctor.reference.consent import Consents, UpstreamRevoker
from proctor.reference.credentials import CredentialHasher
from proctor.reference.directory import Directory, WorkloadSpec
from proctor.reference.encryption import Envelope, LocalKeyProvider
from proctor.reference.errors import NotFound, SessionUserMismatch
from proctor.reference.metrics import Metrics
from proctor.reference.oauth_client import OAuthClient
from proctor.reference.providers import OAuth2ProviderSpec, ProviderRegistry
from proctor.reference.sealing import Sealer
from proctor.reference.sessions import Sessions, Started
from proctor.reference.storage import Database, open_database
from proctor.reference.storage import testing as storage_testing
from proctor.reference.storage.consents import ConsentRepository
from proctor.reference.storage.providers import ProviderRepository
from proctor.reference.storage.sessions import SessionRepository
from proctor.reference.storage.vault import (
    BoundUserTokenRepository,
    EntryKey,
    EntryRepository,
    TokenCacheRepository,
)
from proctor.reference.storage.workload_tokens import WorkloadTokenRepository
from proctor.reference.storage.workloads import WorkloadRepository
from proctor.reference.vault import ResourceTokenRequest, TokenResult, Vault
from proctor.reference.workload_tokens import Binding, UserBinding
from tests.reference.conftest import postgres_server_url

CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
START = 1_800_000_000
ISSUER = "https://idp.test"
WORKLOADS = ("work-x", "work-y")
USERS = ("alice", "bob")
PROVIDERS = ("prov-p", "prov-q")
SCOPES = ("s1", "s2", "s3")
RETURN_URL = "https://app.test/return"
LIFETIME = 600


@dataclass
class Issued:
    origin: tuple[str, str, str]
    scopes: tuple[str, ...]


@dataclass
class ScriptedServer:
    """An authorization server that remembers whom each token was issued for."""

    name: str
    codes: dict[str, tuple[Issued, str]] = field(default_factory=dict)
    tokens: dict[str, Issued] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    serial: int = 0

    def code_for(
        self, origin: tuple[str, str, str], scopes: tuple[str, ...], challenge: str
    ) -> str:
        self.serial += 1
        code = f"code-{self.name}-{self.serial}"
        self.codes[code] = (Issued(origin, scopes), challenge)
        return code

    def _issue(self, issued: Issued) -> httpx.Response:
        self.serial += 1
        access, refresh = f"at-{self.name}-{self.serial}", f"rt-{self.name}-{self.serial}"
        self.tokens[access] = self.tokens[refresh] = issued
        return httpx.Response(
            200,
            json={
                "access_token": access,
                "refresh_token": refresh,
                "token_type": "Bearer",
                "expires_in": LIFETIME,
                "scope": " ".join(issued.scopes),
            },
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if request.url.path == "/revoke":
            self.revoked.add(form.get("token", ""))
            return httpx.Response(200)
        grant = form.get("grant_type")
        if grant == "authorization_code":
            found = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            if found is None or found[1] != base64.urlsafe_b64encode(digest).rstrip(b"=").decode():
                return httpx.Response(400, json={"error": "invalid_grant"})
            return self._issue(found[0])
        if grant == "refresh_token":
            token = form.get("refresh_token", "")
            issued = self.tokens.get(token)
            if issued is None or token in self.revoked:
                return httpx.Response(400, json={"error": "invalid_grant"})
            self.revoked.add(token)  # rotation: the old refresh token is spent
            return self._issue(issued)
        return httpx.Response(400, json={"error": "unsupported_grant_type"})


class Router(httpx.BaseTransport):
    def __init__(self, servers: dict[str, ScriptedServer]) -> None:
        self.servers = servers

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host.split(".")[0]
        return self.servers[host].handle(request)


@dataclass
class Model:
    """What the users granted, as the machine knows it."""

    granted: dict[tuple[str, str, str], frozenset[str]] = field(default_factory=dict)


class VaultMachine(RuleBasedStateMachine):
    database_url: Any = None  # a callable returning (url, cleanup) set by the test

    def __init__(self) -> None:
        super().__init__()
        self.stack = ExitStack()
        self.url = self.stack.enter_context(type(self).database_url())
        self.database: Database = open_database(self.url)
        self.stack.callback(self.database.close)
        self.clock = ManualClock(START)
        self.servers = {p: ScriptedServer(p) for p in PROVIDERS}
        http = httpx.Client(transport=Router(self.servers))
        self.stack.callback(http.close)
        envelope = Envelope(LocalKeyProvider({"k1": os.urandom(32)}, "k1"))
        sealer = Sealer(envelope)
        self.audit = AuditLog(self.database, self.clock)
        directory = Directory(
            self.database,
            WorkloadRepository(self.database, self.clock),
            WorkloadTokenRepository(self.database, self.clock),
            CredentialHasher(os.urandom(32)),
            secret_key_id="pepper-1",
        )
        self.workloads = {}
        for name in WORKLOADS:
            record, _ = directory.create(WorkloadSpec(name=name, allowed_return_urls=[RETURN_URL]))
            self.workloads[name] = record
        oauth = OAuthClient(http, self.clock)
        providers = ProviderRegistry(
            self.database,
            ProviderRepository(self.database, self.clock),
            sealer,
            oauth,
            self.clock,
            directory,
        )
        for name in PROVIDERS:
            base = f"https://{name}.test"
            providers.create_oauth2(
                OAuth2ProviderSpec.model_validate(
                    {
                        "name": name,
                        "authorization_server_metadata": {
                            "issuer": base,
                            "authorization_endpoint": base + "/authorize",
                            "token_endpoint": base + "/token",
                            "revocation_endpoint": base + "/revoke",
                        },
                        "client_id": "proctor",
                        "client_secret": "secret-" + name,
                        "scopes": list(SCOPES),
                    }
                )
            )
        entries = EntryRepository(self.database, self.clock)
        session_repo = SessionRepository(self.database)
        revoker = UpstreamRevoker(self.database, providers, oauth)
        self.consents = Consents(
            self.database,
            ConsentRepository(self.database),
            entries,
            session_repo,
            sealer,
            revoker,
            self.clock,
            Metrics(),
        )
        self.sessions = Sessions(
            self.database,
            session_repo,
            entries,
            self.consents,
            providers,
            oauth,
            sealer,
            revoker,
            self.clock,
            callback_url="https://proctor.test/oauth2/callback",
        )
        self.vault = Vault(
            database=self.database,
            clock=self.clock,
            sealer=sealer,
            providers=providers,
            oauth=oauth,
            entries=entries,
            cache=TokenCacheRepository(self.database),
            bound_tokens=BoundUserTokenRepository(self.database),
            sessions=self.sessions,
            consents=self.consents,
            revoker=revoker,
        )
        self.model = Model()
        self.pending: dict[tuple[str, str, str], Started] = {}

    def teardown(self) -> None:
        self.stack.close()

    def trail(self) -> Trail:
        return Trail.internal(self.audit)

    def binding(self, workload: str, user: str) -> Binding:
        record = self.workloads[workload]
        return Binding(
            record.name, record.client_id, UserBinding(ISSUER, user, "key-" + user), START + 10**6
        )

    def origin(self, workload: str, user: str, provider: str) -> tuple[str, str, str]:
        return (self.workloads[workload].client_id, user, provider)

    @rule(
        workload=st.sampled_from(WORKLOADS),
        user=st.sampled_from(USERS),
        provider=st.sampled_from(PROVIDERS),
        scopes=st.lists(st.sampled_from(SCOPES), max_size=3, unique=True),
    )
    def request(self, workload: str, user: str, provider: str, scopes: list[str]) -> None:
        result = self.vault.resource_token(
            self.workloads[workload],
            self.binding(workload, user),
            "wat_unused",
            ResourceTokenRequest(provider=provider, flow="user_federation", scopes=tuple(scopes)),
            self.trail(),
        )
        key = (workload, user, provider)
        if isinstance(result, TokenResult):
            issued = self.servers[provider].tokens.get(result.access_token)
            assert issued is not None, "a token no provider issued"
            assert issued.origin == self.origin(workload, user, provider), "isolation broken"
            assert key in self.model.granted, "a token without a live consent"
            assert set(scopes) <= set(result.scopes) <= self.model.granted[key]
        else:
            assert isinstance(result, Started)
            self.pending[key] = result

    @precondition(lambda self: bool(self.model.granted))
    @rule(data=st.data())
    def request_where_granted(self, data: st.DataObject) -> None:
        """Aims requests at triples with a consent (reuse, refresh, fall-through)."""
        workload, user, provider = data.draw(st.sampled_from(sorted(self.model.granted)))
        scopes = data.draw(st.lists(st.sampled_from(SCOPES), max_size=3, unique=True))
        self.request(workload, user, provider, scopes)

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data())
    def authorize(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.pending)))
        started = self.pending.pop(key)
        workload, user, provider = key
        params = {k: v[0] for k, v in parse_qs(urlsplit(started.authorization_url).query).items()}
        requested = [s for s in params.get("scope", "").split() if s]
        granted = tuple(s for s in requested if data.draw(st.booleans(), label=f"user grants {s}"))
        code = self.servers[provider].code_for(
            self.origin(workload, user, provider), granted, params["code_challenge"]
        )
        outcome = self.sessions.callback({"state": params["state"], "code": code}, self.trail(), {})
        if outcome.status != 303 or outcome.cause != "ok":
            return  # expired, or ended by a revocation meanwhile
        impostor = data.draw(st.booleans(), label="completed by the other user")
        claimed = USERS[1 - USERS.index(user)] if impostor else user
        try:
            self.sessions.complete(
                client_id=self.workloads[workload].client_id,
                session_uri=started.session_uri,
                claimed=UserBinding(ISSUER, claimed, "key-" + claimed),
                via="user_token",
                trail=self.trail(),
            )
        except SessionUserMismatch:
            assert impostor
            return
        except NotFound:
            return
        assert not impostor, "another user completed the session"
        self.model.granted[key] = frozenset(granted)
        # Positive control: right after consenting, the granted scopes are served.
        asked = data.draw(
            st.lists(st.sampled_from(granted), unique=True) if granted else st.just([])
        )
        self.request(workload, user, provider, asked)
        assert key not in self.pending, "a fresh consent still prompted"

    @rule(seconds=st.sampled_from([0, 30, LIFETIME // 2, LIFETIME - 50, LIFETIME + 60]))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: bool(self.model.granted))
    @rule(data=st.data())
    def revoke_consent(self, data: st.DataObject) -> None:
        workload, user, provider = data.draw(st.sampled_from(sorted(self.model.granted)))
        key = self.vault_key(workload, user, provider)
        for consent in self.consents.repository.for_entry(key):
            self.consents.revoke(consent.id, self.trail())
        self.model.granted.pop((workload, user, provider), None)
        self.pending.pop((workload, user, provider), None)
        # Straight after a revocation the old token must not come back (CNS-REV-003).
        self.request(workload, user, provider, [])

    @rule(provider=st.sampled_from(PROVIDERS))
    def provider_revokes_refresh_tokens(self, provider: str) -> None:
        server = self.servers[provider]
        server.revoked |= {t for t in server.tokens if t.startswith("rt-")}

    def vault_key(self, workload: str, user: str, provider: str) -> EntryKey:
        return EntryKey(self.workloads[workload].client_id, ISSUER, "key-" + user, provider)


def _sqlite() -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="proctor-vault-machine-")
    try:
        yield f"sqlite:///{directory}/vault.db"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _run(factory: Any, examples: int) -> None:
    VaultMachine.database_url = staticmethod(contextmanager(factory))
    runner = VaultMachine.TestCase
    runner.settings = settings(
        max_examples=examples,
        stateful_step_count=40,
        deadline=None,
        derandomize=CI,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    runner().runTest()


def test_isolation_and_scopes_hold_under_any_sequence() -> None:
    """VLT-PART-001, VLT-CLI-004, CNS-REC-003 on SQLite."""
    _run(_sqlite, 20)


@pytest.mark.postgres
def test_isolation_and_scopes_hold_on_postgresql() -> None:
    """The same machine on PostgreSQL (fewer examples: a schema per example)."""
    url = postgres_server_url()

    def scratch() -> Iterator[str]:
        with storage_testing.scratch_postgres_url(url) as scoped:
            yield scoped

    _run(scratch, 6)
