"""``proctor chain``: run on the embedded reference, against a target, random chains,
exit codes. The sub-command is invoked through its own Typer app."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import yaml
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner
from werkzeug import Request, Response

from proctor.cli.chain import app
from proctor.conformance.chains import load_chain
from tests.conformance.chains.conftest import EXAMPLES

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


# -- the embedded reference -----------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_runs_on_the_embedded_reference(path: Path) -> None:
    result = invoke("run", str(path))
    assert result.exit_code == 0, result.output
    assert "OK: " in result.stdout
    assert "every invariant holds" in result.stdout


def test_the_sarah_chain_as_mermaid_dot_and_json() -> None:
    sarah = str(EXAMPLES / "sarah-brief.yaml")
    mermaid = invoke("run", sarah, "--format", "mermaid")
    assert mermaid.exit_code == 0
    assert mermaid.stdout.startswith("sequenceDiagram\n")
    assert "STS-->>A2: T2, act: sub-agent ← orchestrator, scope: crm.read" in mermaid.stdout
    dot = invoke("run", sarah, "--format", "dot")
    assert dot.exit_code == 0
    assert dot.stdout.startswith('digraph "sarah-brief" {')
    document = json.loads(invoke("run", sarah, "--format", "json").stdout)
    assert document["ok"] is True
    last = document["hops"][-1]["issued"]["claims"]
    assert last["scope"] == "crm.read"
    assert last["aud"] == "https://crm.example/mcp"
    assert last["iss"] == "https://proctor.embedded.test"


def test_a_wrong_expectation_exits_1_and_names_it(tmp_path: Path) -> None:
    data = yaml.safe_load((EXAMPLES / "sarah-brief.yaml").read_text(encoding="utf-8"))
    data["hops"][1]["expect"] = {"error": "invalid_request", "cause": "may_act_mismatch"}
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = invoke("run", str(path))
    assert result.exit_code == 1
    assert "sarah-brief: broken: hop 2: expected_outcome" in result.stderr
    assert "FAILED: 1 broken (expected_outcome)" in result.stdout


# -- random chains --------------------------------------------------------------------------


def test_random_is_reproducible_by_seed(tmp_path: Path) -> None:
    args = ("random", "--depth", "3", "--seed", "42", "--count", "4", "--dry-run")
    first, again = invoke(*args), invoke(*args)
    other = invoke("random", "--depth", "3", "--seed", "43", "--count", "4", "--dry-run")
    assert first.exit_code == again.exit_code == other.exit_code == 0
    assert first.stdout == again.stdout
    assert first.stdout != other.stdout
    assert first.stdout.count("name: random-42-") == 4
    saved = invoke(*args, "--save", str(tmp_path))
    assert saved.exit_code == 0
    files = sorted(tmp_path.glob("*.yaml"))
    assert [f.name for f in files] == [f"random-42-{n}.yaml" for n in range(1, 5)]
    for file in files:
        assert len(load_chain(file).hops) <= 3


def test_random_chains_run_on_the_embedded_reference() -> None:
    result = invoke("random", "--depth", "3", "--seed", "7", "--count", "5", "--format", "json")
    assert result.exit_code == 0, result.output
    documents = json.loads(result.stdout)
    assert [d["chain"] for d in documents] == [f"random-7-{n}" for n in range(1, 6)]
    assert all(d["ok"] for d in documents)
    again = json.loads(
        invoke("random", "--depth", "3", "--seed", "7", "--count", "5", "--format", "json").stdout
    )
    # the same chains end the same way (tokens and client_ids differ from run to run)
    assert [[h["outcome"] for h in d["hops"]] for d in again] == [
        [h["outcome"] for h in d["hops"]] for d in documents
    ]


# -- usage errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "missing.yaml"), "cannot read chain file"),
        (("run", str(EXAMPLES / "sarah-brief.yaml"), "--format", "svg"), "--format"),
        (
            ("run", str(EXAMPLES / "sarah-brief.yaml"), "--client-id", "orchestrator"),
            "NAME=VALUE",
        ),
        (("run", str(EXAMPLES / "sarah-brief.yaml"), "--client-id", "nobody=x"), "no agent"),
        (
            ("run", str(EXAMPLES / "sarah-brief.yaml"), "--client-id", "orchestrator=x"),
            "need --target",
        ),
        (("random", "--depth", "0", "--seed", "1"), "--depth"),
        (("random", "--depth", "2", "--seed", "1", "--count", "0"), "--count"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.stderr


# -- an external target ---------------------------------------------------------------------


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any]) -> str:
    return f"{_b64({'alg': 'ES256', 'typ': 'at+jwt'})}.{_b64(claims)}.c2ln"


class WideningSts:
    """A token endpoint that grants more scope than the subject holds."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.secrets_seen: list[str] = []

    def handle(self, request: Request) -> Response:
        form = dict(parse_qsl(request.get_data(as_text=True)))
        auth = request.headers.get("Authorization", "")
        client_id, _, secret = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        self.secrets_seen.append(secret)
        if form.get("grant_type") == "client_credentials":
            claims = {
                "iss": self.issuer,
                "sub": client_id,
                "aud": self.issuer,
                "exp": 2_000_000_000,
            }
        else:
            claims = {
                "iss": self.issuer,
                "sub": "sarah",
                "aud": form.get("audience"),
                "scope": "crm.read crm.write",
                "act": {"sub": client_id},
                "exp": 1_900_000_000,
            }
        body = {"access_token": unsigned(claims), "token_type": "Bearer"}
        return Response(json.dumps(body), content_type="application/json")


