"""Exit codes, the allow-list and the baseline (the CI gate)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import httpx
import pytest

from proctor.conformance.config import TargetConfig
from proctor.conformance.errors import ConfigError
from proctor.conformance.gate import (
    AllowEntry,
    ExitCode,
    evaluate,
    load_allow_list,
    load_baseline,
)
from proctor.conformance.results import CheckResult, Outcome
from proctor.conformance.runner import RunOptions, run
from proctor.conformance.target import TargetConnection
from tests.conformance.conftest import TODAY, RunKit, kit_config
from tests.conformance.fake_target import Flaws, make_app

ISSUER_CHECK = "discovery::test_issuer_is_identical_to_the_fetched_identifier"
BROKEN = Flaws(issuer_trailing_slash=True)


def _allow(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "allow.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_conformant_is_0(run_kit: RunKit) -> None:
    assert run_kit().outcome.exit_code is ExitCode.CONFORMANT


def test_a_must_failure_is_1_and_prints_a_ready_to_paste_entry(run_kit: RunKit) -> None:
    run = run_kit(flaws=BROKEN)
    assert run.outcome.exit_code is ExitCode.MUST_FAILED
    assert run.outcome.verdict.blocking == [ISSUER_CHECK]
    assert f'- check: "{ISSUER_CHECK}"' in run.console
    assert "expires: 2030-02-14" in run.console  # TODAY + 30 days


def test_an_allowed_failure_does_not_fail_the_gate(run_kit: RunKit, tmp_path: Path) -> None:
    """CONF-ALLOW-001, CONF-EXIT-001: a live entry covers a MUST failure (exit 0), which
    is still reported FAILED, marked allow-listed with the entry's reason."""
    allow = _allow(
        tmp_path,
        f'- check: "{ISSUER_CHECK}"\n  reason: "issuer move"\n  expires: 2030-06-30\n'
        "  issue: PLAT-1\n",
    )
    run = run_kit(flaws=BROKEN, allow=allow)
    assert run.outcome.exit_code is ExitCode.CONFORMANT
    # CONF-VERD-001: exit 0, but a failure excused by the allow-list is no conformance.
    assert run.outcome.verdict.label == "not conformant (every MUST failure allow-listed)"
    assert run.outcome.verdict.allowed[ISSUER_CHECK].issue == "PLAT-1"
    assert [s.state for s in run.outcome.verdict.entries] == ["used"]
    assert run.result(ISSUER_CHECK.split("::")[1]).outcome is Outcome.FAILED
    assert f"FAILED (allow-listed: issuer move)  {ISSUER_CHECK}" in run.console
    summary = (run.report_dir / "summary.md").read_text()
    assert f"| FAILED (allow-listed: issuer move) | `{ISSUER_CHECK}` |" in summary
    document = json.loads((run.report_dir / "report.json").read_text())
    (test,) = [t for t in document["results"]["tests"] if t["name"] == ISSUER_CHECK]
    assert (test["status"], test["extra"]["allowed"]["reason"]) == ("failed", "issuer move")
    badge = json.loads((run.report_dir / "badge.json").read_text())
    assert badge["message"] == "not conformant: 1 allow-listed failure"


def test_a_glob_entry_allows_the_checks_it_matches(run_kit: RunKit, tmp_path: Path) -> None:
    allow = _allow(
        tmp_path, '- check: "discovery::test_jwks_*"\n  reason: r\n  expires: 2031-01-01\n'
    )
    run = run_kit(flaws=Flaws(jwks_500=True), allow=allow)
    assert run.outcome.exit_code is ExitCode.CONFORMANT
    assert len(run.outcome.verdict.allowed) == 2


def test_an_entry_whose_check_passes_is_stale(run_kit: RunKit, tmp_path: Path) -> None:
    allow = _allow(tmp_path, f'- check: "{ISSUER_CHECK}"\n  reason: r\n  expires: 2031-01-01\n')
    run = run_kit(allow=allow)
    assert run.outcome.exit_code is ExitCode.ALLOW_LIST
    (status,) = run.outcome.verdict.entries
    assert status.state == "stale"
    assert "did not happen" in status.detail


