"""The composition root: settings in, a running identity service out.

:meth:`Service.create` opens the database (running its migrations), loads or creates the
service's secrets, builds the components and the audit log, and registers the metrics;
:meth:`Service.routes` and :meth:`Service.asgi_app` expose the HTTP API.

Secrets (none of them ever logged, printed by ``repr`` or written beside the hashes they
protect):

- the **credential pepper** (HMAC key for client secrets and the admin credential,
  WID-SEC-002) and the **key-encryption key** (vault envelope encryption) come from
  ``PROCTOR_CREDENTIAL_PEPPER`` / ``PROCTOR_KEK`` (base64url, 32 bytes; ``PROCTOR_KEK_ID``
  names the KEK), else from ``{data_dir}/service-keys.json``, which the first start
  creates with mode ``0600`` (the directory ``0700``);
- the **admin credential** (WID-ADMIN-001) comes from ``PROCTOR_ADMIN_TOKEN`` (at least 32
  bytes, else the service refuses to start), else it is generated on the first start,
  stored only as its HMAC in ``{data_dir}/admin-credential.json`` (``0600``), and handed to
  the caller once as :attr:`Service.generated_admin_token` (``proctor serve`` prints it).
  A multi-node deployment sets all three variables identically on every node.

The issuer is taken from the settings only (TERM-ISS-002) and checked at start
(TERM-ISS-001): ``https``, or ``http`` on a loopback host in development mode, which is
then reported in the startup log (TERM-DEV-001).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proctor.reference.agentcore.routes import agentcore_routes
from proctor.reference.audit import AuditLog
from proctor.reference.audit_trail import Trail
from proctor.reference.authorizer_config import check_url
from proctor.reference.authorizers import AuthorizerRegistry
from proctor.reference.clock import Clock, SystemClock
from proctor.reference.credentials import CredentialHasher, new_secret
from proctor.reference.directory import Directory
from proctor.reference.encryption import (
    Envelope,
    KeyProvider,
    LocalKeyProvider,
    ReloadingKeyProvider,
)
from proctor.reference.errors import InternalError
from proctor.reference.http.app import build_app
from proctor.reference.http.audited import Recorder
from proctor.reference.http.auth import AdminGuard, BearerPresentation
from proctor.reference.http.control import ControlPlane
from proctor.reference.http.data import DataPlane, UserTokenBinder
from proctor.reference.http.limits import RateLimits, client_limits
from proctor.reference.http.problems import problem_response
from proctor.reference.http.vault import build_vault
from proctor.reference.metrics import Metrics
from proctor.reference.settings import Settings
from proctor.reference.storage import Database, Transaction, open_database
from proctor.reference.storage.authorizers import AuthorizerRepository
from proctor.reference.storage.workload_tokens import WorkloadTokenRepository
from proctor.reference.storage.workloads import WorkloadRepository
from proctor.reference.sts import SecurityTokenService
from proctor.reference.workload_auth import WorkloadAuthenticator
from proctor.reference.workload_tokens import WorkloadTokens

__all__ = ["QuietServerErrors", "Service", "ServiceSecrets", "check_issuer", "load_secrets"]

log = logging.getLogger("proctor.service")

KEYS_FILE: Final = "service-keys.json"
ADMIN_FILE: Final = "admin-credential.json"
PEPPER_ENV: Final = "PROCTOR_CREDENTIAL_PEPPER"
KEK_ENV: Final = "PROCTOR_KEK"
KEK_ID_ENV: Final = "PROCTOR_KEK_ID"
_MIN_ADMIN_BYTES: Final = 32
_KEY_BYTES: Final = 32
#: INB-JWKS-004: fetches time out within 10 seconds and do not follow redirects.
HTTP_TIMEOUT: Final = 10.0


def check_issuer(issuer: str, *, allow_loopback_http: bool) -> None:
    """TERM-ISS-001: an absolute ``https`` URL with a host and no query or fragment
    (``http`` only on loopback in development mode). ``ValueError`` otherwise."""
    check_url(issuer, "the issuer", allow_loopback_http=allow_loopback_http)
    parts = urlsplit(issuer)
    if parts.query or "?" in issuer:
        raise ValueError("the issuer must not have a query component (RFC 8414 §2)")


# -- secrets ---------------------------------------------------------------------------


def _b64decode(value: str, what: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value.strip() + "=" * (-len(value.strip()) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{what} is not base64url") from exc
    if len(raw) < _KEY_BYTES:
        raise ValueError(f"{what} must hold at least {_KEY_BYTES} bytes")
    return raw


def _b64encode(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode("ascii")


def _key_id(key: bytes, purpose: str) -> str:
    """A non-secret name for a key (an HMAC of a label under it, truncated)."""
    return purpose + "-" + hmac.new(key, b"proctor key id", hashlib.sha256).hexdigest()[:16]


def _write_private(path: Path, document: Mapping[str, Any]) -> bool:
    """Creates ``path`` with mode 0600 unless it exists; ``False`` if someone else won."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(dict(document), handle)
        handle.write("\n")
    return True


