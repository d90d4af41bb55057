"""Positive controls: proof that a negative check tested something.

A negative check ("the target rejects a token signed with ``alg: none``") passes just
as well against a target that rejects *everything*. So each negative check is bracketed
by a positive control, a valid request that must succeed before the check and still
succeed after it (jwt_tool's persistence check)::

    def test_rejects_alg_none(proctor_target, positive_control):
        control = positive_control(
            "a correctly signed token is accepted",
            lambda: proctor_target.client.post(url, data=valid_form),
        )
        with control.bracket():
            response = proctor_target.client.post(url, data=forged_form)
            assert response.status_code == 400

If the control fails, before or after, the check's result is ERROR (a void verdict),
never PASSED nor FAILED: the exception raised is :class:`ControlFailed`, which the
plugin maps to ERROR even when the bracketed body failed too.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager

import httpx

from proctor.conformance.errors import ControlFailed

__all__ = ["ControlFactory", "Expectation", "PositiveControl"]

#: What counts as success: a predicate on the response, a status code, or a set of them.
#: The default is any 2xx.
Expectation = Callable[[httpx.Response], bool] | int | Collection[int]


def _accepts(expect: Expectation | None) -> Callable[[httpx.Response], bool]:
    if expect is None:
        return lambda response: response.is_success
    if isinstance(expect, int):
        return lambda response: response.status_code == expect
    if callable(expect):
        return expect
    allowed = frozenset(expect)
    return lambda response: response.status_code in allowed


class PositiveControl:
    """A valid request that must succeed, run before and after a negative check."""

    def __init__(
        self,
        description: str,
        request: Callable[[], httpx.Response],
        *,
        expect: Expectation | None = None,
    ) -> None:
        self.description = description
        self._request = request
        self._accepts = _accepts(expect)

    def verify(self, when: str = "now") -> httpx.Response:
        """Run the control once; :class:`ControlFailed` unless it succeeds."""
        try:
            response = self._request()
        except httpx.HTTPError as error:
            raise ControlFailed(
                f"positive control {self.description!r} failed {when}: "
                f"{type(error).__name__}: {error}"
            ) from error
        except AssertionError as error:
            raise ControlFailed(
                f"positive control {self.description!r} failed {when}: {error}"
            ) from error
        if not self._accepts(response):
            raise ControlFailed(
                f"positive control {self.description!r} failed {when} the check: "
                f"HTTP {response.status_code}; the check's verdict is void"
            )
        return response

    @contextmanager
    def bracket(self) -> Iterator[httpx.Response]:
        """Run the control, the body, then the control again (even if the body failed)."""
        first = self.verify("before")
        try:
            yield first
        finally:
            self.verify("after")


class ControlFactory:
    """What the ``positive_control`` fixture returns: call it to make a control."""

    def __call__(
        self,
        description: str,
        request: Callable[[], httpx.Response],
        *,
        expect: Expectation | None = None,
    ) -> PositiveControl:
        return PositiveControl(description, request, expect=expect)
