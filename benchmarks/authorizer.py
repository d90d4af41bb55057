"""Throughput of the inbound authorizer against bare JOSE libraries, side by side.

Run: ``python benchmarks/authorizer.py [--seconds 24] [--tokens 200]``.

All contenders verify the *same* freshly signed tokens (ES256 on P-256, RS256 with a
2048-bit key) in interleaved rounds, so machine noise hits them alike:

- ``authorizer``: :class:`proctor.reference.authorizer.Authorizer` with the JWKS already
  cached (fetched once through an in-process ``httpx.MockTransport``) and the decision
  cache off, i.e. the full strict path: parse, alg allow-list, key lookup, signature,
  time, issuer, kind, audience, client, scope;
- ``joserfc``: ``jwt.decode`` + ``JWTClaimsRegistry.validate`` (iss, aud, exp, nbf, iat);
- ``pyjwt``: ``jwt.decode`` with audience, issuer and required ``exp``;
- ``raw``: split, base64url-decode and one ``cryptography`` verify, no claims at all;
- ``cached``: the authorizer with its decision cache, one token repeated.

Output is ``name=value`` lines: decisions per second and the ratios
``ratio_vs_joserfc_*`` (target >= 0.9), ``ratio_vs_pyjwt_*`` (target >= 1.2),
``ratio_vs_raw_*`` and ``cached_vs_raw_es256`` (target >= 5).
"""

from __future__ import annotations

import argparse
import base64
import gc
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt as pyjwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from joserfc.jwt import JWTClaimsRegistry

from proctor.reference.authorizer import Authorizer
from proctor.reference.authorizer_config import AuthorizerConfig
from proctor.reference.clock import SystemClock

ISSUER = "https://idp.bench.example/oauth2/default"
AUDIENCE = "api://bench"
CLIENT = "0oa-bench-client"
LEEWAY = 60


def _tokens(alg: str, key: ECKey | RSAKey, count: int, now: int) -> list[str]:
    out = []
    for i in range(count):
        claims = {
            "iss": ISSUER,
            "sub": f"user-{i}@example.com",
            "aud": AUDIENCE,
            "client_id": CLIENT,
            "scope": "crm.read notes.read openid",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "jti": f"AT.{i:08d}",
            "groups": ["sales", "everyone"],
        }
        header = {"alg": alg, "kid": key.kid, "typ": "at+jwt"}
        out.append(jwt.encode(header, claims, key, algorithms=[alg]))
    return out


def _authorizer(keys: list[ECKey | RSAKey], cache_size: int) -> Authorizer:
    jwks = {"keys": [k.as_dict(private=False) for k in keys]}
    discovery = {"issuer": ISSUER, "jwks_uri": f"{ISSUER}/v1/keys"}

    def idp(request: httpx.Request) -> httpx.Response:
        body = discovery if request.url.path.endswith("configuration") else jwks
        return httpx.Response(200, json=body, headers={"Cache-Control": "max-age=86400"})

    config = AuthorizerConfig.model_validate(
        {
            "name": "bench",
            "discovery_url": f"{ISSUER}/.well-known/openid-configuration",
            "allowed_audiences": [AUDIENCE],
            "allowed_clients": [CLIENT],
            "allowed_scopes": ["crm.read"],
            "algorithms": ["ES256", "RS256"],
            "leeway_seconds": LEEWAY,
        }
    )
    http = httpx.Client(transport=httpx.MockTransport(idp))
    return Authorizer.from_config(config, http=http, clock=SystemClock(), cache_size=cache_size)


def _raw_verifier(alg: str, key: ECKey | RSAKey) -> Callable[[str], None]:
    public: Any = key.public_key
    if alg == "ES256":
        ecdsa = ec.ECDSA(hashes.SHA256())

        def verify_es(token: str) -> None:
            head, payload, sig = token.split(".")
            raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
            r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            public.verify(encode_dss_signature(r, s), f"{head}.{payload}".encode(), ecdsa)

        return verify_es
    sha256, pkcs1 = hashes.SHA256(), padding.PKCS1v15()

    def verify_rs(token: str) -> None:
        head, payload, sig = token.split(".")
        raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
        public.verify(raw, f"{head}.{payload}".encode(), pkcs1, sha256)

    return verify_rs


