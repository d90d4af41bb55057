"""Who is calling the data plane? Workload authentication (spec ``03``, §3.3).

WID-AUTH-001: every data-plane request carries either

- ``Authorization: Basic`` over the workload's ``client_id`` and client secret, each
  form-urlencoded before base64 (RFC 6749 §2.3.1, RFC 7617 §2), of an existing, enabled
  workload that holds a secret; or
- ``Authorization: Bearer`` with an access token the service issued to that workload
  through ``client_credentials``. Verifying such a token belongs to the token endpoint;
  it is plugged in here as one callable, :data:`BearerVerifier`. Until it is wired, every
  Bearer credential is refused.

Anything else is ``401 unauthenticated`` with a ``Basic`` and a ``Bearer`` challenge, and
every failure is the same answer, whichever part was wrong (WID-AUTH-002). The admin
credential is never a workload credential (WID-ADMIN-001): it is neither a ``client_id``
nor, as a Bearer token, one the token endpoint issued.

The workload is read from storage on every request, so disabling or deleting it takes
effect at once on every replica (WID-STATE-001).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import unquote_plus

from proctor.reference.directory import Directory
from proctor.reference.errors import Unauthenticated
from proctor.reference.storage.workloads import WorkloadRecord

__all__ = [
    "AuthenticatedWorkload",
    "BearerVerifier",
    "WorkloadAuthenticator",
    "WorkloadUnauthenticated",
]

#: ``verify(access_token) -> client_id`` of the workload a ``client_credentials`` token
#: was issued to, or ``None`` when the token is not such a token (wrong issuer, expired,
#: revoked, carries ``act``, is a workload access token or anything else). The token
#: endpoint's wiring provides it.
BearerVerifier = Callable[[str], str | None]

_MAX_HEADER: Final = 8192
#: The shape of every client id the directory assigns (WID-DIR-002); nothing else is looked up.
_CLIENT_ID: Final = re.compile(r"wl_[A-Za-z0-9]{8,64}")
_DESCRIPTION: Final = "Valid workload credentials are required."


class WorkloadUnauthenticated(Unauthenticated):
    """``401 unauthenticated`` on the data plane, challenging both schemes (WID-AUTH-001;
    ERR-BEARER-001: RFC 9110 §11.6.1 allows several challenges in one header). The Bearer
    challenge says ``error="invalid_token"`` only when a Bearer token was presented
    (ERR-BEARER-002); the body is the same whatever failed (WID-AUTH-002)."""

    def __init__(self, *, bearer_presented: bool = False) -> None:
        super().__init__(_DESCRIPTION, scheme="Basic")
        self.bearer_presented = bearer_presented

    def headers(self) -> dict[str, str]:
        bearer = 'Bearer realm="proctor"'
        if self.bearer_presented:
            bearer += ', error="invalid_token"'
        return {"WWW-Authenticate": 'Basic realm="proctor", ' + bearer}


@dataclass(frozen=True)
class AuthenticatedWorkload:
    """The caller of a data-plane request."""

    record: WorkloadRecord
    method: Literal["basic", "bearer"]

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def client_id(self) -> str:
        return self.record.client_id


def parse_basic(value: str) -> tuple[str, str] | None:
    """RFC 7617 §2 credentials, each part form-urldecoded (RFC 6749 §2.3.1), or ``None``."""
    try:
        raw = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = raw.partition(":")
    if not sep:
        return None
    return unquote_plus(user), unquote_plus(password)


class WorkloadAuthenticator:
    """Authenticates data-plane callers as workloads."""

    def __init__(self, directory: Directory, *, bearer: BearerVerifier | None = None) -> None:
        self._directory = directory
        #: The seam for ``Authorization: Bearer`` (see :data:`BearerVerifier`).
        self.bearer: BearerVerifier | None = bearer

    def authenticate(self, authorization: str | None) -> AuthenticatedWorkload:
        """The workload behind an ``Authorization`` header value, or
        :class:`WorkloadUnauthenticated` (always the same answer)."""
        if not authorization or len(authorization) > _MAX_HEADER:
            raise WorkloadUnauthenticated()
        scheme, _, credentials = authorization.strip().partition(" ")
        scheme = scheme.lower()  # RFC 9110 §11.1: schemes are case-insensitive
        if scheme == "basic":
            record = self._basic(credentials)
            method: Literal["basic", "bearer"] = "basic"
        elif scheme == "bearer":
            record = self._bearer(credentials.strip())
            method = "bearer"
        else:
            record = None
        if record is None or record.disabled:
            presented = scheme == "bearer" and bool(credentials.strip())
            raise WorkloadUnauthenticated(bearer_presented=presented)
        return AuthenticatedWorkload(record, method)

    def _basic(self, credentials: str) -> WorkloadRecord | None:
        parsed = parse_basic(credentials)
        if parsed is None:
            return None
        client_id, secret = parsed
        known_shape = _CLIENT_ID.fullmatch(client_id) is not None
        record = self._directory.find_by_client_id(client_id) if known_shape else None
        if record is None:
            self._directory.burn_time(secret)
            return None
        return record if self._directory.verify_secret(record, secret) else None

    def _bearer(self, token: str) -> WorkloadRecord | None:
        verify = self.bearer
        if verify is None or not token:
            return None
        client_id = verify(token)
        if client_id is None or _CLIENT_ID.fullmatch(client_id) is None:
            return None
        return self._directory.find_by_client_id(client_id)
