"""Consent (spec 06): persisted records, task-scoped and expiring consent, listing and
revocation by users and administrators, prompt counting and pre-approval.

The kit creates consents the only way the spec allows: by completing 3-legged sessions
against its mock providers (:mod:`~proctor.conformance.vault_flows`), each check with its
own fresh provider so its consents are its own. Users list and revoke their consents with
their IdP token (``/v1/me/consents?authorizer=``), administrators with the admin
credential (``/v1/consents``); what revocation does is observed on the data plane (a new
session, never the old token) and at the provider (RFC 7009 revocation requests, tokens no
longer active). Expiring consent needs capability ``test_clock``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final
from urllib.parse import quote

import httpx
import pytest

from proctor.conformance.checks import check
from proctor.conformance.config import Profile
from proctor.conformance.controls import ControlFactory
from proctor.conformance.error_shape import error_shape
from proctor.conformance.errors import ConformanceFailure, InfrastructureError
from proctor.conformance.native import audit_events, challenges, expect_problem, json_object
from proctor.conformance.provisioning import Provisioning, Workload
from proctor.conformance.target import Target
from proctor.conformance.vault_flows import VaultUser
from proctor.conformance.vault_provisioning import ProviderRef, VaultWorld, vault_world

BASE: Final = ["control_plane", "workload_identity", "workload_tokens", "vault", "consent"]
NEEDS: Final = [*BASE, "mock_providers"]
AUDITED: Final = [*NEEDS, "audit"]
TIMED: Final = [*NEEDS, "test_clock"]
PROFILES: Final[list[Profile]] = ["proctor"]
#: CNS-REC-001: ``cns_`` and at least 128 random bits in base64url (22 characters).
CONSENT_ID: Final = re.compile(r"cns_[A-Za-z0-9_-]{22,}")
CONSENT_MEMBERS: Final = frozenset(
    {"id", "user", "workload", "provider", "scopes", "granted_at", "expires_at", "task"}
)


@pytest.fixture(scope="session")
def world(proctor_target: Target, provisioning: Provisioning) -> Iterator[VaultWorld]:
    """The consent suite's users, workloads and providers (deleted when the run ends)."""
    with vault_world(proctor_target, provisioning, "consent") as made:
        yield made


# -- helpers ------------------------------------------------------------------------------------


def _users(world: VaultWorld) -> tuple[VaultUser, VaultUser]:
    return world.users[0], world.users[1]


def _workloads(world: VaultWorld) -> tuple[Workload, Workload]:
    return world.workloads["x"], world.workloads["y"]


def _scope(ref: ProviderRef) -> list[str]:
    return ref.scopes[:1]


def _obtain(
    world: VaultWorld, workload: Workload, user: VaultUser, ref: ProviderRef, **body: Any
) -> dict[str, Any]:
    scopes = body.pop("scopes", _scope(ref))
    return world.flows.obtain(workload, user, ref.mock, ref.name, scopes, **body)


def _request(
    world: VaultWorld,
    workload: Workload,
    user: VaultUser | None,
    ref: ProviderRef,
    **body: Any,
) -> httpx.Response:
    wat = world.flows.wat(workload, user=user)
    scopes = body.pop("scopes", _scope(ref))
    return world.flows.resource_token(workload, wat, provider=ref.name, scopes=scopes, **body)


def _token_of(response: httpx.Response) -> str | None:
    if response.status_code != 200:
        return None
    body = response.json()
    token = body.get("access_token") if isinstance(body, dict) else None
    return token if isinstance(token, str) else None


def _identity(world: VaultWorld, workload: Workload, user: VaultUser) -> dict[str, Any]:
    """The user a WAT binds (WAT-BIND-001): the identity a consent must carry."""
    response = world.flows.issue_wat(workload, user=user)
    found = response.json().get("user") if response.is_success else None
    if not isinstance(found, dict):
        raise InfrastructureError(f"no WAT with a user for {user.name}: {response.status_code}")
    return found


def _admin_list(world: VaultWorld, **params: str) -> httpx.Response:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    return world.admin("GET", "/v1/consents" + (f"?{query}" if query else ""))


