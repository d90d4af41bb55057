"""``proctor conform``: run the conformance kit against a target, as a CI gate.

Exit codes: 0 conformant, 1 a MUST failed, 2 usage or configuration error (or nothing
applicable), 3 target unreachable or an ERROR, 4 allow-list stale or expired. See
:mod:`proctor.conformance.gate`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from proctor.conformance.config import TargetConfig, load_config, parse_config
from proctor.conformance.errors import ConfigError
from proctor.conformance.operator_setup import setup_instructions
from proctor.conformance.runner import RunOptions, run
from proctor.conformance.target import TargetFactory

app = typer.Typer(
    help="Run the conformance kit against an agent identity service.",
    add_completion=False,
)


def embedded_target_factory() -> TargetFactory | None:
    """The embedded target (mock IdPs + the reference service) for a run with no target.

    ``proctor conform`` without ``--target`` and ``--config`` starts it through this
    factory (:func:`proctor.cli.embedded_target.embedded_target`). Imported lazily: a run
    against a real target never loads the reference service.
    """
    from proctor.cli.embedded_target import embedded_target

    return embedded_target


def _fail(message: str) -> typer.Exit:
    typer.echo(f"proctor conform: {message}", err=True)
    return typer.Exit(2)


@app.callback(invoke_without_command=True)
def conform(
    ctx: typer.Context,
    target: Annotated[
        str | None, typer.Option(help="The target's issuer identifier (a URL), exactly.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="The target config (target.yaml).")
    ] = None,
    profile: Annotated[
        str | None, typer.Option(help="The target's profile: proctor, agentcore or rfc8693.")
    ] = None,
    level: Annotated[
        str, typer.Option(help="What to run: must, should (adds SHOULDs) or may (all).")
    ] = "may",
    keyword: Annotated[
        str | None, typer.Option("-k", help="Only checks matching this pytest -k expression.")
    ] = None,
    suite: Annotated[
        list[str] | None, typer.Option("--suite", help="Only this suite (repeatable).")
    ] = None,
    suite_file: Annotated[
        list[Path] | None,
        typer.Option("--suite-file", help="Also run the checks in this Python file (repeatable)."),
    ] = None,
    hypothesis_profile: Annotated[
        str, typer.Option(help="ci (derandomized, moderate) or deep (many random examples).")
    ] = "ci",
    max_examples: Annotated[
        int | None, typer.Option(help="Hypothesis examples per property.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Hypothesis seed, to reproduce a run.")] = None,
    report_dir: Annotated[
        Path, typer.Option(help="Where to write report.json, junit.xml, summary.md, ...")
    ] = Path("proctor-report"),
    junit: Annotated[Path | None, typer.Option(help="Also write JUnit XML here.")] = None,
    allow: Annotated[Path | None, typer.Option(help="Allow-list of known failures (YAML).")] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="An earlier report.json: report what changed.")
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Run suites in N parallel processes (URL targets only).")
    ] = 1,
    spec_url: Annotated[
        str | None, typer.Option(help="Base URL of the rendered spec, for requirement links.")
    ] = None,
) -> None:
    """Run the conformance suites against a target and gate on the result."""
    if ctx.invoked_subcommand is not None:
        return
    factory = None
    if target is None and config is None:
        factory = embedded_target_factory()
        if factory is None:
            raise _fail(
                "no --target given, and the embedded target (mock IdPs and reference "
                "service) is not available yet: pass --target URL or --config FILE"
            )
    options = RunOptions(
        target=target,
        config_path=config,
        profile=profile,  # type: ignore[arg-type]  # validated by the config model
        level=level,  # type: ignore[arg-type]  # validated by the runner
        keyword=keyword,
        suites=suite or (),
        suite_files=suite_file or (),
        hypothesis_profile=hypothesis_profile,  # type: ignore[arg-type]
        max_examples=max_examples,
        seed=seed,
        report_dir=report_dir,
        junit=junit,
        allow=allow,
        baseline=baseline,
        workers=workers,
        spec_url=spec_url,
    )
    try:
        outcome = run(options, target_factory=factory, console=Console(file=sys.stdout))
    except ConfigError as error:
        raise _fail(str(error)) from None
    raise typer.Exit(int(outcome.exit_code))


@app.command("setup")
def setup(
    config: Annotated[
        Path | None, typer.Option("--config", help="The target config (target.yaml).")
    ] = None,
    target: Annotated[str | None, typer.Option(help="The target's issuer identifier.")] = None,
    profile: Annotated[
        str | None, typer.Option(help="proctor, agentcore or rfc8693 (overrides the config).")
    ] = None,
) -> None:
    """Print what an operator must configure on the target before a run."""
    try:
        loaded = load_config(config) if config is not None else TargetConfig()
        update: dict[str, object] = {}
        if target is not None:
            update["url"] = target
        if profile is not None:
            update["profile"] = profile
        if update:
            loaded = parse_config(loaded.revealed() | update, interpolate=False)
    except ConfigError as error:
        raise _fail(str(error)) from None
    typer.echo(setup_instructions(loaded), nl=False)
    if loaded.profile == "agentcore":
        from proctor.conformance.agentcore import setup_lines

        typer.echo("\n" + "\n".join(setup_lines(loaded)))
