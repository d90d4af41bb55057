# ruff: noqa: E501 - golden renderings are compared line for line
"""Renderings: golden Mermaid and DOT for a fixed chain, and what text and JSON show."""

from __future__ import annotations

import json

import pytest

from proctor.conformance.chains.render import (
    render,
    render_dot,
    render_json,
    render_mermaid,
    render_text,
)
from tests.conformance.chains.fixed import sarah_result

MERMAID = """\
sequenceDiagram
    actor U as Sarah
    participant A1 as orchestrator
    participant A2 as sub-agent
    participant STS as token endpoint
    participant R1 as https://crm.example/mcp
    U->>A1: user token (crm.read finance.read docs.write)
    A1->>STS: hop 1: exchange user token with own actor token for sub-agent scope crm.read finance.read
    STS-->>A1: T1, act: orchestrator, scope: crm.read finance.read
    A1->>A2: T1
    A2->>STS: hop 2: exchange T1 with own actor token for https://crm.example/mcp scope crm.read
    STS-->>A2: T2, act: sub-agent ← orchestrator, scope: crm.read
    A2->>R1: T2
"""

DOT = """\
digraph "sarah-brief" {
    rankdir=LR;
    node [shape=box, fontname="Helvetica"];
    edge [fontname="Helvetica", fontsize=10];
    U [label="Sarah", shape=ellipse];
    A1 [label="orchestrator"];
    A2 [label="sub-agent"];
    R1 [label="https://crm.example/mcp", shape=component];
    U -> A1 [label="user token\\ncrm.read finance.read docs.write"];
    A1 -> A2 [label="hop 1: T1\\ncrm.read finance.read\\nact: orchestrator"];
    A2 -> R1 [label="hop 2: T2\\ncrm.read\\nact: sub-agent ← orchestrator"];
}
"""

MERMAID_BROKEN = """\
sequenceDiagram
    actor U as Sarah
    participant A1 as orchestrator
    participant A2 as sub-agent
    participant STS as token endpoint
    participant R1 as https://crm.example/mcp
    U->>A1: user token (crm.read finance.read docs.write)
    A1->>STS: hop 1: exchange user token with own actor token for sub-agent scope crm.read finance.read
    STS-->>A1: T1, act: orchestrator, scope: crm.read finance.read docs.write
    Note over STS,A1: ✗ scope_narrowing: granted 'docs.write' beyond ['crm.read', 'finance.read']
    A1->>A2: T1
    A2->>STS: hop 2: exchange T1 with own actor token for https://crm.example/mcp scope crm.read
    STS--xA2: invalid_request (subject_token_invalid)
    Note over STS,A2: ✗ expected_outcome: expected success, got invalid_request (subject_token_invalid)
"""

DOT_BROKEN = """\
digraph "sarah-brief" {
    rankdir=LR;
    node [shape=box, fontname="Helvetica"];
    edge [fontname="Helvetica", fontsize=10];
    U [label="Sarah", shape=ellipse];
    A1 [label="orchestrator"];
    A2 [label="sub-agent"];
    R1 [label="https://crm.example/mcp", shape=component];
    U -> A1 [label="user token\\ncrm.read finance.read docs.write"];
    A1 -> A2 [label="hop 1: T1\\ncrm.read finance.read docs.write\\nact: orchestrator\\n✗ scope_narrowing", color="red"];
    A2 -> R1 [label="hop 2: invalid_request (subject_token_invalid)\\n✗ expected_outcome", style="dashed", color="red"];
}
"""


def test_mermaid_golden() -> None:
    assert render_mermaid(sarah_result()) == MERMAID


def test_dot_golden() -> None:
    assert render_dot(sarah_result()) == DOT


def test_mermaid_golden_with_broken_invariants() -> None:
    assert render_mermaid(sarah_result(broken=True)) == MERMAID_BROKEN


def test_dot_golden_with_broken_invariants() -> None:
    assert render_dot(sarah_result(broken=True)) == DOT_BROKEN


def test_text_shows_each_hops_decoded_token_and_names_what_broke() -> None:
    text = render_text(sarah_result(broken=True))
    assert '"scope": "crm.read finance.read docs.write"' in text
    assert "token: sha256:11111111… (signature not shown)" in text
    assert "actors (current first): orchestrator" in text
    assert "✗ hop 1: scope_narrowing [TX-SCOPE-001]" in text
    assert "outcome: invalid_request (subject_token_invalid), expected success" in text
    assert text.rstrip().endswith("FAILED: 2 broken (scope_narrowing, expected_outcome)")
    assert render_text(sarah_result()).rstrip().endswith("OK: 2 hops, every invariant holds")


def test_text_scrubs_secrets_the_run_learnt() -> None:
    result = sarah_result()
    secret = "super-secret-value-123"
    result.redactor.add_secret(secret)
    assert result.hops[0].issued_claims is not None
    result.hops[0].issued_claims["note"] = f"leaked {secret}"
    text = render_text(result)
    assert secret not in text
    assert "leaked [redacted sha256:" in text


def test_json_carries_the_decoded_tokens_and_violations() -> None:
    document = json.loads(render_json(sarah_result(broken=True)))
    assert document["ok"] is False
    first, second = document["hops"]
    assert first["issued"]["claims"]["act"] == {"sub": "wl_orch", "iss": "https://sts.example"}
    assert first["issued"]["fingerprint"] == "sha256:11111111…"
    assert first["request"]["subject"] == "user token"
    assert first["violations"] == [
        {
            "invariant": "scope_narrowing",
            "requirements": ["TX-SCOPE-001"],
            "message": "granted 'docs.write' beyond ['crm.read', 'finance.read']",
        }
    ]
    assert second["issued"] is None
    assert second["cause"] == "subject_token_invalid"
    assert document["violations"][1].startswith("hop 2: expected_outcome")


def test_render_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="format must be one of"):
        render(sarah_result(), "svg")
