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

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from proctor.conformance.config import TargetConfig

__all__ = ["pytest_addoption", "pytest_configure"]

# The choices are spelt out here so that importing this module (which pytest does in every
# run, this plugin being installed) stays cheap: the kit itself is imported only when a
# run asks for it. tests/conformance/test_pytest_plugin.py checks they match the kit's.
PROFILE_CHOICES = ("proctor", "agentcore", "rfc8693")
LEVEL_CHOICES = ("must", "should", "may")
HYPOTHESIS_CHOICES = ("ci", "deep")

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
    group.addoption("--proctor-profile", choices=PROFILE_CHOICES, help="the target's profile")
    group.addoption("--proctor-config", metavar="FILE", help="the target config (target.yaml)")
    group.addoption(
        "--proctor-suite",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this suite (repeatable)",
    )
    group.addoption("--proctor-level", choices=LEVEL_CHOICES, help="levels to run (default: may)")
    group.addoption("--proctor-hypothesis-profile", choices=HYPOTHESIS_CHOICES)
    group.addoption("--proctor-max-examples", type=int, metavar="N")
    group.addoption("--proctor-seed", type=int, metavar="N")
    group.addoption("--proctor-report-dir", metavar="DIR", help="also write proctor's reports here")


def _config(option: pytest.Config) -> TargetConfig:
    from proctor.conformance.config import TargetConfig, load_config, parse_config
    from proctor.conformance.errors import ConfigError

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
    from proctor.conformance.catalog import load_catalog
    from proctor.conformance.error_shape import function_of
    from proctor.conformance.errors import ConfigError
    from proctor.conformance.runner import CI_SEED, select_suites
    from proctor.conformance.session import ConformanceSession, TeamRunPlugin
    from proctor.conformance.target import Target, TargetConnection

    try:
        target_config = _config(config)
        files = select_suites(config.getoption("proctor_suite"))
    except ConfigError as error:
        raise pytest.UsageError(str(error)) from None
    assert target_config.url is not None
    target = Target(target_config, TargetConnection(base_url=target_config.url))
    # CONF-SEED-001: every run uses a seed (printed in the report header).
    seed = config.getoption("proctor_seed")
    if seed is None:  # derandomised under CI, as the runner (CONF-SEED-001)
        seed = CI_SEED if os.environ.get("CI") else secrets.randbelow(2**32)
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
            f"-k {function_of(result.name)} --proctor-seed={seed}"
        ),
    )
    plugin = TeamRunPlugin(session, config.getoption("proctor_report_dir"))
    config.pluginmanager.register(plugin, "proctor-team-run")
    config.args.extend(str(path) for path in files.values())
