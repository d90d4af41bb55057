"""Fixtures of the conformance kit's meta-tests: run the kit against the fake target."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from proctor.conformance.config import TargetConfig, parse_config
from proctor.conformance.results import CheckResult, Outcome
from proctor.conformance.runner import RunOptions, RunOutcome, run
from tests.conformance.fake_target import CLIENT_ID, CLIENT_SECRET, ISSUER, Flaws, make_app

SAMPLES = Path(__file__).parent / "sample_suites"
ADMIN_TOKEN = "admin-token-value-0987654321"
CAPABILITIES = ["metadata", "jwks", "client_credentials", "token_exchange"]
TODAY = date(2030, 1, 15)


def kit_config(**overrides: Any) -> TargetConfig:
    data: dict[str, Any] = {
        "url": ISSUER,
        "profile": "proctor",
        "capabilities": CAPABILITIES,
        "credentials": {
            "admin_token": ADMIN_TOKEN,
            "clients": {"kit": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}},
        },
    }
    data.update(overrides)
    return parse_config(data, interpolate=False)


@dataclass
class KitRun:
    outcome: RunOutcome
    console: str
    report_dir: Path

    @property
    def exit_code(self) -> int:
        return int(self.outcome.exit_code)

    def result(self, name: str) -> CheckResult:
        matches = [r for r in self.outcome.results if r.name == name]
        assert len(matches) == 1, f"{name}: {[r.id for r in self.outcome.results]}"
        return matches[0]

    def outcomes(self) -> dict[str, Outcome]:
        return {r.name: r.outcome for r in self.outcome.results}


RunKit = Callable[..., KitRun]


@pytest.fixture
def run_kit(tmp_path: Path) -> RunKit:
    """Run the kit in-process against a fake target and capture the console."""
    counter = iter(range(1000))

    def run_kit(
        app: Any = None,
        *,
        flaws: Flaws | None = None,
        config: TargetConfig | None = None,
        suites: Sequence[str] = ("discovery",),
        samples: Sequence[str] = (),
        **options: Any,
    ) -> KitRun:
        buffer = io.StringIO()
        report_dir = options.pop("report_dir", tmp_path / f"report-{next(counter)}")
        factory = options.pop("target_factory", None)
        run_options = RunOptions(
            app=app if app is not None or factory is not None else make_app(flaws=flaws),
            config=config if config is not None else kit_config(),
            suites=[*suites, *samples],
            suite_files=[SAMPLES / f"{name}.py" for name in samples],
            report_dir=report_dir,
            catalog=options.pop("catalog", {}),
            today=lambda: TODAY,
            **options,
        )
        if factory is not None:
            run_options.app = None
        outcome = run(
            run_options,
            target_factory=factory,
            console=Console(file=buffer, width=200),
        )
        return KitRun(outcome, buffer.getvalue(), report_dir)

    return run_kit
