"""Sealing secret values at rest, bound to the row that holds them (spec ``05``).

VLT-ENC-001: every stored secret (a vault entry's token set, a session's verifier, state
and pending tokens, a cached token, a provider's client secret, an API key, a bound user
JWT) is sealed with :class:`~proctor.reference.encryption.Envelope`: AES-256-GCM under a
fresh 256-bit data key per value, the data key wrapped by the key provider's current KEK,
the KEK's id recorded beside the ciphertext (VLT-ENC-003).

VLT-ENC-002: the associated data is the UTF-8 RFC 8785 (JCS) serialisation of the row's
identity (``{"kind": "vault_entry", "workload": ..., ...}``), so a ciphertext copied into
another row does not open. Every failure to open is one :class:`DecryptionError`; the
caller treats the row as absent and audits ``decryption_failed``.

Values are JSON objects (a token set is several strings), serialised compactly before
sealing; nothing here ever logs or reprs a plaintext.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from proctor.reference.encryption import DecryptionError, Envelope, Sealed
from proctor.reference.jcs import canonicalize

__all__ = ["DecryptionError", "Sealer", "aad"]


def aad(identity: Mapping[str, str]) -> bytes:
    """VLT-ENC-002: the associated data for a row with this identity."""
    if not identity or not all(isinstance(v, str) for v in identity.values()):
        raise ValueError("a row identity is a non-empty mapping of strings")
    return canonicalize(dict(identity))


class Sealer:
    """Seals and opens JSON objects bound to a row identity."""

    def __init__(self, envelope: Envelope) -> None:
        self._envelope = envelope

    def seal(self, identity: Mapping[str, str], value: Mapping[str, Any]) -> tuple[bytes, str]:
        """``(sealed bytes, KEK id)`` for ``value``."""
        plaintext = json.dumps(dict(value), separators=(",", ":"), sort_keys=True).encode()
        sealed = self._envelope.seal(plaintext, aad(identity))
        return sealed.to_bytes(), sealed.key_id

    def open(self, identity: Mapping[str, str], blob: bytes) -> dict[str, Any]:
        """The sealed object; :class:`DecryptionError` when it does not open as this row's."""
        sealed = Sealed.from_bytes(blob)
        plaintext = self._envelope.open(sealed, aad(identity))
        try:
            value = json.loads(plaintext)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DecryptionError("sealed value is not a JSON object") from exc
        if not isinstance(value, dict):
            raise DecryptionError("sealed value is not a JSON object")
        return value

    def rewrap(self, blob: bytes) -> tuple[bytes, str] | None:
        """VLT-ENC-003: the value re-wrapped under the current KEK, or ``None`` when it
        already is (the ciphertext itself is unchanged; only the data key is re-wrapped)."""
        sealed = Sealed.from_bytes(blob)
        rotated = self._envelope.rotate(sealed)
        if rotated is sealed:
            return None
        return rotated.to_bytes(), rotated.key_id
