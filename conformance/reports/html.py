"""``report.html``: one self-contained page (inline CSS, no script, no external asset).

Sections: the verdict and why; the requirement matrix (every requirement the run cited
or the catalog holds, with its checks and their outcomes, failures first); the failures
with their message, trace, redacted evidence and reproduction command; every check.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from proctor.conformance.reports import OUTCOME_ORDER, RunReport
from proctor.conformance.results import CheckResult, Outcome

__all__ = ["render", "write"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1d232a}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}code,pre{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;white-space:pre-wrap}
.o{display:inline-block;padding:0 .4rem;border-radius:.6rem;font-size:12px;font-weight:600}
.PASSED{background:#d1f4d9;color:#135b26}.FAILED{background:#ffd7d5;color:#86181d}
.WARNING{background:#fff1c2;color:#6a4b00}.SKIPPED{background:#eaeef2;color:#424a53}
.ERROR{background:#e9d7fe;color:#4a1d7a}.NONE{background:#fff;color:#6e7781;border:1px dashed}
.verdict{font-size:1.1rem;font-weight:600}details{margin:.3rem 0}
"""


def _badge(outcome: str, text: str | None = None) -> str:
    return f'<span class="o {escape(outcome)}">{escape(text or outcome)}</span>'


def _requirement(report: RunReport, rid: str) -> str:
    url = report.requirement_url(rid)
    if url:
        return f'<a href="{escape(url)}"><code>{escape(rid)}</code></a>'
    return f"<code>{escape(rid)}</code>"


def _matrix(report: RunReport) -> list[str]:
    by_requirement: dict[str, list[CheckResult]] = {}
    for result in report.results:
        for rid in result.requirements:
            by_requirement.setdefault(rid, []).append(result)
    for rid in report.catalog:
        by_requirement.setdefault(rid, [])

    def worst(results: list[CheckResult]) -> int:
        if not results:
            return len(OUTCOME_ORDER)
        return min(OUTCOME_ORDER.index(r.outcome) for r in results)

    rows = sorted(by_requirement.items(), key=lambda kv: (worst(kv[1]), kv[0]))
    out = [
        '<table id="matrix"><thead><tr><th>Requirement</th><th>Level</th><th>Title</th>'
        "<th>Checks</th><th>Status</th></tr></thead><tbody>"
    ]
    for rid, results in rows:
        known = report.catalog.get(rid)
        level = known.level if known else (results[0].level if results else "")
        title = known.title if known else "(not in the catalog yet)"
        checks = "<br>".join(
            f"{_badge(r.outcome.value)} <code>{escape(r.id)}</code>" for r in results
        )
        status = (
            _badge(OUTCOME_ORDER[worst(results)].value)
            if results
            else _badge("NONE", "no check in this run")
        )
        out.append(
            f"<tr><td>{_requirement(report, rid)}</td><td>{escape(level)}</td>"
            f"<td>{escape(title)}</td><td>{checks or '—'}</td><td>{status}</td></tr>"
        )
    out.append("</tbody></table>")
    return out


def _details(report: RunReport, result: CheckResult) -> list[str]:
    out = [
        f'<details id="{escape(result.id)}"><summary>{_badge(report.status_text(result))} '
        f"<code>{escape(result.id)}</code> · {escape(result.level)} · "
        + ", ".join(_requirement(report, rid) for rid in result.requirements)
        + f" — {escape(result.title)}</summary>"
    ]
    if result.message:
        out.append(f"<p><strong>{escape(result.message)}</strong></p>")
    allowed = report.allowed(result)
    if allowed is not None:
        out.append(
            f"<p>Allowed until {escape(allowed.expires.isoformat())}: {escape(allowed.reason)}"
            + (f" ({escape(allowed.issue)})" if allowed.issue else "")
            + "</p>"
        )
    if result.reproduction:
        out.append(f"<p>Reproduce:</p><pre>{escape(result.reproduction)}</pre>")
    if result.blobs:
        out.append(f"<p>Hypothesis:</p><pre>{escape(chr(10).join(result.blobs))}</pre>")
    if result.trace:
        out.append(f"<p>Trace:</p><pre>{escape(result.trace)}</pre>")
    for number, exchange in enumerate(result.evidence, 1):
        status = exchange.get("response", {}).get("status", exchange.get("error", ""))
        out.append(
            f"<details><summary>Evidence {number}: {escape(str(exchange.get('method')))} "
            f"{escape(str(exchange.get('url')))} → {escape(str(status))}</summary>"
            f"<pre>{escape(json.dumps(exchange, indent=2, ensure_ascii=False))}</pre></details>"
        )
    out.append("</details>")
    return out


def render(report: RunReport) -> str:
    info, verdict = report.info, report.verdict
    totals = report.totals()
    failing = [
        r for r in report.ordered() if r.outcome in (Outcome.ERROR, Outcome.FAILED, Outcome.WARNING)
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>proctor conformance: {escape(verdict.label)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>proctor conformance report</h1>",
        f'<p class="verdict">Verdict: {escape(verdict.label)} '
        f"(exit code {int(verdict.exit_code)})</p>",
        f"<p>Target <code>{escape(info.target)}</code> · profile <code>{escape(info.profile)}"
        f"</code> · level <code>{escape(info.level)}</code> · hypothesis "
        f"<code>{escape(info.hypothesis_profile)}</code>"
        + (f" · seed <code>{info.seed}</code>" if info.seed is not None else "")
        + f" · {escape(info.started.isoformat(timespec='seconds'))} · proctor "
        f"{escape(info.tool_version)}</p>",
        f"<p>{escape(report.verdict_facts())}</p>",
        "<p>" + " ".join(_badge(o.value, f"{o.value} {totals[o]}") for o in OUTCOME_ORDER) + "</p>",
    ]
    not_applicable = report.not_applicable()
    parts.append(
        "<p>MUST requirements that did not apply: "
        + (", ".join(_requirement(report, rid) for rid in not_applicable) or "none")
        + "</p>"
    )
    if verdict.reasons:
        parts.append("<ul>" + "".join(f"<li>{escape(r)}</li>" for r in verdict.reasons) + "</ul>")
    parts.append("<h2>Requirement matrix</h2>")
    parts += _matrix(report)
    parts.append(f"<h2>Failures ({len(failing)})</h2>")
    if not failing:
        parts.append("<p>None.</p>")
    for result in failing:
        parts += _details(report, result)
    parts.append("<h2>All checks</h2>")
    parts.append(
        "<table><thead><tr><th>Outcome</th><th>Check</th><th>Level</th><th>Requirements</th>"
        "<th>Duration</th><th>Message</th></tr></thead><tbody>"
    )
    for result in report.ordered():
        parts.append(
            f"<tr><td>{_badge(result.outcome.value, report.status_text(result))}</td>"
            f"<td><code>{escape(result.id)}</code></td><td>{escape(result.level)}</td>"
            f"<td>{', '.join(_requirement(report, rid) for rid in result.requirements)}</td>"
            f"<td>{result.duration:.3f}s</td><td>{escape(result.message)}</td></tr>"
        )
    parts.append("</tbody></table></body></html>")
    return "\n".join(parts)


def write(report: RunReport, path: Path) -> Path:
    path.write_text(render(report), encoding="utf-8")
    return path
