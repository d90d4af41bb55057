"""Every OAuth endpoint decision yields audit records the audit log accepts as they are
(TX-AUDIT-001, AS-REV-004, AUD-EVT-001..004), without any token or secret in them."""

from __future__ import annotations

import json
from pathlib import Path

from proctor.reference.audit import AuditLog
from proctor.reference.grants import AuditRecord
from proctor.reference.storage import open_database

from .conftest import Service


def _records(svc: Service) -> list[AuditRecord]:
    user = svc.user_token()
    records: list[AuditRecord] = []
    granted = svc.exchange("orchestrator", user, audience=["wl_subagent"], scope="crm.read")
    records += granted.audit
    assert granted.body is not None
    t1 = granted.body["access_token"]
    second = svc.exchange("subagent", t1, resource=["https://crm.example/mcp"])
    records += second.audit
    records += svc.exchange("orchestrator", user, audience=["wl_nowhere"], scope="crm.read").audit
    records += svc.exchange("orchestrator", user, actor=None, audience=["wl_subagent"]).audit
    records += svc.endpoint.handle([("grant_type", "client_credentials")], "Basic bad").audit
    records += svc.token_request([("grant_type", "password")], "orchestrator").audit
    records += svc.introspection.handle([("token", t1)], svc.basic("subagent")).audit
    records += svc.revocation.handle([("token", t1)], svc.basic("orchestrator")).audit
    return records


def test_records_name_the_chain_the_user_and_the_decision(svc: Service) -> None:
    records = _records(svc)
    sarah = {"issuer": svc.idp.issuer, "subject": "00u1sarah"}
    granted, second, wrong_target, impersonation, bad_client, password = records[:6]
    assert (granted.operation, granted.workload, granted.user) == (
        "token.exchange",
        "orchestrator",
        sarah,
    )
    assert granted.actor_chain == ["wl_orchestrator"]
    assert granted.scopes == ["crm.read"]
    assert (granted.decision, granted.reason) == ("allow", "ok")
    assert second.actor_chain == ["wl_subagent", "wl_orchestrator"]
    assert second.user == sarah
    assert (wrong_target.decision, wrong_target.reason) == ("deny", "invalid_target")
    assert wrong_target.scopes == ["crm.read"]  # the requested scopes when refused
    assert impersonation.reason == "invalid_request"
    assert impersonation.cause == "impersonation_not_allowed"
    assert impersonation.user == sarah  # verified before the refusal
    assert (bad_client.workload, bad_client.reason) == (None, "invalid_client")
    assert (password.operation, password.reason) == ("token.issue", "unsupported_grant_type")
    revocation = records[-2:]
    assert [r.operation for r in revocation] == ["token.revoke", "token.revoke"]
    assert revocation[1].actor_chain == ["wl_subagent", "wl_orchestrator"]


def test_the_audit_log_accepts_every_record(svc: Service, tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        log = AuditLog(database, svc.clock)
        for number, record in enumerate(_records(svc)):
            fields = record.event_fields(f"req_{number}")
            text = json.dumps(fields)
            assert "eyJ" not in text  # no token ever reaches the log
            assert not any(secret in text for secret in svc.secrets.values())
            log.append(fields)
        assert log.verify().valid
    finally:
        database.close()
