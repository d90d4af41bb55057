"""``proctor spec``: read the requirement catalog of the protocol spec."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from proctor.conformance.catalog import LEVELS, load_catalog

app = typer.Typer(help="Read the proctor protocol's requirement catalog.", no_args_is_help=True)


@app.command("list")
def list_requirements(
    level: Annotated[str | None, typer.Option(help="Only this level: MUST, SHOULD or MAY.")] = None,
    area: Annotated[str | None, typer.Option(help="Only this ID prefix, e.g. TX or INB.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List the spec's requirements (ID, level, title, source)."""
    if level is not None and level.upper() not in LEVELS:
        raise typer.BadParameter(f"must be one of {', '.join(LEVELS)}", param_hint="--level")
    rows = [
        r
        for r in load_catalog().values()
        if (level is None or r.level == level.upper()) and (area is None or r.area == area.upper())
    ]
    if as_json:
        for r in rows:
            typer.echo(
                json.dumps(
                    {
                        "id": r.id,
                        "level": r.level,
                        "title": r.title,
                        "file": r.file,
                        "source": r.source,
                    }
                )
            )
        return
    table = Table("ID", "Level", "Title", "Source", title=f"{len(rows)} requirements")
    for r in rows:
        table.add_row(r.id, r.level, r.title, r.source)
    Console().print(table)


@app.command("show")
def show(requirement_id: Annotated[str, typer.Argument(help="A requirement ID.")]) -> None:
    """Show one requirement."""
    catalog = load_catalog()
    req = catalog.get(requirement_id.upper())
    if req is None:
        typer.echo(f"no requirement {requirement_id!r} in the catalog", err=True)
        raise typer.Exit(2)
    typer.echo(f"{req.id} ({req.level}) {req.title}\nsource: {req.source}\nfile: spec/{req.file}")
