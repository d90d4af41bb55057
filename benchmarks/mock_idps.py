"""Token minting throughput of the mock IdPs against raw joserfc signing, side by side.

Run: ``python benchmarks/mock_idps.py [--seconds 8] [--rounds 6] [--vendors okta entra ...]``.

Each vendor mints an app-only access token by client credentials with its default
configuration, the way its own clients ask for one (Okta ``scope=crm.read`` on the
``default`` server, Entra ``scope=api://proctor-crm/.default`` in the home tenant, Cognito
``scope=crm-api/notes.read`` by the M2M app client, the ``finance`` provider
``scope=spend.read``). Four contenders per vendor, in interleaved rounds so machine noise
hits all alike:

- ``engine``: :meth:`Engine.run_grant`: the grant checks, the vendor's scope rules and
  claim shaping, signing with the issuer's active key and recording the token (everything
  but HTTP and client authentication);
- ``mint``: the admin minting path (``POST /_mock/tokens`` without HTTP);
- ``token_endpoint``: the whole request through the ASGI app over
  ``httpx.ASGITransport`` (form parsing, client authentication, the grant, the JSON body);
- ``raw``: ``joserfc.jws.serialize_compact`` of the very header and payload the engine
  produced, with the same key.

Output is ``name=value`` lines: ``<vendor>_<contender>_per_s`` (tokens per second, the
median over the rounds) and ``<vendor>_ratio_<contender>_vs_raw`` (the median of the ratios
measured in the same round, so load that drifts during the run cancels out; 1.0 would mean
the emulator adds nothing to the signature).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx
from joserfc import jws

from proctor.mock_idps.app import create_app
from proctor.mock_idps.engine import Engine
from proctor.mock_idps.messages import Params
from proctor.mock_idps.minting import MintRequest, mint

# vendor -> (client_id, scope) of a client-credentials request in the default configuration
SCENARIOS: dict[str, tuple[str, str]] = {
    "okta": ("0oaproctoragent0app7", "crm.read"),
    "entra": ("a9e1c7f2-3b4d-4e5f-8a6b-7c8d9e0f1a2b", "api://proctor-crm/.default"),
    "cognito": ("6proctorm2m000client000003", "crm-api/notes.read"),
    "finance": ("proctor-finance", "spend.read"),
}


def _segment(token: str, index: int) -> bytes:
    part = token.split(".")[index]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _contenders(vendor: str) -> dict[str, Callable[[], Any]]:
    client_id, scope = SCENARIOS[vendor]
    app = create_app(vendor)
    engine: Engine = app.engine
    server = engine.server()
    client = engine.client(client_id)
    if client is None or client.client_secret is None:
        raise LookupError(f"{vendor}: no confidential client {client_id!r}")
    form = {"grant_type": "client_credentials", "scope": scope}
    params = Params(tuple(form.items()))

    def engine_path() -> Any:
        return engine.run_grant(server, client, params)

    token = engine_path()["access_token"]
    header = json.loads(_segment(token, 0))
    payload = _segment(token, 1)
    signer = engine.keyring(server.id).find(header["kid"])
    if signer is None:
        raise LookupError(f"{vendor}: the token's key is not in the issuer's ring")

    def raw() -> Any:
        return jws.serialize_compact(header, payload, signer.key, algorithms=[signer.alg])

    if raw().split(".")[:2] != token.split(".")[:2]:
        raise RuntimeError(f"{vendor}: raw signing does not reproduce the engine's token")
    request = MintRequest(server=server.id, app=True, client_id=client.client_id)

    def minted() -> Any:
        return mint(engine, request)

    loop = asyncio.new_event_loop()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=engine.base_url)
    body = {**form, "client_id": client.client_id, "client_secret": client.client_secret}

    def token_endpoint() -> Any:
        response = loop.run_until_complete(http.post(server.url("token"), data=body))
        if response.status_code != 200:
            raise RuntimeError(f"{vendor}: {response.text}")
        return response

    token_endpoint()  # fail early if the path is broken
    return {"engine": engine_path, "mint": minted, "token_endpoint": token_endpoint, "raw": raw}


def _rate(fn: Callable[[], Any], seconds: float) -> tuple[int, float]:
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(10):
            fn()
        count += 10
        now = time.perf_counter()
        if now >= deadline:
            return count, now - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measuring time per vendor")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--vendors", nargs="*", default=list(SCENARIOS), choices=list(SCENARIOS))
    args = parser.parse_args()
    contenders = {vendor: _contenders(vendor) for vendor in args.vendors}
    slots = sum(len(c) for c in contenders.values())
    per_slot = args.seconds * len(contenders) / (args.rounds * slots)
    rounds: dict[tuple[str, str], list[float]] = {
        (v, name): [] for v, named in contenders.items() for name in named
    }
    for _ in range(args.rounds):  # every vendor and path in each round: side by side
        for vendor, named in contenders.items():
            for name, fn in named.items():
                gc.collect()
                count, elapsed = _rate(fn, per_slot)
                rounds[vendor, name].append(count / elapsed)
    for vendor, named in contenders.items():
        for name in named:
            print(f"{vendor}_{name}_per_s={statistics.median(rounds[vendor, name]):.0f}")
        raw = rounds[vendor, "raw"]
        for name in ("engine", "mint", "token_endpoint"):
            paired = [rate / base for rate, base in zip(rounds[vendor, name], raw, strict=True)]
            print(f"{vendor}_ratio_{name}_vs_raw={statistics.median(paired):.3f}")


if __name__ == "__main__":
    main()
