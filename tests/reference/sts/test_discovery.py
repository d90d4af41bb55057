"""RFC 8414 metadata (AS-META-001..003) and the JWK Set with key rotation driven by
``maintain()`` on a manual clock (AS-JWKS-001..003, AS-FMT-001)."""

from __future__ import annotations

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import KeySet

from proctor.reference.keys import PRIVATE_MEMBERS
from proctor.reference.service import Service
from proctor.reference.sts import DEFAULT_ROTATION_INTERVAL

from .conftest import ISSUER, MARKS, Harness, header_of

pytestmark = MARKS


async def test_metadata_document(harness: Harness, client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    meta = response.json()
    assert meta["issuer"] == ISSUER  # identical, character for character
    assert meta["token_endpoint"] == ISSUER + "/oauth2/token"
    assert meta["jwks_uri"] == ISSUER + "/oauth2/jwks"
    assert meta["introspection_endpoint"] == ISSUER + "/oauth2/introspect"
    assert meta["revocation_endpoint"] == ISSUER + "/oauth2/revoke"
    assert set(meta["grant_types_supported"]) == {
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    }
    assert meta["response_types_supported"] == []
    assert "authorization_endpoint" not in meta
    assert "code_challenge_methods_supported" not in meta
    methods = {"client_secret_basic", "client_secret_post", "private_key_jwt"}
    for endpoint in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        assert set(meta[f"{endpoint}_auth_methods_supported"]) == methods
        algorithms = meta[f"{endpoint}_auth_signing_alg_values_supported"]
        assert set(algorithms) == {"ES256", "RS256"}
        assert "none" not in algorithms
    # AS-META-003: every advertised endpoint is served at its path
    for url in (
        meta["token_endpoint"],
        meta["introspection_endpoint"],
        meta["revocation_endpoint"],
    ):
        served = await client.post(
            url.removeprefix(ISSUER),
            content=b"",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert served.status_code == 401  # reached, and client authentication demanded
    assert (await client.get(meta["jwks_uri"].removeprefix(ISSUER))).status_code == 200


async def test_jwks_publishes_public_keys_only(harness: Harness, client: httpx.AsyncClient) -> None:
    workload = await harness.workload("worker")
    token = await harness.cc(workload)
    response = await client.get("/oauth2/jwks")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    cache = response.headers["cache-control"]
    assert cache.startswith("public, max-age=")
    assert int(cache.split("=")[1]) <= 300  # AS-JWKS-002: N <= publish_ahead
    keys = response.json()["keys"]
    assert keys
    assert len({k["kid"] for k in keys}) == len(keys)
    for jwk in keys:
        assert not PRIVATE_MEMBERS & set(jwk)
        assert jwk["kty"] != "oct"
        assert jwk["use"] == "sig"
        assert jwk["alg"] in ("ES256", "RS256")
    # a relying party verifies the issued token with the published keys (pyjwt would too)
    key_set = KeySet.import_key_set(response.json())
    verified = jws.deserialize_compact(token, key_set, algorithms=["ES256", "RS256"])
    assert verified.headers()["kid"] == header_of(token)["kid"]


async def _kids(client: httpx.AsyncClient) -> list[str]:
    return [k["kid"] for k in (await client.get("/oauth2/jwks")).json()["keys"]]


async def test_rotation_publishes_ahead_and_keeps_retired_keys(
    harness: Harness, service: Service, client: httpx.AsyncClient
) -> None:
    """AS-JWKS-002, AS-JWKS-003: the next key is published before it signs, and a retired
    key stays published until every token it signed has expired."""
    sts = service.sts
    workload = await harness.workload("worker")
    first = header_of(await harness.cc(workload))["kid"]
    assert await _kids(client) == [first]
    assert sts.maintain().created is None  # nothing due yet

    harness.advance(DEFAULT_ROTATION_INTERVAL - 300)
    report = sts.maintain()
    second = report.created
    assert second is not None
    assert second != first
    published_at = harness.clock.now()
    assert set(await _kids(client)) == {first, second}  # next: published ...
    before_switch = await harness.cc(workload)
    assert header_of(before_switch)["kid"] == first  # ... and not yet signing
    assert sts.maintain().created is None  # idempotent

    max_age = int((await client.get("/oauth2/jwks")).headers["cache-control"].split("=")[1])
    harness.advance(300)
    after_switch = await harness.cc(workload)
    assert header_of(after_switch)["kid"] == second
    # AS-JWKS-002: published at least max-age seconds before its first signature
    assert harness.clock.now() - published_at >= max_age
    # AS-JWKS-003: the retired key stays; its last token still verifies
    assert set(await _kids(client)) == {first, second}
    assert (await harness.introspect(workload, before_switch))["active"] is True

    harness.advance(600 + 300 - 1)  # the last token it signed expired < 300 s ago
    sts.maintain()
    assert set(await _kids(client)) == {first, second}
    harness.advance(2)
    pruned = sts.maintain().pruned
    assert pruned == (first,)
    assert await _kids(client) == [second]
    assert (await harness.introspect(workload, after_switch))["active"] is False  # expired

    events = await harness.audit(operation="signing_key.rotate")
    assert len(events) == 1
    assert events[0]["decision"] == "allow"


async def test_a_kid_is_never_reused(harness: Harness, service: Service) -> None:
    """AS-JWKS-001: a pruned key leaves a tombstone; its kid cannot be stored again."""
    sts = service.sts
    records = sts.key_store.list_keys()
    assert len(records) == 1
    harness.advance(DEFAULT_ROTATION_INTERVAL - 300)
    sts.maintain()
    harness.advance(300 + 600 + 300 + 1)
    assert sts.maintain().pruned == (records[0].kid,)
    with pytest.raises(ValueError, match="one key forever"):
        sts.key_store.add_key(records[0])


async def test_a_withdrawn_key_stops_verifying_and_bootstrap_replaces_it(
    harness: Harness, service: Service, client: httpx.AsyncClient
) -> None:
    """AS-JWKS-003: a compromised key may be removed early, invalidating its tokens."""
    workload = await harness.workload("worker")
    token = await harness.cc(workload)
    kid = header_of(token)["kid"]
    harness.advance(10)
    service.sts.keys.withdraw(kid)
    service.sts.maintain()
    assert kid not in await _kids(client)
    assert await harness.introspect(workload, token) == {"active": False}
    assert header_of(await harness.cc(workload))["kid"] != kid
