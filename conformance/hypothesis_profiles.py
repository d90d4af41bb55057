"""Hypothesis settings for conformance runs: the ``ci`` and ``deep`` profiles.

- ``ci``: derandomized (the same examples on every run, so a CI verdict is stable),
  ``deadline=None`` (HTTP latency is not a property), no example database,
  ``print_blob=True`` (every failure carries its ``@reproduce_failure`` blob), and a
  moderate number of examples.
- ``deep``: many more examples from a random seed (recorded in the report), for nightly
  or pre-release runs.

``--max-examples N`` overrides either; ``--seed N`` makes a run reproducible and turns
derandomization off (an explicit seed and derandomization are mutually exclusive in
hypothesis: derandomize would win and ignore the seed).

The profile is loaded for the duration of a run and the previous one restored
afterwards (:func:`activated`), so the kit does not change the settings of the
surrounding process for longer than the run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import hypothesis.core
from hypothesis import HealthCheck, settings

__all__ = [
    "CI_MAX_EXAMPLES",
    "DEEP_MAX_EXAMPLES",
    "HYPOTHESIS_PROFILES",
    "HypothesisProfile",
    "activated",
    "reproduction_blobs",
]

HypothesisProfile = Literal["ci", "deep"]
HYPOTHESIS_PROFILES: tuple[HypothesisProfile, ...] = ("ci", "deep")
CI_MAX_EXAMPLES = 25
DEEP_MAX_EXAMPLES = 500

_RUN_PROFILE = "proctor-conformance-run"
_BLOB = re.compile(r"@reproduce_failure\([^)]*\)")


def _base(profile: HypothesisProfile) -> settings:
    ci = profile == "ci"
    return settings(
        derandomize=ci,
        max_examples=CI_MAX_EXAMPLES if ci else DEEP_MAX_EXAMPLES,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )


@contextmanager
def activated(
    profile: HypothesisProfile, *, max_examples: int | None = None, seed: int | None = None
) -> Iterator[settings]:
    """Load the run's settings (and seed) for the ``with`` block, then restore."""
    if profile not in HYPOTHESIS_PROFILES:
        raise ValueError(f"hypothesis profile must be one of {HYPOTHESIS_PROFILES}")
    if max_examples is not None and max_examples < 1:
        raise ValueError("max_examples must be at least 1")
    base = _base(profile)
    overrides: dict[str, object] = {}
    if max_examples is not None:
        overrides["max_examples"] = max_examples
    if seed is not None:
        overrides["derandomize"] = False
    settings.register_profile(_RUN_PROFILE, parent=base, **overrides)
    previous_profile = settings.get_current_profile_name()
    # What ``--hypothesis-seed`` sets; saved and restored, as the run must not leak it.
    previous_seed = getattr(hypothesis.core, "global_force_seed", None)
    settings.load_profile(_RUN_PROFILE)
    setattr(hypothesis.core, "global_force_seed", seed)  # noqa: B010
    try:
        yield settings.get_profile(_RUN_PROFILE)
    finally:
        setattr(hypothesis.core, "global_force_seed", previous_seed)  # noqa: B010
        settings.load_profile(previous_profile)


def reproduction_blobs(error: BaseException) -> list[str]:
    """The ``@reproduce_failure(...)`` decorators hypothesis attached to a failure."""
    found: list[str] = []
    stack: list[BaseException] = [error]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for note in getattr(current, "__notes__", ()) or ():
            for blob in _BLOB.findall(str(note)):
                if blob not in found:
                    found.append(blob)
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)
    return found
