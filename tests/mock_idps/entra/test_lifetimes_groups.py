"""Access-token lifetimes (a random 60-90 minutes, seedable), ``ext_expires_in``, API
lifetime overrides, and the groups claim with its overage above 200 groups."""

from __future__ import annotations

from typing import Any

import httpx
import jwt as pyjwt
import pytest

from proctor.mock_idps.entra import group_id
from proctor.mock_idps.pytest_plugin import MockIdp

pytestmark = pytest.mark.anyio


async def _lifetimes(idp: MockIdp, aad: Any, count: int) -> list[tuple[int, int, int]]:
    out = []
    async with idp.async_client() as client:
        for _ in range(count):
            r = await aad.client_credentials(client)
            body = r.json()
            claims = aad.claims(body["access_token"])
            out.append((body["expires_in"], body["ext_expires_in"], claims["exp"] - claims["iat"]))
    return out


@pytest.mark.mock_idp(frozen_at=1_700_000_000)
async def test_random_lifetimes_within_60_to_90_minutes(entra_idp: MockIdp, aad: Any) -> None:
    seen = await _lifetimes(entra_idp, aad, 40)
    for expires_in, ext_expires_in, span in seen:
        assert 3600 <= expires_in <= 5400
        assert ext_expires_in == expires_in == span
    assert len({s[0] for s in seen}) > 5  # random, not a fixed hour


async def test_seeded_lifetimes_repeat(mock_idp_factory: Any, aad: Any) -> None:
    runs = []
    for _ in range(2):
        idp = mock_idp_factory("entra", frozen_at=1_700_000_000)
        data = idp.config.model_dump()
        data["vendor"]["lifetime_seed"] = 42
        idp.configure(data)
        runs.append([s[0] for s in await _lifetimes(idp, aad, 5)])
    assert runs[0] == runs[1]


async def test_configured_lifetime_overrides_the_random_one(entra_idp: MockIdp, aad: Any) -> None:
    data = entra_idp.config.model_dump()
    next(a for a in data["apis"] if a["id"] == "crm")["access_token_lifetime"] = 600
    entra_idp.configure(data)
    seen = await _lifetimes(entra_idp, aad, 3)
    assert {s[0] for s in seen} == {600}


async def test_expired_token_is_refused_by_verifiers(entra_idp: MockIdp, aad: Any) -> None:
    async with entra_idp.async_client() as client:
        jwks = await aad.jwks(client)
    token = entra_idp.mint(presets=["expired"])
    with pytest.raises(pyjwt.ExpiredSignatureError):
        aad.verify(token, jwks, audience=aad.CRM_APP)


async def test_group_overage(entra_idp: MockIdp, aad: Any) -> None:
    data = entra_idp.config.model_dump()
    many = [f"team-{n}" for n in range(201)]
    exactly = [f"squad-{n}" for n in range(200)]
    data["users"].append({"username": "max@contoso.example", "password": "p", "groups": many})
    data["users"].append({"username": "eve@contoso.example", "password": "p", "groups": exactly})
    entra_idp.configure(data)
    over = aad.claims(entra_idp.mint(user="max@contoso.example"))
    assert "groups" not in over
    assert over["_claim_names"] == {"groups": "src1"}
    oid = over["oid"]
    assert over["_claim_sources"] == {
        "src1": {"endpoint": f"https://graph.windows.net/{aad.TENANT}/users/{oid}/getMemberObjects"}
    }
    at_limit = aad.claims(entra_idp.mint(user="eve@contoso.example"))
    assert len(at_limit["groups"]) == 200
    assert "_claim_names" not in at_limit
    # Group names in the configuration become stable object IDs.
    assert at_limit["groups"][0] == group_id("squad-0")
    assert group_id("squad-0") == group_id("squad-0") != group_id("squad-1")


async def test_groups_only_for_apis_that_ask(entra: httpx.AsyncClient, aad: Any) -> None:
    crm = aad.claims((await aad.tokens(entra))["access_token"])
    docs = aad.claims(
        (await aad.tokens(entra, scope=f"openid {aad.DOCS_URI}/user_impersonation"))["access_token"]
    )
    assert "groups" in crm
    assert "groups" not in docs
