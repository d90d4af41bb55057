"""VLT-ENC-001, VLT-ENC-002: a sealed row opened by hand, with the operator's KEK and
``cryptography``'s AES-GCM alone, not with the reference's own envelope code.

A provider's client secret is one of the values sealed at rest. The test creates two
providers with the same secret through the control plane, reads their rows, and checks
the envelope's parts: the row names the KEK, the data key unwraps under the KEK into 256
bits, each value has its own data key and 96-bit nonce, the tag is 128 bits, and the
associated data is exactly the RFC 8785 serialisation of the row's identity.
"""

from __future__ import annotations

import json

import httpx
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from proctor.reference.service import Service
from tests.reference.requirements.conftest import ADMIN, Keys, rows

pytestmark = pytest.mark.anyio

SECRET = "provider-client-secret-value-0123456789"
NONCE, TAG, DATA_KEY = 12, 16, 32


def _provider(name: str) -> dict[str, object]:
    return {
        "name": name,
        "authorization_server_metadata": {
            "issuer": "https://as.example",
            "authorization_endpoint": "https://as.example/authorize",
            "token_endpoint": "https://as.example/token",
        },
        "client_id": "proctor-crm",
        "client_secret": SECRET,
        "scopes": ["notes.read"],
    }


def _parts(blob: bytes) -> tuple[str, bytes, bytes]:
    """(KEK id, wrapped data key, ciphertext) of the stored layout: a length-prefixed
    key id, a 2-byte length and the wrapped key, then the ciphertext."""
    n = blob[0]
    key_id = blob[1 : 1 + n].decode()
    w = int.from_bytes(blob[1 + n : 3 + n], "big")
    return key_id, blob[3 + n : 3 + n + w], blob[3 + n + w :]


def _jcs(identity: dict[str, str]) -> bytes:
    """RFC 8785 for an object of ASCII strings: sorted keys, no whitespace."""
    return json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()


async def test_a_sealed_secret_opens_by_hand_with_the_kek_and_the_rows_identity(
    service: Service, client: httpx.AsyncClient, keys: Keys
) -> None:
    """VLT-ENC-001, VLT-ENC-002, VLT-ENC-003 (the row records its KEK id)."""
    for name in ("crm-one", "crm-two"):
        created = await client.post("/v1/providers/oauth2", json=_provider(name), headers=ADMIN)
        assert created.status_code == 201, created.text
    stored = {row["name"]: row for row in rows(service, "credential_providers")}
    assert set(stored) == {"crm-one", "crm-two"}
    data_keys, nonces = set(), set()
    for name, row in stored.items():
        blob = bytes(row["secret"])
        assert SECRET.encode() not in blob
        key_id, wrapped, ciphertext = _parts(blob)
        assert key_id == row["key_id"] == keys.kek_id
        data_key = AESGCM(keys.kek).decrypt(wrapped[:NONCE], wrapped[NONCE:], key_id.encode())
        assert len(data_key) == DATA_KEY
        nonce, sealed = ciphertext[:NONCE], ciphertext[NONCE:]
        identity = {"kind": "provider_secret", "provider_type": "oauth2", "provider": name}
        plaintext = AESGCM(data_key).decrypt(nonce, sealed, _jcs(identity))
        assert json.loads(plaintext) == {"secret": SECRET}
        assert len(sealed) == len(plaintext) + TAG
        # Bound to its row: the other provider's identity does not open it.
        other = {**identity, "provider": "crm-two" if name == "crm-one" else "crm-one"}
        with pytest.raises(InvalidTag):
            AESGCM(data_key).decrypt(nonce, sealed, _jcs(other))
        data_keys.add(data_key)
        nonces.add(nonce)
    assert len(data_keys) == 2
    assert len(nonces) == 2
