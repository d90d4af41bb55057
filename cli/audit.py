"""``proctor audit``: verify and query the reference service's audit log offline.

Both commands open the service's database directly (``--data-dir`` or ``--database``, as
``proctor serve`` takes them; ``PROCTOR_*`` variables apply too) and never write to it.

- ``verify`` recomputes the hash chain (spec ``08-audit.md``, AUD-VER-002) and exits 0
  when it is intact, 1 naming the first broken event when it is not, 2 when the database
  cannot be read.
- ``query`` prints events matching the filters (AUD-API-001) as a table, or JSON lines
  exactly as they were hashed (``--json``), so another tool can re-verify them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from proctor.reference.audit import AuditEvent, AuditLog
from proctor.reference.clock import SystemClock
from proctor.reference.errors import ValidationFailed
from proctor.reference.settings import Settings
from proctor.reference.storage import Database, StorageError, open_database, schema_version

__all__ = ["app"]

app = typer.Typer(help="Verify and query the audit log.", no_args_is_help=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="The service's data directory (default .proctor)."),
]
DatabaseUrl = Annotated[
    str | None, typer.Option("--database", help="sqlite:///path or postgresql://...")
]


@contextmanager
def _audit_log(data_dir: Path | None, database: str | None) -> Iterator[AuditLog]:
    settings = Settings.from_env(data_dir=data_dir, database_url=database)
    url = settings.effective_database_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).is_file():
        typer.echo(f"proctor audit: no database at {url}", err=True)
        raise typer.Exit(2)
    db: Database
    try:
        db = open_database(url, run_migrations=False)
    except (StorageError, ValueError, OSError) as exc:
        typer.echo(f"proctor audit: cannot open the database: {type(exc).__name__}", err=True)
        raise typer.Exit(2) from exc
    try:
        if schema_version(db) < 2:
            typer.echo("proctor audit: the database has no audit log yet", err=True)
            raise typer.Exit(2)
        yield AuditLog(db, SystemClock())
    finally:
        db.close()


@app.command()
def verify(data_dir: DataDir = None, database: DatabaseUrl = None) -> None:
    """Recompute the hash chain; name the first broken event (exit 1) if any."""
    with _audit_log(data_dir, database) as log:
        result = log.verify()
    checkpoint = result.checkpoint
    start = f" from checkpoint seq {checkpoint.seq}" if checkpoint is not None else ""
    if result.valid:
        typer.echo(f"audit log intact: {result.events} events verified{start}")
        return
    typer.echo(
        f"audit log BROKEN at seq {result.first_broken_seq}: {result.reason} "
        f"({result.events} events verified before it{start})"
    )
    raise typer.Exit(1)


def _time(value: int) -> str:
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")


@app.command()
def query(
    data_dir: DataDir = None,
    database: DatabaseUrl = None,
    workload: Annotated[str | None, typer.Option(help="Only this workload.")] = None,
    user: Annotated[str | None, typer.Option(help="Only this user subject.")] = None,
    operation: Annotated[
        str | None, typer.Option(help="An operation, or a family such as 'workload.*'.")
    ] = None,
    result: Annotated[str | None, typer.Option(help="allow or deny.")] = None,
    since: Annotated[int | None, typer.Option(help="Events at or after (NumericDate).")] = None,
    until: Annotated[int | None, typer.Option(help="Events before (NumericDate).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many events.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """Print the events matching all the filters, oldest first."""
    events: list[AuditEvent] = []
    with _audit_log(data_dir, database) as log:
        token: str | None = None
        try:
            while len(events) < limit:
                page = log.query(
                    workload=workload,
                    user_subject=user,
                    operation=operation,
                    decision=result,
                    since=since,
                    until=until,
                    limit=min(100, limit - len(events)),
                    next_token=token,
                )
                events += page.items
                token = page.next_token
                if token is None:
                    break
        except ValidationFailed as exc:
            field = exc.errors[0]["field"] if exc.errors else "filter"
            option = {"decision": "result", "user_subject": "user"}.get(field, field)
            raise typer.BadParameter(exc.description, param_hint=f"--{option}") from exc
    if as_json:
        for event in events:
            typer.echo(json.dumps(event.to_dict(), sort_keys=True))
        return
    table = Table(title=f"{len(events)} audit events")
    for column in ("seq", "time (UTC)", "operation"):
        table.add_column(column, no_wrap=True)
    table.add_column("workload")
    table.add_column("user")
    table.add_column("decision", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for event in events:
        who = "" if event.user is None else f"{event.user.subject} @ {event.user.issuer}"
        table.add_row(
            str(event.seq),
            _time(event.time),
            event.operation,
            event.workload or "",
            who,
            event.decision,
            event.reason,
        )
    Console().print(table)
