"""The service's own access tokens: format (AS-FMT-001..004) and validation (AS-FMT-005),
one test per rejection reason, each against the same valid token."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from proctor.reference.tokens import (
    AccessTokens,
    OwnTokenRejected,
    act_chain,
    act_depth,
    act_problem,
    revoked_ancestor,
)

from .conftest import ISSUER, Service, b64, decode, sign


def _issue(svc: Service, **changes: Any) -> str:
    now = int(svc.clock.now())
    options: dict[str, Any] = {
        "sub": "wl_a",
        "client_id": "wl_a",
        "aud": [ISSUER],
        "scopes": ("a", "b"),
        "exp": now + 600,
        "grant": "client_credentials",
    }
    options.update(changes)
    return svc.tokens.issue(**options).token


def _reason(tokens: AccessTokens, token: str) -> str:
    with pytest.raises(OwnTokenRejected) as rejected:
        tokens.validate(token)
    return rejected.value.reason


def _resign(svc: Service, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """Re-sign with the service's real current key (what only the service can do)."""
    key = svc.keys.signing_key()
    return sign({"kid": key.kid, "alg": key.alg, **header}, claims, key.jwk)  # type: ignore[arg-type]


def test_format(svc: Service) -> None:
    token = _issue(svc)
    header, claims = decode(token)
    assert header == {"alg": "ES256", "kid": svc.keys.signing_key().kid, "typ": "at+jwt"}
    assert set(claims) == {"iss", "sub", "aud", "client_id", "scope", "iat", "exp", "jti"}
    assert claims["scope"] == "a b"
    assert claims["aud"] == ISSUER
    assert len(bytes.fromhex(claims["jti"])) == 16  # 128 bits
    verified = svc.tokens.validate(token)
    assert verified.scopes == ("a", "b")
    assert verified.record.grant == "client_credentials"


def test_jti_values_are_unique(svc: Service) -> None:
    jtis = {decode(_issue(svc))[1]["jti"] for _ in range(200)}
    assert len(jtis) == 200


def test_malformed(svc: Service) -> None:
    for bad in ["", "abc", "a.b.c", _issue(svc) + ".x", "é.b.c", "x" * 20000]:
        assert _reason(svc.tokens, bad) == "malformed"


@pytest.mark.parametrize("typ", [None, "JWT", "id_token+jwt", "txntoken+jwt", "at+jwt2"])
def test_wrong_token_type(svc: Service, typ: str | None) -> None:
    _, claims = decode(_issue(svc))
    header = {} if typ is None else {"typ": typ}
    assert _reason(svc.tokens, _resign(svc, header, claims)) == "wrong_token_type"


def test_application_at_jwt_is_the_same_type(svc: Service) -> None:
    _, claims = decode(_issue(svc))
    token = _resign(svc, {"typ": "application/at+jwt"}, claims)
    assert svc.tokens.validate(token).jti == claims["jti"]


@pytest.mark.parametrize("alg", ["none", "HS256", "ES384", "PS256"])
def test_alg_not_allowed(svc: Service, alg: str) -> None:
    header, claims = decode(_issue(svc))
    forged = (
        f"{b64(json.dumps({**header, 'alg': alg}).encode())}.{b64(json.dumps(claims).encode())}."
    )
    assert _reason(svc.tokens, forged) == "alg_not_allowed"


def test_unknown_key(svc: Service) -> None:
    header, claims = decode(_issue(svc))
    stranger = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    assert _reason(svc.tokens, sign({**header, "kid": "nope"}, claims, stranger)) == "unknown_key"
    del header["kid"]
    assert _reason(svc.tokens, sign(header, claims, stranger)) == "unknown_key"


def test_bad_signature(svc: Service) -> None:
    header, claims = decode(_issue(svc))
    stranger = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    assert _reason(svc.tokens, sign(header, claims, stranger)) == "bad_signature"
    token = _issue(svc)
    h, _, s = token.split(".")
    tampered_claims = {**decode(token)[1], "scope": "a b admin"}
    tampered = f"{h}.{b64(json.dumps(tampered_claims).encode())}.{s}"
    assert _reason(svc.tokens, tampered) == "bad_signature"


