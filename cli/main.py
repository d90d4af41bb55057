"""The ``proctor`` command's entry point.

Each capability registers its own sub-command module here; a sub-command is listed only
once the capability behind it exists. This module parses and prints, nothing more.
"""

from __future__ import annotations

from importlib.metadata import version

import typer

from proctor.cli import audit, chain, conform, demo, idp, serve, spec, vault

app = typer.Typer(
    name="proctor",
    help=(
        "proctor: an open, testable protocol for AI-agent identity. "
        "The spec, a reference service, mock identity providers and a conformance kit."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(spec.app, name="spec")
app.add_typer(idp.app, name="idp")
app.command("serve")(serve.serve)
app.add_typer(audit.app, name="audit")
app.add_typer(chain.app, name="chain")
app.add_typer(vault.app, name="vault")
app.command("demo")(demo.demo)
app.add_typer(conform.app, name="conform")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"proctor {version('proctor')}")
        raise typer.Exit


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """proctor: an open, testable protocol for AI-agent identity."""


def main() -> None:
    app()
