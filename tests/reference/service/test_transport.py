"""``proctor serve``'s transport (SEC-TLS-001): TLS in the service, a declared TLS proxy
whose forwarding headers alone are trusted, and the refusal of plain HTTP on a
non-loopback address."""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.types import Message, Receive, Scope, Send

from proctor.cli.serve import check_transport, is_loopback, transport_options
from proctor.reference.settings import Settings


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PROCTOR_")}


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - a fixed argv
        [sys.executable, "-m", "proctor.cli", "serve", "--data-dir", str(tmp_path / "d"), *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])  # noqa: S104 - refused
def test_plain_http_on_a_non_loopback_address_is_refused(tmp_path: Path, host: str) -> None:
    """SEC-TLS-001: no TLS and no declared proxy on a non-loopback address: exit 2 with a
    message naming the remedies, even in development mode; nothing is created."""
    done = _serve(tmp_path, "--host", host, "--dev")
    assert done.returncode == 2, done.stderr
    assert "SEC-TLS-001" in done.stderr
    assert "--tls-cert" in done.stderr
    assert "--behind-proxy" in done.stderr
    assert not (tmp_path / "d").exists()


def test_the_transport_rules() -> None:
    """SEC-TLS-001: loopback plain HTTP is allowed; TLS or a declared proxy (with an https
    issuer) is required elsewhere; a proxy needs its addresses."""
    check_transport(Settings(host="127.0.0.1"))
    check_transport(Settings(host="::1"))
    check_transport(Settings(host="localhost"))
    check_transport(Settings(host="0.0.0.0", tls_cert=Path("c"), tls_key=Path("k")))  # noqa: S104
    check_transport(
        Settings(
            host="0.0.0.0",  # noqa: S104
            behind_proxy=True,
            trusted_proxies="10.0.0.2",
            issuer="https://proctor.example",
        )
    )
    with pytest.raises(ValueError, match="https"):
        check_transport(Settings(host="0.0.0.0", behind_proxy=True, trusted_proxies="10.0.0.2"))  # noqa: S104
    with pytest.raises(ValueError, match="not an address"):
        check_transport(
            Settings(behind_proxy=True, trusted_proxies="proxy.local", issuer="https://p.example")
        )
    with pytest.raises(ValueError, match="trusted_proxies"):
        Settings(behind_proxy=True)
    with pytest.raises(ValueError, match="together"):
        Settings(tls_cert=Path("c"))
    assert is_loopback("127.9.9.9")
    assert not is_loopback("10.0.0.1")
    assert Settings(tls_cert=Path("c"), tls_key=Path("k")).effective_issuer.startswith("https:")


def _observed_client(settings: Settings, peer: str, forwarded_for: str) -> str:
    """The client address an app behind uvicorn's configured middleware sees."""
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["client"][0])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = uvicorn.Config(app, **transport_options(settings))
    config.load()

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: Message) -> None:
        return None

    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "scheme": "http",
        "headers": [(b"x-forwarded-for", forwarded_for.encode())],
        "client": (peer, 5000),
        "server": ("127.0.0.1", 8700),
        "query_string": b"",
    }
    anyio.run(config.loaded_app, scope, receive, send)
    return seen[0]


def test_forwarding_headers_are_trusted_only_from_the_configured_proxies() -> None:
    """SEC-TLS-001: without ``--behind-proxy`` forwarding headers are ignored (even from
    loopback); with it, only from the trusted proxy addresses."""
    plain = Settings()
    assert transport_options(plain)["proxy_headers"] is False
    assert _observed_client(plain, "127.0.0.1", "198.51.100.1") == "127.0.0.1"
    proxied = Settings(behind_proxy=True, trusted_proxies="10.0.0.2", issuer="https://p.example")
    assert _observed_client(proxied, "10.0.0.2", "198.51.100.1") == "198.51.100.1"
    assert _observed_client(proxied, "203.0.113.5", "198.51.100.1") == "203.0.113.5"


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.network
def test_serve_terminates_tls(tmp_path: Path) -> None:
    """SEC-TLS-001: ``--tls-cert``/``--tls-key`` serve HTTPS with TLS 1.2 or later; the
    default issuer is ``https``; plain HTTP on the same port gets no answer."""
    cert, key = _self_signed(tmp_path)
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - a fixed argv
        [
            sys.executable, "-m", "proctor.cli", "serve", "--port", str(port),
            "--data-dir", str(tmp_path / "data"), "--tls-cert", str(cert), "--tls-key", str(key),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )  # fmt: skip
    base = f"https://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(cert))
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError("proctor serve exited early")
            try:
                health = httpx.get(f"{base}/healthz", verify=context, timeout=2.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert health.status_code == 200
        metadata = httpx.get(
            f"{base}/.well-known/oauth-authorization-server", verify=context, timeout=5.0
        )
        assert metadata.json()["issuer"] == base
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2.0)
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"listening on {base}" in stdout
