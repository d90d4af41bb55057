"""The internal list (requirements verified by the reference's tests, not by a check):
its format, its validation against the catalog, the checks and the test files, and the
coverage that counts it. The gate over the shipped suites is
``test_requirement_coverage.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctor.conformance.catalog import Requirement, load_catalog
from proctor.conformance.checks import CheckSpec
from proctor.conformance.coverage import (
    InternalListError,
    InternalRequirement,
    internal_problems,
    kit_checks,
    load_internal,
    parse_internal,
    uncovered_requirements,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = "tests/reference/requirements/test_sample.py"


def _req(rid: str, level: str) -> Requirement:
    return Requirement(id=rid, level=level, title=rid, file="99-x.md", source="x")  # type: ignore[arg-type]


def _spec(*ids: str) -> CheckSpec:
    return CheckSpec(ids, None, (), None, None, "t")


def _internal(rid: str, *tests: str, category: str = "storage") -> InternalRequirement:
    return InternalRequirement(rid, category, "not observable over HTTP", tests)


CATALOG = {
    "AA-ONE-001": _req("AA-ONE-001", "MUST"),
    "AA-TWO-001": _req("AA-TWO-001", "MUST"),
    "AA-THREE-001": _req("AA-THREE-001", "MUST"),
    "AA-SHOULD-001": _req("AA-SHOULD-001", "SHOULD"),
    "AA-MAY-001": _req("AA-MAY-001", "MAY"),
}

TEST_FILE = '''"""Module docstring naming AA-FILE-001."""


def helper() -> None:
    """AA-ONE-001 in a helper, which is not a test."""


@pytest.mark.parametrize("x", [1])  # AA-DECO-001
def test_one(x: int) -> None:
    """Verifies AA-ONE-001."""
    assert x


async def test_two() -> None:
    # AA-TWO-001: mentioned in a comment.
    assert True


def test_silent() -> None:
    assert True


class TestGroup:
    def test_method(self) -> None:
        """AA-THREE-001."""
'''


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "tests" / "reference" / "requirements"
    folder.mkdir(parents=True)
    (folder / "test_sample.py").write_text(TEST_FILE, encoding="utf-8")
    return tmp_path


def test_uncovered_requirements_counts_checks_and_the_internal_list() -> None:
    checks = {"s::a": _spec("AA-ONE-001")}
    internal = {"AA-TWO-001": _internal("AA-TWO-001", "tests/x/test_y.py")}
    assert [r.id for r in uncovered_requirements(CATALOG, checks, internal)] == ["AA-THREE-001"]
    assert [r.id for r in uncovered_requirements(CATALOG, checks, {})] == [
        "AA-THREE-001",
        "AA-TWO-001",
    ]
    both = [_spec("AA-ONE-001"), _spec("AA-THREE-001")]
    assert uncovered_requirements(CATALOG, both, internal) == []


def test_a_valid_list_has_no_problems(root: Path) -> None:
    path = SAMPLE
    internal = {
        "AA-ONE-001": _internal("AA-ONE-001", f"{path}::test_one[1]"),
        "AA-TWO-001": _internal("AA-TWO-001", f"{path}::test_two"),
        "AA-THREE-001": _internal("AA-THREE-001", f"{path}::TestGroup::test_method"),
        "AA-SHOULD-001": _internal("AA-SHOULD-001", path),
    }
    (root / path).write_text(TEST_FILE + "# AA-SHOULD-001\n", encoding="utf-8")
    assert internal_problems(CATALOG, {}, internal, root) == []


def test_decorators_count_as_part_of_the_test(root: Path) -> None:
    catalog = {"AA-DECO-001": _req("AA-DECO-001", "MUST")}
    path = SAMPLE + "::test_one"
    assert (
        internal_problems(catalog, {}, {"AA-DECO-001": _internal("AA-DECO-001", path)}, root) == []
    )


@pytest.mark.parametrize(
    ("rid", "reference", "problem"),
    [
        ("AA-NONE-001", SAMPLE, "not in the requirement catalog"),
        ("AA-MAY-001", SAMPLE, "a MAY, not a MUST or SHOULD"),
        ("AA-ONE-001", "tests/reference/requirements/test_absent.py", "does not exist"),
        ("AA-ONE-001", SAMPLE + "::test_gone", "does not exist"),
        ("AA-ONE-001", SAMPLE + "::helper", "not a test"),
        ("AA-ONE-001", SAMPLE + "::test_silent", "does not mention AA-ONE-001"),
        ("AA-ONE-001", SAMPLE + "::test_two", "does not mention AA-ONE-001"),
        ("AA-SHOULD-001", SAMPLE, "does not mention AA-SHOULD-001"),
        ("AA-ONE-001", "reference/authorizer.py", "not a test file or node ID under tests/"),
        ("AA-ONE-001", "tests/../reference/test_x.py", "not a test file or node ID under tests/"),
        ("AA-ONE-001", "tests/reference/requirements/conftest.py", "not a test file or node ID"),
    ],
)  # fmt: skip
def test_each_wrong_entry_is_reported(root: Path, rid: str, reference: str, problem: str) -> None:
    catalog = {**CATALOG, "AA-TWO-001": _req("AA-TWO-001", "MUST")}
    problems = internal_problems(catalog, {}, {rid: _internal(rid, reference)}, root)
    assert problems, f"{rid} with {reference} passed"
    assert all(p.startswith(f"{rid}: ") for p in problems)
    assert any(problem in p for p in problems), problems


def test_a_requirement_is_either_checked_or_internal(root: Path) -> None:
    reference = SAMPLE + "::test_one"
    internal = {"AA-ONE-001": _internal("AA-ONE-001", reference)}
    problems = internal_problems(CATALOG, {"s::a": _spec("AA-ONE-001")}, internal, root)
    assert problems == ["AA-ONE-001: listed as internal but a conformance check cites it"]


def test_the_list_parses_to_entries() -> None:
    text = """
