"""``proctor demo``: the Sarah scenario end to end on loopback.

Starts the chosen company IdP emulator, a tiny company app, the reference service (in
development mode, on a temporary data directory, with a generated admin credential) and
the CRM, finance and documents mock providers on free ``127.0.0.1`` ports, provisions the
service over its control plane, and tells the story step by step
(:mod:`proctor.cli.scenario`). Secrets are never printed: tokens appear as fingerprints.

The last line is ``consent prompts: run1=N run2=M``, counted from the audit log. Exit
codes: 0 the story ran to the end; 1 a step failed (the message names it); 2 usage error.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Annotated

import typer
from rich.console import Console

from proctor.cli.scenario import (
    BROWSER_WAIT,
    IDPS,
    ConsentMode,
    DemoStack,
    Narrator,
    ScenarioError,
    ScenarioResult,
    run_scenario,
    summary_line,
    write_admin_token,
)

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "app", "demo", "run"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _console() -> Console:
    """Rich output on a terminal; 120 columns and no colour codes otherwise."""
    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(highlight=False, width=120, no_color=True)


def demo(
    idp: Annotated[
        str, typer.Option("--idp", help="The company IdP: okta, entra or cognito.")
    ] = "okta",
    headless: Annotated[
        bool,
        typer.Option(
            "--headless/--browser",
            help="--headless: the IdP and the tools approve as Sarah, the demo follows the "
            "URLs itself. --browser: print the URLs for a person to open, and wait.",
        ),
    ] = True,
    keep_running: Annotated[
        bool,
        typer.Option("--keep-running", help="Keep every server up after the story, until Ctrl-C."),
    ] = False,
) -> None:
    """The Sarah scenario end to end: sign-in, decision, workload token, three consents,
    the brief, run 2 without consent, the 2-legged report, and the audit trail."""
    code = run(
        idp,
        mode="headless" if headless else "browser",
        console=_console(),
        keep_running=keep_running,
    )
    raise typer.Exit(code)


def run(
    idp: str,
    *,
    mode: ConsentMode,
    console: Console,
    narrator: Narrator | None = None,
    keep_running: bool = False,
    browser_wait: float = BROWSER_WAIT,
) -> int:
    """Tell the story on ``console``; the exit code. Errors go to stderr, redacted."""
    if idp not in IDPS:
        typer.echo(f"proctor demo: --idp must be one of {', '.join(IDPS)}", err=True)
        return EXIT_USAGE
    narrator = narrator or Narrator(console)
    narrator.title(f"proctor demo: the Sarah scenario ({idp}, {mode})")

    def hold(stack: DemoStack, result: ScenarioResult) -> None:
        _print_end(narrator, result)
        narrator.section("Still running (Ctrl-C stops everything)")
        narrator.plain(f"  reference service  {stack.reference_url}  (development mode)")
        narrator.plain(f"  admin credential   in {write_admin_token(stack)} (mode 0600)")
        narrator.plain(f"  company IdP        {stack.idp.url}  ({stack.plan.label})")
        narrator.plain(f"  company app        {stack.company.base_url}")
        for name, server in stack.tools.items():
            narrator.plain(f"  {name:<18} {server.url}")
        narrator.plain(summary_line(result))
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()

    try:
        result = run_scenario(
            idp,
            narrator,
            mode=mode,
            keep_running=hold if keep_running else None,
            browser_wait=browser_wait,
        )
    except ScenarioError as exc:
        typer.echo(f"proctor demo: failed: {narrator.redact(str(exc))}", err=True)
        return EXIT_FAILED
    if not keep_running:
        _print_end(narrator, result)
        narrator.plain(summary_line(result))
    return EXIT_OK


def _print_end(narrator: Narrator, result: ScenarioResult) -> None:
    narrator.section("The end")
    metric = "" if result.metric_prompts is None else f" (metric total {result.metric_prompts})"
    narrator.plain(
        f"  {result.audit_events} audit events, chain valid; consent prompts counted from "
        f"the audit log{metric}; {result.duration:.1f} s"
    )


#: A stand-alone app, so ``python -m proctor.cli.demo`` and the tests can run the command
#: before (and without) the front door registering it.
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command()(demo)

if __name__ == "__main__":
    app()