def _measure(func: Callable[[str], Any], tokens: list[str], budget: float) -> tuple[int, float]:
    """Run ``func`` over ``tokens`` repeatedly for about ``budget`` seconds."""
    done, start = 0, time.perf_counter()
    deadline = start + budget
    while True:
        for token in tokens:
            func(token)
        done += len(tokens)
        now = time.perf_counter()
        if now >= deadline:
            return done, now - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=24.0, help="total measuring time")
    parser.add_argument("--tokens", type=int, default=200, help="distinct tokens per alg")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds")
    args = parser.parse_args(argv)

    now = int(time.time())
    es_key = ECKey.generate_key("P-256", parameters={"kid": "bench-es"})
    rs_key = RSAKey.generate_key(2048, parameters={"kid": "bench-rs"})
    tokens = {
        "es256": _tokens("ES256", es_key, args.tokens, now),
        "rs256": _tokens("RS256", rs_key, args.tokens, now),
    }
    keys: dict[str, ECKey | RSAKey] = {"es256": es_key, "rs256": rs_key}
    fresh = _authorizer([es_key, rs_key], cache_size=0)
    cached = _authorizer([es_key, rs_key], cache_size=10_000)

    registry = JWTClaimsRegistry(
        leeway=LEEWAY,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        exp={"essential": True},
    )
    contenders: dict[str, Callable[[str], Any]] = {}
    for name, key in keys.items():
        alg = name.upper()
        public_jwk: ECKey | RSAKey = (
            ECKey.import_key(key.as_dict(private=False))
            if isinstance(key, ECKey)
            else RSAKey.import_key(key.as_dict(private=False))
        )
        native = public_jwk.public_key

        def with_joserfc(token: str, k: Any = public_jwk, a: str = alg) -> None:
            registry.validate(jwt.decode(token, k, algorithms=[a]).claims)

        def with_pyjwt(token: str, k: Any = native, a: str = alg) -> None:
            pyjwt.decode(
                token,
                k,
                algorithms=[a],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY,
                options={"require": ["exp", "iss", "aud"]},
            )

        def with_authorizer(token: str) -> None:
            if not fresh.decide(token).allowed:
                raise AssertionError("the benchmark token was denied")

        contenders[f"authorizer_{name}"] = with_authorizer
        contenders[f"joserfc_{name}"] = with_joserfc
        contenders[f"pyjwt_{name}"] = with_pyjwt
        contenders[f"raw_{name}"] = _raw_verifier(alg, key)

    repeated = [tokens["es256"][0]]
    contenders["cached_es256"] = cached.decide

    # Sanity: every contender accepts every token before anything is timed.
    for label, func in contenders.items():
        for token in tokens[label.rsplit("_", 1)[1]][:3]:
            func(token)

    totals = {label: [0, 0.0] for label in contenders}
    slice_ = args.seconds / (args.rounds * len(contenders))
    gc.collect()
    for _ in range(args.rounds):
        for label, func in contenders.items():
            work = repeated if label.startswith("cached") else tokens[label.rsplit("_", 1)[1]]
            count, elapsed = _measure(func, work, slice_)
            totals[label][0] += count
            totals[label][1] += elapsed

    rate = {label: count / elapsed for label, (count, elapsed) in totals.items()}
    lines: dict[str, Any] = {f"{label}_per_s": round(value) for label, value in rate.items()}
    for name in ("es256", "rs256"):
        mine = rate[f"authorizer_{name}"]
        for other in ("joserfc", "pyjwt", "raw"):
            lines[f"ratio_vs_{other}_{name}"] = round(mine / rate[f"{other}_{name}"], 3)
    lines["cached_vs_raw_es256"] = round(rate["cached_es256"] / rate["raw_es256"], 2)
    lines["cache_hits"] = cached.cache_stats()["hits"]
    for name, value in lines.items():
        print(f"{name}={value}")


if __name__ == "__main__":
    main()
