"""The architecture's boundaries and the packaging, checked on the source tree.

- ``conformance`` never imports ``reference`` (the kit is black-box: HTTP only).
- ``reference`` never imports ``conformance`` or ``mock_idps``.
- ``mock_idps`` imports neither.
- Every folder with an ``__init__.py`` is a listed package in ``pyproject.toml``.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"reference": "reference", "conformance": "conformance", "mock_idps": "mock_idps"}
FORBIDDEN = {
    "conformance": {"proctor.reference"},
    "reference": {"proctor.conformance", "proctor.mock_idps"},
    "mock_idps": {"proctor.reference", "proctor.conformance"},
}


def imported_modules(path: Path) -> set[str]:
    """Absolute module names imported by one file (``from x import y`` yields x and x.y)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(folder: str) -> list[str]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for name in imported_modules(path):
            for banned in FORBIDDEN[folder]:
                if name == banned or name.startswith(banned + "."):
                    found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_boundaries_hold(folder: str) -> None:
    assert violations(folder) == []


def test_the_boundary_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from proctor import reference\nimport proctor.reference.vault\n")
    names = imported_modules(bad)
    assert "proctor.reference" in names
    assert "proctor.reference.vault" in names


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    mapping = config["tool"]["setuptools"]["package-dir"]
    on_disk = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            on_disk.add(".".join((package, *rel.parts)) if rel.parts else package)
    assert on_disk == listed


@pytest.mark.parametrize("folder", ["reference", "conformance", "mock_idps", "cli"])
def test_each_package_ships_py_typed(folder: str) -> None:
    assert (ROOT / folder / "py.typed").is_file()