def _items(response: httpx.Response, what: str) -> list[dict[str, Any]]:
    if response.status_code != 200:
        raise ConformanceFailure(
            f"{what} must answer 200",
            observed=f"HTTP {response.status_code}: {response.text[:200]}",
        )
    page = json_object(response, what)
    items = page.get("items")
    if not isinstance(items, list) or "next_token" not in page:
        raise ConformanceFailure(f"{what} is a page with items and next_token")
    return [item for item in items if isinstance(item, dict)]


def _consents(world: VaultWorld, **params: str) -> list[dict[str, Any]]:
    return _items(_admin_list(world, **params), "GET /v1/consents")


def _mine(world: VaultWorld, user: VaultUser, token: str | None = None) -> httpx.Response:
    return world.target.client.get(
        world.target.url("/v1/me/consents"),
        params={"authorizer": world.authorizer, "limit": "100"},
        headers={"Authorization": f"Bearer {token or user.token()}"},
    )


def _revoke_mine(world: VaultWorld, user: VaultUser, consent_id: str) -> httpx.Response:
    return world.target.client.delete(
        world.target.url(f"/v1/me/consents/{quote(consent_id, safe='')}"),
        params={"authorizer": world.authorizer},
        headers={"Authorization": f"Bearer {user.token()}"},
    )


def _only(items: list[dict[str, Any]], what: str) -> dict[str, Any]:
    if len(items) != 1:
        raise ConformanceFailure(
            f"exactly one consent is expected for {what}", observed=f"{len(items)}"
        )
    return items[0]


def _without_request_id(response: httpx.Response) -> dict[str, Any]:
    return {k: v for k, v in json_object(response, "the problem").items() if k != "request_id"}


def _metric(world: VaultWorld, name: str, **labels: str) -> float:
    """The value of a Prometheus counter with exactly these label values (0 if absent)."""
    response = world.target.client.get(world.target.url("/metrics"))
    if response.status_code != 200:
        raise ConformanceFailure("GET /metrics must answer 200", observed=str(response.status_code))
    total = 0.0
    for line in response.text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}\{{(.*)\}}\s+([0-9.eE+-]+)", line.strip())
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1)))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


def _revokes(ref: ProviderRef, after: int) -> list[str | None]:
    return [
        (e.get("form") or {}).get("token_type_hint")
        for e in ref.mock.requests("revoke", after=after)
    ]


# -- the record (CNS-REC-*) ------------------------------------------------------------------------


