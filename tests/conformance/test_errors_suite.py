"""The ``errors`` suite against the embedded reference service (real loopback sockets):
every check runs; those the reference meets pass, and any defect of the reference it
finds (allow-listed in ``examples/conformance/reference-allow.yaml``) fails with the
observation that names it. Also the suite's challenge parsing, on its own."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from proctor.cli.embedded_target import embedded_target
from proctor.conformance.error_shape import SHAPE_SUFFIX
from proctor.conformance.errors import ConformanceFailure
from proctor.conformance.results import CheckResult, Outcome
from proctor.conformance.runner import RunOptions, run
from proctor.conformance.suites.errors import _is_loopback, _parameters_once, _raw_challenges

#: Defects of the reference this suite found: check → what the failure observes.
KNOWN_DEFECTS: dict[str, str] = {}
#: The negative checks, each reported as a refusal and its error shape (CONF-CTRL-002).
NEGATIVE = {
    "test_each_code_has_its_status_title_and_type",
    "test_a_body_whose_size_is_discovered_while_reading_is_refused",
    "test_oauth_endpoints_answer_405_and_413_with_oauth_errors",
    "test_a_bearer_token_presented_twice_is_invalid_request",
    "test_a_user_token_without_the_required_scope_is_insufficient_scope",
    "test_failed_client_authentications_are_rate_limited",
}
CHECKS = {
    "test_the_issuer_is_an_https_url_without_query_or_fragment",
    *NEGATIVE,
    *(name + SHAPE_SUFFIX for name in NEGATIVE),
}

Run = Callable[..., dict[str, CheckResult]]


@pytest.fixture
def run_errors(tmp_path: Path) -> Run:
    def run_errors(keyword: str | None = None) -> dict[str, CheckResult]:
        outcome = run(
            RunOptions(suites=["errors"], keyword=keyword, report_dir=tmp_path / "report"),
            target_factory=embedded_target,
            console=Console(file=io.StringIO(), width=200),
        )
        return {result.name: result for result in outcome.results}

    return run_errors


@pytest.mark.network
def test_the_reference_passes_every_check_but_its_known_defects(run_errors: Run) -> None:
    results = run_errors()
    assert set(results) == CHECKS
    expected = {
        name: Outcome.FAILED if name in KNOWN_DEFECTS else Outcome.PASSED for name in CHECKS
    }
    outcomes = {name: r.outcome for name, r in results.items()}
    assert outcomes == expected, {name: r.message for name, r in results.items()}
    for name, observed in KNOWN_DEFECTS.items():
        assert observed in results[name].message, results[name].message


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("10.0.0.1", False),
        ("proctor.example", False),
        ("localhost.example", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert _is_loopback(host) is loopback


def test_challenges_are_split_outside_quotes() -> None:
    value = 'Basic realm="a, b", Bearer realm="proctor", error="invalid_token", scope="x y"'
    assert _raw_challenges(value) == [
        ("basic", ["realm"]),
        ("bearer", ["realm", "error", "scope"]),
    ]
    _parameters_once(value)


def test_a_repeated_parameter_is_a_failure() -> None:
    with pytest.raises(ConformanceFailure, match="repeats realm"):
        _parameters_once('Bearer realm="proctor", realm="other"')