def _read_private(path: Path) -> dict[str, Any]:
    mode = path.stat().st_mode & 0o077
    if mode:
        log.warning("secret file is readable by other users", extra={"fields": {"file": path.name}})
    value = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(value, dict):
        raise ValueError(f"{path.name} is not a JSON object")
    return value


@dataclass(frozen=True)
class ServiceSecrets:
    pepper: bytes = field(repr=False)
    pepper_id: str
    kek: bytes = field(repr=False)
    kek_id: str
    admin_hash: str = field(repr=False)
    #: The admin credential when this start generated it (to print once), else ``None``.
    generated_admin_token: str | None = field(default=None, repr=False)
    #: The keys file, when the KEK comes from it (not from the environment): the service
    #: then follows ``proctor vault rotate-key`` while it runs.
    keys_path: Path | None = None

    def key_provider(self) -> KeyProvider:
        """The KEKs: fixed when given by the environment; otherwise read from the keys
        file, current ``kek`` plus ``retired_keks``, and reloaded when a rotation changes
        the file (no restart needed)."""
        if self.keys_path is None:
            return LocalKeyProvider({self.kek_id: self.kek}, self.kek_id)
        path = self.keys_path
        seen = [path.stat().st_mtime_ns]

        def changed() -> bool:
            now = path.stat().st_mtime_ns
            if now == seen[0]:
                return False
            seen[0] = now
            return True

        def load() -> tuple[dict[str, bytes], str]:
            return _kek_ring(_read_private(path))

        return ReloadingKeyProvider(load, changed)


def _kek_ring(document: Mapping[str, Any]) -> tuple[dict[str, bytes], str]:
    """The current KEK and the retired ones a rotation in progress still needs."""
    kek = _b64decode(str(document.get("kek", "")), "the key-encryption key")
    if len(kek) != _KEY_BYTES:
        raise ValueError("the key-encryption key must be exactly 32 bytes (AES-256)")
    primary = _key_id(kek, "kek")
    keys = {primary: kek}
    for kid, value in dict(document.get("retired_keks") or {}).items():
        keys[str(kid)] = _b64decode(str(value), "a retired key-encryption key")
    return keys, primary


