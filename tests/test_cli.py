"""The ``proctor`` front door: help is complete, unbuilt capabilities are not listed."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from proctor.cli.main import app

runner = CliRunner()


def test_help_lists_the_built_subcommands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "spec" in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("proctor ")


def test_spec_show_unknown_id_is_a_usage_error() -> None:
    result = runner.invoke(app, ["spec", "show", "NOPE-NOPE-999"])
    assert result.exit_code == 2


def test_spec_list_rejects_a_bad_level() -> None:
    result = runner.invoke(app, ["spec", "list", "--level", "often"])
    assert result.exit_code == 2


def test_console_script_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "proctor.cli", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "proctor" in done.stdout
