"""The 3-legged flow: sessions, PKCE and state, the callback, completion, polling, expiry,
reuse and refresh (spec 05: VLT-SESS-*, VLT-PKCE-*, VLT-STATE-*, VLT-CB-*, VLT-BIND-*,
VLT-3LO-*, VLT-REF-*)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.anyio


def _s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


async def _started(world: Any, workload: Any, wat: str, **body: Any) -> dict[str, Any]:
    started: dict[str, Any] = (await world.resource(workload, wat, **body)).json()
    assert started["session_status"] == "in_progress"
    return started


# -- the authorization request (VLT-SESS-001/003, VLT-PKCE-001/002, VLT-STATE-001) ------------


async def test_authorization_url_carries_pkce_s256_and_a_fresh_state(world: Any, h: Any) -> None:
    """VLT-SESS-003, VLT-PKCE-001/002, VLT-STATE-001, VLT-SESS-001, PRV-VEND-003."""
    workload = await world.setup()
    wat = await world.wat(workload)
    first = await _started(world, workload, wat, custom_state="app-ctx-1")
    second = await _started(world, workload, wat)
    url = first["authorization_url"]
    assert url.startswith(world.okta.url("authorize", "crm") + "?")
    params = h.form_of(url)
    assert params["response_type"] == "code"
    assert params["client_id"] == h.AGENT
    assert params["redirect_uri"] == h.CALLBACK
    assert params["scope"] == "notes.read offline_access"  # the okta preset adds offline_access
    assert params["code_challenge_method"] == "S256"
    assert len(params["state"]) >= 43
    assert first["session_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert len(first["session_uri"]) - len("urn:ietf:params:oauth:request_uri:") >= 43
    # The verifier is stored (sealed), never in the URL; the challenge is its S256.
    secrets_ = h.session_secrets(world.service, first["session_uri"])
    verifier = secrets_["code_verifier"]
    assert 43 <= len(verifier) <= 128
    assert params["code_challenge"] == _s256(verifier)
    assert verifier not in url
    assert secrets_["state"] == params["state"]
    # Independent values: state, session URI, custom_state and the other session's.
    other = h.form_of(second["authorization_url"])
    assert other["state"] != params["state"]
    assert other["code_challenge"] != params["code_challenge"]
    assert params["state"] not in first["session_uri"]
    assert "app-ctx-1" not in url
    assert first["session_uri"] not in url


# -- the callback (VLT-CB-001..006, VLT-STATE-002) ----------------------------------------


async def _assert_error_page(response: Any, cause: str) -> None:
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "location" not in response.headers
    assert cause in response.text
    assert "<script" not in response.text.lower()
    assert "<form" not in response.text.lower()


async def test_forged_state_is_refused_and_nothing_happens(world: Any, h: Any) -> None:
    """VLT-CB-001: an unknown state gets an error page, no redemption, no redirect."""
    workload = await world.setup()
    wat = await world.wat(workload)
    started = await _started(world, workload, wat)
    world.okta.clear_requests()
    response = await world.client.get(
        "/oauth2/callback", params={"code": "stolen-code", "state": "forged-" + "x" * 40}
    )
    await _assert_error_page(response, "state_unknown")
    assert world.okta.requests("token") == []
    record = world.components.sessions.repository.get(started["session_uri"])
    assert record.status == "in_progress"
    assert not record.state_consumed
    missing = await world.client.get("/oauth2/callback", params={"code": "c"})
    await _assert_error_page(missing, "state_missing")
    events = await world.audit(operation="session.callback")
    assert [(e["decision"], e["reason"]) for e in events] == [
        ("deny", "state_unknown"),
        ("deny", "state_missing"),
    ]


async def test_a_replayed_callback_redeems_nothing(world: Any, h: Any) -> None:
    """VLT-STATE-002, VLT-CB-001, VLT-CB-004: the state is single-use."""
    workload = await world.setup()
    wat = await world.wat(workload)
    started = await _started(world, workload, wat)
    callback_url = await world.authorize(started["authorization_url"])
    first = await world.callback(callback_url)
    assert first.status_code == 303
    world.okta.clear_requests()
    replay = await world.callback(callback_url)
    await _assert_error_page(replay, "state_replayed")
    assert world.okta.requests("token") == []
    record = world.components.sessions.repository.get(started["session_uri"])
    assert record.status == "authorized"


async def test_an_expired_session_refuses_callback_poll_and_completion(world: Any, h: Any) -> None:
    """VLT-SESS-005 (default 10 minutes), VLT-CB-001, VLT-BIND-003: session_expired,
    never in_progress; nothing is redeemed or stored."""
    workload = await world.setup()
    wat = await world.wat(workload)
    started = await _started(world, workload, wat)
    callback_url = await world.authorize(started["authorization_url"])
    world.advance(599)
    poll = await world.resource(workload, wat, session_uri=started["session_uri"])
    assert poll.json()["session_status"] == "in_progress"
    world.advance(1)
    world.okta.clear_requests()
    response = await world.callback(callback_url)
    await _assert_error_page(response, "session_expired")
    assert world.okta.requests("token") == []
    wat = await world.wat(workload)
    poll = await world.resource(workload, wat, session_uri=started["session_uri"], expect=400)
    assert poll.json()["code"] == "session_expired"
    completion = await world.complete(workload, started["session_uri"], expect=400)
    assert completion.json()["code"] == "session_expired"
    assert h.entry_secrets(world.service, world.key(workload)) is None


async def test_provider_error_fails_the_session_and_returns_to_the_app(world: Any, h: Any) -> None:
    """VLT-CB-002: error=access_denied consumes the state, fails the session, no token
    request, 303 to the return URL with session_id and error; polls get session_failed."""
    workload = await world.setup()
    wat = await world.wat(workload)
    started = await _started(world, workload, wat, custom_state="ctx-7")
    state = h.form_of(started["authorization_url"])["state"]
    world.okta.clear_requests()
    response = await world.client.get(
        "/oauth2/callback",
        params={
            "state": state,
            "error": "access_denied",
            "error_description": "<script>alert(1)</script>",
            "error_uri": "https://evil.example/",
        },
    )
    assert response.status_code == 303
    assert response.headers["referrer-policy"] == "no-referrer"
    location = response.headers["location"]
    assert location.startswith(h.RETURN_URL + "?")
    assert h.form_of(location) == {
        "session_id": started["session_uri"],
        "custom_state": "ctx-7",
        "error": "access_denied",
    }
    assert world.okta.requests("token") == []
    poll = await world.resource(workload, wat, session_uri=started["session_uri"], expect=400)
    assert poll.json()["code"] == "session_failed"
    assert poll.json()["reason"] == "access_denied"
    again = await world.client.get("/oauth2/callback", params={"state": state, "code": "c"})
    await _assert_error_page(again, "state_replayed")


async def test_a_mismatched_issuer_fails_the_session(world: Any, h: Any) -> None:
    """VLT-CB-003 (RFC 9207): an ``iss`` other than the provider's issuer, no redemption."""
    workload = await world.setup()
    wat = await world.wat(workload)
    started = await _started(world, workload, wat)
    callback_url = await world.authorize(started["authorization_url"])
    world.okta.clear_requests()
    response = await world.callback(callback_url + "&iss=https%3A%2F%2Fevil.example")
    assert response.status_code == 303
    assert h.form_of(response.headers["location"])["error"] == "iss_mismatch"
    assert world.okta.requests("token") == []


