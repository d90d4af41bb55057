"""The kit is black-box: it imports neither the reference service nor the emulators.

``tests/test_layout.py`` guards ``proctor.reference``; the mock IdPs are kept out too, so
the kit drives them over HTTP (their ``/_mock`` admin API) like any other party would.
Only the wiring layer (``proctor.cli``) may import all three packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parents[2] / "conformance"
FORBIDDEN = ("proctor.reference", "proctor.mock_idps", "proctor.cli")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(KIT.rglob("*.py")), ids=lambda p: str(p.relative_to(KIT)))
def test_the_kit_imports_neither_the_reference_nor_the_emulators(path: Path) -> None:
    bad = sorted(name for name in _imports(path) if any(name.startswith(f) for f in FORBIDDEN))
    assert not bad, f"{path.name} imports {bad}"
