"""The conformance suites: one module per area of the spec, each a set of checks.

A suite is a module here whose checks are ``test_*`` functions declared with
:func:`proctor.conformance.checks.check`. Its name (the module name) is what
``proctor conform --suite NAME`` selects.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["RUN_LAST", "available"]

#: Suites that rotate the mock IdPs' signing keys and inject JWKS and discovery faults.
#: They run after every other suite, so that a target's key cache, legitimately limited to
#: one unknown-``kid`` refresh per interval (INB-JWKS-002), is not left behind the IdP's
#: current key while other suites rely on the IdPs' steady state.
RUN_LAST: tuple[str, ...] = ("authorizer",)


def available() -> dict[str, Path]:
    """Every suite shipped with the kit: name → module file, by name, :data:`RUN_LAST` last."""
    here = Path(__file__).parent
    paths = sorted(here.glob("*.py"), key=lambda p: (p.stem in RUN_LAST, p.stem))
    return {p.stem: p for p in paths if not p.name.startswith("_")}