async def test_redirect_goes_only_to_the_exact_registered_return_url(world: Any, h: Any) -> None:
    """VLT-SESS-002, VLT-CB-005: exact string match; 303 with session_id (and
    custom_state), never the code or the state."""
    await world.setup_authorizer()
    await world.provider()
    workload = await world.workload(allowed_return_urls=[h.RETURN_URL, h.OTHER_RETURN_URL])
    wat = await world.wat(workload)
    for near_miss in (
        h.OTHER_RETURN_URL + "/",
        h.OTHER_RETURN_URL.upper(),
        h.OTHER_RETURN_URL + "?x=1",
        "https://evil.example/oauth/other",
    ):
        refused = await world.resource(workload, wat, return_url=near_miss, expect=400)
        assert refused.json()["code"] == "return_url_not_allowed"
    # Two registered URLs and none named: the service cannot choose.
    refused = await world.resource(workload, wat, expect=400)
    assert refused.json()["code"] == "return_url_not_allowed"
    started = await _started(world, workload, wat, return_url=h.OTHER_RETURN_URL)
    callback_url = await world.authorize(started["authorization_url"])
    response = await world.callback(callback_url + "&return_url=https%3A%2F%2Fevil.example")
    assert response.status_code == 303
    location = response.headers["location"]
    assert location == h.OTHER_RETURN_URL + "?session_id=" + started["session_uri"].replace(
        ":", "%3A"
    )
    query = h.form_of(callback_url)
    assert query["code"] not in location
    assert query["state"] not in location
    assert world.components.sessions.repository.get(started["session_uri"]).status == ("authorized")


# -- completion (VLT-BIND-001..003) -------------------------------------------------------


