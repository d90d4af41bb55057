"""``proctor demo --headless`` end to end on loopback, with every company IdP.

The story must reach its last line with the counted prompts (three consents in run 1, none
in run 2), and no secret may reach the output: neither a value the demo handled (the
generated admin credential, the workloads' and providers' client secrets, the IdP,
workload and resource tokens, session URIs) nor anything shaped like one.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from proctor.cli import scenario
from proctor.cli.demo import EXIT_FAILED, EXIT_OK, EXIT_USAGE, run
from proctor.cli.scenario import IDPS, TOOLS, Narrator, fingerprint
from proctor.mock_idps import vendors

pytestmark = pytest.mark.network

LAST_LINE = "consent prompts: run1=3 run2=0"
STEPS = (
    "Step 1. Sarah signs in to the company app",
    "Step 2. The orchestrator asks the authorizer about Sarah's token",
    "Step 3. The orchestrator obtains a workload access token for (orchestrator, Sarah)",
    "Step 4. The orchestrator asks the vault for CRM notes.read, finance spend.read, "
    "documents.write",
    "Step 5. The orchestrator calls the three tools and writes the brief",
    "Step 6. Run 2: Sarah asks for the same brief again",
    "Step 7. Wednesday 8 PM: the scheduled report runs without a user",
    "Step 8. The audit trail",
)
#: Prefixes and shapes of every credential the scenario meets: the admin credential,
#: workload secrets, workload access tokens, JWTs (IdP and finance tokens), the tools'
#: opaque access and refresh tokens, session URIs.
SHAPES = (
    "padm_",
    "pcs_",
    "wat_",
    "eyJ",
    "crm_at_",
    "fin_at_",
    "doc_at_",
    "_rt_",
    "urn:ietf:params:oauth:request_uri:",
)


def static_secrets() -> set[str]:
    """The client secrets of the tools' and the IdPs' default configurations."""
    found = set()
    for name in (*IDPS, *(tool.name for tool in TOOLS)):
        for client in vendors.profile(name).default_config().clients:
            if client.client_secret:
                found.add(client.client_secret)
    return found


def assert_no_secret(output: str, secrets: Iterable[str]) -> None:
    for shape in SHAPES:
        assert shape not in output, f"something shaped like a credential ({shape}…) was printed"
    for secret in secrets:
        assert secret not in output, (
            f"a secret was printed (its fingerprint: {fingerprint(secret)})"
        )


def console(buffer: io.StringIO) -> Console:
    return Console(file=buffer, width=120, no_color=True, highlight=False)


@pytest.mark.parametrize("idp", IDPS)
def test_headless_demo_tells_the_whole_story(idp: str, capsys: pytest.CaptureFixture[str]) -> None:
    buffer = io.StringIO()
    narrator = Narrator(console(buffer))
    code = run(idp, mode="headless", console=narrator.console, narrator=narrator)
    output = buffer.getvalue()
    assert code == EXIT_OK, capsys.readouterr().err
    positions = [output.find(step) for step in STEPS]
    assert -1 not in positions, [s for s, p in zip(STEPS, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    assert output.rstrip("\n").splitlines()[-1] == LAST_LINE
    # The count comes from the audit log; the metric is an independent second count.
    assert "(metric total 3)" in output
    assert re.search(r"← valid: \d+ events, chain intact", output)
    # Run 2 reused every token without asking (no consent URL after step 6).
    run2 = output[output.find(STEPS[5]) : output.find(STEPS[6])]
    assert run2.count("no consent asked") == 3
    assert "consent needed" not in run2

    handled = narrator.secrets
    for prefix in ("padm_", "pcs_", "wat_", "urn:ietf:params:oauth:request_uri:"):
        assert any(s.startswith(prefix) for s in handled), f"no {prefix}… value was handled"
    assert_no_secret(output, handled | static_secrets())
    # Secrets appear only as fingerprints.
    assert fingerprint(next(s for s in handled if s.startswith("padm_"))) in output
    assert capsys.readouterr().err == ""


def test_a_failed_step_exits_non_zero_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An authorizer whose claim rule Sarah does not meet: the demo stops at step 2."""
    planned = scenario.idp_plan

    def finance_only(*args: Any, **kwargs: Any) -> scenario.IdpPlan:
        return dataclasses.replace(planned(*args, **kwargs), group_value="finance")

    monkeypatch.setattr(scenario, "idp_plan", finance_only)
    buffer = io.StringIO()
    code = run("okta", mode="headless", console=console(buffer))
    err = capsys.readouterr().err
    assert code == EXIT_FAILED
    assert err.startswith("proctor demo: failed: the authorizer denied Sarah's token")
    assert "claim_rule_failed:groups" in err
    assert "Step 3." not in buffer.getvalue()
    assert LAST_LINE not in buffer.getvalue()


def test_an_unknown_idp_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("ping", mode="headless", console=console(io.StringIO())) == EXIT_USAGE
    assert "--idp must be one of okta, entra, cognito" in capsys.readouterr().err


def test_the_command_in_a_subprocess() -> None:
    """The typer command as a person runs it (``python -m proctor.cli.demo``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCTOR_")}
    done = subprocess.run(
        [sys.executable, "-m", "proctor.cli.demo", "--headless", "--idp", "okta"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip("\n").splitlines()[-1] == LAST_LINE
    assert all(step in done.stdout for step in STEPS)
    assert_no_secret(done.stdout + done.stderr, static_secrets())


def test_keep_running_leaves_the_servers_up_until_interrupted() -> None:
    """``--keep-running``: the story ends, the servers stay up with the admin credential
    in a 0600 file (never printed), and Ctrl-C stops everything with exit 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCTOR_")}
    env["PYTHONUNBUFFERED"] = "1"
    with subprocess.Popen(
        [sys.executable, "-m", "proctor.cli.demo", "--keep-running"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as process:
        try:
            assert process.stdout is not None
            lines = []
            for line in process.stdout:
                lines.append(line)
                if line.startswith("consent prompts:"):
                    break
            output = "".join(lines)
            assert lines[-1].strip() == LAST_LINE, output
            reference = re.search(r"reference service\s+(http://\S+)", output)
            token_file = re.search(r"admin credential\s+in (\S+) \(mode 0600\)", output)
            assert reference is not None
            assert token_file is not None
            path = Path(token_file.group(1))
            assert path.stat().st_mode & 0o077 == 0
            admin = path.read_text().strip()
            assert admin not in output
            consents = httpx.get(
                reference.group(1) + "/v1/consents",
                params={"workload": "orchestrator"},
                headers={"Authorization": f"Bearer {admin}"},
            )
            assert consents.status_code == 200
            providers = sorted(c["provider"] for c in consents.json()["items"])
            assert providers == ["crm", "documents", "finance"]
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0
            assert not path.exists()  # the temporary data directory is gone
        finally:
            if process.poll() is None:
                process.kill()
