"""The service as an OAuth client, against scripted answers (spec 05: PRV-AUTH-001/002,
PRV-VEND-004, VLT-CLI-001..004, VLT-PKCE-001/002, VLT-RVK-001/002; RFC 6749, 7009, 7523,
7636, 8693)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from proctor.reference.clock import ManualClock
from proctor.reference.errors import UpstreamError
from proctor.reference.keys import SigningKey
from proctor.reference.oauth_client import (
    ClientConfig,
    OAuthClient,
    ProviderRejected,
    ResponseRules,
    RevokeOutcome,
    authorization_url,
    code_challenge,
    new_code_verifier,
    new_state,
)
from proctor.reference.providers import PRESETS

TOKEN = "https://as.example/token"
START = 1_800_000_000

Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler, **kwargs: Any) -> tuple[OAuthClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http = httpx.Client(transport=httpx.MockTransport(record))
    return OAuthClient(http, ManualClock(START), **kwargs), seen


def ok(**members: Any) -> Handler:
    return lambda request: httpx.Response(200, json=members)


SECRET = "s3:cr%e+t/=="
BASIC = ClientConfig("client id:1", SECRET, "client_secret_basic")


def form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode(), keep_blank_values=True)


# -- PKCE and state (VLT-PKCE-001/002, VLT-STATE-001) --------------------------------------


def test_verifier_and_state_are_fresh_and_long() -> None:
    verifiers = {new_code_verifier() for _ in range(50)}
    assert len(verifiers) == 50
    for verifier in verifiers:
        assert 43 <= len(verifier) <= 128
        assert set(verifier) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
        )
    assert len({new_state() for _ in range(50)}) == 50
    assert all(len(new_state()) >= 43 for _ in range(5))


def test_s256_matches_rfc7636_appendix_b() -> None:
    """RFC 7636 Appendix B's worked example."""
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    digest = hashlib.sha256(verifier.encode()).digest()
    assert code_challenge(verifier) == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_authorization_url_keeps_the_endpoint_query() -> None:
    """RFC 6749 §3.1: the endpoint's query component is retained."""
    url = authorization_url("https://as.example/auth?tenant=a", [("scope", "a b"), ("x", "é")])
    assert url == "https://as.example/auth?tenant=a&scope=a%20b&x=%C3%A9"
    assert authorization_url("https://as.example/auth", [("a", "1")]) == (
        "https://as.example/auth?a=1"
    )


# -- client authentication (PRV-AUTH-001/002) -------------------------------------------------


def test_client_secret_basic_form_encodes_both_parts() -> None:
    """PRV-AUTH-001 (RFC 6749 §2.3.1): id and secret form-urlencoded before Basic; neither
    in the body."""
    oauth, seen = client_for(ok(access_token="a", token_type="Bearer"))
    oauth.client_credentials(TOKEN, BASIC, scopes=["x"])
    scheme, value = seen[0].headers["authorization"].split(" ")
    user, password = base64.b64decode(value).decode().split(":")
    assert scheme == "Basic"
    assert (unquote_plus(user), unquote_plus(password)) == ("client id:1", SECRET)
    assert "%" in password
    assert ":" not in user  # the colon inside the id is encoded
    body = form(seen[0])
    assert "client_secret" not in body
    assert "client_id" not in body


def test_client_secret_post_puts_credentials_in_the_body_only() -> None:
    oauth, seen = client_for(ok(access_token="a", token_type="Bearer"))
    oauth.client_credentials(TOKEN, ClientConfig("cid", SECRET, "client_secret_post"), scopes=[])
    assert "authorization" not in seen[0].headers
    body = form(seen[0])
    assert body["client_id"] == ["cid"]
    assert body["client_secret"] == [SECRET]
    assert "scope" not in body  # empty scopes: the provider's default


def test_private_key_jwt_sends_a_fresh_assertion_per_request() -> None:
    """PRV-AUTH-002 (RFC 7523 §3): iss = sub = client_id, single-string aud, fresh jti,
    exp at most 300 s after iat, signed by the service's key (kid); no secret anywhere."""
    private = ec.generate_private_key(ec.SECP256R1())
    key = SigningKey("kid-1", "ES256", private, ECKey.import_key(private))
    oauth, seen = client_for(ok(access_token="a", token_type="Bearer"), signing_key=lambda: key)
    client = ClientConfig("cid", None, "private_key_jwt", "https://as.example")
    oauth.client_credentials(TOKEN, client, scopes=["x"])
    oauth.client_credentials(TOKEN, client, scopes=["x"])
    assertions = []
    for request in seen:
        body = form(request)
        assert "authorization" not in request.headers
        assert "client_secret" not in body
        assert body["client_assertion_type"] == [
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ]
        token = body["client_assertion"][0]
        assert pyjwt.get_unverified_header(token)["kid"] == "kid-1"
        claims = pyjwt.decode(
            token,
            private.public_key(),
            algorithms=["ES256"],
            audience="https://as.example",
            options={"verify_exp": False, "verify_iat": False},
        )
        assert claims["iss"] == claims["sub"] == "cid"
        assert claims["aud"] == "https://as.example"
        assert 0 < claims["exp"] - claims["iat"] <= 300
        assert len(base64.urlsafe_b64decode(claims["jti"] + "==")) >= 16
        assertions.append(claims["jti"])
    assert assertions[0] != assertions[1]


