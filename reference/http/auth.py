"""Credentials on HTTP requests: the admin bearer credential and workload authentication.

- The control plane takes ``Authorization: Bearer <admin credential>`` (WID-ADMIN-001).
  The credential is kept only as an HMAC-SHA-256 under the service's pepper and compared
  in constant time; a missing, malformed or wrong credential gets one and the same
  ``401 unauthenticated`` answer with a Bearer challenge (RFC 6750 §3), so the answer
  says nothing about what was wrong.
- The data plane authenticates the caller as a workload
  (:class:`~proctor.reference.workload_auth.WorkloadAuthenticator`, WID-AUTH-001).
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import Headers
from starlette.requests import Request

from proctor.reference.credentials import CredentialHasher
from proctor.reference.errors import Unauthenticated
from proctor.reference.workload_auth import AuthenticatedWorkload, WorkloadAuthenticator

__all__ = ["AdminGuard", "AdminUnauthenticated", "authenticate_workload", "authorization_header"]

_MAX_HEADER: Final = 8192


class AdminUnauthenticated(Unauthenticated):
    """``401 unauthenticated`` on the control plane: ``Bearer realm="proctor"``, with
    ``error="invalid_token"`` when a Bearer credential was presented (ERR-BEARER-001/002).
    The body is the same whatever was wrong."""

    def __init__(self, *, bearer_presented: bool = False) -> None:
        super().__init__("The admin credential is required.", scheme="Bearer")
        self.bearer_presented = bearer_presented

    def headers(self) -> dict[str, str]:
        challenge = 'Bearer realm="proctor"'
        if self.bearer_presented:
            challenge += ', error="invalid_token"'
        return {"WWW-Authenticate": challenge}


def authorization_header(headers: Headers) -> str | None:
    """The ``Authorization`` header, or ``None`` when absent or sent more than once (two
    credentials are no credential)."""
    values = headers.getlist("authorization")
    return values[0] if len(values) == 1 else None


class AdminGuard:
    """Checks the admin bearer credential against its stored HMAC."""

    def __init__(self, hasher: CredentialHasher, credential_hash: str) -> None:
        if len(credential_hash) != 64:
            raise ValueError("the admin credential hash is a hex HMAC-SHA-256")
        self._hasher = hasher
        self._hash = credential_hash

    def check(self, authorization: str | None) -> None:
        """Raises :class:`AdminUnauthenticated` unless ``authorization`` is
        ``Bearer <admin credential>``. The HMAC and comparison run whatever was sent."""
        presented = ""
        bearer = False
        if authorization is not None and len(authorization) <= _MAX_HEADER:
            scheme, _, value = authorization.strip().partition(" ")
            if scheme.lower() == "bearer":
                presented = value.strip()
                bearer = bool(presented)
        matches = self._hasher.verify(presented, self._hash)
        if not presented or not matches:
            raise AdminUnauthenticated(bearer_presented=bearer)

    def require(self, request: Request) -> None:
        self.check(authorization_header(request.headers))


def authenticate_workload(
    authenticator: WorkloadAuthenticator, request: Request
) -> AuthenticatedWorkload:
    """WID-AUTH-001: the workload calling ``request`` (blocking: call from a thread)."""
    return authenticator.authenticate(authorization_header(request.headers))