def load_secrets(settings: Settings, env: Mapping[str, str]) -> ServiceSecrets:
    """The pepper, the KEK and the admin credential's hash (see the module docstring)."""
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys_path = data_dir / KEYS_FILE
    stored: dict[str, Any] = {}
    if not (PEPPER_ENV in env and KEK_ENV in env):
        fresh = {
            "pepper": _b64encode(secrets.token_bytes(_KEY_BYTES)),
            "kek": _b64encode(secrets.token_bytes(_KEY_BYTES)),
        }
        _write_private(keys_path, fresh)
        stored = _read_private(keys_path)
    pepper = _b64decode(env.get(PEPPER_ENV) or str(stored.get("pepper", "")), "the pepper")
    kek = _b64decode(env.get(KEK_ENV) or str(stored.get("kek", "")), "the key-encryption key")
    if len(kek) != _KEY_BYTES:
        raise ValueError("the key-encryption key must be exactly 32 bytes (AES-256)")
    kek_id = env.get(KEK_ID_ENV) or _key_id(kek, "kek")
    pepper_id = _key_id(pepper, "pepper")
    hasher = CredentialHasher(pepper)

    generated: str | None = None
    if settings.admin_token is not None:
        if len(settings.admin_token.encode("utf-8")) < _MIN_ADMIN_BYTES:
            raise ValueError("the admin credential must be at least 32 bytes (WID-ADMIN-001)")
        admin_hash = hasher.hash(settings.admin_token)
    else:
        admin_path = data_dir / ADMIN_FILE
        candidate = new_secret("padm_")
        if _write_private(admin_path, {"pepper_id": pepper_id, "hash": hasher.hash(candidate)}):
            generated = candidate
        document = _read_private(admin_path)
        if document.get("pepper_id") != pepper_id:
            raise ValueError(
                f"{ADMIN_FILE} was made under another pepper: set PROCTOR_ADMIN_TOKEN, or "
                "delete the file to generate a new admin credential"
            )
        admin_hash = str(document["hash"])
    from_file = KEK_ENV not in env and KEK_ID_ENV not in env
    return ServiceSecrets(
        pepper,
        pepper_id,
        kek,
        kek_id,
        admin_hash,
        generated,
        keys_path=keys_path if from_file else None,
    )


# -- the outer ASGI wrapper ------------------------------------------------------------