@pytest.mark.network
def test_a_target_that_widens_scope_exits_1_naming_the_invariant(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = httpserver.url_for("").rstrip("/")
    sts = WideningSts(issuer)
    httpserver.expect_request("/.well-known/oauth-authorization-server").respond_with_json(
        {"issuer": issuer, "token_endpoint": f"{issuer}/token"}
    )
    httpserver.expect_request("/token", method="POST").respond_with_handler(sts.handle)
    user = unsigned(
        {"iss": "https://idp.example", "sub": "sarah", "scp": ["crm.read"], "exp": 1_900_000_000}
    )
    monkeypatch.setenv("CHAIN_USER_TOKEN", user)
    chain = {
        "name": "widening",
        "user": {"token": {"source": "literal", "token": "${CHAIN_USER_TOKEN}"}},
        "agents": {"orchestrator": {}},
        "hops": [{"agent": "orchestrator", "audience": ["api://crm"], "scope": "crm.read"}],
    }
    path = tmp_path / "widening.yaml"
    path.write_text(yaml.safe_dump(chain), encoding="utf-8")
    secret = "orchestrator-secret-value"
    result = invoke(
        "run",
        str(path),
        "--target",
        issuer,
        "--client-id",
        "orchestrator=orch-client",
        "--client-secret",
        f"orchestrator={secret}",
    )
    assert result.exit_code == 1, result.output
    assert "widening: broken: hop 1: scope_narrowing [TX-SCOPE-001]" in result.stderr
    assert sts.secrets_seen == [secret, secret]
    assert secret not in result.output
    assert user not in result.output


@pytest.mark.network
def test_an_unreachable_target_exits_3(tmp_path: Path) -> None:
    chain = {
        "name": "nowhere",
        "user": {"token": {"source": "literal", "token": "opaque-user-token"}},
        "agents": {"orchestrator": {"client_id": "c", "client_secret": "s"}},
        "hops": [{"agent": "orchestrator", "audience": ["api://crm"]}],
    }
    path = tmp_path / "nowhere.yaml"
    path.write_text(yaml.safe_dump(chain), encoding="utf-8")
    result = invoke("run", str(path), "--target", "http://127.0.0.1:9")
    assert result.exit_code == 3
    assert "ConnectError" in result.stderr
