"""Requirement coverage: which MUSTs of the catalog no check verifies.

``make test`` will assert that :func:`uncovered_musts` over the shipped suites is empty
once the suites exist; until then these functions are how the gap is measured.
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
