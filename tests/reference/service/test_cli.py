"""``proctor audit verify|query`` on a real database, and ``proctor serve`` on a socket."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from proctor.cli.main import app
from proctor.reference.clock import ManualClock
from proctor.reference.service import Service

runner = CliRunner()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def audited_db(tmp_path: Path, h: ModuleType) -> str:
    """A SQLite database whose audit log holds a few events (then the service is closed)."""
    url = f"sqlite:///{tmp_path / 'proctor.db'}"
    service = Service.create(h.make_settings(tmp_path, url), clock=ManualClock(), env={})
    try:
        transport = httpx.ASGITransport(app=service.asgi_app())
        async with httpx.AsyncClient(transport=transport, base_url=h.SERVICE_ISSUER) as c:
            for name in ("alpha", "beta", "gamma"):
                created = await c.post("/v1/workloads", json={"name": name}, headers=h.ADMIN)
                assert created.status_code == 201
            await c.get("/v1/workloads/ghost", headers=h.ADMIN)
    finally:
        service.close()
    return url


def _db_path(url: str) -> str:
    return url[len("sqlite:///") :]


@pytest.mark.anyio
async def test_verify_passes_on_an_intact_log(audited_db: str) -> None:
    result = runner.invoke(app, ["audit", "verify", "--database", audited_db])
    assert result.exit_code == 0, result.output
    assert "4 events verified" in result.output


@pytest.mark.anyio
async def test_verify_names_an_edited_event(audited_db: str) -> None:
    """AUD-VER-002: an event edited in the file is hash_mismatch at its own seq."""
    with sqlite3.connect(_db_path(audited_db)) as db:
        db.execute(
            "UPDATE audit_events SET body = replace(body, '\"beta\"', '\"evil\"'), "
            "workload = 'evil' WHERE seq = 2"
        )
    result = runner.invoke(app, ["audit", "verify", "--database", audited_db])
    assert result.exit_code == 1
    assert "BROKEN at seq 2: hash_mismatch" in result.output


@pytest.mark.anyio
async def test_verify_names_the_event_after_a_removed_one(audited_db: str) -> None:
    with sqlite3.connect(_db_path(audited_db)) as db:
        db.execute("DELETE FROM audit_events WHERE seq = 3")
    result = runner.invoke(app, ["audit", "verify", "--database", audited_db])
    assert result.exit_code == 1
    assert "BROKEN at seq 4: gap" in result.output


@pytest.mark.anyio
async def test_query_prints_json_lines_and_tables(audited_db: str) -> None:
    as_json = runner.invoke(
        app, ["audit", "query", "--database", audited_db, "--operation", "workload.*", "--json"]
    )
    assert as_json.exit_code == 0, as_json.output
    events = [json.loads(line) for line in as_json.output.splitlines()]
    assert [e["workload"] for e in events] == ["alpha", "beta", "gamma", "ghost"]
    denied = runner.invoke(
        app, ["audit", "query", "--database", audited_db, "--result", "deny", "--json"]
    )
    assert [json.loads(line)["reason"] for line in denied.output.splitlines()] == ["not_found"]
    table = runner.invoke(app, ["audit", "query", "--database", audited_db, "--workload", "beta"])
    assert table.exit_code == 0
    assert "workload.create" in table.output
    assert "alpha" not in table.output


@pytest.mark.anyio
async def test_query_rejects_bad_filters(audited_db: str) -> None:
    result = runner.invoke(app, ["audit", "query", "--database", audited_db, "--result", "maybe"])
    assert result.exit_code == 2


def test_a_missing_database_is_a_usage_error(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    for command in (["audit", "verify"], ["audit", "query"]):
        result = runner.invoke(app, [*command, "--database", missing])
        assert result.exit_code == 2
    assert not (tmp_path / "none.db").exists()


# -- proctor serve (a real loopback socket) ------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_until_listening(url: str, process: subprocess.Popen[Any]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise AssertionError("proctor serve exited early")
        try:
            return httpx.get(url, timeout=1.0)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.network
def test_serve_starts_answers_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCTOR_")}
    process = subprocess.Popen(  # noqa: S603 - a fixed argv
        [
            sys.executable, "-m", "proctor.cli", "serve", "--dev",
            "--port", str(port), "--data-dir", str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        health = _wait_until_listening(f"{base}/healthz", process)
        assert health.status_code == 200
        ready = httpx.get(f"{base}/readyz", timeout=5.0)
        assert ready.status_code == 200
        unauthenticated = httpx.get(f"{base}/v1/workloads", timeout=5.0)
        assert unauthenticated.status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"listening on {base}" in stdout
    assert f"issuer   {base}" in stdout
    admin = [line.strip() for line in stdout.splitlines() if line.strip().startswith("padm_")]
    assert len(admin) == 1
    assert admin[0] not in stderr, "the admin credential must never be logged"
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(line["message"] == "service stopped" for line in lines)
    assert all(line.get("level") != "error" for line in lines), stderr


def test_serve_refuses_an_http_issuer_without_dev_mode(tmp_path: Path) -> None:
    """TERM-DEV-001: development mode is off unless the operator turns it on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCTOR_")}
    done = subprocess.run(  # noqa: S603 - a fixed argv
        [sys.executable, "-m", "proctor.cli", "serve", "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--dev" in done.stderr
