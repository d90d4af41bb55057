"""Every decision reason code, each from a token that breaks exactly one rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from proctor.mock_idps.keys import SigningKey, generate_key
from proctor.reference.authorizer import REASONS, Authorizer
from proctor.reference.authorizer_config import AuthorizerConfig
from proctor.reference.clock import ManualClock

from .conftest import ISSUER

NOW = 1_800_000_000


def test_a_valid_token_is_allowed_with_its_identity(authorizer: Authorizer, mint: Any) -> None:
    decision = authorizer.decide(mint())
    assert decision.allowed
    assert decision.reason == "ok"
    identity = decision.identity
    assert identity is not None
    assert identity.issuer == "https://idp.example/oauth2/default"
    assert identity.subject == "sarah@example.com"
    assert identity.user_key == "sarah@example.com"
    assert identity.client_id == "client-1"
    assert identity.scopes == ("crm.read", "openid")
    assert identity.token_kind == "access_token"
    assert identity.exp == NOW + 600
    assert identity.claims["jti"] == "AT.1"
    with pytest.raises(TypeError):
        identity.claims["sub"] = "mallory"  # type: ignore[index]


def test_the_response_shape_of_allow_and_deny(authorizer: Authorizer, mint: Any) -> None:
    body = authorizer.decide(mint()).as_dict()
    assert body["decision"] == "allow"
    assert body["reason"] == "ok"
    assert set(body["identity"]) == {
        "issuer",
        "subject",
        "user_key",
        "client_id",
        "scopes",
        "claims",
    }
    assert body["identity"]["claims"]["groups"] == ["sales", "everyone"]
    assert body["identity"]["scopes"] == ["crm.read", "openid"]
    assert authorizer.decide("x.y.z").as_dict() == {"decision": "deny", "reason": "malformed"}


# One row per reason: (claim changes, header changes, config changes, expected reason).
CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("expired", {"exp": NOW - 61}, {}, {}),
    ("not_yet_valid", {"nbf": NOW + 61}, {}, {}),
    ("not_yet_valid", {"iat": NOW + 61}, {}, {}),
    ("wrong_issuer", {"iss": "https://idp.example/oauth2/other"}, {}, {}),
    ("wrong_audience", {"aud": "api://someone-else"}, {}, {}),
    ("client_not_allowed", {"client_id": "client-2"}, {}, {}),
    ("scope_not_allowed", {"scope": "openid profile"}, {}, {}),
    ("wrong_token_kind", {}, {"typ": "JWT"}, {}),
    ("malformed", {"exp": "tomorrow"}, {}, {}),
    ("malformed", {"sub": None}, {}, {}),
    (
        "claim_rule_failed:groups",
        {"groups": ["everyone"]},
        {},
        {
            "custom_claims": [
                {
                    "claim": "groups",
                    "operator": "contains",
                    "value": "sales",
                    "value_type": "string",
                }
            ]
        },
    ),
]


@pytest.mark.parametrize(
    ("reason", "claims", "header", "changes"), CASES, ids=[c[0] for c in CASES]
)
def test_each_broken_rule_has_its_reason(
    make_authorizer: Callable[..., Authorizer],
    make_config: Callable[..., AuthorizerConfig],
    mint: Any,
    reason: str,
    claims: dict[str, Any],
    header: dict[str, Any],
    changes: dict[str, Any],
) -> None:
    authorizer = make_authorizer(make_config(**changes))
    assert authorizer.decide(mint()).allowed  # positive control: the same setup allows
    decision = authorizer.decide(mint(claims, header=header))
    assert (decision.allowed, decision.reason, decision.identity) == (False, reason, None)
    # INB-DEC-005: a deny carries exactly the reason, nothing taken from the token
    assert decision.as_dict() == {"decision": "deny", "reason": reason}
    # AUD-EVT-003: a deny after the signature and the issuer verified names the user for
    # the audit log; one before (or a malformed payload) names nobody.
    if reason in {"wrong_issuer", "wrong_token_kind", "malformed"}:
        assert decision.verified_user is None
    else:
        assert decision.verified_user == (ISSUER, "sarah@example.com")


def test_bad_signature(authorizer: Authorizer, mint: Any) -> None:
    head, body, sig = mint().split(".")
    flipped = ("B" if sig[0] == "A" else "A") + sig[1:]
    assert authorizer.decide(f"{head}.{body}.{flipped}").reason == "bad_signature"


def test_unknown_key(authorizer: Authorizer, mint: Any) -> None:
    stranger = SigningKey(generate_key("ES256"), "ES256", published=False)
    assert authorizer.decide(mint(key=stranger)).reason == "unknown_key"


def test_alg_not_allowed(
    make_authorizer: Callable[..., Authorizer],
    make_config: Callable[..., AuthorizerConfig],
    mint: Any,
) -> None:
    authorizer = make_authorizer(make_config(algorithms=["ES256"]))
    assert authorizer.decide(mint(purpose="es")).allowed
    assert authorizer.decide(mint()).reason == "alg_not_allowed"  # RS256


def test_malformed(authorizer: Authorizer) -> None:
    assert authorizer.decide("not a token").reason == "malformed"


def test_every_reason_code_is_covered() -> None:
    covered = {reason for reason, *_ in CASES} | {
        "ok",
        "alg_not_allowed",
        "bad_signature",
        "unknown_key",
        "malformed",
    }
    assert set(REASONS) <= covered


@pytest.mark.parametrize(
    ("changes", "allowed"),
    [
        ({"exp": NOW - 59}, True),  # inside the 60 s leeway
        ({"exp": NOW - 60}, False),  # RFC 7519 §4.1.4: "on or after" exp + leeway
        ({"nbf": NOW + 60}, True),
        ({"iat": NOW + 60}, True),
        ({"nbf": NOW + 60.5}, False),
    ],
)
def test_leeway_is_applied_exactly(
    authorizer: Authorizer, mint: Any, changes: dict[str, Any], allowed: bool
) -> None:
    assert authorizer.decide(mint(changes)).allowed is allowed


def test_zero_leeway(
    make_authorizer: Callable[..., Authorizer],
    make_config: Callable[..., AuthorizerConfig],
    mint: Any,
    clock: ManualClock,
) -> None:
    authorizer = make_authorizer(make_config(leeway_seconds=0))
    token = mint({"exp": NOW + 10})
    assert authorizer.decide(token).allowed
    clock.advance(10)
    assert authorizer.decide(token).reason == "expired"


def test_misuse_raises(authorizer: Authorizer, mint: Any) -> None:
    with pytest.raises(TypeError):
        authorizer.decide(mint().encode())
    with pytest.raises(ValueError, match="kind"):
        authorizer.decide(mint(), "refresh_token")  # type: ignore[arg-type]


def test_an_idp_that_never_answered_gives_unknown_key(
    idp: Any, authorizer: Authorizer, mint: Any, clock: ManualClock
) -> None:
    """INB-DISC-001, INB-JWKS-003: no usable metadata yet → deny, never an error."""
    idp.failure = 503
    assert authorizer.decide(mint()).reason == "unknown_key"
    assert authorizer.decide("a.b").reason == "malformed"  # earlier checks still decide
    idp.failure = None
    assert authorizer.decide(mint()).reason == "unknown_key"  # retry waits the interval
    clock.advance(60)
    assert authorizer.decide(mint()).allowed


@pytest.mark.parametrize(
    ("claims", "header", "reason"),
    [
        # Table 2.2: the lowest-numbered failing check wins (INB-ORDER-001).
        ({"iss": "https://elsewhere.example", "exp": NOW - 3600}, {}, "wrong_issuer"),
        ({"exp": NOW - 3600, "nbf": NOW + 3600}, {}, "expired"),
        ({"nbf": NOW + 3600, "nonce": "n"}, {}, "not_yet_valid"),
        ({"nonce": "n", "aud": "api://other"}, {}, "wrong_token_kind"),
        ({"aud": "api://other", "client_id": "client-2"}, {}, "wrong_audience"),
        ({"client_id": "client-2", "scope": "openid"}, {}, "client_not_allowed"),
        ({"scope": "openid", "groups": []}, {}, "scope_not_allowed"),
        ({"sub": 7, "iss": "https://elsewhere.example"}, {}, "malformed"),
        ({"iss": "https://elsewhere.example"}, {"typ": "JWT", "kid": "nobody"}, "wrong_token_kind"),
    ],
)
def test_the_first_failing_check_is_the_reason(
    make_authorizer: Callable[..., Authorizer],
    make_config: Callable[..., AuthorizerConfig],
    mint: Any,
    claims: dict[str, Any],
    header: dict[str, Any],
    reason: str,
) -> None:
    rule = {"claim": "groups", "operator": "contains", "value": "sales", "value_type": "string"}
    authorizer = make_authorizer(make_config(custom_claims=[rule]))
    assert authorizer.decide(mint()).allowed
    assert authorizer.decide(mint(claims, header=header)).reason == reason


def test_unknown_kid_comes_before_the_signature(authorizer: Authorizer, mint: Any) -> None:
    head, body, sig = mint(header={"kid": "nobody"}).split(".")
    assert authorizer.decide(f"{head}.{body}.{'A' * len(sig)}").reason == "unknown_key"


def test_alg_comes_before_typ_and_key(authorizer: Authorizer, mint: Any, forge: Any) -> None:
    header, payload, sig = forge.segments(mint({"iss": "https://elsewhere.example"}))
    token = forge.token({**header, "alg": "PS256", "typ": "JWT", "kid": "nobody"}, payload, sig)
    assert authorizer.decide(token).reason == "alg_not_allowed"
