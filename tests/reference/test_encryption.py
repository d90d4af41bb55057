"""Envelope encryption: round trip, row binding, tamper detection, rotation."""

from __future__ import annotations

import os

import pytest

from proctor.reference.credentials import CredentialHasher, new_secret
from proctor.reference.encryption import (
    DecryptionError,
    Envelope,
    LocalKeyProvider,
    Sealed,
)

AAD = b"orchestrator|https://idp.example|sarah|crm"


@pytest.fixture
def keys() -> dict[str, bytes]:
    return {"k1": os.urandom(32), "k2": os.urandom(32)}


def test_round_trip_and_no_plaintext_in_storage(keys: dict[str, bytes]) -> None:
    envelope = Envelope(LocalKeyProvider(keys, primary="k1"))
    secret = b"ya29.refresh-token-value"
    sealed = envelope.seal(secret, AAD)
    blob = sealed.to_bytes()
    assert secret not in blob
    assert envelope.open(Sealed.from_bytes(blob), AAD) == secret
    assert sealed.key_id == "k1"


def test_a_value_moved_to_another_row_does_not_open(keys: dict[str, bytes]) -> None:
    envelope = Envelope(LocalKeyProvider(keys, primary="k1"))
    sealed = envelope.seal(b"token-of-sarah", AAD)
    with pytest.raises(DecryptionError):
        envelope.open(sealed, b"orchestrator|https://idp.example|bob|crm")


@pytest.mark.parametrize("part", ["wrapped_key", "ciphertext"])
def test_any_flipped_bit_is_detected(keys: dict[str, bytes], part: str) -> None:
    envelope = Envelope(LocalKeyProvider(keys, primary="k1"))
    sealed = envelope.seal(b"secret", AAD)
    raw = bytearray(getattr(sealed, part))
    raw[-1] ^= 1
    fields = {"key_id": sealed.key_id, "wrapped_key": sealed.wrapped_key}
    fields["ciphertext"] = sealed.ciphertext
    fields[part] = bytes(raw)
    with pytest.raises(DecryptionError):
        envelope.open(Sealed(**fields), AAD)  # type: ignore[arg-type]


def test_rotation_rewraps_under_the_new_primary(keys: dict[str, bytes]) -> None:
    old = Envelope(LocalKeyProvider(keys, primary="k1"))
    sealed = old.seal(b"api-key-123", AAD)
    new = Envelope(LocalKeyProvider(keys, primary="k2"))
    rotated = new.rotate(sealed)
    assert rotated.key_id == "k2"
    assert rotated.ciphertext == sealed.ciphertext
    only_new = Envelope(LocalKeyProvider({"k2": keys["k2"]}, primary="k2"))
    assert only_new.open(rotated, AAD) == b"api-key-123"
    with pytest.raises(DecryptionError):
        only_new.open(sealed, AAD)


def test_malformed_blobs_are_refused() -> None:
    for blob in (b"", b"\x05ab", b"\x02k1\x00\x10short"):
        with pytest.raises(DecryptionError):
            Sealed.from_bytes(blob)


def test_key_provider_rejects_misconfiguration() -> None:
    with pytest.raises(ValueError, match="primary"):
        LocalKeyProvider({"k1": os.urandom(32)}, primary="k9")
    with pytest.raises(ValueError, match="32 bytes"):
        LocalKeyProvider({"k1": b"short"}, primary="k1")


def test_secrets_have_256_bits_and_hash_in_constant_time() -> None:
    secret = new_secret("wls_")
    assert secret.startswith("wls_")
    assert len(secret) - 4 >= 43  # 32 bytes, base64url
    assert new_secret() != new_secret()
    hasher = CredentialHasher(os.urandom(32))
    stored = hasher.hash(secret)
    assert secret not in stored
    assert hasher.verify(secret, stored)
    assert not hasher.verify(secret + "x", stored)
    assert not CredentialHasher(os.urandom(32)).verify(secret, stored)  # pepper matters
    with pytest.raises(ValueError, match="pepper"):
        CredentialHasher(b"short")
