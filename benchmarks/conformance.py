"""How long the default ``proctor conform`` run takes, suite by suite.

Run: ``python benchmarks/conformance.py [--suite NAME ...] [--max-examples N]``.

It runs the kit exactly as ``proctor conform`` does with no target (the mock IdPs and the
embedded reference on loopback, every suite, the ``ci`` hypothesis profile), counting the
hypothesis examples each suite generated through Hypothesis' observability callbacks, and
prints one ``name=value`` per line: per suite ``<suite>_seconds``, ``<suite>_checks`` and
``<suite>_examples``, then ``total_seconds`` (wall clock, start-up included), ``checks``,
``examples`` and ``exit_code``. The issue's budget for the default run is two minutes on a
2-core machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis.internal.observability import (
    add_observability_callback,
    remove_observability_callback,
)

from proctor.cli.conform import embedded_target_factory
from proctor.conformance.runner import RunOptions, run


def _function_suites() -> dict[str, str]:
    """Every function name defined in a suite module, mapped to its suite."""
    import proctor.conformance.suites as package

    found: dict[str, str] = {}
    for path in sorted(Path(package.__file__).parent.glob("*.py")):
        for line in path.read_text(encoding="utf-8").splitlines():
            name = line.strip().removeprefix("async ").removeprefix("def ").split("(", 1)
            if line.strip().startswith(("def ", "async def ")):
                found.setdefault(name[0], path.stem)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", action="append", default=[], help="only this suite")
    parser.add_argument("--max-examples", type=int, default=None)
    args = parser.parse_args()

    examples: Counter[str] = Counter()
    owner = _function_suites()

    def observe(observation: Any, _thread: int) -> None:
        # One "test_case" observation per generated example; ``property`` names the
        # function hypothesis ran, defined in exactly one suite module.
        if getattr(observation, "type", None) == "test_case":
            examples[owner.get(str(getattr(observation, "property", "")), "other")] += 1

    factory = embedded_target_factory()
    if factory is None:
        raise SystemExit("no embedded target is available")
    add_observability_callback(observe, all_threads=True)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as reports:
            outcome = run(
                RunOptions(
                    suites=args.suite,
                    max_examples=args.max_examples,
                    report_dir=Path(reports),
                ),
                target_factory=factory,
            )
    finally:
        remove_observability_callback(observe)
    total = time.perf_counter() - started

    seconds: Counter[str] = Counter()
    checks: Counter[str] = Counter()
    for result in outcome.results:
        seconds[result.suite] += result.duration
        checks[result.suite] += 1
    for suite in sorted(checks):
        print(f"{suite}_seconds={seconds[suite]:.2f}")
        print(f"{suite}_checks={checks[suite]}")
        print(f"{suite}_examples={examples.get(suite, 0)}")
    print(f"total_seconds={total:.1f}")
    print(f"checks={sum(checks.values())}")
    print(f"examples={sum(examples.values())}")
    print(f"exit_code={int(outcome.exit_code)}")


if __name__ == "__main__":
    main()
