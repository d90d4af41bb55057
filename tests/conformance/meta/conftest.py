"""Running the kit against the embedded reference service (real loopback sockets).

:func:`run_embedded` is the runner API with the embedded target factory of ``proctor
conform``: the mock IdPs and the reference service start for the run and stop after it.
Broken variants of the reference are made by monkeypatching it in this process (the
service runs in a thread of it), never by a switch in the reference itself.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from proctor.cli.embedded_target import embedded_target
from proctor.conformance.results import CheckResult, Outcome
from proctor.conformance.runner import RunOptions, RunOutcome, run

ROOT = Path(__file__).resolve().parents[3]
#: The known defects of the reference the kit found, allowed until fixed.
REFERENCE_ALLOW = ROOT / "examples" / "conformance" / "reference-allow.yaml"
#: The suites this meta-test judges (other suites have meta-tests of their own).
SUITES = ("authorizer", "workload_tokens", "hygiene", "audit", "discovery")
#: Few examples per property: the meta-tests check that checks catch, not the target.
MAX_EXAMPLES = 8


@dataclass
class EmbeddedRun:
    outcome: RunOutcome
    console: str

    def by_name(self) -> dict[str, CheckResult]:
        return {result.name: result for result in self.outcome.results}

    def outcome_of(self, name: str) -> Outcome:
        found = self.by_name()
        assert name in found, f"{name} did not run: {sorted(found)}"
        return found[name].outcome


RunEmbedded = Callable[..., EmbeddedRun]


@pytest.fixture
def run_embedded(tmp_path: Path) -> RunEmbedded:
    def run_embedded(
        suites: Sequence[str] = SUITES,
        *,
        keyword: str | None = None,
        allow: Path | None = None,
    ) -> EmbeddedRun:
        buffer = io.StringIO()
        outcome = run(
            RunOptions(
                suites=suites,
                keyword=keyword,
                allow=allow,
                max_examples=MAX_EXAMPLES,
                report_dir=tmp_path / "report",
            ),
            target_factory=embedded_target,
            console=Console(file=buffer, width=200),
        )
        return EmbeddedRun(outcome, buffer.getvalue())

    return run_embedded
