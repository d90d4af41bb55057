"""Audit (spec 08): what the kit did appears in the log, as specified, and the log verifies.

The checks act as the provisioned ``audit`` workload (so its events can be told apart by
``workload``), then read ``GET /v1/audit/events`` and ``GET /v1/audit/verify`` with the
admin credential. Hashes are recomputed by the kit (RFC 8785 JCS, which for these events
coincides with sorted, compact JSON; AUD-CHAIN-001).

Tamper detection (an edited, removed or inserted event reported by ``/v1/audit/verify``)
needs write access to the target's storage, which no profile exposes to the kit; it is
not checked here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any, Final

import httpx

from proctor.conformance.checks import check
from proctor.conformance.config import Profile
from proctor.conformance.errors import ConformanceFailure
from proctor.conformance.forge import assemble, split
from proctor.conformance.native import (
    audit_events,
    decide,
    expect_allow,
    expect_problem,
    issue_wat,
    json_object,
    refused,
)
from proctor.conformance.provisioning import Provisioning
from proctor.conformance.target import Target

NEEDS: Final = ["control_plane", "audit", "inbound_authorization", "workload_tokens"]
PROFILES: Final[list[Profile]] = ["proctor"]
MEMBERS: Final = frozenset(
    {
        "seq",
        "id",
        "time",
        "request_id",
        "operation",
        "workload",
        "user",
        "actor_chain",
        "provider",
        "scopes",
        "decision",
        "reason",
        "prev_hash",
        "hash",
    }
)
ZERO_HASH: Final = "0" * 64


def _digest(event: dict[str, Any]) -> str:
    """AUD-CHAIN-001: SHA-256 of the JCS form of the event without ``hash``."""
    body = {k: v for k, v in event.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _denied(response: httpx.Response, what: str) -> None:
    """A ``deny``: a decision the audit checks look for in the log.

    Only the refusal is asserted here; which reason the log records is each check's to
    judge (:func:`_find`), and the deny's exact shape is the ``authorizer`` suite's
    (INB-DEC-005): the shared activity is no negative check of its own.
    """
    decision = None
    if response.status_code == 200:
        decision = json_object(response, "the decision").get("decision")
    if decision != "deny":
        raise ConformanceFailure(
            f"the audit workload's {what} must be denied",
            expected="HTTP 200 deny",
            observed=f"HTTP {response.status_code}: {response.text[:200]}",
        )


class _Activity:
    """What the audit workload did in this run (done once, shared by the checks).

    The refusals provoked here are preconditions of the audit checks, asserted as such
    (a refusal, and what the log records about it); their error shapes are judged by the
    suites that own those requests, so no audit check is a negative check of its own.
    """

    def __init__(self, target: Target, provisioning: Provisioning) -> None:
        self.workload = provisioning.workloads["audit"]
        case = provisioning.primary
        self.case = case
        minted = case.mint()
        self.user = {"issuer": minted.claims["iss"], "subject": minted.claims["sub"]}
        self.secrets = [minted.token]
        expect_allow(decide(target, self.workload, case.name, minted.token))
        expired = case.mint(presets=["expired"]).token
        _denied(decide(target, self.workload, case.name, expired), "expired token")
        header, claims, signature = split(minted.token)
        forged = assemble(header, {**claims, "sub": "mallory"}, signature)
        _denied(decide(target, self.workload, case.name, forged), "forged token")
        issued = issue_wat(target, self.workload, {"user_token": minted.token})
        wat = json_object(issued, "the WAT").get("workload_access_token")
        if issued.status_code != 200 or not isinstance(wat, str):
            raise ConformanceFailure(f"the audit workload got no WAT (HTTP {issued.status_code})")
        target.add_secret(wat)
        rejected = issue_wat(target, self.workload, {"user_token": expired})
        refused(
            rejected,
            "a WAT request with an expired user token",
            expected="HTTP 401 user_token_rejected",
        )
        try:
            problem = rejected.json()
        except ValueError:
            problem = None
        self.rejected_request_id = problem.get("request_id") if isinstance(problem, dict) else None
        self.secrets += [expired, forged, wat, self.workload.client_secret]
        self.events = audit_events(target, workload=self.workload.name)


_ACTIVITY: dict[int, _Activity] = {}


def _activity(target: Target, provisioning: Provisioning) -> _Activity:
    key = id(provisioning)
    if key not in _ACTIVITY:
        _ACTIVITY.clear()
        _ACTIVITY[key] = _Activity(target, provisioning)
    return _ACTIVITY[key]


def _find(
    events: list[dict[str, Any]], operation: str, decision: str, reason: str
) -> dict[str, Any]:
    for event in events:
        if (event.get("operation"), event.get("decision"), event.get("reason")) == (
            operation,
            decision,
            reason,
        ):
            return event
    seen = sorted({f"{e.get('operation')}/{e.get('decision')}/{e.get('reason')}" for e in events})
    raise ConformanceFailure(
        f"no {operation} event with decision {decision} and reason {reason} (AUD-EVT-001)",
        observed=", ".join(seen)[:400] or "no events for the workload",
    )


@check("AUD-EVT-001", "AUD-EVT-003", "AUD-EVT-004", "AUD-OPS-001", needs=NEEDS, profiles=PROFILES)
def test_each_operation_of_the_kit_is_recorded(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """Allowed and denied decisions, an issued and a refused WAT, and the workload's
    creation are each one event naming the workload, the verified user (never one from an
    unverified token), the actor chain and the reason the caller got."""
    activity = _activity(proctor_target, provisioning)
    events = activity.events
    actor = [activity.workload.client_id]
    expected = [
        ("decision.evaluate", "allow", "ok", activity.user),
        ("decision.evaluate", "deny", "expired", activity.user),
        ("decision.evaluate", "deny", "bad_signature", None),
        ("workload_access_token.issue", "allow", "ok", activity.user),
        ("workload_access_token.issue", "deny", "user_token_rejected", activity.user),
    ]
    for operation, decision, reason, user in expected:
        event = _find(events, operation, decision, reason)
        where = f"the {operation}/{decision}/{reason} event"
        if event.get("workload") != activity.workload.name:
            raise ConformanceFailure(f"{where} names workload {event.get('workload')!r}")
        if event.get("actor_chain") != actor:
            raise ConformanceFailure(
                f"{where}: actor_chain is the workload's client_id (AUD-EVT-003)",
                observed=repr(event.get("actor_chain")),
            )
        if event.get("user") != user:
            raise ConformanceFailure(
                f"{where}: user is the verified token's issuer and subject, or null for an "
                "unverified token (AUD-EVT-003)",
                expected=repr(user),
                observed=repr(event.get("user")),
            )
    created = _find(events, "workload.create", "allow", "ok")
    if created.get("actor_chain") != ["admin"]:
        raise ConformanceFailure(
            "control-plane events have actor_chain [admin] (AUD-EVT-003)",
            observed=repr(created.get("actor_chain")),
        )


@check("ERR-SHAPE-002", "AUD-EVT-002", needs=NEEDS, profiles=PROFILES)
def test_an_errors_request_id_is_its_events(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """The ``request_id`` of an error body is the ``request_id`` of the event it left."""
    activity = _activity(proctor_target, provisioning)
    event = _find(activity.events, "workload_access_token.issue", "deny", "user_token_rejected")
    if event.get("request_id") != activity.rejected_request_id:
        raise ConformanceFailure(
            "the error's request_id and its event's differ (ERR-SHAPE-002)",
            expected=repr(activity.rejected_request_id),
            observed=repr(event.get("request_id")),
        )


@check(
    "AUD-EVT-002",
    "AUD-CHAIN-001",
    "AUD-CHAIN-002",
    "AUD-APP-001",
    "AUD-TIME-001",
    needs=NEEDS,
    profiles=PROFILES,
)
def test_events_have_the_schema_and_form_a_hash_chain(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """Events have exactly the specified members; each ``hash`` recomputes; ``seq`` grows by
    one with each ``prev_hash`` the previous ``hash`` (64 zeros before ``seq`` 1); ``time``
    is the service's clock (within ten minutes of the mock IdP's)."""
    activity = _activity(proctor_target, provisioning)
    now = activity.case.idp.now()
    window = audit_events(proctor_target, pages=2)
    if not window:
        raise ConformanceFailure("the audit log is empty after the kit's requests")
    for event in [*window, *activity.events]:
        where = f"event seq {event.get('seq')}"
        if set(event) != MEMBERS:
            raise ConformanceFailure(
                f"{where} has other members than AUD-EVT-002's",
                observed=f"extra {sorted(set(event) - MEMBERS)}, missing "
                f"{sorted(MEMBERS - set(event))}",
            )
        if event["scopes"] != sorted(set(event["scopes"])):
            raise ConformanceFailure(f"{where}: scopes are sorted and unique (AUD-EVT-002)")
        if event["hash"] != _digest(event):
            raise ConformanceFailure(f"{where}: hash does not recompute (AUD-CHAIN-001)")
        if not str(event["id"]).startswith("evt_"):
            raise ConformanceFailure(f"{where}: id {event['id']!r} lacks evt_")
    for event in activity.events:
        if not isinstance(event["time"], int) or abs(event["time"] - now) > 600:
            raise ConformanceFailure(
                "time is the service's clock in whole seconds (AUD-TIME-001)",
                observed=f"{event['time']!r}, the mock IdP's clock says {int(now)}",
            )
    first = window[0]
    if first["seq"] == 1 and first["prev_hash"] != ZERO_HASH:
        raise ConformanceFailure("the first event's prev_hash is 64 zeros (AUD-CHAIN-002)")
    for earlier, later in itertools.pairwise(window):
        if later["seq"] != earlier["seq"] + 1:
            raise ConformanceFailure(
                "seq grows by exactly one (AUD-APP-001)",
                observed=f"{earlier['seq']} then {later['seq']}",
            )
        if later["prev_hash"] != earlier["hash"]:
            raise ConformanceFailure(f"event {later['seq']}: prev_hash breaks the chain")


@check("AUD-VER-001", "AUD-VER-002", needs=NEEDS, profiles=PROFILES)
def test_the_log_verifies(proctor_target: Target, provisioning: Provisioning) -> None:
    """``GET /v1/audit/verify`` answers ``{"valid": true, "events": n, "checkpoint": ...}``
    for the untouched log, counting at least the kit's own events."""
    activity = _activity(proctor_target, provisioning)
    response = proctor_target.client.get(
        proctor_target.url("/v1/audit/verify"), headers=proctor_target.admin_headers()
    )
    assert response.status_code == 200, f"HTTP {response.status_code}"
    body = json_object(response, "the verification")
    if body.get("valid") is not True or "checkpoint" not in body:
        raise ConformanceFailure(
            "an untouched log verifies as valid (AUD-VER-001)", observed=json.dumps(body)[:300]
        )
    if not isinstance(body.get("events"), int) or body["events"] < len(activity.events):
        raise ConformanceFailure(
            "events counts every retained event", observed=repr(body.get("events"))
        )


