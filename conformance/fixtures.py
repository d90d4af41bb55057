"""The fixtures checks receive, registered while a conformance run is active.

- ``proctor_target``: the :class:`~proctor.conformance.target.Target` under test.
- ``positive_control``: a :class:`~proctor.conformance.controls.ControlFactory`; call it
  to bracket a negative check with a valid request that must succeed before and after.
- ``provisioning``: the authorizers and workloads the kit created on the target for this
  run (:mod:`~proctor.conformance.provisioning`), deleted when the run ends. Checks that
  use it declare ``needs=["control_plane", ...]``.

All are session-scoped, so hypothesis-driven checks may use them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from proctor.conformance.controls import ControlFactory
from proctor.conformance.errors import InfrastructureError
from proctor.conformance.provisioning import Provisioning, provision
from proctor.conformance.target import Target

__all__ = ["TARGET_KEY", "positive_control", "proctor_target", "provisioning"]

#: Where the active run keeps its target in ``config.stash``.
TARGET_KEY = pytest.StashKey[Target]()


@pytest.fixture(scope="session")
def proctor_target(request: pytest.FixtureRequest) -> Target:
    """The target under test."""
    target = request.config.stash.get(TARGET_KEY, None)
    if target is None:
        raise pytest.UsageError("no proctor target: pass --proctor-target or use the runner")
    return target


@pytest.fixture(scope="session")
def positive_control() -> ControlFactory:
    """Make positive controls: ``positive_control(description, request, expect=...)``."""
    return ControlFactory()


@pytest.fixture(scope="session")
def provisioning(proctor_target: Target) -> Iterator[Provisioning]:
    """The run's authorizers and workloads (created on first use, deleted at the end)."""
    if not proctor_target.has("control_plane"):
        raise InfrastructureError("provisioning needs the control_plane capability")
    if not proctor_target.idp_urls:
        raise InfrastructureError("no mock IdPs configured (mock_idps.issuers)")
    with provision(proctor_target) as done:
        yield done