def test_an_expired_entry_covers_nothing(run_kit: RunKit, tmp_path: Path) -> None:
    """CONF-ALLOW-001, CONF-EXIT-001: the failure an expired entry names is not
    allow-listed (exit 1), and the entry is reported expired."""
    allow = _allow(tmp_path, f'- check: "{ISSUER_CHECK}"\n  reason: r\n  expires: 2030-01-14\n')
    run = run_kit(flaws=BROKEN, allow=allow)
    assert run.outcome.exit_code is ExitCode.MUST_FAILED
    assert run.outcome.verdict.allowed == {}
    assert run.outcome.verdict.blocking == [ISSUER_CHECK]
    (status,) = run.outcome.verdict.entries
    assert status.state == "expired"
    assert "covers nothing" in status.detail
    assert f'- check: "{ISSUER_CHECK}"' in run.console  # a fresh entry to paste


def test_an_expired_entry_alone_makes_the_allow_list_stale() -> None:
    """CONF-ALLOW-001, CONF-EXIT-001: with nothing else wrong, an expired entry is 4."""
    entry = AllowEntry(check="a::x", reason="r", expires=date(2030, 1, 14))
    verdict = evaluate([_result("a::x", Outcome.PASSED)], today=TODAY, allow=[entry])
    assert verdict.exit_code is ExitCode.ALLOW_LIST
    assert verdict.entries[0].state == "expired"


def test_the_baseline_reports_changes_and_gates_on_new_failures(
    run_kit: RunKit, tmp_path: Path
) -> None:
    clean = run_kit(report_dir=tmp_path / "clean")
    broken = run_kit(flaws=BROKEN, report_dir=tmp_path / "broken")

    regression = run_kit(flaws=BROKEN, baseline=tmp_path / "clean" / "report.json")
    assert regression.outcome.exit_code is ExitCode.MUST_FAILED
    assert regression.outcome.verdict.new == [ISSUER_CHECK]

    known = run_kit(flaws=BROKEN, baseline=tmp_path / "broken" / "report.json")
    assert known.outcome.exit_code is ExitCode.CONFORMANT
    assert known.outcome.verdict.known == [ISSUER_CHECK]
    assert known.outcome.verdict.new == []

    fixed = run_kit(baseline=tmp_path / "broken" / "report.json")
    assert fixed.outcome.verdict.fixed == [ISSUER_CHECK]
    assert fixed.outcome.exit_code is ExitCode.CONFORMANT
    assert clean.exit_code == 0
    assert broken.exit_code == 1