# -- token responses (VLT-CLI-002/003/004, PRV-VEND-004) ---------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(400, json={"error": "invalid_grant"}),
        httpx.Response(200, json={"error": "invalid_grant", "access_token": "a"}),
        httpx.Response(500, text="boom"),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json=["a"]),
        httpx.Response(200, json={"token_type": "Bearer"}),
        httpx.Response(200, json={"access_token": "", "token_type": "Bearer"}),
        httpx.Response(200, json={"access_token": "a"}),
        httpx.Response(200, json={"access_token": "a", "token_type": "MAC"}),
        httpx.Response(200, json={"access_token": "a", "token_type": "Bearer", "expires_in": -1}),
        httpx.Response(200, json={"access_token": "a", "token_type": "Bearer", "expires_in": 1.5}),
        httpx.Response(200, json={"access_token": "a", "token_type": "Bearer", "expires_in": "1h"}),
        httpx.Response(200, json={"access_token": "a", "token_type": "Bearer", "expires_in": True}),
        httpx.Response(302, headers={"location": "https://elsewhere.example/token"}),
    ],
)
def test_unusable_token_responses_are_refused(response: httpx.Response) -> None:
    """VLT-CLI-002/003, VLT-CLI-001 (no redirects): 502, and the body is never repeated."""
    oauth, seen = client_for(lambda request: response)
    with pytest.raises(UpstreamError) as caught:
        oauth.refresh(TOKEN, BASIC, refresh_token="rt")
    assert len(seen) == 1  # no redirect followed
    assert "boom" not in caught.value.description
    assert "not json" not in caught.value.description


def test_the_providers_error_code_is_kept() -> None:
    """VLT-REF-003 needs the code; an invalid code becomes invalid_provider_response."""
    oauth, _ = client_for(lambda r: httpx.Response(400, json={"error": "invalid_grant"}))
    with pytest.raises(ProviderRejected) as caught:
        oauth.refresh(TOKEN, BASIC, refresh_token="rt")
    assert caught.value.error == "invalid_grant"
    oauth, _ = client_for(lambda r: httpx.Response(400, json={"error": 'x"\\y'}))
    with pytest.raises(ProviderRejected) as caught:
        oauth.refresh(TOKEN, BASIC, refresh_token="rt")
    assert caught.value.error == "invalid_provider_response"


def test_expiry_scopes_and_unknown_members() -> None:
    """VLT-CLI-003 (expires_at = request time + expires_in, digit strings accepted),
    VLT-CLI-004 (scope from the response), RFC 6749 §5.1 (unknown members ignored)."""
    oauth, _ = client_for(
        ok(access_token="a", token_type="bearer", expires_in="120", scope="b a", extra=[1])
    )
    tokens = oauth.refresh(TOKEN, BASIC, refresh_token="rt")
    assert (tokens.expires_at, tokens.expires_in, tokens.scopes) == (START + 120, 120, ("b", "a"))
    assert tokens.usable(START + 59)
    assert not tokens.usable(START + 60)  # margin = min(60, 120 // 2)
    oauth, _ = client_for(ok(access_token="a", token_type="Bearer"))
    untimed = oauth.refresh(TOKEN, BASIC, refresh_token="rt")
    assert untimed.expires_at is None
    assert untimed.scopes is None
    assert untimed.usable(START + 10**9)


