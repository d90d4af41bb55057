"""``summary.md``: a Markdown summary fit for a CI job summary.

Append it to ``$GITHUB_STEP_SUMMARY``: the verdict and why, failures first (with links
to the requirements when ``--spec-url`` is given), ready-to-paste allow-list entries for
new MUST failures, the baseline diff, the MUST requirements that did not apply
(CONF-VERD-001), then counts by suite and by level.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from proctor.conformance.gate import ExitCode
from proctor.conformance.reports import OUTCOME_ORDER, RunReport
from proctor.conformance.results import CheckResult, Outcome

__all__ = ["render", "write"]

_ICON = {
    ExitCode.CONFORMANT: "✅",
    ExitCode.MUST_FAILED: "❌",
    ExitCode.USAGE: "⚪",
    ExitCode.INFRASTRUCTURE: "⚠️",
    ExitCode.ALLOW_LIST: "🟡",
}
_MAX_CELL = 240


def _cell(text: str, limit: int = _MAX_CELL) -> str:
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[:limit] + "…"
    return flat.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _requirements(report: RunReport, result: CheckResult) -> str:
    parts = []
    for rid in result.requirements:
        url = report.requirement_url(rid)
        parts.append(f"[{rid}]({url})" if url else f"`{rid}`")
    return ", ".join(parts) or "—"


def _counts_table(title: str, rows: dict[str, Counter[Outcome]]) -> list[str]:
    lines = [f"| {title} | " + " | ".join(o.value.title() for o in OUTCOME_ORDER) + " |"]
    lines.append("|---" * (len(OUTCOME_ORDER) + 1) + "|")
    for name, counter in rows.items():
        lines.append(f"| {name} | " + " | ".join(str(counter[o]) for o in OUTCOME_ORDER) + " |")
    return lines


def render(report: RunReport) -> str:
    info, verdict = report.info, report.verdict
    totals = report.totals()
    lines = [
        f"## {_ICON[verdict.exit_code]} proctor conformance: {verdict.label}",
        "",
        f"Target `{info.target}` · profile `{info.profile}` · level `{info.level}` · "
        f"hypothesis `{info.hypothesis_profile}`"
        + (f" · seed `{info.seed}`" if info.seed is not None else "")
        + f" · exit code **{int(verdict.exit_code)}**",
        "",
        f"Verdict **{verdict.label}** · {_cell(report.verdict_facts(), 1000)}",
        "",
        " · ".join(f"{o.value.title()}: {totals[o]}" for o in OUTCOME_ORDER),
        "",
    ]
    if verdict.reasons:
        lines += [f"- {_cell(reason, 400)}" for reason in verdict.reasons] + [""]

    failing = [r for r in report.ordered() if r.outcome in (Outcome.ERROR, Outcome.FAILED)]
    warnings = [r for r in report.ordered() if r.outcome is Outcome.WARNING]
    if failing or warnings:
        lines += [
            "### Failures",
            "",
            "| Outcome | Check | Level | Requirements | Message |",
            "|---|---|---|---|---|",
        ]
        for result in failing + warnings:
            lines.append(
                f"| {_cell(report.status_text(result))} | `{result.id}` | {result.level} | "
                f"{_requirements(report, result)} | {_cell(result.message)} |"
            )
        lines.append("")
        reproducible = [r for r in failing + warnings if r.reproduction or r.blobs]
        if reproducible:
            # CONF-SEED-001: the command, and for a generated case hypothesis' blob.
            lines += ["<details><summary>Reproduce</summary>", "", "```console"]
            for result in reproducible:
                lines += [f"# {result.id}", *([result.reproduction] if result.reproduction else [])]
                lines += [f"# add to the check: {blob}" for blob in result.blobs]
            lines += ["```", "", "</details>", ""]

    if verdict.suggestions:
        lines += [
            "<details><summary>Allow-list entries for the new MUST failures</summary>",
            "",
            "```yaml",
            *"".join(verdict.suggestions).splitlines(),
            "```",
            "",
            "</details>",
            "",
        ]

    if verdict.baseline_used:
        lines += ["### Since the baseline", ""]
        lines.append(f"- new failures: {len(verdict.new)}")
        lines += [f"  - `{check_id}`" for check_id in verdict.new]
        lines.append(f"- fixed: {len(verdict.fixed)}")
        lines += [f"  - `{check_id}`" for check_id in verdict.fixed]
        lines += [f"- known (failing before and now): {len(verdict.known)}", ""]

    if verdict.entries:
        lines += ["### Allow-list", "", "| Entry | State | Detail |", "|---|---|---|"]
        for status in verdict.entries:
            lines.append(
                f"| `{_cell(status.entry.check)}` | {status.state} | {_cell(status.detail)} |"
            )
        lines.append("")

    not_applicable = report.not_applicable()
    lines += ["### MUST requirements that did not apply", ""]
    if not_applicable:
        lines.append("Every check citing them needs an undeclared capability or another profile:")
        lines += ["", *(f"- `{rid}`" for rid in not_applicable), ""]
    else:
        lines += ["None.", ""]

    lines += ["### By suite", "", *_counts_table("Suite", report.counts_by("suite")), ""]
    lines += ["### By level", "", *_counts_table("Level", report.counts_by("level")), ""]
    return "\n".join(lines)


def write(report: RunReport, path: Path) -> Path:
    path.write_text(render(report), encoding="utf-8")
    return path
