"""The requirement catalog: every normative statement of the proctor spec.

The spec's Markdown files (``spec/NN-*.md``) write each requirement as a heading with a
stable ID and an explicit anchor, followed by a line giving its level and source::

    ### TX-ACT-002 — Current actor outermost {#TX-ACT-002}

    **MUST** · Source: RFC 8693 §4.1

    The issued token's ``act`` claim MUST name the current actor ...

:func:`parse_spec` reads those files; ``spec/requirements.json`` is the committed,
machine-readable index (:func:`write_index` regenerates it, a test checks that text and
index agree); :func:`load_catalog` reads the index shipped inside this package, which is
how the conformance checks resolve the IDs they cite.

Run ``python -m proctor.conformance.catalog --check spec`` to compare, ``--write spec``
to regenerate.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

__all__ = [
    "ID_PATTERN",
    "LEVELS",
    "Level",
    "Requirement",
    "SpecFormatError",
    "find_ids",
    "load_catalog",
    "parse_spec",
    "write_index",
]

Level = Literal["MUST", "SHOULD", "MAY"]
LEVELS: tuple[Level, ...] = ("MUST", "SHOULD", "MAY")

#: AREA-TOPIC-NNN, e.g. ``TX-ACT-002``. Check IDs of the attack catalog (``TX-01``,
#: ``JWT-05``) have two parts and so never collide with requirement IDs.
ID_PATTERN = re.compile(r"\b[A-Z]{2,5}-[A-Z0-9]{2,8}-\d{3}\b")

_HEADING = re.compile(
    r"^#{3,4} (?P<id>[A-Z]{2,5}-[A-Z0-9]{2,8}-\d{3}) — (?P<title>.+?) \{#(?P<anchor>[^}]+)\}\s*$"
)
_LEVEL_LINE = re.compile(r"^\*\*(?P<level>MUST|SHOULD|MAY)\*\* · Source: (?P<source>\S.*?)\s*$")

INDEX_NAME = "requirements.json"
INDEX_VERSION = 1


class SpecFormatError(ValueError):
    """A spec file breaks the requirement format (a maintainer's error, not input)."""


@dataclass(frozen=True, slots=True)
class Requirement:
    """One normative statement: its stable ID, level, title, file and source."""

    id: str
    level: Level
    title: str
    file: str
    source: str

    @property
    def area(self) -> str:
        return self.id.split("-", 1)[0]


def _spec_files(spec_dir: Path) -> list[Path]:
    return sorted(p for p in spec_dir.glob("[0-9][0-9]-*.md"))


def parse_spec(spec_dir: Path) -> list[Requirement]:
    """Parse every requirement heading in ``spec_dir``'s numbered Markdown files."""
    found: list[Requirement] = []
    for path in _spec_files(spec_dir):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            match = _HEADING.match(line)
            if match is None:
                continue
            where = f"{path.name}:{number + 1}"
            if match["anchor"] != match["id"]:
                raise SpecFormatError(f"{where}: anchor {match['anchor']!r} != id {match['id']!r}")
            level_line = next((x for x in lines[number + 1 :] if x.strip()), "")
            level = _LEVEL_LINE.match(level_line)
            if level is None:
                raise SpecFormatError(f"{where}: expected '**LEVEL** · Source: ...' after heading")
            found.append(
                Requirement(
                    id=match["id"],
                    level=level["level"],  # type: ignore[arg-type]
                    title=match["title"],
                    file=path.name,
                    source=level["source"],
                )
            )
    return found


def find_ids(text: str) -> set[str]:
    """Every requirement-shaped ID mentioned anywhere in ``text``."""
    return set(ID_PATTERN.findall(text))


def duplicates(requirements: Iterable[Requirement]) -> list[str]:
    seen: set[str] = set()
    dups: list[str] = []
    for req in requirements:
        if req.id in seen:
            dups.append(req.id)
        seen.add(req.id)
    return dups


def _index_document(requirements: Sequence[Requirement]) -> dict[str, object]:
    return {
        "version": INDEX_VERSION,
        "requirements": [asdict(r) for r in requirements],
    }


def render_index(requirements: Sequence[Requirement]) -> str:
    return json.dumps(_index_document(requirements), indent=2, ensure_ascii=False) + "\n"


def write_index(spec_dir: Path) -> Path:
    """Regenerate ``spec_dir/requirements.json`` from the Markdown."""
    requirements = parse_spec(spec_dir)
    dups = duplicates(requirements)
    if dups:
        raise SpecFormatError(f"duplicate requirement IDs: {', '.join(sorted(set(dups)))}")
    target = spec_dir / INDEX_NAME
    target.write_text(render_index(requirements), encoding="utf-8")
    return target


def _from_document(document: object) -> list[Requirement]:
    if not isinstance(document, dict) or document.get("version") != INDEX_VERSION:
        raise SpecFormatError("requirements index has an unknown shape or version")
    rows = document.get("requirements")
    if not isinstance(rows, list):
        raise SpecFormatError("requirements index has no 'requirements' list")
    return [Requirement(**row) for row in rows]


def read_index(path: Path) -> list[Requirement]:
    return _from_document(json.loads(path.read_text(encoding="utf-8")))


def load_catalog() -> dict[str, Requirement]:
    """The requirement index shipped with this package, keyed by ID."""
    text = resources.files(__package__).joinpath(INDEX_NAME).read_text(encoding="utf-8")
    return {r.id: r for r in _from_document(json.loads(text))}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proctor.conformance.catalog")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", metavar="SPEC_DIR", type=Path, help="regenerate the index")
    mode.add_argument("--check", metavar="SPEC_DIR", type=Path, help="compare text and index")
    args = parser.parse_args(argv)
    if args.write is not None:
        target = write_index(args.write)
        print(f"wrote {target} ({len(read_index(target))} requirements)")
        return 0
    spec_dir: Path = args.check
    expected = render_index(parse_spec(spec_dir))
    actual = (spec_dir / INDEX_NAME).read_text(encoding="utf-8")
    if expected != actual:
        print(f"{spec_dir / INDEX_NAME} is stale: run `make spec-index`", file=sys.stderr)
        return 1
    print("requirements index is current")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
