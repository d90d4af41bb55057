"""The conformance suites: one module per area of the spec, each a set of checks.

A suite is a module here whose checks are ``test_*`` functions declared with
:func:`proctor.conformance.checks.check`. Its name (the module name) is what
``proctor conform --suite NAME`` selects.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["available"]


def available() -> dict[str, Path]:
    """Every suite shipped with the kit: name → module file, sorted by name."""
    here = Path(__file__).parent
    return {p.stem: p for p in sorted(here.glob("*.py")) if not p.name.startswith("_")}
