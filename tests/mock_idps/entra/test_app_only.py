"""Client credentials: ``scope={resource}/.default``, app-only token shapes (``roles``, no
``scp``, optional ``idtyp``), secrets and certificate ``client_assertion`` credentials
(v2-oauth2-client-creds-grant-flow.md, certificate-credentials.md)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.jwk import RSAKey

pytestmark = pytest.mark.anyio
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DAEMON = "0b5e6c1d-2a3f-4e5d-8c7b-6a5f4e3d2c1b"


async def test_v2_app_only_shape(entra: httpx.AsyncClient, aad: Any) -> None:
    r = await aad.client_credentials(entra)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert body["ext_expires_in"] == body["expires_in"]
    claims = aad.verify(body["access_token"], await aad.jwks(entra), audience=aad.CRM_APP)
    assert claims["roles"] == ["CRM.Read.All"]  # the only authorization claim
    assert claims["idtyp"] == "app"  # the CRM API configures the optional claim
    assert claims["azp"] == aad.AGENT
    assert claims["azpacr"] == "1"
    assert claims["sub"] == claims["oid"]  # the service principal
    for user_claim in ("scp", "preferred_username", "name", "groups"):
        assert user_claim not in claims


async def test_v1_app_only_shape(entra: httpx.AsyncClient, aad: Any) -> None:
    r = await aad.client_credentials(entra, scope=f"{aad.DOCS_URI}/.default")
    claims = aad.verify(
        r.json()["access_token"], await aad.jwks(entra, version=1), audience=aad.DOCS_URI
    )
    assert claims["ver"] == "1.0"
    assert claims["roles"] == ["Docs.Read.All"]
    assert claims["appid"] == aad.AGENT
    assert claims["appidacr"] == "1"
    assert claims["idp"] == claims["iss"]
    assert "idtyp" not in claims  # the Docs API does not ask for it
    assert "scp" not in claims


async def test_no_role_assignment_still_issues_a_token(entra: httpx.AsyncClient, aad: Any) -> None:
    r = await aad.client_credentials(
        entra, scope=f"{aad.DOCS_URI}/.default", auth=(aad.CRM_APP, aad.CRM_SECRET)
    )
    assert r.status_code == 200
    assert "roles" not in aad.claims(r.json()["access_token"])


@pytest.mark.parametrize(
    ("scope", "code", "error"),
    [
        ("api://proctor-crm/crm.read", 1002012, "invalid_scope"),
        ("openid api://proctor-crm/.default", 1002012, "invalid_scope"),
        ("api://proctor-crm/nope", 70011, "invalid_scope"),
        ("api://unknown-api/.default", 500011, "invalid_resource"),
    ],
)
async def test_client_credentials_scope_errors(
    entra: httpx.AsyncClient, aad: Any, scope: str, code: int, error: str
) -> None:
    aad.assert_aadsts(await aad.client_credentials(entra, scope=scope), code, error)


async def test_client_credentials_on_common_is_refused(entra: httpx.AsyncClient, aad: Any) -> None:
    r = await aad.client_credentials(entra, segment="common")
    aad.assert_aadsts(r, 9001023, "unsupported_grant_type")
    r = await aad.client_credentials(entra, segment="organizations")
    assert r.status_code == 200  # the app's home tenant
    assert aad.claims(r.json()["access_token"])["tid"] == aad.TENANT


async def test_wrong_secret_and_public_client(entra: httpx.AsyncClient, aad: Any) -> None:
    r = await aad.client_credentials(entra, auth=(aad.AGENT, "wrong"))
    aad.assert_aadsts(r, 7000215, "invalid_client", 401)
    r = await entra.post(
        f"/{aad.TENANT}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": aad.SPA, "scope": "x/.default"},
    )
    aad.assert_aadsts(r, 7000218, "invalid_client", 401)


def _certificate() -> tuple[rsa.RSAPrivateKey, str, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "proctor-daemon")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM).decode(), cert


@pytest.fixture(scope="module")
def daemon_certificate() -> tuple[rsa.RSAPrivateKey, str, x509.Certificate]:
    return _certificate()


def _thumbprint(cert: x509.Certificate, algorithm: str) -> str:
    der = cert.public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.new(algorithm, der).digest()).rstrip(b"=").decode()


def _assertion(
    key: rsa.RSAPrivateKey,
    cert: x509.Certificate,
    *,
    aud: str,
    client_id: str = DAEMON,
    alg: str = "PS256",
    lifetime: int = 600,
    thumbprint: str = "x5t#S256",
) -> str:
    now = int(time.time())
    header = {"alg": alg, "typ": "JWT"}
    header[thumbprint] = _thumbprint(cert, "sha256" if thumbprint == "x5t#S256" else "sha1")
    claims = {
        "aud": aud,
        "iss": client_id,
        "sub": client_id,
        "jti": str(uuid.uuid4()),
        "nbf": now,
        "iat": now,
        "exp": now + lifetime,
    }
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return jws.serialize_compact(
        header, json.dumps(claims).encode(), RSAKey.import_key(pem), algorithms=[alg]
    )


@pytest.fixture
def daemon(entra_idp: Any, daemon_certificate: Any, aad: Any) -> Any:
    """A certificate-only app (no secret) with an app-role assignment on the CRM API."""
    _, pem, _ = daemon_certificate
    data = entra_idp.config.model_dump()
    data["clients"].append(
        {
            "client_id": DAEMON,
            "name": "Nightly sync",
            "grant_types": ["client_credentials"],
            "vendor": {"certificates": [pem]},
        }
    )
    crm = next(a for a in data["apis"] if a["id"] == "crm")
    crm["vendor"]["role_assignments"][DAEMON] = ["CRM.ReadWrite.All"]
    entra_idp.configure(data)
    return entra_idp


def _form(assertion: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "scope": "api://proctor-crm/.default",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        **extra,
    }


@pytest.mark.parametrize(("alg", "thumbprint"), [("PS256", "x5t#S256"), ("RS256", "x5t")])
async def test_certificate_client_assertion(
    daemon: Any, daemon_certificate: Any, aad: Any, alg: str, thumbprint: str
) -> None:
    key, _, cert = daemon_certificate
    token_url = daemon.url("token")
    assertion = _assertion(key, cert, aud=token_url, alg=alg, thumbprint=thumbprint)
    async with daemon.async_client() as client:
        r = await client.post(token_url, data=_form(assertion, client_id=DAEMON))
        assert r.status_code == 200, r.text
        claims = aad.verify(r.json()["access_token"], await aad.jwks(client), audience=aad.CRM_APP)
    assert claims["azp"] == DAEMON
    assert claims["azpacr"] == "2"  # a certificate
    assert claims["roles"] == ["CRM.ReadWrite.All"]


async def test_bad_client_assertions(daemon: Any, daemon_certificate: Any, aad: Any) -> None:
    key, _, cert = daemon_certificate
    other_key, _, other_cert = _certificate()
    url = daemon.url("token")
    cases = [
        (_assertion(other_key, other_cert, aud=url), 700027, "invalid_client", 401),
        (_assertion(other_key, cert, aud=url), 700027, "invalid_client", 401),
        (
            _assertion(key, cert, aud="https://elsewhere.example/token"),
            50027,
            "invalid_client",
            401,
        ),
        (_assertion(key, cert, aud=url, lifetime=-3600), 700024, "invalid_client", 401),
        (_assertion(key, cert, aud=url, client_id=aad.AGENT), 700027, "invalid_client", 401),
        ("not-a-jwt", 50027, "invalid_client", 401),
    ]
    async with daemon.async_client() as client:
        for assertion, code, error, status in cases:
            r = await client.post(url, data=_form(assertion))
            aad.assert_aadsts(r, code, error, status)
        # A secret and an assertion together, or a wrong assertion type.
        good = _assertion(key, cert, aud=url)
        r = await client.post(url, data=_form(good, client_secret="x"))
        aad.assert_aadsts(r, 9002313, "invalid_request")
        r = await client.post(url, data=_form(good, client_assertion_type="urn:x"))
        aad.assert_aadsts(r, 9002313, "invalid_request")
        # The assertion's subject must be the client_id sent.
        r = await client.post(url, data=_form(good, client_id=aad.AGENT))
        aad.assert_aadsts(r, 700021, "invalid_client", 401)