def test_wrong_issuer(svc: Service) -> None:
    _, claims = decode(_issue(svc))
    token = _resign(svc, {"typ": "at+jwt"}, {**claims, "iss": "https://other.example"})
    assert _reason(svc.tokens, token) == "wrong_issuer"


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": "1"},
        {"aud": []},
        {"aud": [1]},
        {"scope": ["a"]},
        {"sub": ""},
        {"act": "x"},
        {"act": {"sub": "a", "exp": 1}},
        {"sub_id": "x"},
        {"jti": None},
    ],
)
def test_malformed_claims(svc: Service, changes: dict[str, Any]) -> None:
    _, claims = decode(_issue(svc))
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    assert _reason(svc.tokens, _resign(svc, {"typ": "at+jwt"}, claims)) == "malformed"


def test_expired_without_leeway(svc: Service) -> None:
    """TX-SUBJ-003: ``exp`` strictly later than now."""
    token = _issue(svc)
    svc.clock.advance(599)
    assert svc.tokens.validate(token)
    svc.clock.advance(1)
    assert _reason(svc.tokens, token) == "expired"


def test_not_yet_valid(svc: Service) -> None:
    _, claims = decode(_issue(svc))
    claims["iat"] += 31
    assert _reason(svc.tokens, _resign(svc, {"typ": "at+jwt"}, claims)) == "not_yet_valid"


def test_unknown_token(svc: Service) -> None:
    """Signed with the service's key but never recorded: not from the token endpoint."""
    _, claims = decode(_issue(svc))
    claims["jti"] = "f" * 32
    assert _reason(svc.tokens, _resign(svc, {"typ": "at+jwt"}, claims)) == "unknown_token"


def test_revoked_and_revoked_through_an_ancestor(svc: Service) -> None:
    parent = _issue(svc)
    parent_jti = decode(parent)[1]["jti"]
    child = _issue(
        svc,
        sub="user",
        grant="token_exchange",
        parents=[parent_jti],
        act={"sub": "wl_a", "iss": ISSUER},
    )
    grandchild = _issue(
        svc,
        sub="user",
        grant="token_exchange",
        parents=[decode(child)[1]["jti"]],
        act={"sub": "wl_b", "iss": ISSUER, "act": {"sub": "wl_a", "iss": ISSUER}},
    )
    assert svc.tokens.validate(grandchild).depth == 2
    svc.registry.mark_revoked(parent_jti, int(svc.clock.now()))
    assert _reason(svc.tokens, parent) == "revoked"
    assert _reason(svc.tokens, child) == "revoked"
    assert _reason(svc.tokens, grandchild) == "revoked"
    assert revoked_ancestor(svc.registry, decode(grandchild)[1]["jti"]) == parent_jti


def test_issue_refuses_misuse(svc: Service) -> None:
    now = int(svc.clock.now())
    with pytest.raises(ValueError, match="lifetime"):
        _issue(svc, exp=now + 901)
    with pytest.raises(ValueError, match="lifetime"):
        _issue(svc, exp=now)
    with pytest.raises(ValueError, match="aud"):
        _issue(svc, aud=[])
    with pytest.raises(ValueError, match="act"):
        _issue(svc, act={"sub": "x", "aud": "y"})


def test_act_helpers() -> None:
    act = {"sub": "c", "act": {"sub": "b", "act": {"sub": "a"}}}
    assert act_depth(act) == 3
    assert act_depth(None) == 0
    assert act_chain(act) == ["c", "b", "a"]
    assert act_problem(act) is None
    assert act_problem({"act": {"sub": "b"}}) is not None
    assert act_problem({"sub": "a", "act": ["x"]}) is not None
    deep: dict[str, Any] = {"sub": "0"}
    for i in range(16):
        deep = {"sub": str(i + 1), "act": deep}
    assert act_problem(deep) == "act is nested deeper than 16"


def test_a_token_seen_before_is_not_verified_again(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steps 1-6 are remembered per token; expiry, the registry and revocation are not
    (``test_expired_without_leeway`` and ``test_revoked_and_revoked_through_an_ancestor``
    validate the same token before and after)."""
    token = _issue(svc)
    verified: list[str] = []
    real = svc.keys.verifier

    def verifier(kid: str, alg: str) -> Any:
        check = real(kid, alg)
        if check is None:
            return None

        def counted(signing_input: bytes, signature: bytes) -> bool:
            verified.append(kid)
            return check(signing_input, signature)

        return counted

    monkeypatch.setattr(svc.keys, "verifier", verifier)
    first, second = svc.tokens.validate(token), svc.tokens.validate(token)
    assert len(verified) == 1
    assert first.claims == second.claims
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert _reason(svc.tokens, tampered) == "bad_signature"  # another token: verified
    assert len(verified) == 2
