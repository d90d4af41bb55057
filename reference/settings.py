"""Settings of the reference service: every option in one place, with its default.

Sources, in order: explicit arguments (the CLI), then ``PROCTOR_*`` environment
variables, then the defaults below. Secrets in settings (the admin credential, the
pepper, the key-encryption keys) are never printed by ``__repr__``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    #: The service's issuer identifier (RFC 8414 §2): ``iss`` of every token it issues.
    #: Defaults to ``http://{host}:{port}`` (loopback development only).
    issuer: str | None = None
    host: str = "127.0.0.1"
    port: int = 8700
    #: Where the embedded SQLite database and generated keys live.
    data_dir: Path = Path(".proctor")
    #: ``sqlite:///path`` (default: ``{data_dir}/proctor.db``) or ``postgresql://...``.
    database_url: str | None = None
    #: The control plane's bearer credential; generated and printed once if unset.
    admin_token: str | None = field(default=None, repr=False)
    #: Lifetime of workload access tokens (spec 04: short; 15 minutes by default).
    workload_token_ttl: int = 900
    #: Maximum lifetime of access tokens from the token endpoint (TX-EXP-003: 15 minutes).
    access_token_ttl: int = 900
    #: The algorithm of the service's own signing keys (AS-FMT-001): ES256 or RS256.
    signing_algorithm: str = "ES256"
    #: Seconds between maintenance runs of ``proctor serve`` (signing-key rotation and
    #: pruning, expired tokens, sessions and consents).
    maintenance_interval: int = 60
    #: Lifetime of a 3-legged authorization session (spec 05: 10 minutes).
    session_ttl: int = 600
    #: Leeway for ``exp``/``nbf``/``iat`` checks of the service's own tokens.
    leeway: int = 30
    #: Insecure development mode (TERM-DEV-001): accept ``http://`` URLs, on loopback hosts
    #: only, wherever the spec requires ``https``. Off unless the operator turns it on
    #: (``proctor serve --dev`` or ``PROCTOR_ALLOW_LOOPBACK_HTTP=true``).
    allow_loopback_http: bool = False
    #: AgentCore-compatible API (docs/agentcore.md): SigV4 credentials, comma-separated
    #: ``ACCESS_KEY_ID:SECRET:PRINCIPAL`` entries; the principal is ``admin`` (every
    #: operation) or a workload name (its own data-plane operations).
    agentcore_credentials: str | None = field(default=None, repr=False)
    #: AgentCore development mode: any signature (or none) is accepted as ``admin``, and a
    #: return URL a workload presents is registered on it. Never on a network.
    agentcore_dev_mode: bool = False
    #: Region and 12-digit account id in the ARNs the AgentCore API returns.
    agentcore_region: str = "us-east-1"
    agentcore_account_id: str = "123456789012"
    log_level: str = "INFO"
    #: SEC-DOS-002 rate limits, per minute and per process (``0`` turns one off): failed
    #: client authentications per ``client_id`` and per source address, and requests per
    #: client to the OAuth endpoints and the data plane. ``rate_limit_keys`` bounds the
    #: buckets each limit keeps in memory (least recently used first out).
    rate_limit_failed_auth_per_client: int = 20
    rate_limit_failed_auth_per_address: int = 100
    rate_limit_requests_per_client: int = 600
    rate_limit_keys: int = 10_000
    #: Worker threads that run the OAuth endpoints' cores at once (token, introspection,
    #: revocation). The work is CPU-bound under one interpreter lock, so a few threads
    #: serve more requests than many; a request waiting for its commit holds none.
    oauth_threads: int = 4
    #: SEC-TLS-001: the certificate chain and private key (PEM) ``proctor serve`` terminates
    #: TLS with (TLS 1.2 or later).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: SEC-TLS-001: TLS is terminated by a proxy in front of the service; forwarding headers
    #: are trusted only from ``trusted_proxies`` (comma-separated addresses or networks).
    behind_proxy: bool = False
    trusted_proxies: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError("port must be 1-65535")
        for name in ("workload_token_ttl", "access_token_ttl", "session_ttl"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.signing_algorithm not in ("ES256", "RS256"):
            raise ValueError("signing_algorithm must be ES256 or RS256")
        if not 1 <= self.maintenance_interval <= 3600:
            raise ValueError("maintenance_interval must be 1-3600 seconds")
        for name in (
            "rate_limit_failed_auth_per_client",
            "rate_limit_failed_auth_per_address",
            "rate_limit_requests_per_client",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (off) or positive")
        if self.rate_limit_keys < 1:
            raise ValueError("rate_limit_keys must be positive")
        if not 1 <= self.oauth_threads <= 64:
            raise ValueError("oauth_threads must be 1-64")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.behind_proxy and not self.trusted_proxies:
            raise ValueError("behind_proxy needs trusted_proxies (the proxy addresses)")

    @property
    def effective_issuer(self) -> str:
        """``issuer``, or ``https://{host}:{port}`` when the service terminates TLS, else
        ``http://{host}:{port}`` (loopback development only)."""
        scheme = "https" if self.tls_cert is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return self.issuer or f"{scheme}://{host}:{self.port}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'proctor.db'}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``PROCTOR_<NAME>`` variables, then ``overrides`` (not None)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"PROCTOR_{f.name.upper()}")
            if raw is None:
                continue
            if f.type in ("int",):
                values[f.name] = int(raw)
            elif f.type in ("bool",):
                values[f.name] = raw.strip().lower() in {"1", "true", "yes", "on"}
            elif f.type in ("Path", "Path | None"):
                values[f.name] = Path(raw)
            else:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
