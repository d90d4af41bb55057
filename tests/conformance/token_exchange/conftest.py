"""Running the token-exchange and authorization-server suites against the reference.

``proctor`` profile: the embedded target of ``proctor conform`` (the mock IdPs and the
reference service on loopback), which declares ``private_key_jwt`` among its capabilities.

``rfc8693`` profile: the same service treated as any RFC 8693 server: before the run the
test registers the clients and their exchange policies through the control plane, then
hands the kit a config with client credentials only (no admin token, no control plane).

Broken variants of the reference are made by monkeypatching it in this process (the
service runs in a thread of it), never by a switch in the reference.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey
from rich.console import Console

from proctor.cli import embedded_target as embedded
from proctor.cli.embedded_target import embedded_target
from proctor.conformance.config import TargetConfig, parse_config
from proctor.conformance.results import CheckResult, Outcome
from proctor.conformance.runner import RunOptions, RunOutcome, run
from proctor.conformance.target import TargetConnection
from proctor.reference.settings import Settings

SUITES = ("token_exchange", "authorization_server")
#: Few examples per property: the meta-tests check that checks catch, not the target.
MAX_EXAMPLES = 6
AUDIENCE = "urn:proctor:rfc8693:crm"
#: The mock Okta's demo client, the ``cid`` of the user tokens it mints.
OKTA_CLIENT = "0oaproctoragent0app7"


@dataclass
class Run:
    outcome: RunOutcome
    console: str

    def by_name(self) -> dict[str, CheckResult]:
        return {result.name: result for result in self.outcome.results}

    def outcomes(self) -> dict[str, Outcome]:
        return {result.name: result.outcome for result in self.outcome.results}

    def failed(self) -> set[str]:
        return {r.name for r in self.outcome.results if r.outcome is Outcome.FAILED}

    def errors(self) -> list[str]:
        return [f"{r.id}: {r.message}" for r in self.outcome.results if r.outcome is Outcome.ERROR]


#: SEC-DOS-002 limits of the reference, per minute: switched off for the meta-tests, which
#: make several thousand requests a minute from one address, as an operator raises them
#: for the kit's clients before a conformance run (docs/conformance/token-exchange.md).
RATE_LIMITS = (
    "rate_limit_failed_auth_per_client",
    "rate_limit_failed_auth_per_address",
    "rate_limit_requests_per_client",
)


@pytest.fixture(scope="session")
def reference() -> Iterator[TargetConnection]:
    """One embedded target (mock IdPs + reference on loopback) for every run here: each
    run provisions its own namespace, so runs do not see each other's objects."""
    known = {f.name for f in dataclasses.fields(Settings)}
    unlimited: dict[str, Any] = {name: 0 for name in RATE_LIMITS if name in known}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(embedded, "Settings", functools.partial(Settings, **unlimited))
        with embedded_target(None) as connection:
            yield connection


Factory = Callable[[TargetConfig], contextlib.AbstractContextManager[TargetConnection]]


def proctor_factory(connection: TargetConnection) -> Factory:
    """The embedded target as the ``proctor`` profile (it declares ``private_key_jwt``)."""
    assert connection.config is not None
    data = connection.config.revealed()
    assert "private_key_jwt" in data["capabilities"]
    declared = replace(connection, config=parse_config(data, interpolate=False))

    @contextlib.contextmanager
    def factory(config: TargetConfig) -> Iterator[TargetConnection]:
        yield declared

    return factory