@check("CNS-REC-001", "CNS-REC-002", needs=NEEDS, profiles=PROFILES)
def test_a_completed_session_creates_one_consent_record(world: VaultWorld) -> None:
    """A completed session creates exactly one consent with exactly the record's members:
    a cns_ id, the WAT's user (issuer, subject, user_key), the workload's name, the
    provider, the granted scopes sorted, granted_at, expires_at null and task null; a
    second session for the same (user, workload, provider) updates it (CNS-REC-001/002)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    scopes = list(reversed(ref.scopes))
    _obtain(world, x, a, ref, scopes=scopes)
    record = _only(_consents(world, provider=ref.name), "one completed session")
    problems = []
    if set(record) != CONSENT_MEMBERS:
        problems.append(f"members {sorted(record)}")
    if not CONSENT_ID.fullmatch(str(record.get("id"))):
        problems.append(f"id {str(record.get('id'))[:12]}… is not cns_ + 128 bits base64url")
    identity = _identity(world, x, a)
    if record.get("user") != {k: identity.get(k) for k in ("issuer", "subject", "user_key")}:
        problems.append(f"user {record.get('user')} is not the WAT's user {identity}")
    if record.get("workload") != x.name or record.get("provider") != ref.name:
        problems.append(f"workload/provider {record.get('workload')}/{record.get('provider')}")
    if record.get("scopes") != sorted(set(scopes)):
        problems.append(f"scopes {record.get('scopes')} (expected {sorted(set(scopes))})")
    granted = record.get("granted_at")
    if not isinstance(granted, int) or isinstance(granted, bool):
        problems.append("granted_at is not a NumericDate")
    if record.get("expires_at") is not None or record.get("task") is not None:
        problems.append("expires_at and task are not null for an ordinary consent")
    assert not problems, "; ".join(problems)
    _obtain(world, x, a, ref, scopes=scopes[:1], force_authentication=True)
    updated = _only(_consents(world, provider=ref.name), "a second completed session")
    assert updated["id"] == record["id"], "a second session created another consent"
    assert updated["scopes"] == sorted(set(scopes[:1])), (
        f"the updated consent's scopes {updated['scopes']} are not the new grant's"
    )
    moved = updated["granted_at"]
    assert isinstance(moved, int), "granted_at of the updated consent is not a NumericDate"
    assert isinstance(granted, int), "granted_at is not a NumericDate"
    assert moved >= granted, "granted_at was not moved to the new completion"


@check(
    "CNS-REC-002",
    "VLT-CB-002",
    "VLT-BIND-002",
    shape=("VLT-BIND-002", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_only_a_completed_session_creates_a_consent(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """m2m, a pending session, a session the provider denied and a session completed by the
    wrong user create no consent (CNS-REC-002); the wrong user's completion is refused with
    403 session_user_mismatch (VLT-BIND-002)."""
    x, _ = _workloads(world)
    a, b = _users(world)
    ref = world.provider()
    control = positive_control(
        "the admin consent list answers",
        lambda: _admin_list(world, provider=ref.name),
        expect=200,
    )
    with control.bracket():
        m2m = _request(world, x, None, ref, flow="m2m")
        assert _token_of(m2m), f"the m2m request failed: HTTP {m2m.status_code}"
        pending = world.flows.expect_session(_request(world, x, a, ref))
        denied = world.flows.expect_session(_request(world, x, a, ref))
        world.flows.callback(
            world.target.url("/oauth2/callback")
            + f"?state={quote(denied.param('state') or '')}&error=access_denied"
        )
        mismatched = world.flows.expect_session(_request(world, x, a, ref))
        world.flows.run_to_callback(ref.mock, mismatched, a)
        wrong_user = world.flows.complete(x, mismatched.session_uri, user=b)
        expect_problem(wrong_user, 403, "session_user_mismatch", "the wrong user's completion")
        del pending
        assert not _consents(world, provider=ref.name), "a consent exists without a completion"


@check(
    "CNS-TASK-001",
    shape=("CNS-TASK-001", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_task_scoped_consent_covers_only_its_task(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """A session with task and consent_ttl creates a consent with that task and expires_at =
    granted_at + consent_ttl; it covers requests with that task only; another task or no
    task starts a new session; task and consent_ttl are refused outside user_federation and
    out of range, with 400 validation_failed (CNS-TASK-001)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    task, ttl = "brief:thursday-1", 3600
    token = _obtain(world, x, a, ref, task=task, consent_ttl=ttl)
    record = _only(_consents(world, provider=ref.name), "a task-scoped session")
    assert record.get("task") == task, f"task {record.get('task')!r}"
    assert record.get("expires_at") == record.get("granted_at", 0) + ttl, (
        f"expires_at {record.get('expires_at')} is not granted_at + consent_ttl"
    )
    control = positive_control(
        "a request with the consent's task gets the stored token",
        lambda: _request(world, x, a, ref, task=task),
        expect=lambda r: _token_of(r) == token["access_token"],
    )
    failures = []
    with control.bracket():
        for label, body in (("another task", {"task": "brief:friday-2"}), ("no task", {})):
            answer = _request(world, x, a, ref, **body)
            if _token_of(answer) is not None:
                failures.append(f"{label}: the task's token was returned")
            elif answer.status_code != 200 or answer.json().get("session_status") != "in_progress":
                failures.append(f"{label}: HTTP {answer.status_code} instead of a new session")
        cases: list[tuple[str, dict[str, Any]]] = [
            ("task with m2m", {"flow": "m2m", "task": task}),
            ("consent_ttl with m2m", {"flow": "m2m", "consent_ttl": 600}),
            ("a task with a space", {"task": "bad task"}),
            ("a task of 129 characters", {"task": "t" * 129}),
            ("consent_ttl 59", {"consent_ttl": 59}),
            ("consent_ttl over a year", {"consent_ttl": 31_536_001}),
        ]
        for label, body in cases:
            answer = _request(world, x, a if "flow" not in body else None, ref, **body)
            try:  # the refusal; its shape (400 validation_failed) is recorded apart
                expect_problem(answer, 400, "validation_failed", label)
            except ConformanceFailure as error:
                failures.append(f"{label}: {str(error).splitlines()[-1]}")
    assert not failures, "; ".join(failures)


