"""PKCE checks (RFC 7636), strict: the verifier must match exactly and S256 is required
where the vendor requires it.

- §4.1: a ``code_verifier`` is 43 to 128 characters of ``[A-Za-z0-9-._~]``.
- §4.2: ``S256`` challenge = BASE64URL(SHA256(ASCII(code_verifier))), unpadded.
- §4.3: an omitted ``code_challenge_method`` means ``plain``.
- §4.4.1: a server that requires PKCE answers a missing challenge with ``invalid_request``.
- §4.6: a verifier that does not match answers ``invalid_grant``. A verifier sent for a
  code that had no challenge, or no verifier for a code that had one, is the same failure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Collection

from proctor.mock_idps.errors import InvalidGrant, InvalidRequest

__all__ = ["check_challenge", "s256", "verify"]

_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# An S256 challenge is the unpadded base64url of 32 bytes: 43 characters.
_CHALLENGE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def check_challenge(
    challenge: str | None,
    method: str | None,
    *,
    required: bool,
    methods: Collection[str],
) -> tuple[str | None, str | None]:
    """Validate the authorization request's PKCE parameters; returns (challenge, method)."""
    if challenge is None:
        if method is not None:
            raise InvalidRequest(
                "The 'code_challenge_method' parameter was sent without a 'code_challenge'.",
                reason="pkce_method_without_challenge",
            )
        if required:
            raise InvalidRequest(
                "PKCE code challenge is required.", reason="pkce_challenge_required"
            )
        return None, None
    method = method or "plain"
    if method not in methods:
        raise InvalidRequest(
            f"The 'code_challenge_method' must be one of: {', '.join(sorted(methods))}.",
            reason="pkce_method_unsupported",
        )
    if not _CHALLENGE.fullmatch(challenge) or (method == "S256" and len(challenge) != 43):
        raise InvalidRequest(
            "The 'code_challenge' parameter is malformed.", reason="pkce_challenge_malformed"
        )
    return challenge, method


def verify(challenge: str | None, method: str | None, verifier: str | None) -> None:
    """Check the token request's verifier against the code's challenge (RFC 7636 §4.6)."""
    if challenge is None and verifier is None:
        return
    if challenge is None or verifier is None or not _VERIFIER.fullmatch(verifier):
        raise InvalidGrant("PKCE verification failed.", reason="pkce_failed")
    expected = s256(verifier) if method == "S256" else verifier
    if not hmac.compare_digest(expected.encode(), challenge.encode()):
        raise InvalidGrant("PKCE verification failed.", reason="pkce_failed")
