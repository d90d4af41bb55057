"""Refusal and error shape, judged as two checks (CONF-CTRL-002).

A negative check asks two questions of the target: did it *refuse* (no token issued,
nothing accepted, nothing stored), and did the refusal have the required *shape* (status,
error code, headers, body members)? An allow-list may tolerate a wrong error code; it must
never tolerate an acceptance. So the kit reports the two answers as separate checks, each
with its own requirement IDs::

    @check("TX-REQ-002", shape=("TX-ERR-001", "ERR-OAUTH-001"), catalog="TX-01")
    def test_tx01_...(...):
        response = exchange(...)
        expect_error(response, "invalid_request", "an exchange without subject_token")

The expectation helpers (:func:`~proctor.conformance.native.expect_deny`,
:func:`~proctor.conformance.native.expect_problem`,
:func:`~proctor.conformance.exchange.expect_error`, the AgentCore ``expect``) first assert
the refusal (a failure ends the check, as any assertion does), then judge the shape inside
:func:`error_shape`. While the session runs a check declared with ``shape=``, a shape
failure is *recorded* rather than raised: the check goes on (its closing positive control
included) and the session reports the shape as a second result,
``<check id>::error_shape``. The first recorded failure is the one reported.

A check that judges a shape without declaring ``shape=`` is a kit defect, reported ERROR;
so is a check that declares ``shape=`` and, having passed, judged none. Outside a session
(a helper called from a unit test or a team's own code) a shape failure is raised as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["SHAPE_SUFFIX", "ShapeRecord", "error_shape", "function_of", "recording"]

#: The suffix of an error-shape result's name and ID: ``<suite>::<check>::error_shape``.
SHAPE_SUFFIX = "::error_shape"


def function_of(name: str) -> str:
    """The check function a result's name stands for (``-k`` selects it)."""
    return name.removesuffix(SHAPE_SUFFIX).split("[", 1)[0]


@dataclass(slots=True)
class ShapeRecord:
    """What one check's run judged of error shapes.

    ``split``: the check declares ``shape=``, so failures are recorded, not raised.
    """

    split: bool
    evaluated: int = 0
    failures: list[AssertionError] = field(default_factory=list)


_CURRENT: ContextVar[ShapeRecord | None] = ContextVar("proctor_error_shape", default=None)


@contextmanager
def recording(*, split: bool) -> Iterator[ShapeRecord]:
    """Record the error shapes judged while the block runs (one check's call phase)."""
    record = ShapeRecord(split=split)
    token = _CURRENT.set(record)
    try:
        yield record
    finally:
        _CURRENT.reset(token)


@contextmanager
def error_shape() -> Iterator[None]:
    """Judge the shape of a refusal the caller has already established.

    In a check declared with ``shape=``, an :class:`AssertionError` raised in the block is
    recorded and swallowed; anywhere else it propagates. Exceptions that are not
    assertions (a failed control, an infrastructure problem) always propagate.
    """
    record = _CURRENT.get()
    if record is not None:
        record.evaluated += 1
    if record is None or not record.split:
        yield
        return
    try:
        yield
    except AssertionError as failure:
        record.failures.append(failure)