async def test_completion_by_another_user_fails_and_discards_the_tokens(world: Any, h: Any) -> None:
    """VLT-BIND-002: Bob completing Sarah's session gets 403 session_user_mismatch; the
    pending tokens are revoked upstream, nothing enters the vault, the session is gone."""
    workload = await world.setup()
    wat = await world.wat(workload)
    started = await _started(world, workload, wat)
    await world.callback(await world.authorize(started["authorization_url"]))
    pending = h.session_secrets(world.service, started["session_uri"])["tokens"]
    world.okta.clear_requests()
    refused = await world.complete(workload, started["session_uri"], user=h.BOB, expect=403)
    assert refused.json()["code"] == "session_user_mismatch"
    hints = [e.form.get("token_type_hint") for e in world.okta.requests("revoke")]
    assert hints == ["refresh_token", "access_token"]
    introspected = await world.okta_post("introspect", {"token": pending["access_token"]})
    assert introspected.json()["active"] is False
    assert h.entry_secrets(world.service, world.key(workload)) is None
    assert h.entry_secrets(world.service, world.key(workload, h.BOB)) is None
    consents = await world.client.get("/v1/consents", headers=h.ADMIN)
    assert consents.json()["items"] == []
    for user in (h.SARAH, h.BOB):
        gone = await world.complete(workload, started["session_uri"], user=user, expect=404)
        assert gone.json()["code"] == "session_not_found"
    poll = await world.resource(workload, wat, session_uri=started["session_uri"], expect=404)
    assert poll.json()["code"] == "session_not_found"


async def test_completion_at_the_wrong_moment(world: Any, h: Any) -> None:
    """VLT-BIND-003: before the callback 409 (session unchanged); a repeated completion by
    the same user 200 and no change; a user-id completion of a JWT session mismatches."""
    workload = await world.setup()
    wat = await world.wat(workload)
    started = await _started(world, workload, wat)
    early = await world.complete(workload, started["session_uri"], expect=409)
    assert early.json()["code"] == "conflict"
    await world.callback(await world.authorize(started["authorization_url"]))
    await world.complete(workload, started["session_uri"])
    entry = h.entry_secrets(world.service, world.key(workload))
    await world.complete(workload, started["session_uri"])
    assert h.entry_secrets(world.service, world.key(workload)) == entry
    by_id = await world.client.post(
        "/v1/sessions/complete",
        headers=workload.auth,
        json={"session_uri": started["session_uri"], "user_id": "00usarah000000000001"},
    )
    assert by_id.status_code == 403
    assert by_id.json()["code"] == "session_user_mismatch"


async def test_sessions_of_another_workload_do_not_exist(world: Any, h: Any) -> None:
    """VLT-PART-002: a foreign session and an unknown one get identical 404 bodies, in
    polls and in completions, and the session is unaffected."""
    workload = await world.setup()
    other = await world.workload("reporter")
    wat = await world.wat(workload)
    other_wat = await world.wat(other)
    started = await _started(world, workload, wat)
    unknown = "urn:ietf:params:oauth:request_uri:" + "A" * 43
    bodies = []
    for uri in (started["session_uri"], unknown):
        poll = await world.resource(other, other_wat, session_uri=uri, expect=404)
        complete = await world.complete(other, uri, expect=404)
        bodies.append((h.without_request_id(poll.json()), h.without_request_id(complete.json())))
    assert bodies[0] == bodies[1]
    assert bodies[0][0]["code"] == "session_not_found"
    # Sarah's session for another provider does not exist either.
    await world.provider("crm2")
    wrong_provider = await world.resource(
        workload, wat, provider="crm2", session_uri=started["session_uri"], expect=404
    )
    assert h.without_request_id(wrong_provider.json()) == bodies[0][0]
    assert world.components.sessions.repository.get(started["session_uri"]).status == (
        "in_progress"
    )


async def test_polling_answers_in_progress_then_the_token(world: Any, h: Any) -> None:
    """VLT-SESS-004: the same authorization_url while in progress (also after the callback,
    until completion), then the token; a poll never starts a session."""
    workload = await world.setup()
    wat = await world.wat(workload)
    started = await _started(world, workload, wat)
    for _ in range(2):
        poll = await world.resource(workload, wat, session_uri=started["session_uri"])
        assert poll.json() == started
    await world.callback(await world.authorize(started["authorization_url"]))
    poll = await world.resource(workload, wat, session_uri=started["session_uri"])
    assert poll.json() == started
    wider = await world.resource(
        workload, wat, session_uri=started["session_uri"], scopes=["notes.write"], expect=400
    )
    assert wider.json()["code"] == "validation_failed"
    await world.complete(workload, started["session_uri"])
    wat2 = await world.wat(workload)  # bound to (workload, user), not to the WAT string
    token = (await world.resource(workload, wat2, session_uri=started["session_uri"])).json()
    assert set(token) == {"access_token", "expires_at", "scopes"}
    assert token["scopes"] == ["notes.read"]
    prompts = await world.audit(operation="consent.prompt")
    assert len(prompts) == 1


# -- reuse, refresh, re-authorization (VLT-3LO-001/002, VLT-REF-001..003) --------------------


