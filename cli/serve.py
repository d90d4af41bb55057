"""``proctor serve``: run the reference agent identity service.

Parses options into :class:`~proctor.reference.settings.Settings` (options, then
``PROCTOR_*`` variables, then defaults), builds the service, prints where it listens, its
issuer and, on the first start only, the generated admin credential (on stdout, never in
a log), then serves with uvicorn. Logs are JSON lines on stderr; uvicorn's own loggers
go through the same formatter. SIGTERM and Ctrl-C stop it cleanly (uvicorn finishes the
requests in flight, then the service closes its storage).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from proctor.reference.logs import configure_logging
from proctor.reference.settings import Settings

if TYPE_CHECKING:
    from proctor.reference.service import Service

__all__ = ["log_config", "serve"]


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
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    configure_logging(settings.log_level)
    try:
        service = Service.create(settings)
    except ValueError as exc:
        typer.echo(f"proctor serve: {exc}", err=True)
        if not settings.allow_loopback_http and settings.effective_issuer.startswith("http:"):
            typer.echo("proctor serve: for local development on loopback, add --dev", err=True)
        raise typer.Exit(2) from exc
    base_url = f"http://{_url_host(settings.host)}:{settings.port}"
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
