"""Running a request's core on the event loop while it cannot block.

An OAuth request's core (client authentication, token validation, policy, signing) is
CPU work plus reads of a local SQLite file. Handing it to a worker thread costs more than
the work itself: the two threads trade the interpreter lock at every SQLite statement.
So the HTTP layer first runs the core on the event loop inside :func:`on_event_loop`, and
every operation that may block (a network fetch, waiting for the database's write lock,
a read over the network) calls :func:`may_block` *before* it has any effect. There it
raises :class:`WouldBlock`, the HTTP layer drops the attempt and runs the core again in a
worker thread, where nothing raises.

Nothing the first attempt did survives it: the registry's writes are collected, not
performed, until the request commits (:meth:`StoredTokenRegistry.deferred`), reads change
nothing, and an operation with an effect (a client assertion's ``jti`` recorded, a JWKS
fetched) calls :func:`may_block` first. :class:`WouldBlock` is a :class:`BaseException`
so that no ``except Exception`` on the way (a JWKS fetch that keeps the last good keys
on failure, say) mistakes it for a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["WouldBlock", "may_block", "on_event_loop"]

_ON_LOOP: ContextVar[bool] = ContextVar("proctor_on_event_loop", default=False)


class WouldBlock(BaseException):
    """Raised by :func:`may_block` on the event loop; the caller retries in a thread."""


@contextmanager
def on_event_loop() -> Iterator[None]:
    """Run the block as an attempt on the event loop: :func:`may_block` raises."""
    token = _ON_LOOP.set(True)
    try:
        yield
    finally:
        _ON_LOOP.reset(token)


def may_block(what: str) -> None:
    """Declare that the caller is about to do ``what``, which may block; call it before
    any effect. Raises :class:`WouldBlock` inside :func:`on_event_loop`."""
    if _ON_LOOP.get():
        raise WouldBlock(what)
