"""The @check declaration, level resolution against the catalog, and coverage."""

from __future__ import annotations

import pytest

from proctor.conformance.catalog import Requirement, load_catalog
from proctor.conformance.checks import (
    CheckSpec,
    check,
    declaration_problems,
    resolve_level,
    spec_of,
)
from proctor.conformance.coverage import (
    checks_in,
    kit_checks,
    provisional_requirements,
    uncovered_musts,
)
from proctor.conformance.errors import CheckDeclarationError
from proctor.conformance.suites import discovery


def _req(rid: str, level: str) -> Requirement:
    return Requirement(id=rid, level=level, title=rid, file="99-x.md", source="x")  # type: ignore[arg-type]


def _spec(*ids: str, level: str | None = None) -> CheckSpec:
    return CheckSpec(
        requirements=ids,
        level=level,
        needs=(),
        catalog=None,
        profiles=None,
        title="t",  # type: ignore[arg-type]
    )


def test_the_decorator_records_the_declaration() -> None:
    @check("TX-ACT-002", level="MUST", needs=["token_exchange"], catalog="TX-08")
    def test_x() -> None:
        """The outer act names the current actor.

        More text.
        """

    spec = spec_of(test_x)
    assert spec == CheckSpec(
        requirements=("TX-ACT-002",),
        level="MUST",
        needs=("token_exchange",),
        catalog="TX-08",
        profiles=None,
        title="The outer act names the current actor.",
    )
    assert spec_of(lambda: None) is None


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((), {}, TypeError),
        (("tx-act-002",), {}, ValueError),
        (("TX-01",), {}, ValueError),  # a catalog ID is not a requirement ID
        (("TX-ACT-002",), {"level": "MUSTNT"}, ValueError),
        (("TX-ACT-002",), {"needs": ["teleport"]}, ValueError),
        (("TX-ACT-002",), {"catalog": "TX-ACT-002"}, ValueError),
        (("TX-ACT-002",), {"profiles": []}, ValueError),
        (("TX-ACT-002",), {"profiles": ["keycloak"]}, ValueError),
    ],
)
def test_misdeclarations_are_programmer_errors(
    args: tuple[str, ...], kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        check(*args, **kwargs)  # type: ignore[arg-type]


def test_the_catalog_level_is_authoritative() -> None:
    catalog = {"A-B-001": _req("A-B-001", "SHOULD"), "A-B-002": _req("A-B-002", "MUST")}
    assert resolve_level(_spec("A-B-001"), catalog) == "SHOULD"
    assert resolve_level(_spec("A-B-001", "A-B-002"), catalog) == "MUST"  # the strongest
    assert resolve_level(_spec("A-B-001", level="SHOULD"), catalog) == "SHOULD"
    assert resolve_level(_spec("Z-Z-009", level="MAY"), catalog) == "MAY"  # provisional ID
    with pytest.raises(CheckDeclarationError, match="catalog makes A-B-001 a SHOULD"):
        resolve_level(_spec("A-B-001", level="MUST"), catalog)
    with pytest.raises(CheckDeclarationError, match="declares no level"):
        resolve_level(_spec("Z-Z-009"), catalog)


def test_declaration_problems_lists_each_contradiction() -> None:
    catalog = {"A-B-001": _req("A-B-001", "MAY")}
    checks = {"s::ok": _spec("A-B-001", level="MAY"), "s::bad": _spec("A-B-001", level="MUST")}
    assert declaration_problems(checks, catalog) == [
        "s::bad: declares level MUST but the catalog makes A-B-001 a MAY"
    ]


def test_uncovered_musts_on_a_synthetic_catalog() -> None:
    catalog = {
        "A-B-001": _req("A-B-001", "MUST"),
        "A-B-002": _req("A-B-002", "MUST"),
        "A-B-003": _req("A-B-003", "SHOULD"),
        "A-B-004": _req("A-B-004", "MUST"),
    }
    checks = {"s::one": _spec("A-B-001", level="MUST"), "s::two": _spec("A-B-004", "Z-Z-001")}
    assert [r.id for r in uncovered_musts(catalog, checks)] == ["A-B-002"]
    assert [r.id for r in uncovered_musts(catalog, list(checks.values()))] == ["A-B-002"]
    assert uncovered_musts({}, checks) == []
    assert provisional_requirements(catalog, checks) == {"Z-Z-001": ["s::two"]}


def test_the_kit_suites_are_found_and_consistent_with_the_shipped_catalog() -> None:
    checks = kit_checks()
    assert checks_in(discovery).items() <= checks.items()
    assert len(checks_in(discovery)) == 6
    assert all(spec.requirements for spec in checks.values())
    assert declaration_problems(checks, load_catalog()) == []
