"""The generated requirement catalog page is up to date with the spec and the suites."""

from __future__ import annotations

from pathlib import Path

from proctor.conformance.catalog import load_catalog
from proctor.conformance.checks import CheckSpec
from proctor.conformance.coverage import kit_checks, requirement_page

PAGE = Path(__file__).resolve().parents[2] / "docs" / "conformance" / "requirements.md"


def test_the_requirement_page_is_current() -> None:
    expected = requirement_page(load_catalog(), kit_checks())
    assert PAGE.read_text(encoding="utf-8") == expected, (
        "docs/conformance/requirements.md is stale: run "
        "`.venv/bin/python -m proctor.conformance.coverage --write "
        "docs/conformance/requirements.md`"
    )


def test_the_page_lists_each_requirement_with_the_checks_citing_it() -> None:
    catalog = load_catalog()
    spec = CheckSpec(("INB-ALG-002",), None, (), "JWT-01", None, "alg none")
    page = requirement_page(catalog, {"authorizer::test_alg_none_is_refused": spec})
    row = next(line for line in page.splitlines() if line.startswith("| [INB-ALG-002]"))
    assert "(../spec/02-inbound-authorization.md#INB-ALG-002)" in row
    assert "`authorizer::test_alg_none_is_refused`" in row
    uncited = next(line for line in page.splitlines() if line.startswith("| [INB-ALG-001]"))
    assert uncited.endswith("| — |")
    musts = sum(1 for r in catalog.values() if r.level == "MUST")
    assert f"**1 of {musts} MUST requirements are cited" in page
