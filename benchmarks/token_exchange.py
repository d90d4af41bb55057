"""Token exchanges per second over HTTP against a bare verify-and-sign endpoint.

Run: ``python benchmarks/token_exchange.py [--requests 2000] [--concurrency 32]``.

Two servers, each one uvicorn worker on a loopback port, in its own process:

- ``exchange``: the reference service (``Service.create``, SQLite in a temporary data
  directory) answering RFC 8693 exchanges at ``POST /oauth2/token``: client
  authentication (``client_secret_basic``), the orchestrator's exchange policy, Sarah's
  IdP token (RS256, 2048 bits) through the inbound authorizer, the orchestrator's own
  ``client_credentials`` token as actor token (ES256, checked against the issued-token
  registry), a new ES256 token signed and recorded, and the audit event appended in the
  same SQLite transaction (``synchronous=FULL``: one fsync per commit);
- ``baseline``: a minimal Starlette endpoint that reads the same form, verifies the
  subject token (same IdP key, RS256) and signs one ES256 token with the service's own
  signing key, with joserfc; nothing else.

Every request carries a *distinct* subject token (pre-minted), so the authorizer's
decision cache never answers. The load comes from ``--concurrency`` clients in this
process, each an ``httpx.AsyncClient`` with one keep-alive connection; both servers see
the same clients and the same load, in interleaved rounds (baseline, exchange, baseline,
exchange), the best round of each counted. On a small machine the clients may saturate
before the baseline server does, which flatters ``ratio``; ``*_server_cpu_us`` (the
server process's CPU per request, from ``/proc``) and ``cpu_ratio`` do not depend on the
client. The in-process figures time one exchange through the core (the token
endpoint, then the registry write and audit append in one transaction) against one raw
joserfc verify plus one raw joserfc sign, on the same tokens and keys.

Output is ``name=value`` lines: ``exchange_rps``, ``exchange_p50_ms``,
``exchange_p99_ms``, the same for ``baseline``, ``ratio`` (target >= 0.7), and
``inprocess_exchange_us``, ``inprocess_core_us`` (without the write transaction),
``inprocess_raw_us`` and ``inprocess_cost_x`` (exchange / raw).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws
from joserfc.jwk import RSAKey

IDP_ISSUER = "https://idp.bench.example/oauth2/default"
IDP_AUDIENCE = "api://bench"
IDP_CLIENT = "0oa-bench-app"
ADMIN_TOKEN = "adm_" + "b" * 60
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
SCOPES = "crm.read finance.read docs.write"


# -- the IdP -----------------------------------------------------------------------------------


def _idp_key(path: Path) -> RSAKey:
    if not path.exists():
        key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        path.write_text(json.dumps(key.as_dict(private=True)))
    return RSAKey.import_key(json.loads(path.read_text()))


def _idp_transport(key: RSAKey) -> httpx.MockTransport:
    public = {**key.as_dict(private=False), "kid": "idp-1", "alg": "RS256", "use": "sig"}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(
                200, json={"issuer": IDP_ISSUER, "jwks_uri": IDP_ISSUER + "/v1/keys"}
            )
        if request.url.path.endswith("/v1/keys"):
            return httpx.Response(200, json={"keys": [public]})
        return httpx.Response(404)

    return httpx.MockTransport(handle)


def _user_tokens(key: RSAKey, count: int, now: int) -> list[str]:
    header = {"alg": "RS256", "kid": "idp-1", "typ": "at+jwt"}
    tokens = []
    for index in range(count):
        claims = {
            "iss": IDP_ISSUER,
            "sub": "sarah@example.com",
            "aud": IDP_AUDIENCE,
            "client_id": IDP_CLIENT,
            "scope": SCOPES,
            "iat": now,
            "exp": now + 3600,
            "jti": f"user-{index}-{secrets.token_hex(4)}",
        }
        payload = json.dumps(claims, separators=(",", ":")).encode()
        tokens.append(jws.serialize_compact(header, payload, key, algorithms=["RS256"]))
    return tokens


# -- the servers (run in child processes) ------------------------------------------------------


def _service(data: Path, port: int) -> Any:
    from proctor.reference.service import Service
    from proctor.reference.settings import Settings

    settings = Settings(
        issuer=f"http://127.0.0.1:{port}",
        port=port,
        data_dir=data,
        admin_token=ADMIN_TOKEN,
        allow_loopback_http=True,
        log_level="WARNING",
        # SEC-DOS-002's per-client limit (600/min by default) would refuse most of a
        # throughput run from one client: turned off, as a deployment would raise it.
        rate_limit_requests_per_client=0,
    )
    http = httpx.Client(transport=_idp_transport(_idp_key(data / "idp.json")))
    return Service.create(settings, http_client=http, env={})


def _serve_exchange(data: Path, port: int) -> None:
    import logging

    import uvicorn

    logging.getLogger("proctor").setLevel(logging.WARNING)
    service = _service(data, port)
    uvicorn.run(
        service.asgi_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )


def _serve_baseline(data: Path, port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from proctor.reference.http.oauth import parse_form

    service = _service(data, port)  # only to reach the service's signing key
    signing = service.sts.keys.signing_key()
    verify_key = RSAKey.import_key(_idp_key(data / "idp.json").as_dict(private=False))
    issuer = service.issuer

    def work(form: dict[str, str]) -> dict[str, Any]:
        verified = jws.deserialize_compact(form["subject_token"], verify_key, algorithms=["RS256"])
        subject = json.loads(verified.payload)
        now = int(time.time())
        claims = {
            "iss": issuer,
            "sub": subject["sub"],
            "aud": form["audience"],
            "client_id": "bench",
            "iat": now,
            "exp": now + 600,
            "jti": secrets.token_hex(16),
        }
        header = {"alg": signing.alg, "kid": signing.kid, "typ": "at+jwt"}
        payload = json.dumps(claims, separators=(",", ":")).encode()
        token = jws.serialize_compact(header, payload, signing.jwk, algorithms=[signing.alg])
        return {"access_token": token, "token_type": "Bearer", "expires_in": 600}

    async def exchange(request: Request) -> JSONResponse:
        form = dict(parse_form(await request.body()))  # the parser the service uses
        body = await run_in_threadpool(work, form)
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[Route("/exchange", exchange, methods=["POST"]), Route("/healthz", health)]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, role: str, data: Path, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(  # noqa: S603 - this very script, fixed arguments
            [sys.executable, __file__, "--serve", role, str(data), str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=(data / f"{role}.log").open("wb"),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        log = (data / f"{role}.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the {role} server did not start:\n{log}")

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used (Linux ``/proc``)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# -- the load ----------------------------------------------------------------------------------


async def _load(
    url: str, bodies: list[bytes], headers: dict[str, str], concurrency: int
) -> tuple[float, list[float]]:
    """Requests per second and the latencies (seconds) of ``bodies``, sent by
    ``concurrency`` clients at once, each an ``httpx.AsyncClient`` with one keep-alive
    connection (one shared pool of 32 costs the client more than the server)."""
    queue = list(reversed(bodies))
    latencies: list[float] = []
    failures: list[str] = []
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def client_loop() -> None:
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            while queue:
                body = queue.pop()
                started = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    failures.append(response.text[:200])

    began = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return len(bodies) / elapsed, latencies


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _setup(data: Path, port: int) -> tuple[dict[str, str], str, str]:
    """Create the authorizer, the workloads and the policy through the control plane;
    returns the orchestrator's Basic header, its own token and the sub-agent's id."""
    service = _service(data, port)
    try:
        from proctor.reference.directory import WorkloadSpec
        from proctor.reference.exchange_policy import ExchangePolicy

        config = service.authorizers.parse(
            {
                "name": "company-idp",
                "discovery_url": IDP_ISSUER + "/.well-known/openid-configuration",
                "allowed_audiences": [IDP_AUDIENCE],
                "allowed_clients": [IDP_CLIENT],
            }
        )
        service.authorizers.create(config)
        orchestrator, secret = service.directory.create(
            WorkloadSpec(name="orchestrator", authorizer="company-idp")
        )
        subagent, _ = service.directory.create(WorkloadSpec(name="subagent"))
        service.sts.policies.create(
            ExchangePolicy.model_validate(
                {
                    "name": "orchestrator-to-subagent",
                    "client": "orchestrator",
                    "subject_issuers": [IDP_ISSUER],
                    "audiences": [subagent.client_id],
                    "scopes": ["crm.read", "finance.read"],
                }
            )
        )
        assert secret is not None
        raw = f"{orchestrator.client_id}:{secret}".encode()
        auth = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        # outside a request the registry writes at once: the actor token is recorded
        result = service.sts.token_endpoint.handle(
            [("grant_type", "client_credentials")], auth["Authorization"]
        )
        assert result.body is not None, result
        return auth, str(result.body["access_token"]), subagent.client_id
    finally:
        service.close()


def _exchange_body(subject: str, actor: str, audience: str) -> bytes:
    from urllib.parse import urlencode

    return urlencode(
        [
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", actor),
            ("actor_token_type", ACCESS_TOKEN),
            ("audience", audience),
            ("scope", "crm.read"),
        ]
    ).encode()


# -- in process --------------------------------------------------------------------------------


def _in_process(
    data: Path, port: int, tokens: list[str], auth: str, actor: str, audience: str
) -> dict[str, float]:
    service = _service(data, port)
    try:
        routes = service.sts.oauth_routes
        endpoint = service.sts.token_endpoint
        registry = service.sts.registry
        pairs = [
            [
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token", token),
                ("subject_token_type", ACCESS_TOKEN),
                ("actor_token", actor),
                ("actor_token_type", ACCESS_TOKEN),
                ("audience", audience),
                ("scope", "crm.read"),
            ]
            for token in tokens
        ]
        half = len(pairs) // 2
        started = time.perf_counter()
        for form in pairs[:half]:
            result = routes.handle_sync(endpoint.handle, form, auth, "req_bench")
            assert result.status == 200, result.body
        full = (time.perf_counter() - started) / half
        started = time.perf_counter()
        for form in pairs[half:]:
            with registry.deferred():
                result = endpoint.handle(form, auth)
            assert result.status == 200, result.body
        core = (time.perf_counter() - started) / (len(pairs) - half)

        signing = service.sts.keys.signing_key()
        verify_key = RSAKey.import_key(_idp_key(data / "idp.json").as_dict(private=False))
        header = {"alg": signing.alg, "kid": signing.kid, "typ": "at+jwt"}
        started = time.perf_counter()
        for token in tokens:
            verified = jws.deserialize_compact(token, verify_key, algorithms=["RS256"])
            claims = json.loads(verified.payload)
            payload = json.dumps({**claims, "jti": secrets.token_hex(16)}).encode()
            jws.serialize_compact(header, payload, signing.jwk, algorithms=[signing.alg])
        raw = (time.perf_counter() - started) / len(tokens)
        return {"full": full, "core": core, "raw": raw}
    finally:
        service.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per round and server")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--in-process", type=int, default=400, help="exchanges timed in process")
    parser.add_argument(
        "--serve", nargs=3, metavar=("ROLE", "DATA", "PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.serve:
        role, data, port = args.serve
        (_serve_exchange if role == "exchange" else _serve_baseline)(Path(data), int(port))
        return

    with tempfile.TemporaryDirectory(prefix="proctor-bench-") as tmp:
        data = Path(tmp)
        os.chmod(data, 0o700)
        key = _idp_key(data / "idp.json")
        port = _free_port()  # the exchange server's: its issuer is http://127.0.0.1:<port>
        auth, actor, audience = _setup(data, port)
        count = args.requests * args.rounds * 2 + args.in_process + 200
        tokens = _user_tokens(key, count, int(time.time()))

        results: dict[str, list[tuple[float, list[float]]]] = {"baseline": [], "exchange": []}
        cpu: dict[str, list[float]] = {"baseline": [], "exchange": []}
        exchange = Server("exchange", data, port)
        baseline = Server("baseline", data)
        try:
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            cursor = 0

            def take(n: int) -> list[str]:
                nonlocal cursor
                chunk = tokens[cursor : cursor + n]
                cursor += n
                return chunk

            for server, path in ((exchange, "/oauth2/token"), (baseline, "/exchange")):
                warm = [_exchange_body(t, actor, audience) for t in take(100)]
                asyncio.run(_load(server.url + path, warm, {**form, **auth}, args.concurrency))
            for _ in range(args.rounds):
                for name, server, path in (
                    ("baseline", baseline, "/exchange"),
                    ("exchange", exchange, "/oauth2/token"),
                ):
                    bodies = [_exchange_body(t, actor, audience) for t in take(args.requests)]
                    before = server.cpu_seconds()
                    results[name].append(
                        asyncio.run(
                            _load(server.url + path, bodies, {**form, **auth}, args.concurrency)
                        )
                    )
                    cpu[name].append((server.cpu_seconds() - before) / len(bodies))
        finally:
            exchange.stop()
            baseline.stop()
        timings = _in_process(
            data, port, take(args.in_process), auth["Authorization"], actor, audience
        )

    lines: dict[str, Any] = {}
    for name in ("exchange", "baseline"):
        rps, latencies = max(results[name], key=lambda r: r[0])
        lines[f"{name}_rps"] = round(rps, 1)
        lines[f"{name}_p50_ms"] = round(_percentile(latencies, 0.50) * 1000, 2)
        lines[f"{name}_p99_ms"] = round(_percentile(latencies, 0.99) * 1000, 2)
        lines[f"{name}_rounds_rps"] = "/".join(str(round(r[0])) for r in results[name])
    lines["ratio"] = round(lines["exchange_rps"] / lines["baseline_rps"], 3)
    for name in ("exchange", "baseline"):
        lines[f"{name}_server_cpu_us"] = round(min(cpu[name]) * 1e6, 1)
    # what the ratio would be were the server's CPU the only limit (client not counted)
    lines["cpu_ratio"] = round(min(cpu["baseline"]) / min(cpu["exchange"]), 3)
    lines["ratio_target"] = 0.7
    lines["concurrency"] = args.concurrency
    lines["requests_per_round"] = args.requests
    lines["inprocess_exchange_us"] = round(timings["full"] * 1e6, 1)
    lines["inprocess_core_us"] = round(timings["core"] * 1e6, 1)
    lines["inprocess_raw_us"] = round(timings["raw"] * 1e6, 1)
    lines["inprocess_cost_x"] = round(timings["full"] / timings["raw"], 2)
    lines["inprocess_core_cost_x"] = round(timings["core"] / timings["raw"], 2)
    lines["median_latency_ratio"] = round(
        statistics.median(max(results["exchange"], key=lambda r: r[0])[1])
        / statistics.median(max(results["baseline"], key=lambda r: r[0])[1]),
        2,
    )
    for name, value in lines.items():
        print(f"{name}={value}")


if __name__ == "__main__":
    main()
