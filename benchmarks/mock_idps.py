"""Token minting throughput of the mock IdPs against raw joserfc signing, side by side.

Run: ``python benchmarks/mock_idps.py [--seconds 12] [--vendors okta]``.

For each installed emulator, in interleaved rounds so machine noise hits all alike:

- ``issue``: :meth:`Engine.issue` for an app-only access token: the vendor's claim shaping,
  signing with the issuer's active key, and recording the token for introspection;
- ``mint``: the admin minting path (``POST /_mock/tokens`` without HTTP);
- ``token_endpoint``: a full ``client_credentials`` request through the ASGI app over
  ``httpx.ASGITransport`` (form parsing, client authentication, grant, JSON response);
- ``raw``: ``joserfc.jws.serialize_compact`` of the same claims with the same key.

Output is ``name=value`` lines: tokens per second per path and vendor, and the ratios
``<vendor>_ratio_<path>_vs_raw`` (1.0 would mean the emulator adds nothing to signing).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from joserfc import jws

from proctor.mock_idps import vendors
from proctor.mock_idps.app import create_app
from proctor.mock_idps.config import Client
from proctor.mock_idps.engine import Engine
from proctor.mock_idps.minting import MintRequest, mint


def _contenders(vendor: str) -> dict[str, Callable[[], Any]]:
    app = create_app(vendor)
    engine: Engine = app.engine
    server = engine.server()
    client = next(c for c in engine.config.clients if not c.public and c.client_secret)
    scopes = tuple(server.api.scopes[:1]) if server.api else ()
    signer = engine.keyring(server.id).active(server.access_key_purpose)
    spec = engine.profile.access_token(
        engine.context(
            server,
            client.client_id,
            None,
            scopes,
            "client_credentials",
            audience=server.audience,
            client=client,
        )
    )
    header = {"alg": signer.alg, "kid": signer.kid, **spec.header}
    payload = json.dumps(spec.claims, separators=(",", ":")).encode()
    request = MintRequest(server=server.id, app=True, client_id=client.client_id)

    def issue() -> Any:
        return engine.issue(server, client, None, scopes, "client_credentials", refresh=False)

    def minted() -> Any:
        return mint(engine, request)

    def raw() -> Any:
        return jws.serialize_compact(header, payload, signer.key, algorithms=[signer.alg])

    loop = asyncio.new_event_loop()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=engine.base_url)
    form = {"grant_type": "client_credentials", "scope": " ".join(scopes)}
    auth = _auth(client)

    def token_endpoint() -> Any:
        response = loop.run_until_complete(http.post(server.paths["token"], data=form, auth=auth))
        if response.status_code != 200:
            raise RuntimeError(response.text)
        return response

    token_endpoint()  # fail early if the path is broken
    return {"issue": issue, "mint": minted, "token_endpoint": token_endpoint, "raw": raw}


def _auth(client: Client) -> tuple[str, str]:
    return client.client_id, client.client_secret or ""


def _rate(fn: Callable[[], Any], seconds: float) -> tuple[int, float]:
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(20):
            fn()
        count += 20
        now = time.perf_counter()
        if now >= deadline:
            return count, now - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="total per vendor")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--vendors", nargs="*", default=vendors.available())
    args = parser.parse_args()
    for vendor in args.vendors:
        contenders = _contenders(vendor)
        per_slot = args.seconds / (args.rounds * len(contenders))
        totals = {name: [0, 0.0] for name in contenders}
        for _ in range(args.rounds):
            for name, fn in contenders.items():
                gc.collect()
                count, elapsed = _rate(fn, per_slot)
                totals[name][0] += count
                totals[name][1] += elapsed
        rates = {name: count / elapsed for name, (count, elapsed) in totals.items()}
        for name, rate in rates.items():
            print(f"{vendor}_{name}_per_s={rate:.0f}")
        for name in ("issue", "mint", "token_endpoint"):
            print(f"{vendor}_ratio_{name}_vs_raw={rates[name] / rates['raw']:.3f}")


if __name__ == "__main__":
    main()
