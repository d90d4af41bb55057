"""Requirement coverage: which MUSTs of the catalog no check verifies.

:func:`uncovered_musts` measures the gap; :func:`requirement_page` renders every
requirement with the checks citing it, the docs page ``docs/conformance/requirements.md``
(``python -m proctor.conformance.coverage --write docs/conformance/requirements.md``; a
test fails when the page is stale).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from types import ModuleType

from proctor.conformance import suites
from proctor.conformance.catalog import Requirement
from proctor.conformance.checks import CheckSpec, spec_of

__all__ = [
    "checks_in",
    "kit_checks",
    "provisional_requirements",
    "requirement_page",
    "uncovered_musts",
]


def checks_in(module: ModuleType, suite: str | None = None) -> dict[str, CheckSpec]:
    """The declared checks of one suite module, keyed ``<suite>::<function>``."""
    name = suite or module.__name__.rsplit(".", 1)[-1]
    found = {}
    for attribute, value in sorted(vars(module).items()):
        spec = spec_of(value)
        if spec is not None and attribute.startswith("test"):
            found[f"{name}::{attribute}"] = spec
    return found


def kit_checks(names: Iterable[str] | None = None) -> dict[str, CheckSpec]:
    """Every check of the shipped suites (or of the suites named)."""
    selected = list(names) if names is not None else list(suites.available())
    found: dict[str, CheckSpec] = {}
    for name in selected:
        module = importlib.import_module(f"{suites.__name__}.{name}")
        found.update(checks_in(module, name))
    return found


def _specs(checks: Mapping[str, CheckSpec] | Iterable[CheckSpec]) -> list[CheckSpec]:
    return list(checks.values()) if isinstance(checks, Mapping) else list(checks)


def uncovered_musts(
    catalog: Mapping[str, Requirement], checks: Mapping[str, CheckSpec] | Iterable[CheckSpec]
) -> list[Requirement]:
    """The catalog's MUST requirements that no check cites, sorted by ID."""
    cited = {rid for spec in _specs(checks) for rid in spec.requirements}
    return sorted(
        (r for r in catalog.values() if r.level == "MUST" and r.id not in cited),
        key=lambda r: r.id,
    )


def provisional_requirements(
    catalog: Mapping[str, Requirement], checks: Mapping[str, CheckSpec]
) -> dict[str, list[str]]:
    """Cited IDs the catalog does not know (placeholders), → the checks citing them."""
    found: dict[str, list[str]] = {}
    for check_id, spec in sorted(checks.items()):
        for rid in spec.requirements:
            if rid not in catalog:
                found.setdefault(rid, []).append(check_id)
    return dict(sorted(found.items()))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def requirement_page(catalog: Mapping[str, Requirement], checks: Mapping[str, CheckSpec]) -> str:
    """The docs page listing every requirement with the checks citing it (Markdown).

    ``docs/conformance/requirements.md`` is this function's output over the shipped
    suites; ``tests/conformance/test_requirement_page.py`` fails when the page is stale.
    """
    citing: dict[str, list[str]] = {}
    for check_id, spec in sorted(checks.items()):
        for rid in spec.requirements:
            citing.setdefault(rid, []).append(check_id)
    musts = [r for r in catalog.values() if r.level == "MUST"]
    covered = [r for r in musts if r.id in citing]
    suites_count = len({check_id.split("::", 1)[0] for check_id in checks})
    lines = [
        "# Requirement coverage",
        "",
        "Every requirement of the [spec](../spec/index.md) with the conformance checks that",
        "cite it. Generated from `spec/requirements.json` and the shipped suites by",
        "`python -m proctor.conformance.coverage --write docs/conformance/requirements.md`;",
        "a test fails when this page is stale.",
        "",
        f"**{len(covered)} of {len(musts)} MUST requirements are cited by at least one of "
        f"{len(checks)} checks in {suites_count} suites.** A requirement without a check is "
        "not verified by the kit (some, such as constant-time comparison or storage "
        "atomicity, cannot be observed over HTTP).",
    ]
    by_file: dict[str, list[Requirement]] = {}
    for requirement in sorted(catalog.values(), key=lambda r: (r.file, r.id)):
        by_file.setdefault(requirement.file, []).append(requirement)
    for file, requirements in by_file.items():
        areas = ", ".join(dict.fromkeys(r.area for r in requirements))
        cited = sum(1 for r in requirements if r.id in citing)
        lines += [
            "",
            f"## {file.removesuffix('.md')} ({areas})",
            "",
            f"{cited} of {len(requirements)} requirements cited.",
            "",
            "| Requirement | Level | Title | Checks |",
            "|---|---|---|---|",
        ]
        for r in requirements:
            cells = "<br>".join(f"`{c}`" for c in citing.get(r.id, [])) or "—"
            link = f"[{r.id}](../spec/{file}#{r.id})"
            lines.append(f"| {link} | {r.level} | {_cell(r.title)} | {cells} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m proctor.conformance.coverage --write|--check PAGE``."""
    import argparse
    from pathlib import Path

    from proctor.conformance.catalog import load_catalog

    parser = argparse.ArgumentParser(prog="python -m proctor.conformance.coverage")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", metavar="PAGE", type=Path, help="regenerate the page")
    mode.add_argument("--check", metavar="PAGE", type=Path, help="exit 1 if it is stale")
    args = parser.parse_args(argv)
    page = requirement_page(load_catalog(), kit_checks())
    if args.write is not None:
        args.write.write_text(page, encoding="utf-8")
        return 0
    current = args.check.read_text(encoding="utf-8") if args.check.is_file() else ""
    return 0 if current == page else 1


if __name__ == "__main__":
    raise SystemExit(main())
