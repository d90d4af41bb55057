"""High-entropy credentials the service mints: client secrets and opaque tokens.

Client secrets and workload access tokens are generated here with at least 256 bits
of randomness (``secrets.token_urlsafe(32)``), so they are stored as a keyed fast hash
(HMAC-SHA-256 under a server-side pepper) and compared in constant time. A password hash
(bcrypt, argon2) exists to slow down guessing of *low-entropy* human passwords; for a
256-bit random value guessing is already infeasible, and a password hash would only add
about 100 ms of CPU to every authenticated call.

Spec: ``03-workload-identity.md`` (client secrets), ``04-workload-access-tokens.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["CredentialHasher", "new_secret"]

#: 32 random bytes = 256 bits, base64url without padding (43 characters).
SECRET_BYTES = 32


def new_secret(prefix: str = "") -> str:
    """A fresh 256-bit random credential, optionally with a readable type prefix."""
    if prefix and not prefix.replace("_", "").isalnum():
        raise ValueError("a credential prefix is alphanumeric with underscores")
    return prefix + secrets.token_urlsafe(SECRET_BYTES)


class CredentialHasher:
    """HMAC-SHA-256 under a pepper that never leaves the service.

    The pepper is not stored beside the hashes (it comes from settings or the key
    provider), so a stolen database alone cannot even be used to test guesses offline.
    """

    def __init__(self, pepper: bytes) -> None:
        if len(pepper) < 32:
            raise ValueError("the credential pepper must be at least 32 bytes")
        self._pepper = pepper

    def hash(self, credential: str) -> str:
        """The stored form: hex HMAC-SHA-256 of the credential."""
        return hmac.new(self._pepper, credential.encode("utf-8"), hashlib.sha256).hexdigest()

    def verify(self, credential: str, stored_hash: str) -> bool:
        """Constant-time comparison of a presented credential with a stored hash."""
        return hmac.compare_digest(self.hash(credential), stored_hash)
