"""Requirement coverage: which MUSTs of the catalog no check verifies.

:func:`uncovered_musts` measures the gap; :func:`uncovered_requirements` also counts the
requirements that cannot be observed over HTTP and are verified by the reference's own
tests instead, as listed in ``conformance/internal_requirements.yaml``
(:func:`load_internal`; :func:`internal_problems` checks that list against the catalog,
the checks and the test files). :func:`requirement_page` renders every
requirement with the checks citing it, the docs page ``docs/conformance/requirements.md``
(``python -m proctor.conformance.coverage --write docs/conformance/requirements.md``; a
test fails when the page is stale).
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Final

import yaml

from proctor.conformance import suites
from proctor.conformance.catalog import ID_PATTERN, Requirement
from proctor.conformance.checks import CheckSpec, spec_of
from proctor.conformance.error_shape import SHAPE_SUFFIX

__all__ = [
    "INTERNAL_CATEGORIES",
    "InternalListError",
    "InternalRequirement",
    "checks_in",
    "internal_problems",
    "kit_checks",
    "load_internal",
    "parse_internal",
    "provisional_requirements",
    "requirement_page",
    "uncovered_musts",
    "uncovered_requirements",
]


def checks_in(module: ModuleType, suite: str | None = None) -> dict[str, CheckSpec]:
    """The declared checks of one suite module, keyed ``<suite>::<function>``.

    A negative check declared with ``shape=`` counts as two checks, as it is reported
    (CONF-CTRL-002): the refusal under its own ID, and its error shape under
    ``<suite>::<function>::error_shape`` with the shape's requirement IDs.
    """
    name = suite or module.__name__.rsplit(".", 1)[-1]
    found = {}
    for attribute, value in sorted(vars(module).items()):
        spec = spec_of(value)
        if spec is not None and attribute.startswith("test"):
            found[f"{name}::{attribute}"] = spec
            shape = spec.shape_spec()
            if shape is not None:
                found[f"{name}::{attribute}{SHAPE_SUFFIX}"] = shape
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


# -- requirements verified by the reference's tests, not by a check ---------------------

#: Why a requirement cannot be judged over HTTP. ``kit``: it is a requirement on the
#: conformance kit itself (spec 10, CONF), verified by the kit's own tests.
INTERNAL_CATEGORIES: Final = (
    "storage",
    "transaction",
    "timing",
    "startup",
    "clock",
    "multi_node",
    "logging",
    "upstream",
    "kit",
)
INTERNAL_NAME: Final = "internal_requirements.yaml"
_INTERNAL_KEYS: Final = frozenset({"id", "category", "reason", "tests"})
_TEST_REFERENCE = re.compile(r"tests/(?:[\w.-]+/)*test_[\w.-]*\.py(?:::\w+)*(?:\[[^\]]*\])?")


class InternalListError(ValueError):
    """``internal_requirements.yaml`` breaks its format (a maintainer's error)."""


@dataclass(frozen=True, slots=True)
class InternalRequirement:
    """A requirement no black-box check can verify, and the tests that verify it.

    ``tests`` are pytest node IDs (``tests/x/test_y.py::test_z``) or test files
    (``tests/x/test_y.py``), relative to the repository root; each must mention ``id``.
    """

    id: str
    category: str
    reason: str
    tests: tuple[str, ...]


def parse_internal(text: str) -> dict[str, InternalRequirement]:
    """Parse the internal list (a YAML list of ``{id, category, reason, tests}``)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InternalListError(f"not YAML: {error}") from None
    if document is None:
        return {}
    if not isinstance(document, list):
        raise InternalListError("the internal list is a YAML list of entries")
    found: dict[str, InternalRequirement] = {}
    for number, entry in enumerate(document, 1):
        where = f"entry {number}"
        if not isinstance(entry, dict) or set(entry) != _INTERNAL_KEYS:
            raise InternalListError(f"{where}: exactly {sorted(_INTERNAL_KEYS)} are expected")
        rid, category, reason, tests = (entry[k] for k in ("id", "category", "reason", "tests"))
        if not isinstance(rid, str) or not ID_PATTERN.fullmatch(rid):
            raise InternalListError(f"{where}: {rid!r} is not a requirement ID")
        if rid in found:
            raise InternalListError(f"{where}: {rid} is listed twice")
        if category not in INTERNAL_CATEGORIES:
            raise InternalListError(
                f"{rid}: category {category!r} is not one of {', '.join(INTERNAL_CATEGORIES)}"
            )
        if not isinstance(reason, str) or not reason.strip() or "\n" in reason.strip():
            raise InternalListError(f"{rid}: the reason is one non-empty line")
        if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
            raise InternalListError(f"{rid}: tests is a non-empty list of test references")
        found[rid] = InternalRequirement(rid, category, reason.strip(), tuple(tests))
    return found


def load_internal(path: Path | None = None) -> dict[str, InternalRequirement]:
    """The internal list shipped with this package (or the one at ``path``)."""
    if path is not None:
        return parse_internal(path.read_text(encoding="utf-8"))
    text = resources.files(__package__).joinpath(INTERNAL_NAME).read_text(encoding="utf-8")
    return parse_internal(text)


def _test_node(tree: ast.Module, names: list[str]) -> ast.AST | None:
    body: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    for name in names:
        node = next(
            (
                n
                for n in body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and n.name == name
            ),
            None,
        )
        if node is None:
            return None
        body = node.body if isinstance(node, ast.ClassDef) else []
    return node


def _reference_problem(root: Path, reference: str, rid: str) -> str | None:
    """Why ``reference`` is not a test that exists and mentions ``rid`` (``None``: it is)."""
    if not _TEST_REFERENCE.fullmatch(reference) or ".." in reference.split("/"):
        return f"{reference!r} is not a test file or node ID under tests/"
    path, *names = reference.split("::")
    file = root / path
    if not file.is_file():
        return f"{path} does not exist"
    source = file.read_text(encoding="utf-8")
    if not names:
        return None if rid in source else f"{path} does not mention {rid}"
    names[-1] = names[-1].split("[", 1)[0]
    node = _test_node(ast.parse(source, filename=str(file)), names)
    if node is None:
        return f"{reference} does not exist"
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.name.startswith(
        "test"
    ):
        return f"{reference} is not a test function"
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    lines = source.splitlines()[first - 1 : node.end_lineno]
    return None if rid in "\n".join(lines) else f"{reference} does not mention {rid}"


def internal_problems(
    catalog: Mapping[str, Requirement],
    checks: Mapping[str, CheckSpec] | Iterable[CheckSpec],
    internal: Mapping[str, InternalRequirement],
    root: Path,
) -> list[str]:
    """Every way the internal list is wrong, as ``"<id>: <problem>"``.

    An entry is wrong when its ID is not a MUST or SHOULD of the catalog, when a check
    cites it too (a requirement is either checked over HTTP or internal: choose one), or
    when one of its tests (``root``-relative) does not exist or does not mention the ID
    in its docstring, a comment or its code.
    """
    cited = {rid for spec in _specs(checks) for rid in spec.requirements}
    problems = []
    for rid, entry in sorted(internal.items()):
        requirement = catalog.get(rid)
        if requirement is None:
            problems.append(f"{rid}: not in the requirement catalog")
            continue
        if requirement.level not in ("MUST", "SHOULD"):
            problems.append(f"{rid}: a {requirement.level}, not a MUST or SHOULD")
        if rid in cited:
            problems.append(f"{rid}: listed as internal but a conformance check cites it")
        for reference in entry.tests:
            problem = _reference_problem(root, reference, rid)
            if problem is not None:
                problems.append(f"{rid}: {problem}")
    return problems


def uncovered_requirements(
    catalog: Mapping[str, Requirement],
    checks: Mapping[str, CheckSpec] | Iterable[CheckSpec],
    internal: Mapping[str, InternalRequirement],
) -> list[Requirement]:
    """The MUSTs neither cited by a check nor listed as internal, sorted by ID."""
    return [r for r in uncovered_musts(catalog, checks) if r.id not in internal]


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
