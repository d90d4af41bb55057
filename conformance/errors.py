"""The conformance kit's exceptions, and what each one makes of a check.

::

    AssertionError
     └── ConformanceFailure   the target broke a requirement → FAILED (MUST) / WARNING
    Exception
     ├── ControlFailed        a positive control failed → ERROR (the verdict is void)
     └── InfrastructureError  the kit could not test (unreachable, bad setup) → ERROR
    ValueError
     ├── ConfigError          a target config, allow-list or option is wrong → exit 2
     └── CheckDeclarationError a check's declaration contradicts the catalog → ERROR

Any other exception escaping a check is an ERROR too: a check must turn every
observation about the target into an assertion, so an unexpected exception is a bug in
the kit or an infrastructure problem, never a verdict on the target.
"""

from __future__ import annotations

__all__ = [
    "CheckDeclarationError",
    "ConfigError",
    "ConformanceFailure",
    "ControlFailed",
    "InfrastructureError",
]


class ConformanceFailure(AssertionError):
    """The target's behaviour contradicts a requirement.

    A plain ``assert`` is just as good; this class lets a check attach the observed and
    expected behaviour in one message.
    """

    def __init__(self, message: str, *, expected: str | None = None, observed: str | None = None):
        parts = [message]
        if expected is not None:
            parts.append(f"expected: {expected}")
        if observed is not None:
            parts.append(f"observed: {observed}")
        super().__init__("\n".join(parts))


class ControlFailed(Exception):
    """A positive control did not succeed, so the bracketed check proves nothing."""


class InfrastructureError(Exception):
    """The kit could not exercise the target (unreachable, misconfigured, ...)."""


class ConfigError(ValueError):
    """A target config, an allow-list, a baseline or a run option is invalid."""


class CheckDeclarationError(ValueError):
    """A check's ``@check`` declaration is inconsistent (e.g. with the catalog's level)."""
