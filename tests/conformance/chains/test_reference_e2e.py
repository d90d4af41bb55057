"""End to end: the chains run against the assembled reference service
(``Service.create(...).asgi_app()``) and the mock Okta (the ``okta_idp`` fixture), both in
process, provisioned over the control plane with ``proctor.cli.embedded``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proctor.cli.chain import provision_chain
from proctor.cli.embedded import (
    ControlPlaneClient,
    ProvisionedWorkload,
    ProvisioningError,
    WorkloadSpec,
    provision,
)
from proctor.conformance.chains import ChainRunner, load_chain
from proctor.conformance.chains.strategies import random_chains
from proctor.conformance.transport import ASGIBridge
from proctor.mock_idps.pytest_plugin import MockIdp
from proctor.reference.service import Service
from proctor.reference.settings import Settings
from tests.conformance.chains.conftest import EXAMPLES

ISSUER = "https://proctor.e2e.test"
ADMIN = "padm_" + "e2e-admin-credential-" * 3


@pytest.fixture
def reference(tmp_path: Path, okta_idp: MockIdp) -> Iterator[httpx.Client]:
    idp_http = httpx.Client(transport=okta_idp.sync_transport())
    settings = Settings(
        issuer=ISSUER, data_dir=tmp_path, admin_token=ADMIN, allow_loopback_http=False
    )
    service = Service.create(settings, http_client=idp_http, env={})
    bridge = ASGIBridge(service.asgi_app())
    client = httpx.Client(
        transport=bridge, mounts={f"{okta_idp.base_url}/": okta_idp.sync_transport()}
    )
    try:
        yield client
    finally:
        client.close()
        service.close()
        idp_http.close()


def okta_authorizer(okta: MockIdp) -> dict[str, object]:
    return {
        "name": "company-okta",
        "discovery_url": okta.discovery_url(),
        "idp_profile": "okta",
        "allowed_audiences": ["api://default"],
    }


def test_every_example_ends_as_it_says_on_the_reference(
    reference: httpx.Client, okta_idp: MockIdp
) -> None:
    control = ControlPlaneClient(reference, ISSUER, ADMIN)
    provision(control, authorizers=[okta_authorizer(okta_idp)])
    workloads: dict[str, ProvisionedWorkload] = {}
    for path in sorted(EXAMPLES.glob("*.yaml")):
        chain = load_chain(path)
        credentials = provision_chain(control, chain, [okta_idp.issuer()], workloads)
        result = ChainRunner(
            chain,
            client=reference,
            issuer=ISSUER,
            credentials=credentials,
            idp_urls={"okta": okta_idp.base_url},
        ).run()
        assert result.ok, (path.name, [v.describe() for v in result.violations])
        assert result.token_endpoint == f"{ISSUER}/oauth2/token"
        for name, creds in credentials.items():
            workloads.setdefault(
                name, ProvisionedWorkload(name, creds.client_id, creds.client_secret or "")
            )
    sarah = load_chain(EXAMPLES / "sarah-brief.yaml")
    assert sarah.hops[-1].resource == ["https://crm.example/mcp"]


def test_random_chains_keep_their_predictions_on_the_reference(
    reference: httpx.Client, okta_idp: MockIdp
) -> None:
    """Seeded chains re-use agent names, so policies are replaced between chains."""
    control = ControlPlaneClient(reference, ISSUER, ADMIN)
    provision(control, authorizers=[okta_authorizer(okta_idp)])
    workloads: dict[str, ProvisionedWorkload] = {}
    outcomes: set[str] = set()
    for chain in random_chains(2026, 12, max_hops=4):
        credentials = provision_chain(control, chain, [okta_idp.issuer()], workloads)
        for name, creds in credentials.items():
            workloads.setdefault(
                name, ProvisionedWorkload(name, creds.client_id, creds.client_secret or "")
            )
        result = ChainRunner(
            chain,
            client=reference,
            issuer=ISSUER,
            credentials=credentials,
            idp_urls={"okta": okta_idp.base_url},
        ).run()
        assert result.ok, (chain.name, [v.describe() for v in result.violations])
        outcomes.update(hop.outcome for hop in result.hops)
    assert "success" in outcomes
    assert outcomes - {"success"}, "some generated hop should have been refused"


def test_provisioning_refusals_are_reported(reference: httpx.Client) -> None:
    control = ControlPlaneClient(reference, ISSUER, ADMIN)
    with pytest.raises(ProvisioningError, match="HTTP 400"):
        provision(
            control,
            workloads=[WorkloadSpec("orchestrator")],
            policies=[{"name": "bad", "client": "orchestrator", "subject_issuers": []}],
        )
    wrong = ControlPlaneClient(reference, ISSUER, "padm_" + "x" * 40)
    with pytest.raises(ProvisioningError, match="HTTP 401"):
        provision(wrong, workloads=[WorkloadSpec("someone")])
