"""A fixed chain result (no HTTP), for golden renderings."""

from __future__ import annotations

from typing import Any

from proctor.conformance.chains import ChainResult, HopRecord, Violation, load_chain
from proctor.conformance.evidence import Redactor
from tests.conformance.chains.conftest import EXAMPLES

ISSUER = "https://sts.example"
IDS = {"orchestrator": "wl_orch", "subagent": "wl_sub"}
USER: dict[str, Any] = {
    "iss": "https://example.okta.com/oauth2/default",
    "sub": "sarah@example.com",
    "aud": "api://default",
    "scp": ["crm.read", "finance.read", "docs.write"],
    "iat": 1800000000,
    "exp": 1800003600,
}
HEADER = {"alg": "ES256", "kid": "key-1", "typ": "at+jwt"}


def token(aud: str, client: str, scope: str, act: dict[str, Any], jti: str) -> dict[str, Any]:
    return {
        "iss": ISSUER,
        "sub": "sarah@example.com",
        "aud": aud,
        "client_id": client,
        "scope": scope,
        "act": act,
        "iat": 1800000000,
        "exp": 1800000900,
        "jti": jti,
    }


def sarah_result(*, broken: bool = False) -> ChainResult:
    """The Sarah chain as it ran; ``broken``: hop 2 was refused although it should not
    have been, and hop 1's token carried a scope it should not have."""
    chain = load_chain(EXAMPLES / "sarah-brief.yaml")
    first, second = chain.hops
    t1 = token(
        "wl_sub", "wl_orch", "crm.read finance.read", {"sub": "wl_orch", "iss": ISSUER}, "j1"
    )
    t2 = token(
        "https://crm.example/mcp",
        "wl_sub",
        "crm.read",
        {"sub": "wl_sub", "iss": ISSUER, "act": {"sub": "wl_orch", "iss": ISSUER}},
        "j2",
    )
    hop1 = HopRecord(
        number=1,
        hop=first,
        agent="orchestrator",
        client_id="wl_orch",
        targets=["wl_sub"],
        request={
            "subject": "user token",
            "actor": "orchestrator's own token",
            "audience": ["wl_sub"],
            "resource": [],
            "scope": "crm.read finance.read",
        },
        outcome="success",
        status=200,
        subject_claims=USER,
        issued_header=HEADER,
        issued_claims=t1,
        issued_fingerprint="sha256:11111111…",
    )
    hop2 = HopRecord(
        number=2,
        hop=second,
        agent="subagent",
        client_id="wl_sub",
        targets=["https://crm.example/mcp"],
        request={
            "subject": "T1",
            "actor": "subagent's own token",
            "audience": [],
            "resource": ["https://crm.example/mcp"],
            "scope": "crm.read",
        },
        outcome="success",
        status=200,
        subject_claims=t1,
        issued_header=HEADER,
        issued_claims=t2,
        issued_fingerprint="sha256:22222222…",
    )
    if broken:
        t1["scope"] = "crm.read finance.read docs.write"
        hop1.violations = [
            Violation(
                "scope_narrowing", 1, "granted 'docs.write' beyond ['crm.read', 'finance.read']"
            )
        ]
        hop2.outcome, hop2.status = "invalid_request", 400
        hop2.error_description = "subject_token_invalid: expired"
        hop2.issued_header = hop2.issued_claims = hop2.issued_fingerprint = None
        hop2.violations = [
            Violation(
                "expected_outcome",
                2,
                "expected success, got invalid_request (subject_token_invalid)",
            )
        ]
    return ChainResult(
        chain=chain,
        token_endpoint=f"{ISSUER}/oauth2/token",
        issuer=ISSUER,
        client_ids=dict(IDS),
        user_claims=USER,
        hops=[hop1, hop2],
        redactor=Redactor(),
    )