- id: AA-ONE-001
  category: timing
  reason: constant time cannot be timed honestly
  tests: [tests/reference/test_x.py::test_y]
"""
    assert parse_internal(text) == {
        "AA-ONE-001": InternalRequirement(
            "AA-ONE-001", "timing", "constant time cannot be timed honestly",
            ("tests/reference/test_x.py::test_y",),
        )
    }  # fmt: skip
    assert parse_internal("") == {}


_ENTRY = "- {id: AA-ONE-001, category: storage, reason: r, tests: [tests/test_x.py]}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: AA-ONE-001\n", "a YAML list"),
        ("- [unclosed\n", "not YAML"),
        ("- {id: AA-ONE-001, category: storage, reason: r}\n", "exactly"),
        ("- {id: AA-ONE-001, category: storage, reason: r, tests: [t], extra: 1}\n", "exactly"),
        ("- {id: aa-one-1, category: storage, reason: r, tests: [t]}\n", "not a requirement ID"),
        (_ENTRY + _ENTRY, "listed twice"),
        ("- {id: AA-ONE-001, category: hard, reason: r, tests: [t]}\n", "category 'hard'"),
        ("- {id: AA-ONE-001, category: storage, reason: '', tests: [t]}\n", "one non-empty line"),
        ('- {id: AA-ONE-001, category: storage, reason: "a\\nb", tests: [t]}\n', "one non-empty"),
        ("- {id: AA-ONE-001, category: storage, reason: r, tests: []}\n", "non-empty list"),
        ("- {id: AA-ONE-001, category: storage, reason: r, tests: t}\n", "non-empty list"),
    ],
)
def test_a_malformed_list_is_refused(text: str, message: str) -> None:
    with pytest.raises(InternalListError, match=message):
        parse_internal(text)


def test_the_shipped_list_is_valid() -> None:
    """Every listed requirement is a MUST or SHOULD no check cites, each with tests that
    exist and mention it."""
    internal = load_internal()
    assert internal, "the shipped internal list is empty"
    assert internal_problems(load_catalog(), kit_checks(), internal, ROOT) == []
    assert load_internal(ROOT / "conformance" / "internal_requirements.yaml") == internal
