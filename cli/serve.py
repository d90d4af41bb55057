"""``proctor serve``: run the reference agent identity service.

Parses options into :class:`~proctor.reference.settings.Settings` (options, then
``PROCTOR_*`` variables, then defaults), builds the service, prints where it listens, its
issuer and, on the first start only, the generated admin credential (on stdout, never in
a log), then serves with uvicorn. Logs are JSON lines on stderr; uvicorn's own loggers
go through the same formatter. SIGTERM and Ctrl-C stop it cleanly (uvicorn finishes the
requests in flight, then the service closes its storage).

Transport (SEC-TLS-001): ``--tls-cert``/``--tls-key`` terminate TLS in the service (TLS 1.2
or later); ``--behind-proxy`` with ``--trusted-proxy ADDR`` (repeatable) declares a proxy
in front of it that terminates TLS, and forwarding headers are trusted from those
addresses only (never otherwise). Plain HTTP on a non-loopback address without one of
them is refused (exit 2).
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import ssl
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from proctor.reference.logs import configure_logging
from proctor.reference.settings import Settings

if TYPE_CHECKING:
    from proctor.reference.service import Service

__all__ = ["check_transport", "is_loopback", "log_config", "serve", "transport_options"]

_LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (127.0.0.0/8, ::1)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_transport(settings: Settings) -> None:
    """SEC-TLS-001: ``ValueError`` unless the service terminates TLS, a declared proxy in
    front of it does, or it listens on loopback only; with TLS or a proxy the issuer is
    an ``https`` URL."""
    secured = settings.tls_cert is not None or settings.behind_proxy
    if not secured and not is_loopback(settings.host):
        raise ValueError(
            f"refusing plain HTTP on the non-loopback address {settings.host} (SEC-TLS-001): "
            "terminate TLS with --tls-cert FILE --tls-key FILE, or declare the TLS proxy in "
            "front of the service with --behind-proxy --trusted-proxy ADDR"
        )
    if secured and not settings.effective_issuer.startswith("https://"):
        raise ValueError("with TLS or --behind-proxy the issuer must be an https URL (--issuer)")
    for proxy in (settings.trusted_proxies or "").split(","):
        if proxy.strip():
            try:
                ipaddress.ip_network(proxy.strip(), strict=False)
            except ValueError:
                raise ValueError(f"--trusted-proxy {proxy.strip()!r} is not an address") from None


def transport_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn options of the transport: TLS files (TLS 1.2 or later: the minimum of
    Python's ``ssl.PROTOCOL_TLS_SERVER`` contexts), and proxy headers (``Forwarded``,
    ``X-Forwarded-*``) honoured only from the trusted proxies, off otherwise."""
    options: dict[str, Any] = {"proxy_headers": False, "forwarded_allow_ips": ""}
    if settings.tls_cert is not None and settings.tls_key is not None:
        options["ssl_certfile"] = str(settings.tls_cert)
        options["ssl_keyfile"] = str(settings.tls_key)
        options["ssl_version"] = ssl.PROTOCOL_TLS_SERVER
    if settings.behind_proxy and settings.trusted_proxies:
        trusted = [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]
        options["proxy_headers"] = True
        options["forwarded_allow_ips"] = ",".join(trusted)
    return options


def log_config(level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn: its loggers print proctor's JSON lines
    (its access log is off: the service logs each request itself)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "proctor.reference.logs.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default 8700).")] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Where the SQLite database and keys live (default .proctor)."
        ),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(help="sqlite:///path or postgresql://... (default: SQLite in the data dir)."),
    ] = None,
    issuer: Annotated[
        str | None,
        typer.Option(help="The service's issuer URL (default http://HOST:PORT)."),
    ] = None,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev",
            help=(
                "Insecure development mode: accept http:// URLs on loopback hosts (the "
                "default issuer, local IdPs). Without it every URL must be https."
            ),
        ),
    ] = False,
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", help="PEM certificate chain: serve HTTPS (TLS 1.2+)."),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert.")
    ] = None,
    behind_proxy: Annotated[
        bool,
        typer.Option(
            "--behind-proxy",
            help="TLS is terminated by a proxy in front of the service (needs --trusted-proxy).",
        ),
    ] = False,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-proxy",
            help="Address or network of the TLS proxy; its forwarding headers are trusted "
            "(repeatable).",
        ),
    ] = None,
) -> None:
    """Run the reference agent identity service."""
    import uvicorn

    from proctor.reference.service import Service

    try:
        settings = Settings.from_env(
            host=host,
            port=port,
            data_dir=data_dir,
            database_url=database,
            issuer=issuer,
            allow_loopback_http=True if dev else None,
            tls_cert=tls_cert,
            tls_key=tls_key,
            behind_proxy=True if behind_proxy else None,
            trusted_proxies=",".join(trusted_proxy) if trusted_proxy else None,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    try:
        check_transport(settings)
    except ValueError as exc:
        typer.echo(f"proctor serve: {exc}", err=True)
        raise typer.Exit(2) from exc
    configure_logging(settings.log_level)
    try:
        service = Service.create(settings)
    except ValueError as exc:
        typer.echo(f"proctor serve: {exc}", err=True)
        if not settings.allow_loopback_http and settings.effective_issuer.startswith("http:"):
            typer.echo("proctor serve: for local development on loopback, add --dev", err=True)
        raise typer.Exit(2) from exc
    scheme = "https" if settings.tls_cert is not None else "http"
    base_url = f"{scheme}://{_url_host(settings.host)}:{settings.port}"
    typer.echo(f"proctor reference service listening on {base_url}")
    typer.echo(f"  issuer   {service.issuer}")
    typer.echo(f"  database {settings.effective_database_url.split(':', 1)[0]}")
    if service.generated_admin_token is not None:
        typer.echo("")
        typer.echo("Admin credential (shown once; only its hash is stored):")
        typer.echo(f"  {service.generated_admin_token}")
        typer.echo("")
    config = uvicorn.Config(
        service.asgi_app(),
        host=settings.host,
        port=settings.port,
        log_config=log_config(settings.log_level),
        access_log=False,
        lifespan="off",
        server_header=False,
        **transport_options(settings),
    )
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, restores the previous handlers and
    # re-raises the signal; these handlers absorb that, so the storage is closed and the
    # process exits 0 instead of dying by the signal.
    received: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda number, _frame: received.append(number))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    stop = threading.Event()
    housekeeping = threading.Thread(
        target=_maintain_until,
        args=(service, stop, settings.maintenance_interval),
        name="proctor-maintenance",
        daemon=True,
    )
    housekeeping.start()
    try:
        uvicorn.Server(config).run()
    finally:
        stop.set()
        housekeeping.join(timeout=30)
        service.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        logging.getLogger("proctor.service").info(
            "service stopped", extra={"fields": {"signals": len(received)}}
        )


def _maintain_until(service: Service, stop: threading.Event, interval: float) -> None:
    """Runs :meth:`Service.maintain` now and then every ``interval`` seconds until ``stop``;
    a failed run is logged (type only) and retried at the next interval."""
    log = logging.getLogger("proctor.maintenance")
    while True:
        try:
            service.maintain()
        except Exception as exc:  # noqa: BLE001 - keep serving; the next run retries
            log.error("maintenance failed", extra={"fields": {"error": type(exc).__name__}})
        if stop.wait(interval):
            return


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
