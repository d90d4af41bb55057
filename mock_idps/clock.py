"""A controllable clock for the emulators.

Every time-dependent behaviour of the mocks (``iat``, ``exp``, code and session expiry,
key retirement) reads the clock; tests advance it instead of sleeping
(``POST /_mock/clock`` or :meth:`Clock.advance`).
"""

from __future__ import annotations

import threading
import time

__all__ = ["Clock"]


class Clock:
    """Wall-clock time plus an adjustable offset, or a frozen instant.

    ``Clock()`` follows the system clock; ``Clock(frozen_at=1_700_000_000)`` stands still
    until advanced. Thread-safe: the mock servers run in worker threads in tests.
    """

    def __init__(self, *, frozen_at: float | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at = frozen_at

    def now(self) -> float:
        with self._lock:
            base = self._frozen_at if self._frozen_at is not None else time.time()
            return base + self._offset

    def __call__(self) -> int:
        """The current NumericDate (whole seconds), as JWT claims use it."""
        return int(self.now())

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        with self._lock:
            self._offset += seconds

    def freeze(self, at: float | None = None) -> None:
        with self._lock:
            self._frozen_at = self.now_unlocked() if at is None else at
            self._offset = 0.0

    def unfreeze(self) -> None:
        with self._lock:
            self._frozen_at = None

    def now_unlocked(self) -> float:
        base = self._frozen_at if self._frozen_at is not None else time.time()
        return base + self._offset

    @property
    def offset(self) -> float:
        return self._offset

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None