@check("CNS-TASK-002", "VLT-RVK-001", needs=TIMED, profiles=PROFILES)
def test_an_expired_consent_is_not_used_nor_listed(world: VaultWorld) -> None:
    """From its expires_at a consent covers nothing: the next request starts a session, the
    consent is no longer listed, and the entry's tokens are revoked upstream (CNS-TASK-002)."""
    assert world.clock is not None
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    token = _obtain(world, x, a, ref, consent_ttl=60)
    world.clock.advance(61)
    before = ref.mock.seq()
    answer = _request(world, x, a, ref)
    assert _token_of(answer) != token["access_token"], "the token of an expired consent was used"
    world.flows.expect_session(answer, "the request after the consent expired")
    assert not _consents(world, provider=ref.name), "an expired consent is listed"
    mine = _items(_mine(world, a), "GET /v1/me/consents")
    assert not [c for c in mine if c.get("provider") == ref.name], "the user still sees it"
    assert "access_token" in _revokes(ref, before), "the expired entry was not revoked upstream"
    assert not ref.mock.is_active(token["access_token"]), "the expired entry's token is active"


# -- listing (CNS-LIST-*) --------------------------------------------------------------------------


@check(
    "CNS-LIST-001",
    shape=("CNS-LIST-001", "ERR-BEARER-002", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_users_list_exactly_their_own_consents(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """GET /v1/me/consents with the user's IdP token lists exactly that user's unexpired
    consents; an invalid token is 401 user_token_rejected with a reason and a Bearer
    error="invalid_token" challenge (ERR-BEARER-002); a missing or unknown authorizer is 400
    validation_failed (CNS-LIST-001)."""
    x, y = _workloads(world)
    a, b = _users(world)
    ref = world.provider()
    _obtain(world, x, a, ref)
    _obtain(world, y, a, ref)
    _obtain(world, x, b, ref)
    control = positive_control("A lists their consents", lambda: _mine(world, a), expect=200)
    with control.bracket():
        for user, expected in ((a, {x.name, y.name}), (b, {x.name})):
            identity = _identity(world, x, user)
            items = _items(_mine(world, user), f"{user.name}'s consents")
            ours = [c for c in items if c.get("provider") == ref.name]
            seen = sorted(str(c.get("workload")) for c in ours)
            assert seen == sorted(expected), (
                f"{user.name} sees {seen} (expected {sorted(expected)})"
            )
            strangers = [
                c
                for c in items
                if (c.get("user") or {}).get("user_key") != identity.get("user_key")
            ]
            assert not strangers, f"{user.name} sees {len(strangers)} consent(s) of other users"
        rejected = _mine(world, a, token=a.token()[:-4] + "AAAA")
        problem = expect_problem(rejected, 401, "user_token_rejected", "a tampered user token")
        with error_shape():
            assert isinstance(problem.get("reason"), str), "user_token_rejected carries no reason"
            bearer = [params for scheme, params in challenges(rejected) if scheme == "bearer"]
            if not any(params.get("error") == "invalid_token" for params in bearer):
                raise ConformanceFailure(
                    'user_token_rejected carries Bearer error="invalid_token" (ERR-BEARER-002)',
                    observed=repr(challenges(rejected)),
                )
        for label, params in (
            ("no authorizer", {}),
            ("an unknown authorizer", {"authorizer": world.name("no-such")}),
        ):
            answer = world.target.client.get(
                world.target.url("/v1/me/consents"),
                params=params,
                headers={"Authorization": f"Bearer {a.token()}"},
            )
            expect_problem(answer, 400, "validation_failed", label)


@check(
    "CNS-LIST-002",
    shape=("CNS-LIST-002", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_administrators_list_and_filter_all_consents(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """GET /v1/consents lists every consent, filtered by user, user_issuer, workload and
    provider (exact matches, combined with AND); an unknown parameter is 400
    validation_failed (CNS-LIST-002)."""
    x, y = _workloads(world)
    a, b = _users(world)
    ref = world.provider()
    _obtain(world, x, a, ref)
    _obtain(world, y, b, ref)
    ida, idb = _identity(world, x, a), _identity(world, x, b)
    control = positive_control(
        "the admin list answers", lambda: _admin_list(world, provider=ref.name), expect=200
    )
    with control.bracket():
        everything = _consents(world, provider=ref.name)
        assert len(everything) == 2, f"{len(everything)} consents for two completed sessions"
        cases = {
            "user": ({"user": str(ida["subject"])}, {(x.name, ida["user_key"])}),
            "user and workload": ({"user": str(ida["subject"]), "workload": y.name}, set()),
            "workload": ({"workload": y.name}, {(y.name, idb["user_key"])}),
            "user_issuer": (
                {"user_issuer": str(ida["issuer"])},
                {(x.name, ida["user_key"]), (y.name, idb["user_key"])},
            ),
            "another issuer": ({"user_issuer": str(ida["issuer"]) + "/other"}, set()),
        }
        failures = []
        for label, (params, expected) in cases.items():
            found = _consents(world, provider=ref.name, **params)
            got = {(c.get("workload"), (c.get("user") or {}).get("user_key")) for c in found}
            if got != expected:
                failures.append(f"{label}: {sorted(map(str, got))}")
        expect_problem(
            _admin_list(world, provider=ref.name, owner="kit"),
            400,
            "validation_failed",
            "an unknown query parameter",
        )
        assert not failures, "; ".join(failures)


# -- revocation (CNS-REV-*) ------------------------------------------------------------------------


@check(
    "CNS-REV-001",
    shape=("CNS-REV-001", "ERR-RULE-005", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_users_revoke_only_their_own_consents(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """A user revokes their own consent (204); another user's consent and an unknown ID get
    404 not_found with bodies equal but request_id, and nothing changes (CNS-REV-001)."""
    x, _ = _workloads(world)
    a, b = _users(world)
    ref = world.provider()
    token = _obtain(world, x, a, ref)
    consent = _only(_consents(world, provider=ref.name), "A's consent")
    control = positive_control(
        "A still gets their stored token",
        lambda: _request(world, x, a, ref),
        expect=lambda r: _token_of(r) == token["access_token"],
    )
    with control.bracket():
        foreign = _revoke_mine(world, b, str(consent["id"]))
        unknown = _revoke_mine(world, b, "cns_" + "A" * 22)
        expect_problem(foreign, 404, "not_found", "revoking another user's consent")
        expect_problem(unknown, 404, "not_found", "revoking an unknown consent")
        with error_shape():  # ERR-RULE-005: no existence oracle
            assert _without_request_id(foreign) == _without_request_id(unknown), (
                "another user's consent and an unknown one are answered differently"
            )
        assert _consents(world, provider=ref.name), "B's attempt removed A's consent"
    own = _revoke_mine(world, a, str(consent["id"]))
    assert own.status_code == 204, f"A revoking their consent: HTTP {own.status_code}"
    assert not _consents(world, provider=ref.name), "the revoked consent is still listed"


@check(
    "CNS-REV-002",
    "AUD-OPS-001",
    shape=("CNS-REV-002", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=AUDITED,
    profiles=PROFILES,
)
def test_administrators_revoke_any_consent_and_it_is_audited(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """DELETE /v1/consents/{id} revokes any consent (204) and 404 not_found for an unknown
    ID; both user and admin revocations are audited as consent.revoke (CNS-REV-002)."""
    x, _ = _workloads(world)
    a, b = _users(world)
    ref = world.provider()
    _obtain(world, x, a, ref)
    _obtain(world, x, b, ref)
    first, second = _consents(world, provider=ref.name)
    control = positive_control(
        "the admin list answers", lambda: _admin_list(world, provider=ref.name), expect=200
    )
    with control.bracket():
        unknown = world.admin("DELETE", "/v1/consents/cns_" + "B" * 22)
        expect_problem(unknown, 404, "not_found", "revoking an unknown consent")
        for record in (first, second):
            done = world.admin("DELETE", f"/v1/consents/{quote(str(record['id']), safe='')}")
            assert done.status_code == 204, f"admin revocation: HTTP {done.status_code}"
        assert not _consents(world, provider=ref.name), "revoked consents are still listed"
        events = [
            e
            for e in audit_events(world.target, operation="consent.revoke", workload=x.name)
            if e.get("provider") == ref.name and e.get("decision") == "allow"
        ]
        assert len(events) >= 2, f"{len(events)} consent.revoke events for two revocations"


@check(
    "CNS-REV-003",
    "CNS-REC-003",
    "VLT-RVK-001",
    shape=("VLT-SESS-004", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="VLT-03",
)
def test_revocation_deletes_the_entry_and_pending_sessions_and_revokes_upstream(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """Revoking a consent deletes its entry and every in-progress session of that (workload,
    user, provider), so a poll of such a session is 404 session_not_found (VLT-SESS-004);
    the next request starts a new session, never the old token; the tokens are revoked at
    the provider; other users' consents are untouched (CNS-REV-003)."""
    x, _ = _workloads(world)
    a, b = _users(world)
    ref = world.provider()
    token = _obtain(world, x, a, ref)
    kept = _obtain(world, x, b, ref)
    pending = world.flows.expect_session(
        _request(world, x, a, ref, force_authentication=True), "a forced session"
    )
    mine = [
        c
        for c in _consents(world, provider=ref.name)
        if (c.get("user") or {}).get("user_key") == _identity(world, x, a).get("user_key")
    ]
    consent = _only(mine, "A's consent")
    control = positive_control(
        "B's consent still yields B's token",
        lambda: _request(world, x, b, ref),
        expect=lambda r: _token_of(r) == kept["access_token"],
    )
    with control.bracket():
        before = ref.mock.seq()
        done = world.admin("DELETE", f"/v1/consents/{quote(str(consent['id']), safe='')}")
        assert done.status_code == 204, f"revocation: HTTP {done.status_code}"
        poll = _request(world, x, a, ref, session_uri=pending.session_uri)
        expect_problem(poll, 404, "session_not_found", "a session pending at the revocation")
        answer = _request(world, x, a, ref)
        assert _token_of(answer) is None, "the old token was returned after revocation"
        world.flows.expect_session(answer, "the next request after revocation")
        hints = _revokes(ref, before)
        assert "refresh_token" in hints, f"the refresh token was not revoked upstream ({hints})"
        assert "access_token" in hints, f"the access token was not revoked upstream ({hints})"
        assert not ref.mock.is_active(token["access_token"]), "the old token is still active"


# -- counting prompts (CNS-FAT-*) ------------------------------------------------------------------


@check("CNS-FAT-001", "AUD-API-001", needs=AUDITED, profiles=PROFILES)
def test_every_session_is_counted_as_one_prompt(world: VaultWorld) -> None:
    """Each session started increments proctor_consent_prompts_total{workload, provider}
    once and appends one consent.prompt event naming the user; polls and reuse count
    nothing (CNS-FAT-001)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    subject = str(_identity(world, x, a)["subject"])

    def prompts() -> tuple[float, int]:
        counted = _metric(
            world, "proctor_consent_prompts_total", workload=x.name, provider=ref.name
        )
        events = [
            e
            for e in audit_events(
                world.target, operation="consent.prompt", workload=x.name, user_subject=subject
            )
            if e.get("provider") == ref.name
        ]
        return counted, len(events)

    start = prompts()
    session, wat = world.flows.expect_session(_request(world, x, a, ref)), None
    after_start = prompts()
    assert after_start == (start[0] + 1, start[1] + 1), (
        f"one session counted as {after_start[0] - start[0]} metric and "
        f"{after_start[1] - start[1]} event prompts"
    )
    world.flows.run_to_callback(ref.mock, session, a)
    assert world.flows.complete(x, session.session_uri, user=a).status_code == 200
    wat = world.flows.wat(x, user=a)
    for _ in range(2):
        world.flows.resource_token(
            x, wat, provider=ref.name, scopes=_scope(ref), session_uri=session.session_uri
        )
        world.flows.resource_token(x, wat, provider=ref.name, scopes=_scope(ref))
    assert prompts() == after_start, "polls or reuse were counted as prompts"


@check("CNS-FAT-002", needs=NEEDS, profiles=PROFILES)
def test_reuse_is_counted(world: VaultWorld) -> None:
    """Each user_federation token returned without a prompt increments
    proctor_consent_reuse_total{workload, provider} (CNS-FAT-002)."""
    x, _ = _workloads(world)
    a, _ = _users(world)
    ref = world.provider()
    _obtain(world, x, a, ref)
    before = _metric(world, "proctor_consent_reuse_total", workload=x.name, provider=ref.name)
    for _ in range(3):
        assert _token_of(_request(world, x, a, ref)), "a stored token was not reused"
    after = _metric(world, "proctor_consent_reuse_total", workload=x.name, provider=ref.name)
    assert after - before == 3, f"three reuses counted as {after - before}"


# -- pre-approval (CNS-PRE-001) --------------------------------------------------------------------


@check("CNS-PRE-001", "AUD-OPS-001", needs=[*BASE, "audit"], profiles=PROFILES)
def test_pre_approval_is_an_audited_admin_act(
    world: VaultWorld, positive_control: ControlFactory
) -> None:
    """Creating, replacing and deleting providers and API-key providers is audited with the
    provider and the configured scopes; the data plane offers no way to create, widen or
    extend a consent (CNS-PRE-001)."""
    x, _ = _workloads(world)
    name = world.fresh("pre")
    body = {
        "name": name,
        "vendor": "custom",
        "authorization_server_metadata": {
            "issuer": "https://as.conformance.example",
            "authorization_endpoint": "https://as.conformance.example/authorize",
            "token_endpoint": "https://as.conformance.example/token",
        },
        "client_id": "conformance-pre",
        "client_secret": "conformance-pre-secret-0001",
        "scopes": ["b.write", "a.read"],
    }
    world.target.add_secret(str(body["client_secret"]))
    path = f"/v1/providers/oauth2/{quote(name, safe='')}"
    created = world.admin("POST", "/v1/providers/oauth2", body)
    assert created.status_code == 201, f"create: HTTP {created.status_code}"
    world.adopt_provider(name)
    replaced = world.admin("PUT", path, {**body, "scopes": ["a.read"]})
    assert replaced.status_code == 200, f"replace: HTTP {replaced.status_code}"
    deleted = world.admin("DELETE", path)
    assert deleted.status_code == 204, f"delete: HTTP {deleted.status_code}"
    key_name, _ = world.api_key_provider([x.name])
    events = {
        e.get("operation"): e
        for operation in ("create", "replace", "delete")
        for e in audit_events(world.target, operation=f"oauth2_provider.{operation}")
        if e.get("provider") == name and e.get("decision") == "allow"
    }
    failures = []
    for operation, scopes in (
        ("oauth2_provider.create", ["a.read", "b.write"]),
        ("oauth2_provider.replace", ["a.read"]),
        ("oauth2_provider.delete", None),
    ):
        event = events.get(operation)
        if event is None:
            failures.append(f"no {operation} event")
        elif scopes is not None and event.get("scopes") != scopes:
            failures.append(f"{operation} records scopes {event.get('scopes')}")
    keys = [
        e
        for e in audit_events(world.target, operation="api_key_provider.create")
        if e.get("provider") == key_name
    ]
    if not any(e.get("operation") == "api_key_provider.create" for e in keys):
        failures.append("no api_key_provider.create event")
    control = positive_control(
        "the workload authenticates on the data plane",
        lambda: world.flows.api_key(x, world.flows.wat(x), key_name),
        expect=200,
    )
    with control.bracket():
        for method, path_ in (
            ("POST", "/v1/consents"),
            ("PUT", "/v1/consents/cns_" + "C" * 22),
            ("POST", "/v1/me/consents"),
        ):
            answer = world.target.client.request(
                method,
                world.target.url(path_),
                json={"provider": key_name, "scopes": ["x"]},
                headers=x.auth(),
            )
            if answer.is_success:
                failures.append(f"{method} {path_} with workload credentials: {answer.status_code}")
    assert not failures, "; ".join(failures)
