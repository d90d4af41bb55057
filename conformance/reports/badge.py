"""``badge.json``: a shields.io endpoint badge (https://shields.io/badges/endpoint-badge).

``{"schemaVersion": 1, "label": "proctor", "message": ..., "color": ...}``:

- ``conformant`` (brightgreen), or ``conformant, N warnings`` (green);
- ``not conformant: N allow-listed failures`` (yellow) when live allow-list entries
  cover MUST failures (CONF-VERD-001: an excused failure is no conformance), or
  ``conformant, N known failures`` (yellow) when the baseline hides them;
- ``N MUST failures`` (red), even when some checks ended in ERROR (CONF-EXIT-001);
- ``incomplete: N errors``, ``unreachable`` or ``no applicable checks`` (lightgrey): no
  verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from proctor.conformance.reports import RunReport
from proctor.conformance.results import Outcome

__all__ = ["document", "write"]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def document(report: RunReport) -> dict[str, Any]:
    totals = report.totals()
    verdict = report.verdict
    covered = sum(1 for r in report.must_failures() if r.id in verdict.allowed)
    hidden = len(report.must_failures()) - len(verdict.blocking) - covered
    if report.info.unreachable is not None:
        message, color = "unreachable", "lightgrey"
    elif verdict.blocking:
        message, color = _plural(len(verdict.blocking), "MUST failure"), "red"
    elif totals[Outcome.ERROR]:
        message, color = f"incomplete: {_plural(totals[Outcome.ERROR], 'error')}", "lightgrey"
    elif not any(totals[o] for o in (Outcome.PASSED, Outcome.FAILED, Outcome.WARNING)):
        message, color = "no applicable checks", "lightgrey"
    elif covered:
        message = f"not conformant: {_plural(covered, 'allow-listed failure')}"
        color = "yellow"
    elif hidden:
        message, color = f"conformant, {_plural(hidden, 'known failure')}", "yellow"
    elif totals[Outcome.WARNING]:
        message, color = f"conformant, {_plural(totals[Outcome.WARNING], 'warning')}", "green"
    else:
        message, color = "conformant", "brightgreen"
    return {"schemaVersion": 1, "label": "proctor", "message": message, "color": color}


def write(report: RunReport, path: Path) -> Path:
    path.write_text(json.dumps(document(report)) + "\n", encoding="utf-8")
    return path