def _refusing(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@contextmanager
def _unreachable(config: TargetConfig) -> Iterator[TargetConnection]:
    yield TargetConnection("http://target.test", transport=httpx.MockTransport(_refusing))


def test_an_unreachable_target_is_3_with_reports(run_kit: RunKit) -> None:
    run = run_kit(target_factory=_unreachable)
    assert run.outcome.exit_code is ExitCode.INFRASTRUCTURE
    assert run.outcome.info.unreachable == "ConnectError: connection refused"
    assert (run.report_dir / "badge.json").read_text().count("unreachable") == 1


def test_a_must_failure_outranks_an_error() -> None:
    """CONF-EXIT-001: the order is 2, 1, 3, 4, 0; an uncovered MUST failure beats an ERROR,
    a covered one does not."""
    failed = _result("a::x", Outcome.FAILED)
    error = _result("a::y", Outcome.ERROR)
    assert evaluate([failed, error], today=TODAY).exit_code is ExitCode.MUST_FAILED
    assert evaluate([failed], today=TODAY).exit_code is ExitCode.MUST_FAILED
    live = AllowEntry(check="a::x", reason="r", expires=date(2031, 1, 1))
    covered = evaluate([failed, error], today=TODAY, allow=[live])
    assert covered.exit_code is ExitCode.INFRASTRUCTURE
    expired = AllowEntry(check="a::x", reason="r", expires=date(2030, 1, 1))
    assert evaluate([failed, error], today=TODAY, allow=[expired]).exit_code is (
        ExitCode.MUST_FAILED
    )


def test_an_error_outranks_a_stale_entry() -> None:
    """CONF-EXIT-001: 3 comes before 4."""
    entry = AllowEntry(check="a::gone", reason="r", expires=date(2031, 1, 1))
    results = [_result("a::x", Outcome.PASSED), _result("a::y", Outcome.ERROR)]
    assert evaluate(results, today=TODAY, allow=[entry]).exit_code is ExitCode.INFRASTRUCTURE


def test_a_must_failure_outranks_a_stale_entry() -> None:
    """CONF-EXIT-001: 1 comes before 4."""
    entry = AllowEntry(check="a::gone", reason="r", expires=date(2031, 1, 1))
    results = [_result("a::x", Outcome.FAILED)]
    verdict = evaluate(results, today=TODAY, allow=[entry])
    assert verdict.exit_code is ExitCode.MUST_FAILED
    assert verdict.entries[0].state == "stale"
    assert verdict.entries[0].detail == "no such check"


def test_an_entry_for_an_unselected_check_is_not_evaluated_in_a_filtered_run() -> None:
    entry = AllowEntry(check="other::x", reason="r", expires=date(2031, 1, 1))
    verdict = evaluate([_result("a::x", Outcome.PASSED)], today=TODAY, allow=[entry], filtered=True)
    assert verdict.entries[0].state == "not evaluated"
    assert verdict.exit_code is ExitCode.CONFORMANT


def test_an_error_is_never_allowed() -> None:
    entry = AllowEntry(check="a::x", reason="r", expires=date(2031, 1, 1))
    verdict = evaluate([_result("a::x", Outcome.ERROR)], today=TODAY, allow=[entry])
    assert verdict.allowed == {}
    assert verdict.exit_code is ExitCode.INFRASTRUCTURE


def test_warnings_do_not_fail_the_gate() -> None:
    results = [_result("a::x", Outcome.PASSED), _result("a::y", Outcome.WARNING, "SHOULD")]
    assert evaluate(results, today=TODAY).exit_code is ExitCode.CONFORMANT


def _result(check_id: str, outcome: Outcome, level: str = "MUST") -> CheckResult:
    suite, name = check_id.split("::")
    return CheckResult(
        id=check_id,
        suite=suite,
        name=name,
        title=name,
        requirements=("KIT-GATE-001",),
        level=level,  # type: ignore[arg-type]
        outcome=outcome,
    )


@pytest.mark.parametrize(
    "text",
    [
        "- check: x\n  reason: r\n",  # no expiry
        "- check: x\n  reason: r\n  expires: soon\n",
        "- check: x\n  reason: r\n  expires: 2031-01-01\n  owner: me\n",  # unknown key
        "check: [unclosed\n",
        "{just: a mapping}\n",
    ],
)
def test_a_bad_allow_list_is_a_config_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError):
        load_allow_list(_allow(tmp_path, text))


def test_a_bad_baseline_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text('{"results": {}}')
    with pytest.raises(ConfigError, match=r"not a proctor report\.json"):
        load_baseline(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_baseline(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"suites": ["nope"]}, "unknown suite"),
        ({"level": "sometimes"}, "--level"),
        ({"hypothesis_profile": "quick"}, "--hypothesis-profile"),
        ({"workers": 0}, "--workers"),
        ({"max_examples": 0}, "--max-examples"),
        ({"workers": 2, "suites": ["discovery", "kit_levels"]}, "needs a target URL"),
        ({"keyword": "not ("}, "-k expression"),
    ],
)
def test_usage_errors_raise_before_running(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    samples = [Path(__file__).parent / "sample_suites" / "kit_levels.py"]
    with pytest.raises(ConfigError, match=message):
        run(
            RunOptions(
                app=make_app(),
                config=kit_config(),
                suite_files=samples,
                catalog={},
                **options,  # type: ignore[arg-type]
            )
        )


def test_no_target_at_all_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no target"):
        run(RunOptions(catalog={}))


def test_a_config_file_error_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "target.yaml"
    path.write_text("url: http://x.test\ncapabilities: [teleport]\n")
    with pytest.raises(ConfigError, match="unknown capabilities"):
        run(RunOptions(config_path=path, catalog={}))


@contextmanager
def _failing_to_start(config: TargetConfig) -> Iterator[TargetConnection]:
    raise RuntimeError("port 8443 is taken")
    yield TargetConnection("http://never.test")  # pragma: no cover


def test_a_target_that_cannot_start_is_3(run_kit: RunKit) -> None:
    run = run_kit(target_factory=_failing_to_start)
    assert run.outcome.exit_code is ExitCode.INFRASTRUCTURE
    assert run.outcome.info.unreachable == (
        "the target could not be started: RuntimeError: port 8443 is taken"
    )