class QuietServerErrors:
    """Keeps an already-answered unexpected exception out of the server's traceback log.

    Starlette's ``ServerErrorMiddleware`` answers an unhandled exception with the app's
    detail-free 500 handler and then re-raises it, so that the server logs it; the
    handler has already logged it (type only, JSON). This wrapper swallows such an
    exception once the response has started; if nothing was sent yet it sends the
    problem itself. Lifespan and websocket scopes pass through untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:  # noqa: BLE001 - already answered (or answered just below)
            if not started:
                response = problem_response(InternalError())
                await response(scope, receive, send)


# -- the service -----------------------------------------------------------------------


class Service:
    """The assembled reference service. Build it with :meth:`create`."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        database: Database,
        http: httpx.Client,
        owns_http: bool,
        secrets_: ServiceSecrets,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.database = database
        self.http = http
        self._owns_http = owns_http
        self.metrics = metrics
        self.issuer = settings.effective_issuer
        self.generated_admin_token = secrets_.generated_admin_token
        self.hasher = CredentialHasher(secrets_.pepper)
        self.envelope = Envelope(secrets_.key_provider())
        self.audit = AuditLog(database, clock)
        self.recorder = Recorder(database, self.audit)
        self.admin = AdminGuard(self.hasher, secrets_.admin_hash)
        self.rate_limits = client_limits(settings, clock)

        fetches = metrics.counter(
            "proctor_jwks_fetches_total",
            "Fetches of IdP discovery documents and key sets.",
            ["document", "outcome"],
        )
        self.authorizers = AuthorizerRegistry(
            database,
            AuthorizerRepository(database, clock),
            clock,
            http,
            allow_loopback_http=settings.allow_loopback_http,
            on_fetch=lambda document, outcome: fetches.inc(document=document, outcome=outcome),
        )
        token_repository = WorkloadTokenRepository(database, clock)
        self._workload_token_repository = token_repository
        self.directory = Directory(
            database,
            WorkloadRepository(database, clock),
            token_repository,
            self.hasher,
            secret_key_id=secrets_.pepper_id,
            allow_loopback_http=settings.allow_loopback_http,
        )
        self.workload_tokens = WorkloadTokens(
            token_repository, clock, ttl=settings.workload_token_ttl
        )
        #: ``workload_auth.bearer`` is the seam for client_credentials access tokens.
        self.workload_auth = WorkloadAuthenticator(self.directory)
        self.control_plane = ControlPlane(
            admin=self.admin,
            recorder=self.recorder,
            authorizers=self.authorizers,
            directory=self.directory,
            audit=self.audit,
        )
        self.data_plane = DataPlane(
            authenticator=self.workload_auth,
            recorder=self.recorder,
            authorizers=self.authorizers,
            tokens=self.workload_tokens,
            clock=clock,
            metrics=metrics,
            user_token_binder=self._user_token_binder,
        )
        self.extra_routes: list[BaseRoute] = []
        self.sts = SecurityTokenService.attach(self)
        self.extra_routes += self.sts.routes()
        self.extra_routes += agentcore_routes(self)  # the AgentCore-compatible API
        # The token vault (spec 05/06): providers, resource tokens, sessions, consent.
        self.vault_components = build_vault(
            database=database,
            clock=clock,
            envelope=self.envelope,
            audit=self.audit,
            recorder=self.recorder,
            admin=self.admin,
            authenticator=self.workload_auth,
            tokens=self.workload_tokens,
            authorizers=self.authorizers,
            directory=self.directory,
            metrics=metrics,
            http=http,
            issuer=self.issuer,
            allow_loopback_http=settings.allow_loopback_http,
            session_ttl=settings.session_ttl,
            signing_key=self.sts.keys.signing_key,
        )
        self.extra_routes += self.vault_components.routes.routes()

    @classmethod
    def create(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        http_client: httpx.Client | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Service:
        """Opens storage, loads secrets and builds every component (see module docs).

        ``env`` (default ``os.environ``) supplies the secret variables; ``http_client``
        (for IdP discovery and keys) is created when not given, and then closed by
        :meth:`close`. Raises ``ValueError`` for a configuration the service must not
        start with.
        """
        env = os.environ if env is None else env
        check_issuer(settings.effective_issuer, allow_loopback_http=settings.allow_loopback_http)
        if not 60 <= settings.workload_token_ttl <= 3600:
            raise ValueError("workload_token_ttl must be 60-3600 seconds (WAT-LIFE-001)")
        secrets_ = load_secrets(settings, env)
        database = open_database(settings.effective_database_url)
        owns_http = http_client is None
        http = http_client or httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False)
        try:
            service = cls(
                settings=settings,
                clock=clock or SystemClock(),
                database=database,
                http=http,
                owns_http=owns_http,
                secrets_=secrets_,
                metrics=Metrics(),
            )
        except BaseException:
            database.close()
            if owns_http:
                http.close()
            raise
        if settings.allow_loopback_http:
            log.warning(
                "insecure development mode is enabled: http URLs on loopback hosts are accepted"
            )
        log.info(
            "service ready",
            extra={
                "fields": {
                    "issuer": service.issuer,
                    "database": urlsplit(settings.effective_database_url).scheme,
                }
            },
        )
        return service

    def _user_token_binder(self) -> UserTokenBinder | None:
        """The vault's on-behalf-of binding, once the vault is wired (VLT-OBO-001)."""
        components = getattr(self, "vault_components", None)
        if components is None:
            return None
        vault = components.vault

        def bind(wat: str, user_token: str, kind: str, expires_at: int, tx: Transaction) -> None:
            vault.bind_user_token(wat, user_token, token_kind=kind, expires_at=expires_at, tx=tx)

        return bind

    def ready(self) -> bool:
        """``/readyz``: storage answers."""
        return self.database.ping()

    def routes(self) -> list[BaseRoute]:
        """Every API route implemented so far (health routes are added by the app)."""
        return [*self.control_plane.routes(), *self.data_plane.routes(), *self.extra_routes]

    def asgi_app(self) -> ASGIApp:
        app = build_app(self.routes(), metrics=self.metrics, ready=self.ready)
        # Inside the request context (the request id), before routing (ERR-BEARER-004,
        # SEC-DOS-002).
        app.user_middleware.append(Middleware(BearerPresentation))
        app.user_middleware.append(Middleware(RateLimits, limits=self.rate_limits))
        return QuietServerErrors(app)

    def maintain(self) -> None:
        """Housekeeping, safe to run on every node at any time (``proctor serve`` runs it
        every ``maintenance_interval`` seconds): signing-key rotation and pruning with
        expired issued tokens and client-assertion jtis (the token service), expired
        sessions, consents and cached tokens (the vault), expired workload access tokens."""
        self.sts.maintain()
        self.vault_components.vault.sweep(Trail.internal(self.audit))
        self._workload_token_repository.purge_expired()

    def close(self) -> None:
        if self._owns_http:
            with contextlib.suppress(Exception):
                self.http.close()
        self.database.close()