class _Admin:
    """The test's own control-plane calls (the kit gets none of this under rfc8693)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"})

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(path, json=body)
        assert response.status_code == 201, response.text
        found: dict[str, Any] = response.json()
        return found


def rfc8693_factory(connection: TargetConnection, *, minted: bool = False) -> Factory:
    """The embedded reference seen as a plain RFC 8693 server: the test registers the
    clients and their policies (fresh names) and the kit gets client credentials only.

    Subject tokens are ``client_credentials`` tokens of a user-app client, or with
    ``minted`` tokens the kit mints at the mock Okta, which the orchestrator trusts."""
    assert connection.config is not None
    embedded = connection.config
    assert embedded.credentials.admin_token is not None
    admin = _Admin(connection.base_url, embedded.credentials.admin_token.get_secret_value())
    tag = secrets.token_hex(3)
    okta = embedded.mock_idps.issuers["okta"]
    try:
        authorizer = None
        if minted:
            authorizer = admin.post(
                "/v1/authorizers",
                {
                    "name": f"rfc-{tag}-okta",
                    "discovery_url": f"{okta}/.well-known/openid-configuration",
                    "idp_profile": "okta",
                    "allowed_audiences": ["api://default"],
                },
            )["name"]
        clients: dict[str, dict[str, Any]] = {}
        for role in ("user-app", "orchestrator", "subagent", "outsider", "third"):
            body = {"name": f"rfc-{tag}-{role}"}
            if role == "orchestrator" and authorizer is not None:
                body["authorizer"] = authorizer
            made = admin.post("/v1/workloads", body)
            clients[role] = {"client_id": made["client_id"], "client_secret": made["client_secret"]}
        key = ECKey.generate_key("P-256", private=True)
        public = {**key.as_dict(private=False), "kid": "rfc-key", "use": "sig"}
        pkj = admin.post(
            "/v1/workloads",
            {
                "name": f"rfc-{tag}-pkj",
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [public]},
            },
        )
        ids = {role: c["client_id"] for role, c in clients.items()}
        scopes = ["crm.read", "finance.read"]
        for role, audiences in (
            ("user-app", [ids["orchestrator"]]),
            ("orchestrator", [ids["subagent"], AUDIENCE]),
            ("subagent", [ids["third"], AUDIENCE]),
            ("third", [AUDIENCE]),
        ):
            admin.post(
                "/v1/exchange-policies",
                {
                    "name": f"rfc-{tag}-{role}",
                    "client": f"rfc-{tag}-{role}",
                    "subject_issuers": [okta, "self"] if role == "orchestrator" else ["self"],
                    "audiences": audiences,
                    "scopes": scopes,
                },
            )
    finally:
        admin.http.close()
    data = {
        "url": connection.base_url,
        "profile": "rfc8693",
        "capabilities": [
            "metadata",
            "jwks",
            "client_credentials",
            "token_exchange",
            "introspection",
            "revocation",
            "private_key_jwt",
        ],
        "credentials": {
            "clients": {
                **clients,
                "pkj": {
                    "client_id": pkj["client_id"],
                    "auth_method": "private_key_jwt",
                    "private_key": key.as_pem(private=True).decode(),
                    "key_id": "rfc-key",
                },
            }
        },
        "subject_token": {
            "source": "client_credentials",
            "client": "user-app",
            "scope": "crm.read finance.read",
        },
        "mock_idps": {"issuers": {"okta": okta}},
        "audiences": [AUDIENCE],
        "suite_options": {"token_exchange": {"subject_audience": ids["orchestrator"]}},
    }
    if minted:
        data["subject_token"] = {
            "source": "mock_idp",
            "idp": "okta",
            "client_id": OKTA_CLIENT,
            "scope": "crm.read finance.read",
        }
    plain = TargetConnection(
        base_url=connection.base_url,
        label=connection.label,
        config=parse_config(data, interpolate=False),
        embedded=True,
    )

    @contextlib.contextmanager
    def factory(config: TargetConfig) -> Iterator[TargetConnection]:
        yield plain

    return factory


RunSuites = Callable[..., Run]


@pytest.fixture
def run_suites(tmp_path: Path) -> RunSuites:
    counter = iter(range(100))

    def run_suites(
        factory: Factory,
        *,
        suites: Sequence[str] = SUITES,
        keyword: str | None = None,
        max_examples: int = MAX_EXAMPLES,
    ) -> Run:
        buffer = io.StringIO()
        outcome = run(
            RunOptions(
                suites=suites,
                keyword=keyword,
                max_examples=max_examples,
                report_dir=tmp_path / f"report-{next(counter)}",
            ),
            target_factory=factory,
            console=Console(file=buffer, width=200),
        )
        return Run(outcome, buffer.getvalue())

    return run_suites