async def test_a_stored_token_is_reused_only_while_usable_and_covering(world: Any, h: Any) -> None:
    """VLT-3LO-001, VLT-CLI-003: reuse without contacting the provider until the margin;
    wider scopes need a new authorization."""
    workload = await world.setup()
    wat = await world.wat(workload)
    token = await world.consent_flow(workload, wat)
    world.okta.clear_requests()
    world.advance(3600 - 61)  # expires_in 3600: margin 60 s
    wat = await world.wat(workload)
    assert (await world.resource(workload, wat)).json() == token
    assert world.okta.requests() == []
    wider = (await world.resource(workload, wat, scopes=["notes.read", "notes.write"])).json()
    assert wider["session_status"] == "in_progress"
    world.advance(1)  # now inside the margin: refreshed
    refreshed = (await world.resource(workload, wat)).json()
    assert refreshed["access_token"] != token["access_token"]
    assert len(world.token_requests("refresh_token")) == 1


async def test_refresh_rotates_and_stores_the_new_refresh_token(world: Any, h: Any) -> None:
    """VLT-REF-001 (RFC 6749 §6, RFC 9700 §4.14.2): the rotated refresh token replaces the
    old one in the entry; the old one is spent at the provider."""
    workload = await world.setup()
    wat = await world.wat(workload)
    await world.consent_flow(workload, wat)
    before = h.entry_secrets(world.service, world.key(workload))
    world.advance(3600)
    wat = await world.wat(workload)
    refreshed = (await world.resource(workload, wat)).json()
    after = h.entry_secrets(world.service, world.key(workload))
    assert after["access_token"] == refreshed["access_token"]
    assert after["refresh_token"] != before["refresh_token"]
    sent = world.token_requests("refresh_token")
    assert len(sent) == 1
    assert "scope" not in sent[0].form  # the original grant is kept
    events = await world.audit(operation="resource_token.refresh")
    assert [(e["decision"], e["scopes"]) for e in events] == [("allow", ["notes.read"])]
    # The old refresh token is spent (presenting it now would also revoke the family).
    old = await world.okta_post("introspect", {"token": before["refresh_token"]})
    assert old.json()["active"] is False


async def test_a_rejected_refresh_falls_through_to_a_new_authorization(world: Any, h: Any) -> None:
    """VLT-REF-003: invalid_grant deletes the tokens and answers authorization_url."""
    workload = await world.setup()
    wat = await world.wat(workload)
    await world.consent_flow(workload, wat)
    tokens = h.entry_secrets(world.service, world.key(workload))
    revoked = await world.okta_post(
        "revoke", {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"}
    )
    assert revoked.status_code == 200
    world.advance(3600)
    wat = await world.wat(workload)
    answer = (await world.resource(workload, wat)).json()
    assert answer["session_status"] == "in_progress"
    assert h.entry_secrets(world.service, world.key(workload)) is None
    events = await world.audit(operation="resource_token.refresh")
    assert [(e["decision"], e["reason"]) for e in events] == [("deny", "invalid_grant")]


async def test_a_provider_outage_during_refresh_changes_nothing(world: Any, h: Any) -> None:
    """VLT-REF-003: a 5xx is 502 upstream_error and leaves the entry as it was."""
    workload = await world.setup()
    wat = await world.wat(workload)
    await world.consent_flow(workload, wat)
    before = h.entry_secrets(world.service, world.key(workload))
    world.advance(3600)
    wat = await world.wat(workload)
    world.okta.fault("token", status=503, count=1, server="crm")
    failed = await world.resource(workload, wat, expect=502)
    assert failed.json()["code"] == "upstream_error"
    assert h.entry_secrets(world.service, world.key(workload)) == before
    recovered = (await world.resource(workload, wat)).json()
    assert "access_token" in recovered


async def test_force_authentication_starts_a_session_and_keeps_the_entry(
    world: Any, h: Any
) -> None:
    """VLT-3LO-002: force_authentication skips reuse and refresh; the old entry stays usable
    until the new session completes and replaces it."""
    workload = await world.setup()
    wat = await world.wat(workload)
    token = await world.consent_flow(workload, wat)
    forced = (await world.resource(workload, wat, force_authentication=True)).json()
    assert forced["session_status"] == "in_progress"
    assert (await world.resource(workload, wat)).json() == token
    await world.callback(await world.authorize(forced["authorization_url"]))
    await world.complete(workload, forced["session_uri"])
    replaced = (await world.resource(workload, wat)).json()
    assert replaced["access_token"] != token["access_token"]


async def test_callback_location_is_only_the_return_url(world: Any, h: Any) -> None:
    """VLT-CB-005: 303 (never 302/307), path and host of the registered return URL."""
    workload = await world.setup()
    wat = await world.wat(workload)
    started = await _started(world, workload, wat)
    response = await world.callback(await world.authorize(started["authorization_url"]))
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "app.example",
        "/oauth/return",
    )
