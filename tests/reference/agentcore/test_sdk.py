"""The unmodified ``bedrock-agentcore`` SDK against proctor, configured by environment
variables alone: the local-development bootstrap (``.agentcore.json``),
``@requires_access_token`` with M2M, USER_FEDERATION and ON_BEHALF_OF_TOKEN_EXCHANGE,
``@requires_api_key``, ``IdentityClient``; and the example agent of ``docs/agentcore.md``
run as a separate process with the SDK's own endpoint variables."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from proctor.mock_idps.pytest_plugin import MockIdp
from proctor.reference.clock import ManualClock
from proctor.reference.service import Service

from .conftest import (
    ADMIN_KEY,
    ADMIN_SECRET,
    APP,
    REGION,
    RETURN_URL,
    SARAH,
    Clients,
    LiveServer,
    client,
    make_service,
)
from .test_vault import consent_in_browser, crm
from .test_workload_tokens import setup_authorizer

pytestmark = [
    pytest.mark.network,
    # the SDK's RequestContext model still uses a class-based pydantic config (third party)
    pytest.mark.filterwarnings("ignore:Support for class-based `config` is deprecated"),
]

DOCS = Path(__file__).resolve().parents[3] / "docs" / "agentcore.md"


def point_sdk_at(monkeypatch: pytest.MonkeyPatch, endpoint: str, cwd: Path) -> None:
    """What a developer sets: endpoints (botocore's service-specific variables), static
    credentials, a region; and a working directory for ``.agentcore.json``."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ADMIN_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.chdir(cwd)


def test_decorators_with_the_local_bootstrap(
    aws: Clients,
    okta: MockIdp,
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from bedrock_agentcore.identity.auth import requires_access_token, requires_api_key
    from bedrock_agentcore.services import identity
    from bedrock_agentcore.services.identity import IdentityClient, UserIdIdentifier

    crm(aws, okta)
    workdir = tmp_path / "agent"
    workdir.mkdir()
    point_sdk_at(monkeypatch, aws.endpoint, workdir)

    # M2M: the first call creates a workload identity and a user id, and writes them down
    @requires_access_token(provider_name="crm", scopes=["notes.read"], auth_flow="M2M")
    def read_notes(*, access_token: str) -> str:
        return access_token

    assert read_notes()
    local = json.loads((workdir / ".agentcore.json").read_text())
    name, user_id = local["workload_identity_name"], local["user_id"]
    assert re.fullmatch(r"workload-[0-9a-f]{8}", name)
    assert aws.cp.get_workload_identity(name=name)["name"] == name
    # a second run reuses the same identity
    assert read_notes()
    assert json.loads((workdir / ".agentcore.json").read_text())["workload_identity_name"] == name
    assert [w["name"] for w in aws.cp.list_workload_identities()["workloadIdentities"]] == [name]

    # API key, allowed for the bootstrapped workload by tag
    aws.cp.create_api_key_credential_provider(
        name="openai", apiKey="sk-test-1", tags={"proctor:allowed-workloads": name}
    )

    @requires_api_key(provider_name="openai")
    def call_llm(*, api_key: str) -> str:
        return api_key

    assert call_llm() == "sk-test-1"

    # USER_FEDERATION: the return URL registered as the starter toolkit does, the consent
    # given in the browser, the session completed for the same user id, polling until the
    # token (the SDK's 5-second poll interval shortened)
    identity_client = IdentityClient(REGION)
    identity_client.update_workload_identity(name, [RETURN_URL])
    monkeypatch.setattr(identity, "DEFAULT_POLLING_INTERVAL_SECONDS", 0)
    seen: list[str] = []

    def on_auth_url(url: str) -> None:
        seen.append(url)
        session_id = consent_in_browser(aws.endpoint, okta, url)
        identity_client.complete_resource_token_auth(session_id, UserIdIdentifier(user_id=user_id))

    @requires_access_token(
        provider_name="crm",
        scopes=["notes.read"],
        auth_flow="USER_FEDERATION",
        callback_url=RETURN_URL,
        on_auth_url=on_auth_url,
    )
    def read_my_notes(*, access_token: str) -> str:
        return access_token

    assert read_my_notes()
    assert len(seen) == 1
    # the consent persists: no second authorization URL
    assert read_my_notes()
    assert len(seen) == 1


def test_on_behalf_of_with_identity_client(
    aws: Clients, okta: MockIdp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bedrock_agentcore.identity.auth import requires_access_token
    from bedrock_agentcore.runtime import BedrockAgentCoreContext
    from bedrock_agentcore.services.identity import IdentityClient

    crm(aws, okta, onBehalfOfTokenExchangeConfig={"grantType": "TOKEN_EXCHANGE"})
    aws.cp.create_workload_identity(name="worker")
    setup_authorizer(aws.endpoint, okta)
    point_sdk_at(monkeypatch, aws.endpoint, tmp_path)
    user_token = okta.mint(user=SARAH, client_id=APP, server="default")
    wat = IdentityClient(REGION).get_workload_access_token("worker", user_token=user_token)[
        "workloadAccessToken"
    ]
    # as in a runtime: the workload access token arrives with the request
    BedrockAgentCoreContext.set_workload_access_token(wat)

    @requires_access_token(
        provider_name="crm",
        scopes=["notes.read"],
        audiences=["api://crm"],
        auth_flow="ON_BEHALF_OF_TOKEN_EXCHANGE",
    )
    def as_sarah(*, access_token: str) -> str:
        return access_token

    assert as_sarah()
    assert not (tmp_path / ".agentcore.json").exists()  # no local bootstrap was needed


def example_agent() -> str:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(r"<!-- example-agent -->\s*```python\n(.*?)```", text, re.S)
    assert match is not None, "docs/agentcore.md has no example agent"
    return match.group(1)


def test_example_agent_from_the_docs(
    tmp_path: Path, okta: MockIdp, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, http = make_service(
        tmp_path, clock, okta, agentcore_credentials=None, agentcore_dev_mode=True
    )
    try:
        with LiveServer(service.asgi_app()) as url:
            aws = Clients(url, client("bedrock-agentcore-control", url), None, None, None)
            crm(aws, okta)
            aws.cp.create_api_key_credential_provider(name="openai", apiKey="sk-docs-1")
            script = tmp_path / "agent.py"
            script.write_text(example_agent(), encoding="utf-8")
            env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BEDROCK_"))}
            env.update(
                {
                    "BEDROCK_AGENTCORE_DP_ENDPOINT": url,
                    "BEDROCK_AGENTCORE_CP_ENDPOINT": url,
                    "AWS_ACCESS_KEY_ID": "dummy",
                    "AWS_SECRET_ACCESS_KEY": "dummy",
                    "AWS_REGION": "us-east-1",
                    "AWS_CONFIG_FILE": str(tmp_path / "none"),
                    "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                    "AWS_EC2_METADATA_DISABLED": "true",
                }
            )
            run = subprocess.run(  # noqa: S603 - the test's own interpreter and script
                [sys.executable, str(script)],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert run.returncode == 0, run.stderr
            assert "api key: 9 characters" in run.stdout
            assert "crm token: received" in run.stdout
            assert (tmp_path / ".agentcore.json").exists()
    finally:
        service.close()
        http.close()
