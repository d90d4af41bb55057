"""The runner: run the selected suites against a target, gate, and write the reports.

Programmatic use::

    from proctor.conformance.runner import RunOptions, run

    outcome = run(RunOptions(target="https://sts.example.com", config_path=Path("target.yaml"),
                             report_dir=Path("proctor-report")))
    raise SystemExit(outcome.exit_code)

The target is one of: ``target`` (a URL), ``app`` (an ASGI app run in-process, for tests
and embedding), or a ``target_factory`` (a context manager factory yielding a
:class:`~proctor.conformance.target.TargetConnection`: the hook the embedded reference
target plugs into). The suites run in-process through ``pytest.main`` with the kit's
plugin; ``workers > 1`` runs the suites in parallel processes instead (one suite per
process, URL targets only), and merges their results before gating.

Configuration problems raise :class:`~proctor.conformance.errors.ConfigError` (exit 2)
before anything runs; everything else ends in a :class:`RunOutcome` whose ``exit_code``
follows :mod:`proctor.conformance.gate`.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from proctor.conformance import suites as kit_suites
from proctor.conformance.catalog import Requirement, load_catalog
from proctor.conformance.config import Profile, TargetConfig, load_config, parse_config
from proctor.conformance.error_shape import function_of
from proctor.conformance.errors import ConfigError
from proctor.conformance.evidence import Redactor
from proctor.conformance.gate import (
    AllowEntry,
    ExitCode,
    GateVerdict,
    evaluate,
    load_allow_list,
    load_baseline,
)
from proctor.conformance.hypothesis_profiles import HYPOTHESIS_PROFILES, HypothesisProfile
from proctor.conformance.reports import OUTCOME_ORDER, RunReport, write_reports
from proctor.conformance.results import CheckResult, Outcome, RunInfo, tool_version
from proctor.conformance.session import (
    LEVEL_FILTERS,
    ConformanceSession,
    LevelFilter,
    ProctorPlugin,
    scrub_results,
)
from proctor.conformance.target import Target, TargetConnection, TargetFactory
from proctor.conformance.transport import ASGIApp, ASGIBridge

#: The seed of unseeded runs under CI (derandomised, CONF-SEED-001 still holds: printed).
CI_SEED = 0

__all__ = ["CI_SEED", "IN_PROCESS_URL", "RunOptions", "RunOutcome", "run", "select_suites"]

#: The base URL an in-process ``app`` is reached at unless ``target`` names another.
IN_PROCESS_URL = "http://target.test"
_INI = "[pytest]\n"


@dataclass
class RunOptions:
    """Everything ``proctor conform`` accepts, as data."""

    target: str | None = None
    app: ASGIApp | None = None
    config_path: Path | None = None
    config: TargetConfig | None = None
    profile: Profile | None = None
    level: LevelFilter = "may"
    keyword: str | None = None
    suites: Sequence[str] = ()
    suite_files: Sequence[Path] = ()
    hypothesis_profile: HypothesisProfile = "ci"
    max_examples: int | None = None
    seed: int | None = None
    report_dir: Path | None = None
    junit: Path | None = None
    allow: Path | None = None
    baseline: Path | None = None
    workers: int = 1
    spec_url: str | None = None
    catalog: Mapping[str, Requirement] | None = None
    today: Callable[[], date] = field(default=lambda: datetime.now(UTC).date())


@dataclass
class RunOutcome:
    exit_code: ExitCode
    results: list[CheckResult]
    verdict: GateVerdict
    info: RunInfo
    report_files: list[Path] = field(default_factory=list)


# -- option handling -------------------------------------------------------------------


def select_suites(names: Sequence[str], files: Sequence[Path] = ()) -> dict[str, Path]:
    """Suite name → module file for the names asked (all shipped suites if none)."""
    available = kit_suites.available()
    for path in files:
        if not path.is_file() or path.suffix != ".py":
            raise ConfigError(f"suite file {path} is not a Python file")
        if path.stem in available:
            raise ConfigError(f"suite file {path} has the name of a shipped suite")
        available[path.stem] = path.resolve()
    if not names:
        return available
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ConfigError(
            f"unknown suite(s) {', '.join(unknown)}; available: {', '.join(available)}"
        )
    return {name: available[name] for name in dict.fromkeys(names)}


def _validate(options: RunOptions, target_factory: TargetFactory | None) -> None:
    if options.app is not None and target_factory is not None:
        raise ValueError("give an in-process app or a target factory, not both")
    if options.config is not None and options.config_path is not None:
        raise ValueError("give a config object or a config path, not both")
    if options.level not in LEVEL_FILTERS:
        raise ConfigError(f"--level must be one of {', '.join(LEVEL_FILTERS)}")
    if options.hypothesis_profile not in HYPOTHESIS_PROFILES:
        raise ConfigError(f"--hypothesis-profile must be one of {', '.join(HYPOTHESIS_PROFILES)}")
    if options.max_examples is not None and options.max_examples < 1:
        raise ConfigError("--max-examples must be at least 1")
    if options.seed is not None and options.seed < 0:
        raise ConfigError("--seed must not be negative")
    if options.workers < 1:
        raise ConfigError("--workers must be at least 1")


def _effective_config(options: RunOptions) -> TargetConfig:
    if options.config is not None:
        config = options.config
    elif options.config_path is not None:
        config = load_config(options.config_path)
    else:
        config = TargetConfig()
    update: dict[str, Any] = {}
    if options.profile is not None:
        update["profile"] = options.profile
    if options.target is not None:
        update["url"] = options.target
    if update:
        config = parse_config(config.revealed() | update, interpolate=False)
    return config


@contextmanager
def _connect(
    options: RunOptions, config: TargetConfig, target_factory: TargetFactory | None
) -> Iterator[TargetConnection]:
    if target_factory is not None:
        with target_factory(config) as connection:
            yield connection
        return
    if options.app is not None:
        bridge = ASGIBridge(options.app)
        try:
            yield TargetConnection(
                base_url=config.url or IN_PROCESS_URL, transport=bridge, label=config.url
            )
        finally:
            bridge.close()
        return
    if config.url is None:
        raise ConfigError("no target: pass --target URL or set url in the target config")
    yield TargetConnection(base_url=config.url)


def _reproduction(
    options: RunOptions, label: str | None, seed: int | None
) -> Callable[[CheckResult], str]:
    """The command that reruns one check (``label`` ``None``: the embedded target)."""

    def command(result: CheckResult) -> str:
        parts = ["proctor", "conform", *(("--target", label) if label else ())]
        if options.config_path is not None:
            parts += ["--config", str(options.config_path)]
        if options.profile is not None:
            parts += ["--profile", options.profile]
        suite_file = next((p for p in options.suite_files if p.stem == result.suite), None)
        if suite_file is not None:
            parts += ["--suite-file", str(suite_file)]
        parts += ["--suite", result.suite, "-k", function_of(result.name)]
        if options.hypothesis_profile != "ci":
            parts += ["--hypothesis-profile", options.hypothesis_profile]
        if options.max_examples is not None:
            parts += ["--max-examples", str(options.max_examples)]
        if seed is not None:
            parts += ["--seed", str(seed)]
        return shlex.join(parts)

    return command


def _label(target: Target) -> str | None:
    return None if target.embedded else target.label


# -- running the checks ----------------------------------------------------------------


@contextmanager
def _isolated_environment() -> Iterator[None]:
    """Keep the caller's PYTEST_ADDOPTS out of the kit's own pytest session."""
    saved = os.environ.pop("PYTEST_ADDOPTS", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["PYTEST_ADDOPTS"] = saved


def _modules_of(files: set[Path]) -> dict[str, ModuleType]:
    found = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve() in files:
            found[name] = module
    return found


@contextmanager
def _fresh_imports(files: Sequence[Path]) -> Iterator[None]:
    """Import the suite modules afresh for this run, then put the process back.

    ``@given`` fixes a check's hypothesis settings when its module is imported, so a
    module imported by an earlier run (or by anyone else) would keep that run's profile.
    """
    resolved = {path.resolve() for path in files}
    saved = _modules_of(resolved)
    for name in saved:
        del sys.modules[name]
    try:
        yield
    finally:
        for name in _modules_of(resolved):
            del sys.modules[name]
        sys.modules.update(saved)


def _synthetic_error(suite: str, name: str, message: str) -> CheckResult:
    return CheckResult(
        id=f"{suite}::{name}",
        suite=suite,
        name=name,
        title=message,
        requirements=(),
        level="MUST",
        outcome=Outcome.ERROR,
        message=message,
    )


def run_checks(
    session: ConformanceSession, files: Sequence[Path], keyword: str | None
) -> list[CheckResult]:
    """Run the suite files through an isolated in-process pytest session."""
    with tempfile.TemporaryDirectory(prefix="proctor-run-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text(_INI, encoding="utf-8")
        args = [
            *(str(path) for path in files),
            "-c",
            str(ini),
            "--rootdir",
            tmp,
            "-p",
            "no:cacheprovider",
            "-p",
            "no:terminal",
            "--import-mode=importlib",
            "--capture=sys",
        ]
        if keyword:
            args += ["-k", keyword]
        with _isolated_environment(), _fresh_imports(files):
            code = pytest.main(args, plugins=[ProctorPlugin(session)])
    if code == pytest.ExitCode.USAGE_ERROR:
        raise ConfigError("the check selection was rejected (is the -k expression valid?)")
    if code == pytest.ExitCode.INTERNAL_ERROR:
        session.results.append(
            _synthetic_error("proctor", "<internal>", "the kit's pytest session crashed")
        )
    if code == pytest.ExitCode.INTERRUPTED and not session.results:
        session.results.append(
            _synthetic_error("proctor", "<interrupted>", "the run was interrupted")
        )
    return session.results


def _probe(target: Target) -> str | None:
    """``None`` if the target answers HTTP at all, else why not."""
    try:
        target.client.get(target.base_url)
    except httpx.HTTPError as error:
        return target.redactor.text(f"{type(error).__name__}: {error}")
    return None


class _Progress:
    """Console progress: a live bar on a terminal, a line per finished suite, and each
    failure as it happens."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]proctor[/bold] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("collecting", total=None)
        self._suite: str | None = None
        self._counts: Counter[Outcome] = Counter()

    def collected(self, count: int) -> None:
        self.progress.update(self.task, total=count, description="running checks")

    def add_total(self, count: int) -> None:
        total = self.progress.tasks[0].total or 0
        self.progress.update(self.task, total=total + count)

    def result(self, result: CheckResult) -> None:
        if result.suite != self._suite:
            self.finish()
            self._suite = result.suite
        self._counts[result.outcome] += 1
        self.progress.advance(self.task)
        if result.outcome in (Outcome.FAILED, Outcome.ERROR, Outcome.WARNING):
            first = result.message.splitlines()[0] if result.message else ""
            self.console.print(
                f"  {result.outcome.value:<7} {result.id} ({result.level}): {first}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

    def finish(self) -> None:
        """Print the line of the suite that just ended."""
        if self._suite is not None:
            counts = ", ".join(
                f"{self._counts[o]} {o.value.lower()}" for o in OUTCOME_ORDER if self._counts[o]
            )
            self.console.print(f"suite {self._suite}: {counts}", markup=False, highlight=False)
        self._suite, self._counts = None, Counter()


def _run_serial(
    target: Target,
    options: RunOptions,
    catalog: Mapping[str, Requirement],
    files: Mapping[str, Path],
    seed: int | None,
    progress: _Progress | None,
) -> list[CheckResult]:
    session = ConformanceSession(
        target=target,
        catalog=catalog,
        level=options.level,
        hypothesis_profile=options.hypothesis_profile,
        max_examples=options.max_examples,
        seed=seed,
        strict=True,
        reproduce=_reproduction(options, _label(target), seed),
    )
    if progress is not None:
        session.on_collected = progress.collected
        session.listeners.append(progress.result)
    return run_checks(session, list(files.values()), options.keyword)


def _run_parallel(
    config: TargetConfig,
    options: RunOptions,
    catalog: Mapping[str, Requirement],
    files: Mapping[str, Path],
    seed: int | None,
    target: Target,
    progress: _Progress | None,
) -> list[CheckResult]:
    """One worker process per suite, at most ``options.workers`` at a time."""
    reproduce = _reproduction(options, _label(target), seed)
    results: list[CheckResult] = []
    with tempfile.TemporaryDirectory(prefix="proctor-workers-") as tmp:

        def one(name: str, path: Path) -> list[CheckResult]:
            job = Path(tmp) / f"{name}.job.json"
            out = Path(tmp) / f"{name}.results.json"
            job.touch(mode=0o600)
            job.write_text(
                json.dumps(
                    {
                        "config": config.revealed(),
                        "catalog": [asdict(r) for r in catalog.values()],
                        "suite": str(path),
                        "level": options.level,
                        "keyword": options.keyword,
                        "hypothesis_profile": options.hypothesis_profile,
                        "max_examples": options.max_examples,
                        "seed": seed,
                    }
                ),
                encoding="utf-8",
            )
            done = subprocess.run(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "proctor.conformance.runner", str(job), str(out)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0 or not out.is_file():
                tail = target.redactor.text(done.stderr.strip()[-1000:])
                return [_synthetic_error(name, "<worker>", f"worker failed: {tail}")]
            data = json.loads(out.read_text(encoding="utf-8"))
            return [CheckResult.from_dict(item) for item in data]

        with ThreadPoolExecutor(max_workers=options.workers) as pool:
            futures = {pool.submit(one, name, path): name for name, path in files.items()}
            for future in as_completed(futures):
                batch = future.result()
                for result in batch:
                    result.reproduction = reproduce(result) if result.name[0] != "<" else ""
                    if progress is not None:
                        progress.add_total(1)
                        progress.result(result)
                results.extend(batch)
    return sorted(results, key=lambda r: r.id)


def _worker_main(argv: Sequence[str]) -> int:
    """``python -m proctor.conformance.runner JOB.json OUT.json``: one suite, one process."""
    job_path, out_path = (Path(arg) for arg in argv)
    job = json.loads(job_path.read_text(encoding="utf-8"))
    config = parse_config(job["config"], interpolate=False)
    catalog = {row["id"]: Requirement(**row) for row in job["catalog"]}
    target = Target(config, TargetConnection(base_url=config.url or ""))
    try:
        session = ConformanceSession(
            target=target,
            catalog=catalog,
            level=job["level"],
            hypothesis_profile=job["hypothesis_profile"],
            max_examples=job["max_examples"],
            seed=job["seed"],
        )
        results = run_checks(session, [Path(job["suite"])], job["keyword"])
    finally:
        target.close()
    out_path.write_text(json.dumps([r.to_dict() for r in results]), encoding="utf-8")
    return 0


# -- the run ---------------------------------------------------------------------------


def run(
    options: RunOptions,
    *,
    target_factory: TargetFactory | None = None,
    console: Console | None = None,
) -> RunOutcome:
    """Run, gate and report; see the module docstring."""
    _validate(options, target_factory)
    config = _effective_config(options)
    files = select_suites(options.suites, options.suite_files)
    allow: list[AllowEntry] = load_allow_list(options.allow) if options.allow else []
    baseline = load_baseline(options.baseline) if options.baseline else None
    catalog = options.catalog if options.catalog is not None else load_catalog()
    parallel = options.workers > 1 and len(files) > 1
    if parallel and (options.app is not None or target_factory is not None):
        raise ConfigError("--workers > 1 needs a target URL (in-process targets run serially)")
    # CONF-SEED-001: every run uses a seed, given or drawn, printed at the start.
    # Under CI (the CI environment variable, as Hypothesis' own ci profile reads it) an
    # unseeded run is derandomised: the fixed seed CI_SEED, so a gate never flakes.
    seed = options.seed
    if seed is None:
        seed = CI_SEED if os.environ.get("CI") else secrets.randbelow(2**32)
    filtered = bool(options.suites or options.keyword or options.level != "may")
    out = console if console is not None else Console(file=sys.stdout)
    out.print(f"proctor {tool_version()}: seed {seed}", markup=False, highlight=False)
    started = datetime.now(UTC)

    unreachable: str | None = None
    results: list[CheckResult] = []
    redactor = Redactor(config.secrets())
    label = config.url or IN_PROCESS_URL
    with ExitStack() as stack:
        try:
            connection = stack.enter_context(_connect(options, config, target_factory))
        except ConfigError:
            raise
        except Exception as error:  # noqa: BLE001 - a target that cannot start is no verdict
            unreachable = redactor.text(
                f"the target could not be started: {type(error).__name__}: {error}"
            )
        else:
            target = Target(config, connection)
            config = target.config
            redactor, label = target.redactor, target.label
            try:
                unreachable = _probe(target)
                if unreachable is None:
                    progress = _Progress(out)
                    with ExitStack() as live:
                        if out.is_terminal:
                            live.enter_context(progress.progress)
                        if parallel:
                            results = _run_parallel(
                                config, options, catalog, files, seed, target, progress
                            )
                        else:
                            results = _run_serial(target, options, catalog, files, seed, progress)
                        progress.finish()
            finally:
                target.close()
    scrub_results(results, redactor)

    verdict = evaluate(
        results,
        today=options.today(),
        allow=allow,
        baseline=baseline,
        filtered=filtered,
        unreachable=unreachable,
    )
    info = RunInfo(
        target=label,
        profile=config.profile,
        level=options.level,
        hypothesis_profile=options.hypothesis_profile,
        suites=list(files),
        started=started,
        finished=datetime.now(UTC),
        tool_version=tool_version(),
        max_examples=options.max_examples,
        seed=seed,
        keyword=options.keyword,
        unreachable=unreachable,
        filtered=filtered,
        spec_url=options.spec_url,
        capabilities=list(config.capabilities),
    )
    report = RunReport(info=info, results=results, verdict=verdict, catalog=catalog)
    written: list[Path] = []
    if options.report_dir is not None:
        written = write_reports(report, options.report_dir, junit=options.junit)
    elif options.junit is not None:
        from proctor.conformance.reports import junit_xml

        options.junit.parent.mkdir(parents=True, exist_ok=True)
        written = [junit_xml.write(report, options.junit)]
    print_summary(out, report, written)
    return RunOutcome(verdict.exit_code, results, verdict, info, written)


def print_summary(console: Console, report: RunReport, written: Sequence[Path] = ()) -> None:
    """The end-of-run console summary: counts by suite and level, failures, verdict."""
    for title, attribute in (("Suite", "suite"), ("Level", "level")):
        rows = report.counts_by(attribute)
        if not rows:
            continue
        table = Table(title, *(o.value.title() for o in OUTCOME_ORDER), title=f"By {attribute}")
        for name, counter in rows.items():
            table.add_row(name, *(str(counter[o]) for o in OUTCOME_ORDER))
        console.print(table)
    for result in report.ordered():
        if result.outcome not in (Outcome.ERROR, Outcome.FAILED):
            continue
        console.print(
            f"{report.status_text(result)}  {result.id}  [{', '.join(result.requirements) or '—'}]",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        if result.message:
            console.print(
                f"    {result.message.splitlines()[0]}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        if result.reproduction:
            console.print(
                f"    reproduce: {result.reproduction}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    verdict = report.verdict
    if verdict.suggestions:
        console.print("New MUST failures; to accept one, add to the allow-list:", markup=False)
        console.print("".join(verdict.suggestions), markup=False, highlight=False, soft_wrap=True)
    for reason in verdict.reasons:
        console.print(f"- {reason}", markup=False, highlight=False, soft_wrap=True)
    for path in written:
        console.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)
    console.print(report.verdict_line(), markup=False, highlight=False, soft_wrap=True)


if __name__ == "__main__":
    raise SystemExit(_worker_main(sys.argv[1:]))