def test_github_quirks() -> None:
    """PRV-VEND-004 (GitHub): Accept json sent; form-encoded bodies parsed; errors with 200;
    comma-separated scope; no expiry."""
    rules = PRESETS["github"].rules
    oauth, seen = client_for(
        lambda r: httpx.Response(
            200,
            content=b"access_token=gho_1&scope=repo%2Cgist&token_type=bearer",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    )
    tokens = oauth.redeem_code(
        TOKEN, BASIC, code="c", redirect_uri="https://s/cb", code_verifier="v", rules=rules
    )
    assert seen[0].headers["accept"] == "application/json"
    assert (tokens.access_token, tokens.scopes, tokens.expires_at) == (
        "gho_1",
        ("repo", "gist"),
        None,
    )
    oauth, _ = client_for(lambda r: httpx.Response(200, json={"error": "bad_verification_code"}))
    with pytest.raises(ProviderRejected) as caught:
        oauth.redeem_code(
            TOKEN, BASIC, code="c", redirect_uri="https://s/cb", code_verifier="v", rules=rules
        )
    assert caught.value.error == "bad_verification_code"


def test_slack_quirks() -> None:
    """PRV-VEND-004 (Slack): the user token in authed_user, token_type user; ok:false."""
    rules = PRESETS["slack"].rules
    body = {
        "ok": True,
        "access_token": "xoxb-bot",
        "token_type": "bot",
        "authed_user": {
            "id": "U1",
            "access_token": "xoxp-user",
            "token_type": "user",
            "scope": "search:read,chat:write",
            "refresh_token": "xoxe-1",
            "expires_in": 43200,
        },
    }
    oauth, _ = client_for(ok(**body))
    tokens = oauth.redeem_code(
        TOKEN, BASIC, code="c", redirect_uri="https://s/cb", code_verifier="v", rules=rules
    )
    assert (tokens.access_token, tokens.refresh_token) == ("xoxp-user", "xoxe-1")
    assert tokens.scopes == ("search:read", "chat:write")
    oauth, _ = client_for(ok(ok=False, error="invalid_code"))
    with pytest.raises(ProviderRejected) as caught:
        oauth.redeem_code(
            TOKEN, BASIC, code="c", redirect_uri="https://s/cb", code_verifier="v", rules=rules
        )
    assert caught.value.error == "invalid_code"


def test_requests_carry_the_grant_parameters() -> None:
    """VLT-CB-004, VLT-REF-001, VLT-RES-001: code redemption with verifier and
    redirect_uri; refresh without scope; repeated resource parameters."""
    oauth, seen = client_for(ok(access_token="a", token_type="Bearer"))
    oauth.redeem_code(
        TOKEN,
        BASIC,
        code="c1",
        redirect_uri="https://s/cb",
        code_verifier="v" * 43,
        resources=["https://r1", "https://r2"],
    )
    oauth.refresh(TOKEN, BASIC, refresh_token="rt", resources=["https://r1"])
    redeem, refresh = form(seen[0]), form(seen[1])
    assert redeem == {
        "grant_type": ["authorization_code"],
        "code": ["c1"],
        "redirect_uri": ["https://s/cb"],
        "code_verifier": ["v" * 43],
        "resource": ["https://r1", "https://r2"],
    }
    assert refresh == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["rt"],
        "resource": ["https://r1"],
    }
    assert seen[0].headers["content-type"] == "application/x-www-form-urlencoded"


def test_http_endpoints_are_refused_outside_development_mode() -> None:
    """VLT-CLI-001: https only; http on loopback only in development mode."""
    oauth, seen = client_for(ok(access_token="a", token_type="Bearer"))
    with pytest.raises(UpstreamError):
        oauth.refresh("http://as.example/token", BASIC, refresh_token="rt")
    assert seen == []
    dev, seen = client_for(ok(access_token="a", token_type="Bearer"), allow_loopback_http=True)
    dev.refresh("http://127.0.0.1:9000/token", BASIC, refresh_token="rt")
    with pytest.raises(UpstreamError):
        dev.refresh("http://as.example/token", BASIC, refresh_token="rt")
    assert len(seen) == 1


def test_transport_failures_are_upstream_errors() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("slow", request=request)

    oauth, _ = client_for(fail)
    with pytest.raises(UpstreamError):
        oauth.client_credentials(TOKEN, BASIC, scopes=[])


# -- revocation (VLT-RVK-001/002, RFC 7009) -------------------------------------------------


@pytest.mark.parametrize(
    ("response", "outcome"),
    [
        (httpx.Response(200, text="ignored body"), RevokeOutcome.REVOKED),
        (httpx.Response(503, headers={"retry-after": "5"}), RevokeOutcome.RETRY),
        (httpx.Response(400, json={"error": "unsupported_token_type"}), RevokeOutcome.UNSUPPORTED),
        (httpx.Response(400, json={"error": "invalid_request"}), RevokeOutcome.FAILED),
    ],
)
def test_revocation_outcomes(response: httpx.Response, outcome: RevokeOutcome) -> None:
    oauth, seen = client_for(lambda r: response)
    assert oauth.revoke(TOKEN, BASIC, token="rt-1", token_type_hint="refresh_token") is outcome
    assert form(seen[0]) == {"token": ["rt-1"], "token_type_hint": ["refresh_token"]}
    assert seen[0].headers["authorization"].startswith("Basic ")


def test_token_exchange_parameters() -> None:
    """VLT-OBO-002 (RFC 8693 §2.1): audience and resource repeated, token types named."""
    oauth, seen = client_for(
        ok(
            access_token="a",
            token_type="Bearer",
            issued_token_type="urn:ietf:params:oauth:token-type:access_token",
        )
    )
    oauth.token_exchange(
        TOKEN,
        BASIC,
        subject_token="user.jwt",
        subject_is_id_token=True,
        scopes=["a", "b"],
        audiences=["aud1", "aud2"],
        resources=["https://r"],
    )
    body = form(seen[0])
    assert body["grant_type"] == ["urn:ietf:params:oauth:grant-type:token-exchange"]
    assert body["subject_token_type"] == ["urn:ietf:params:oauth:token-type:id_token"]
    assert body["audience"] == ["aud1", "aud2"]
    assert body["resource"] == ["https://r"]
    assert body["scope"] == ["a b"]


def test_response_rules_default_to_rfc6749() -> None:
    assert ResponseRules().token_types == frozenset({"bearer"})
