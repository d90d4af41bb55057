"""The ``pytest11`` entry point: run the kit's suites inside a team's own pytest run.

::

    pytest --proctor-target=https://sts.example.com --proctor-profile=rfc8693 \\
           [--proctor-config=target.yaml] [--proctor-suite=discovery] [--proctor-level=must] \\
           [--proctor-report-dir=proctor-report]

With ``--proctor-target`` (or ``--proctor-config`` naming a ``url``) the plugin adds the
selected suites to the run, registers the ``proctor_target`` and ``positive_control``
fixtures, and judges the checks as ``proctor conform`` does (a failed SHOULD shows as
``xfailed``; MUST failures and errors fail the run). The team's own tests run unchanged,
and they may declare checks of their own with
:func:`proctor.conformance.checks.check`.

Without those options the plugin only adds its command-line options: it collects
nothing, registers no fixture and changes nothing in unrelated pytest runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from proctor.conformance.catalog import load_catalog
from proctor.conformance.config import PROFILES, TargetConfig, load_config, parse_config
from proctor.conformance.errors import ConfigError
from proctor.conformance.hypothesis_profiles import HYPOTHESIS_PROFILES
from proctor.conformance.session import (
    LEVEL_FILTERS,
    ConformanceSession,
    ProctorPlugin,
    scrub_results,
)
from proctor.conformance.target import Target, TargetConnection

__all__ = ["pytest_addoption", "pytest_configure"]

_OPTIONS = (
    "proctor_target",
    "proctor_profile",
    "proctor_config",
    "proctor_suite",
    "proctor_level",
    "proctor_hypothesis_profile",
    "proctor_max_examples",
    "proctor_seed",
    "proctor_report_dir",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("proctor", "proctor conformance kit")
    group.addoption("--proctor-target", metavar="URL", help="run the kit against this issuer")
    group.addoption("--proctor-profile", choices=PROFILES, help="the target's profile")
    group.addoption("--proctor-config", metavar="FILE", help="the target config (target.yaml)")
    group.addoption(
        "--proctor-suite",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this suite (repeatable)",
    )
    group.addoption(
        "--proctor-level", choices=tuple(LEVEL_FILTERS), help="levels to run (default: may)"
    )
    group.addoption("--proctor-hypothesis-profile", choices=HYPOTHESIS_PROFILES)
    group.addoption("--proctor-max-examples", type=int, metavar="N")
    group.addoption("--proctor-seed", type=int, metavar="N")
    group.addoption("--proctor-report-dir", metavar="DIR", help="also write proctor's reports here")


def _config(option: pytest.Config) -> TargetConfig:
    path = option.getoption("proctor_config")
    config = load_config(Path(path)) if path else TargetConfig()
    update: dict[str, object] = {}
    if option.getoption("proctor_target"):
        update["url"] = option.getoption("proctor_target")
    if option.getoption("proctor_profile"):
        update["profile"] = option.getoption("proctor_profile")
    if update:
        config = parse_config(config.revealed() | update, interpolate=False)
    if config.url is None:
        raise ConfigError("--proctor-config has no url: pass --proctor-target")
    return config


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("proctor_target") and not config.getoption("proctor_config"):
        given = [name for name in _OPTIONS if config.getoption(name)]
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise pytest.UsageError(f"{flags} need --proctor-target or --proctor-config")
        return
    from proctor.conformance.runner import select_suites

    try:
        target_config = _config(config)
        files = select_suites(config.getoption("proctor_suite"))
    except ConfigError as error:
        raise pytest.UsageError(str(error)) from None
    assert target_config.url is not None
    target = Target(target_config, TargetConnection(base_url=target_config.url))
    seed = config.getoption("proctor_seed")
    session = ConformanceSession(
        target=target,
        catalog=load_catalog(),
        level=config.getoption("proctor_level") or "may",
        hypothesis_profile=config.getoption("proctor_hypothesis_profile") or "ci",
        max_examples=config.getoption("proctor_max_examples"),
        seed=seed,
        strict=False,
        reproduce=lambda result: (
            f"pytest --proctor-target={target.label} --proctor-suite={result.suite} "
            f"-k {result.name.split('[', 1)[0]}" + (f" --proctor-seed={seed}" if seed else "")
        ),
    )
    plugin = _TeamRunPlugin(session, config.getoption("proctor_report_dir"))
    config.pluginmanager.register(plugin, "proctor-team-run")
    config.args.extend(str(path) for path in files.values())


class _TeamRunPlugin(ProctorPlugin):
    """:class:`ProctorPlugin` plus what a team's run needs: reports, and cleanup."""

    def __init__(self, session: ConformanceSession, report_dir: str | None) -> None:
        super().__init__(session)
        self.report_dir = Path(report_dir) if report_dir else None
        self.started = datetime.now(UTC)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.report_dir is None:
            return
        from proctor.conformance.gate import evaluate
        from proctor.conformance.reports import RunReport, write_reports
        from proctor.conformance.results import RunInfo, tool_version

        results = self.session.results
        scrub_results(results, self.session.target.redactor)
        verdict = evaluate(results, today=datetime.now(UTC).date(), filtered=True)
        info = RunInfo(
            target=self.session.target.label,
            profile=self.session.target.profile,
            level=self.session.level,
            hypothesis_profile=self.session.hypothesis_profile,
            suites=sorted({r.suite for r in results}),
            started=self.started,
            finished=datetime.now(UTC),
            tool_version=tool_version(),
            max_examples=self.session.max_examples,
            seed=self.session.seed,
            filtered=True,
        )
        write_reports(RunReport(info, results, verdict, self.session.catalog), self.report_dir)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        super().pytest_unconfigure(config)
        self.session.target.close()
