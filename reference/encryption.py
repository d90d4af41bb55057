"""Envelope encryption for secrets at rest (AES-256-GCM).

Every sealed value gets a fresh 256-bit data key; the value is encrypted under the data
key, and the data key is wrapped (encrypted) under a key-encryption key (KEK) held by a
:class:`KeyProvider`. What is stored is a :class:`Sealed` record: the KEK's id, the
wrapped data key and the ciphertext, each with its own 96-bit nonce. The caller binds
the row's identity as associated data (for the vault: workload, user, provider), so a
ciphertext copied to another row fails to open.

Rotation works like ``MultiFernet``: the provider's *primary* KEK wraps new data keys;
every known KEK can unwrap; :meth:`Envelope.rotate` re-wraps the data key under the
primary KEK without touching the ciphertext, so re-encrypting the whole vault is cheap
and needs no downtime. Failures to open collapse into one opaque :class:`DecryptionError`.

A KMS fits behind :class:`KeyProvider` (``wrap``/``unwrap`` by key id).

Spec: ``05-credential-providers-and-vault.md`` (encryption at rest).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "DecryptionError",
    "Envelope",
    "KeyProvider",
    "LocalKeyProvider",
    "ReloadingKeyProvider",
    "Sealed",
]

_NONCE = 12
_KEY = 32


class DecryptionError(Exception):
    """A sealed value could not be opened (wrong key, wrong row, or tampered)."""


@dataclass(frozen=True, slots=True)
class Sealed:
    key_id: str
    wrapped_key: bytes  # nonce || AES-GCM(KEK, data key)
    ciphertext: bytes  # nonce || AES-GCM(data key, plaintext, aad)

    def to_bytes(self) -> bytes:
        kid = self.key_id.encode()
        if len(kid) > 255:
            raise ValueError("key id too long")
        return (
            bytes([len(kid)])
            + kid
            + len(self.wrapped_key).to_bytes(2, "big")
            + (self.wrapped_key + self.ciphertext)
        )

    @classmethod
    def from_bytes(cls, blob: bytes) -> Sealed:
        try:
            n = blob[0]
            kid = blob[1 : 1 + n].decode()
            w = int.from_bytes(blob[1 + n : 3 + n], "big")
            wrapped = blob[3 + n : 3 + n + w]
            ciphertext = blob[3 + n + w :]
        except (IndexError, UnicodeDecodeError) as exc:
            raise DecryptionError("malformed sealed value") from exc
        if len(wrapped) != w or len(ciphertext) < _NONCE + 16:
            raise DecryptionError("malformed sealed value")
        return cls(kid, wrapped, ciphertext)


class KeyProvider(Protocol):
    @property
    def primary_key_id(self) -> str: ...

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        """Wrap under the primary KEK; return (key id, wrapped key)."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        """Unwrap with the KEK named ``key_id``; raise :class:`DecryptionError` if unknown."""
        ...


class LocalKeyProvider:
    """KEKs held in process memory (from settings or the data directory)."""

    def __init__(self, keys: dict[str, bytes], primary: str) -> None:
        if primary not in keys:
            raise ValueError("the primary key id must be one of the keys")
        for kid, key in keys.items():
            if len(key) != _KEY:
                raise ValueError(f"key {kid!r} must be 32 bytes (AES-256)")
        self._keys = dict(keys)
        self._primary = primary

    @property
    def primary_key_id(self) -> str:
        return self._primary

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(_NONCE)
        aad = self._primary.encode()
        return self._primary, nonce + AESGCM(self._keys[self._primary]).encrypt(
            nonce, data_key, aad
        )

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        kek = self._keys.get(key_id)
        if kek is None:
            raise DecryptionError("unknown key id")
        try:
            return AESGCM(kek).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], key_id.encode())
        except InvalidTag as exc:
            raise DecryptionError("cannot unwrap data key") from exc


class ReloadingKeyProvider:
    """KEKs that another process may rotate while this one runs (``proctor vault
    rotate-key``): ``load()`` returns ``(keys, primary id)`` from their source, and
    ``changed()`` says cheaply whether the source changed (a file's mtime).

    Before wrapping, a changed source is reloaded, so new values go under the new primary
    key as soon as the rotation made it current; an unknown key id on unwrap reloads once,
    so values already re-wrapped by the rotation still open. No downtime, no restart.
    """

    def __init__(
        self,
        load: Callable[[], tuple[dict[str, bytes], str]],
        changed: Callable[[], bool],
    ) -> None:
        self._load = load
        self._changed = changed
        self._lock = threading.Lock()
        self._current = LocalKeyProvider(*load())

    def _reload(self) -> LocalKeyProvider:
        with self._lock:
            self._current = LocalKeyProvider(*self._load())
            return self._current

    def _fresh(self) -> LocalKeyProvider:
        return self._reload() if self._changed() else self._current

    @property
    def primary_key_id(self) -> str:
        return self._fresh().primary_key_id

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        return self._fresh().wrap(data_key)

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        try:
            return self._fresh().unwrap(key_id, wrapped)
        except DecryptionError:
            return self._reload().unwrap(key_id, wrapped)


class Envelope:
    """Seal and open values with per-value data keys wrapped by a :class:`KeyProvider`."""

    def __init__(self, provider: KeyProvider) -> None:
        self._provider = provider

    def seal(self, plaintext: bytes, aad: bytes) -> Sealed:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE)
        ciphertext = nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)
        key_id, wrapped = self._provider.wrap(data_key)
        return Sealed(key_id, wrapped, ciphertext)

    def open(self, sealed: Sealed, aad: bytes) -> bytes:
        data_key = self._provider.unwrap(sealed.key_id, sealed.wrapped_key)
        try:
            return AESGCM(data_key).decrypt(
                sealed.ciphertext[:_NONCE], sealed.ciphertext[_NONCE:], aad
            )
        except InvalidTag as exc:
            raise DecryptionError("cannot open sealed value") from exc

    def rotate(self, sealed: Sealed) -> Sealed:
        """Re-wrap the data key under the primary KEK; the ciphertext is unchanged."""
        if sealed.key_id == self._provider.primary_key_id:
            return sealed
        data_key = self._provider.unwrap(sealed.key_id, sealed.wrapped_key)
        key_id, wrapped = self._provider.wrap(data_key)
        return Sealed(key_id, wrapped, sealed.ciphertext)
