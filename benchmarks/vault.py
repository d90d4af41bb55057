"""Throughput of vault hits (a stored, usable token under a live consent), side by side.

Run: ``python benchmarks/vault.py [--seconds 3] [--small 1000] [--large 1000000]``.

Each round measures, on one SQLite database in a temporary directory:

- ``http``: ``POST /v1/resource-tokens/oauth2`` through the whole service in process
  (``httpx.ASGITransport``): workload authentication, WAT validation, consent and entry
  lookups, unsealing, and the request's audit event;
- ``inprocess``: :meth:`proctor.reference.vault.Vault.resource_token` on the reuse path
  (consent lookup, entry lookup, AES-GCM unsealing; no HTTP, no audit event);
- ``raw``: one ``sqlite3`` point query on the same table by its primary key;

first with ``--small`` stored entries, then with ``--large`` (filler rows are inserted in
bulk; only the probed entries are real sealed token sets). Output is ``name=value`` lines:
hits per second, ``inprocess_vs_raw`` (the cost of the vault's checks over a bare
lookup) and ``large_vs_small`` (whether lookups stay flat as the vault grows).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from proctor.reference.audit_trail import Trail
from proctor.reference.clock import SystemClock
from proctor.reference.directory import WorkloadSpec
from proctor.reference.providers import OAuth2ProviderSpec
from proctor.reference.sealing import Sealer
from proctor.reference.service import Service
from proctor.reference.settings import Settings
from proctor.reference.storage.consents import ConsentRepository
from proctor.reference.storage.vault import EntryKey, EntryRepository, EntryWrite
from proctor.reference.vault import ResourceTokenRequest, TokenResult
from proctor.reference.workload_tokens import USER_ID_ISSUER, Binding, UserBinding

PROBES = 1000
PROVIDER = "crm"


def _rate(work: Callable[[], Any], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(50):
            work()
        count += 50
    return count / (time.perf_counter() - start)


def _fill(path: Path, client_id: str, rows: int) -> None:
    """Filler entries of other users (never opened), inserted in bulk."""
    connection = sqlite3.connect(path)
    batch = 10_000
    for start in range(0, rows, batch):
        connection.executemany(
            "INSERT INTO vault_entries (workload_client_id, user_issuer, user_key, provider,"
            " workload, user_subject, sealed, key_id, scopes, resources, audiences,"
            " has_refresh, expires_at, expires_in, version, updated_at)"
            " VALUES (?, ?, ?, ?, 'bench', ?, ?, 'filler', '[\"notes.read\"]', '[]', '[]',"
            " 1, NULL, NULL, 1, 0)",
            [
                (client_id, USER_ID_ISSUER, f"filler-{i}", PROVIDER, f"filler-{i}", b"\0" * 96)
                for i in range(start, min(start + batch, rows))
            ],
        )
        connection.commit()
    connection.close()


class Bench:
    def __init__(self, directory: Path) -> None:
        settings = Settings(
            issuer="https://proctor.bench",
            data_dir=directory,
            admin_token="adm_" + "b" * 60,
            allow_loopback_http=False,
        )
        self.service = Service.create(settings, clock=SystemClock(), env={})
        self.path = Path(settings.effective_database_url[len("sqlite:///") :])
        service = self.service
        self.workload, self.secret = service.directory.create(
            WorkloadSpec(
                name="bench",
                allowed_return_urls=["https://app.bench/return"],
                allow_user_id_tokens=True,
            )
        )
        assert self.secret is not None
        components = service.vault_components
        components.providers.create_oauth2(
            OAuth2ProviderSpec.model_validate(
                {
                    "name": PROVIDER,
                    "authorization_server_metadata": {
                        "issuer": "https://as.bench",
                        "authorization_endpoint": "https://as.bench/authorize",
                        "token_endpoint": "https://as.bench/token",
                    },
                    "client_id": "proctor",
                    "client_secret": "bench-secret",
                    "scopes": ["notes.read"],
                }
            )
        )
        sealer = Sealer(service.envelope)
        entries = EntryRepository(service.database, service.clock)
        consents = ConsentRepository(service.database)
        now = int(time.time())
        with service.database.transaction() as tx:
            for i in range(PROBES):
                key = self.key(i)
                blob, key_id = sealer.seal(
                    key.aad_identity(), {"access_token": f"at-{i}", "refresh_token": None}
                )
                entries.put(
                    key,
                    EntryWrite(
                        "bench", f"u-{i}", blob, key_id, ["notes.read"], [], [], False, None, None
                    ),
                    tx=tx,
                )
                consents.upsert(
                    consent_id=f"cns_bench{i:06d}",
                    key=key,
                    workload="bench",
                    user_subject=f"u-{i}",
                    task=None,
                    scopes=["notes.read"],
                    granted_at=now,
                    expires_at=None,
                    tx=tx,
                )
        self.filled = 0
        self.request = ResourceTokenRequest(PROVIDER, "user_federation", ("notes.read",))
        self.bindings = [
            Binding(
                "bench",
                self.workload.client_id,
                UserBinding(USER_ID_ISSUER, f"u-{i}", f"u-{i}"),
                now + 3600,
            )
            for i in range(PROBES)
        ]
        issued = service.workload_tokens.issue(
            self.workload, UserBinding(USER_ID_ISSUER, "u-0", "u-0")
        )
        self.wat = issued.token

    def key(self, i: int) -> EntryKey:
        return EntryKey(self.workload.client_id, USER_ID_ISSUER, f"u-{i}", PROVIDER)

    def grow(self, total: int) -> None:
        if total > self.filled + PROBES:
            _fill(self.path, self.workload.client_id, total - PROBES - self.filled)
            self.filled = total - PROBES

    def inprocess(self, seconds: float) -> float:
        vault = self.service.vault_components.vault
        trail = Trail.internal(self.service.audit)

        def hit() -> None:
            binding = self.bindings[random.randrange(PROBES)]
            result = vault.resource_token(self.workload, binding, self.wat, self.request, trail)
            assert isinstance(result, TokenResult)

        return _rate(hit, seconds)

    def raw(self, seconds: float) -> float:
        connection = sqlite3.connect(self.path)

        def hit() -> None:
            i = random.randrange(PROBES)
            row = connection.execute(
                "SELECT sealed, scopes, expires_at FROM vault_entries WHERE workload_client_id = ?"
                " AND user_issuer = ? AND user_key = ? AND provider = ?",
                (self.workload.client_id, USER_ID_ISSUER, f"u-{i}", PROVIDER),
            ).fetchone()
            assert row is not None

        try:
            return _rate(hit, seconds)
        finally:
            connection.close()

    def http(self, seconds: float) -> float:
        async def run() -> float:
            transport = httpx.ASGITransport(app=self.service.asgi_app())
            async with httpx.AsyncClient(
                transport=transport,
                base_url="https://proctor.bench",
                auth=(self.workload.client_id, self.secret or ""),
            ) as client:
                body = {
                    "workload_access_token": self.wat,
                    "provider": PROVIDER,
                    "scopes": ["notes.read"],
                    "flow": "user_federation",
                }
                count, start = 0, time.perf_counter()
                while time.perf_counter() < start + seconds:
                    response = await client.post("/v1/resource-tokens/oauth2", json=body)
                    assert response.status_code == 200, response.text
                    count += 1
                return count / (time.perf_counter() - start)

        return asyncio.run(run())

    def close(self) -> None:
        self.service.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="proctor-vault-bench-") as directory:
        bench = Bench(Path(directory))
        try:
            results: dict[str, float] = {}
            for label, size in (("small", max(args.small, PROBES)), ("large", args.large)):
                bench.grow(size)
                results[f"entries_{label}"] = size
                results[f"http_{label}"] = bench.http(args.seconds)
                results[f"inprocess_{label}"] = bench.inprocess(args.seconds)
                results[f"raw_{label}"] = bench.raw(args.seconds)
            for label in ("small", "large"):
                results[f"inprocess_vs_raw_{label}"] = (
                    results[f"inprocess_{label}"] / results[f"raw_{label}"]
                )
                results[f"http_vs_inprocess_{label}"] = (
                    results[f"http_{label}"] / results[f"inprocess_{label}"]
                )
            results["large_vs_small_inprocess"] = (
                results["inprocess_large"] / results["inprocess_small"]
            )
            results["large_vs_small_raw"] = results["raw_large"] / results["raw_small"]
        finally:
            bench.close()
    for name, value in results.items():
        print(f"{name}={value:.0f}" if value >= 100 else f"{name}={value:.3f}")


if __name__ == "__main__":
    main()
