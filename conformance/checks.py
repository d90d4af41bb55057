"""Declaring checks: the ``@check`` decorator and what it records.

A check is a pytest test function in a suite module (``conformance/suites/<name>.py``)
declared with the requirement IDs it verifies::

    @check("AS-META-002", level="MUST", needs=["metadata"], catalog="JWT-05")
    def test_issuer_matches_the_metadata_url(proctor_target: Target) -> None:
        ...

- ``requirements``: one or more spec requirement IDs (``AREA-TOPIC-NNN``).
- ``level``: MUST, SHOULD or MAY. When a cited ID is in the requirement catalog the
  level comes from the catalog; a declared level that disagrees with it is an error
  (:func:`resolve_level`). A check citing only IDs the catalog does not know yet must
  declare its level.
- ``needs``: capabilities (:data:`~proctor.conformance.capabilities.CAPABILITIES`) the
  target must declare, or the check is SKIPPED with the reason.
- ``catalog``: the negative-test catalog's check ID (``JWT-05``, ``TX-07``), if any.
- ``profiles``: the target profiles the check applies to (default: all).
- ``shape``: for a negative check, the requirement IDs of the refusal's *shape* (status,
  error code, headers). The check's own IDs are then those of the refusal itself, and the
  shape is reported as a second result, ``<check id>::error_shape`` (CONF-CTRL-002,
  :mod:`proctor.conformance.error_shape`).

The decorator only attaches a :class:`CheckSpec` to the function; the pytest plugin reads
it. Order with ``@given`` does not matter.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from proctor.conformance.capabilities import unknown_capabilities
from proctor.conformance.catalog import ID_PATTERN, LEVELS, Level, Requirement
from proctor.conformance.config import PROFILES, Profile
from proctor.conformance.errors import CheckDeclarationError

__all__ = [
    "CATALOG_ID_PATTERN",
    "CheckSpec",
    "check",
    "declaration_problems",
    "proctor_only",
    "profile_level",
    "resolve_level",
    "spec_of",
]

F = TypeVar("F", bound=Callable[..., Any])

#: IDs of the negative-test catalog: ``JWT-05``, ``TX-07``, ``OA-01``, ``DP-01``.
CATALOG_ID_PATTERN = re.compile(r"[A-Z]{2,4}-\d{2}")
_ATTRIBUTE = "__proctor_check__"


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """What ``@check`` declared about one check function."""

    requirements: tuple[str, ...]
    level: Level | None
    needs: tuple[str, ...]
    catalog: str | None
    profiles: tuple[Profile, ...] | None
    title: str
    shape: tuple[str, ...] = ()

    def shape_spec(self) -> CheckSpec | None:
        """The error-shape half of a negative check, as a spec of its own (or ``None``)."""
        if not self.shape:
            return None
        return replace(self, requirements=self.shape, level=None, shape=(), title=self.title)


def check(
    *requirements: str,
    level: Level | None = None,
    needs: Iterable[str] = (),
    catalog: str | None = None,
    profiles: Iterable[Profile] | None = None,
    shape: Iterable[str] = (),
) -> Callable[[F], F]:
    """Declare a check: the requirement IDs it verifies, its level and its needs."""
    if not requirements:
        raise TypeError("@check needs at least one requirement ID")
    shaped = tuple(shape)
    if isinstance(shape, str):
        raise TypeError("shape is a sequence of requirement IDs, not one string")
    for rid in (*requirements, *shaped):
        if not isinstance(rid, str) or not ID_PATTERN.fullmatch(rid):
            raise ValueError(f"{rid!r} is not a requirement ID (AREA-TOPIC-NNN)")
    if level is not None and level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    needed = tuple(needs)
    unknown = unknown_capabilities(needed)
    if unknown:
        raise ValueError(f"unknown capabilities {unknown}: add them to capabilities.py")
    if catalog is not None and not CATALOG_ID_PATTERN.fullmatch(catalog):
        raise ValueError(f"{catalog!r} is not a negative-test catalog ID (e.g. JWT-05)")
    applies = tuple(profiles) if profiles is not None else None
    if applies is not None and (not applies or any(p not in PROFILES for p in applies)):
        raise ValueError(f"profiles must be a non-empty subset of {PROFILES}")

    def decorate(func: F) -> F:
        doc = inspect.getdoc(func) or ""
        title = doc.strip().splitlines()[0] if doc.strip() else func.__name__
        spec = CheckSpec(
            requirements=tuple(requirements),
            level=level,
            needs=needed,
            catalog=catalog,
            profiles=applies,
            title=title,
            shape=shaped,
        )
        setattr(func, _ATTRIBUTE, spec)
        return func

    return decorate


def spec_of(func: object) -> CheckSpec | None:
    """The :class:`CheckSpec` a function was declared with, or ``None``."""
    spec = getattr(func, _ATTRIBUTE, None)
    return spec if isinstance(spec, CheckSpec) else None


def resolve_level(
    spec: CheckSpec, catalog: Mapping[str, Requirement], profile: Profile | None = None
) -> Level:
    """The check's effective level; :class:`CheckDeclarationError` if inconsistent.

    The effective level is the strongest level among the cited requirements the catalog
    knows, each taken at its level under ``profile`` (:func:`profile_level`,
    CONF-PROF-001; CONF-LEVEL-001). A declared level must equal the strongest *catalog*
    level (a declaration does not depend on the profile). Without any known ID, the
    declared level is used (provisional IDs), and a check that declares none is an error.
    """
    known = [catalog[rid] for rid in spec.requirements if rid in catalog]
    if known:
        strongest = min(known, key=lambda r: LEVELS.index(r.level))
        if spec.level is not None and spec.level != strongest.level:
            raise CheckDeclarationError(
                f"declares level {spec.level} but the catalog makes {strongest.id} "
                f"a {strongest.level}"
            )
        return min((profile_level(r, profile) for r in known), key=LEVELS.index)
    if spec.level is None:
        raise CheckDeclarationError(
            f"declares no level and the catalog knows none of {', '.join(spec.requirements)}"
        )
    return spec.level


#: A citation of an RFC or an Internet-Draft in a requirement's source.
_CITES_STANDARD = re.compile(r"\bRFC\s*\d+|\bdraft-", re.IGNORECASE)


def proctor_only(requirement: Requirement) -> bool:
    """Whether the requirement's source cites no RFC or draft: a ``proctor``-only rule."""
    source = requirement.source.strip()
    return source.lower().startswith("proctor") and not _CITES_STANDARD.search(source)


def profile_level(requirement: Requirement, profile: Profile | None) -> Level:
    """The requirement's level under ``profile`` (CONF-PROF-001).

    Under ``rfc8693`` a ``proctor``-only MUST (:func:`proctor_only`) is evaluated at level
    SHOULD: a generic token endpoint owes the RFCs, not this specification's own rules.
    Every other profile takes the catalog's level as it is.
    """
    if profile == "rfc8693" and requirement.level == "MUST" and proctor_only(requirement):
        return "SHOULD"
    return requirement.level


def declaration_problems(
    checks: Mapping[str, CheckSpec], catalog: Mapping[str, Requirement]
) -> list[str]:
    """Every check whose declaration contradicts the catalog, as ``"<id>: <problem>"``."""
    problems = []
    for check_id, spec in sorted(checks.items()):
        shape = spec.shape_spec()
        for part, label in ((spec, ""), (shape, " (error shape)")):
            if part is None:
                continue
            try:
                resolve_level(part, catalog)
            except CheckDeclarationError as error:
                problems.append(f"{check_id}{label}: {error}")
    return problems
