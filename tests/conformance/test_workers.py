"""--workers N: suites in parallel processes give the same results as a serial run."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from rich.console import Console

from proctor.conformance.config import parse_config
from proctor.conformance.gate import ExitCode
from proctor.conformance.runner import RunOptions, run
from tests.conformance.conftest import SAMPLES, TODAY
from tests.conformance.test_pytest_plugin import _serve


@pytest.mark.network
def test_parallel_workers_match_a_serial_run(httpserver: HTTPServer, tmp_path: Path) -> None:
    issuer = _serve(httpserver)
    config = parse_config({"url": issuer, "capabilities": ["metadata", "jwks"]})

    def run_with(workers: int) -> dict[str, str]:
        outcome = run(
            RunOptions(
                config=config,
                suites=["discovery", "kit_levels"],
                suite_files=[SAMPLES / "kit_levels.py"],
                workers=workers,
                report_dir=tmp_path / f"workers-{workers}",
                catalog={},
                today=lambda: TODAY,
            ),
            console=Console(file=io.StringIO()),
        )
        assert outcome.exit_code is ExitCode.INFRASTRUCTURE  # kit_levels has two ERRORs
        return {r.id: r.outcome.value for r in outcome.results}

    parallel = run_with(2)
    assert parallel == run_with(1)
    assert len(parallel) == 15
    assert {check_id.split("::")[0] for check_id in parallel} == {"discovery", "kit_levels"}
