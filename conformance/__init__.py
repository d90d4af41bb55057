"""proctor's black-box conformance kit.

It speaks HTTP to a target and never imports :mod:`proctor.reference`.

- :mod:`~proctor.conformance.checks`: ``@check``, how a check declares its requirements.
- :mod:`~proctor.conformance.target`: the ``Target`` checks receive (fixture
  ``proctor_target``), and how the kit reaches it.
- :mod:`~proctor.conformance.controls`: positive controls (fixture ``positive_control``).
- :mod:`~proctor.conformance.runner`: ``run(RunOptions(...))``, what ``proctor conform`` does.
- :mod:`~proctor.conformance.gate`: exit codes, allow-lists, baselines.
- :mod:`~proctor.conformance.reports`: report.json, junit.xml, summary.md, report.html, badge.
- :mod:`~proctor.conformance.pytest_plugin`: the same suites inside a team's pytest run.
- :mod:`~proctor.conformance.suites`: the suites themselves.

Nothing is imported here, so ``import proctor.conformance.catalog`` stays light.
"""
