"""The spec's requirement IDs: unique, well-formed, and identical in text and index."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctor.conformance import catalog

SPEC = Path(__file__).resolve().parents[2] / "spec"


def test_index_is_generated_from_the_text() -> None:
    expected = catalog.render_index(catalog.parse_spec(SPEC))
    actual = (SPEC / catalog.INDEX_NAME).read_text(encoding="utf-8")
    assert actual == expected, "spec/requirements.json is stale: run `make spec-index`"


def test_ids_are_unique() -> None:
    assert catalog.duplicates(catalog.parse_spec(SPEC)) == []


def test_every_id_mentioned_in_the_text_is_a_requirement() -> None:
    defined = {r.id for r in catalog.parse_spec(SPEC)}
    mentioned: set[str] = set()
    for path in SPEC.glob("*.md"):
        mentioned |= catalog.find_ids(path.read_text(encoding="utf-8"))
    assert mentioned - defined == set()


def test_packaged_catalog_matches_the_index() -> None:
    index = catalog.read_index(SPEC / catalog.INDEX_NAME)
    assert list(catalog.load_catalog().values()) == index


def test_parser_rejects_a_heading_without_level_line(tmp_path: Path) -> None:
    (tmp_path / "01-x.md").write_text("### AB-CD-001 — Title {#AB-CD-001}\n\nText.\n")
    with pytest.raises(catalog.SpecFormatError):
        catalog.parse_spec(tmp_path)


def test_parser_rejects_a_mismatched_anchor(tmp_path: Path) -> None:
    (tmp_path / "01-x.md").write_text(
        "### AB-CD-001 — Title {#AB-CD-002}\n\n**MUST** · Source: RFC 1 §1\n"
    )
    with pytest.raises(catalog.SpecFormatError):
        catalog.parse_spec(tmp_path)


def test_parser_reads_id_level_title_source(tmp_path: Path) -> None:
    (tmp_path / "03-x.md").write_text(
        "# X\n\n#### TX-ACT-002 — Current actor outermost {#TX-ACT-002}\n\n"
        "**SHOULD** · Source: RFC 8693 §4.1\n\nThe text.\n"
    )
    (req,) = catalog.parse_spec(tmp_path)
    assert req == catalog.Requirement(
        id="TX-ACT-002",
        level="SHOULD",
        title="Current actor outermost",
        file="03-x.md",
        source="RFC 8693 §4.1",
    )
    assert req.area == "TX"


def test_two_part_check_ids_are_not_requirement_ids() -> None:
    assert catalog.find_ids("JWT-05 and TX-07 cite TX-ACT-002") == {"TX-ACT-002"}