@check("AUD-API-001", shape=("AUD-API-001", "ERR-SHAPE-001"), needs=NEEDS, profiles=PROFILES)
def test_events_can_be_queried_with_filters(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """Filters combine with AND (``workload``, ``operation`` families such as
    ``decision.*``, ``decision``, ``since``/``until``, ``user_subject``); an unknown
    parameter or a bad value is refused, as 400 ``validation_failed`` (the error shape)."""
    activity = _activity(proctor_target, provisioning)
    name = activity.workload.name
    denials = audit_events(proctor_target, workload=name, operation="decision.*", decision="deny")
    reasons = sorted(str(e.get("reason")) for e in denials)
    if reasons != ["bad_signature", "expired"] or any(
        e.get("operation") != "decision.evaluate" for e in denials
    ):
        raise ConformanceFailure(
            "workload + operation family + decision filters", observed=repr(reasons)
        )
    for event in audit_events(proctor_target, workload=name):
        assert event.get("workload") == name, "the workload filter let another through"
    times = [int(e["time"]) for e in activity.events]
    later = audit_events(proctor_target, workload=name, since=max(times) + 3600)
    assert later == [], "since after every event still returns events"
    subject = str(activity.user["subject"])
    mine = audit_events(proctor_target, workload=name, user_subject=subject)
    assert mine, "user_subject finds nothing"
    assert all((e.get("user") or {}).get("subject") == subject for e in mine), "user_subject"
    for params in ({"colour": "blue"}, {"limit": "0"}, {"limit": "101"}, {"decision": "maybe"}):
        response = proctor_target.client.get(
            proctor_target.url("/v1/audit/events"),
            params=params,
            headers=proctor_target.admin_headers(),
        )
        expect_problem(response, 400, "validation_failed", f"the audit query {params}")


@check("AUD-SEC-001", "SEC-SECRET-001", needs=NEEDS, profiles=PROFILES)
def test_events_hold_no_secret_or_token(proctor_target: Target, provisioning: Provisioning) -> None:
    """No event holds (any part of) the tokens, WATs or client secrets the kit used."""
    activity = _activity(proctor_target, provisioning)
    text = json.dumps(activity.events)
    leaked = []
    for secret in activity.secrets:
        parts = secret.split(".") if secret.count(".") == 2 else [secret]
        if any(len(part) >= 16 and part in text for part in parts):
            leaked.append(f"a secret of {len(secret)} characters")
    if leaked:
        raise ConformanceFailure(
            "audit events hold secrets (AUD-SEC-001)", observed=", ".join(leaked)
        )
