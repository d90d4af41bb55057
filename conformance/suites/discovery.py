"""Discovery: the RFC 8414 authorization server metadata and the JWK Set it points to.

Every check here speaks HTTP to the target only. The requirement IDs come from
:data:`REQUIREMENTS`, which the spec's authors fill in (see below).
"""

from __future__ import annotations

from typing import Any

from proctor.conformance.checks import check
from proctor.conformance.errors import ConformanceFailure
from proctor.conformance.target import Target

#: The requirement IDs this suite's checks cite, by topic. **Provisional**: they follow
#: the draft of ``spec/07-token-exchange.md`` (metadata and JWKS) and are the spec
#: authors' to correct here. While an ID is not in the catalog, each check's declared
#: level is used; once it is, the catalog's level is authoritative and a declared level
#: that disagrees is an error the kit reports.
REQUIREMENTS: dict[str, str] = {
    "metadata_location_and_issuer": "AS-META-001",
    "metadata_required_members": "AS-META-002",
    "jwk_set_public_keys": "AS-JWKS-001",
}

#: RFC 7517 §8.5.2 registers application/jwk-set+json; plain JSON is common and accepted.
JWK_SET_MEDIA_TYPES = ("application/json", "application/jwk-set+json")
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a URN
#: Private or symmetric key members of a JWK (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


def fetch_metadata(target: Target) -> dict[str, Any]:
    """GET the metadata; a failure to serve a JSON object is a conformance failure."""
    response = target.client.get(target.metadata_url)
    if response.status_code != 200:
        raise ConformanceFailure(
            f"the metadata document at {target.metadata_url} is not served",
            expected="HTTP 200",
            observed=f"HTTP {response.status_code}",
        )
    try:
        document = response.json()
    except ValueError:
        raise ConformanceFailure(
            "the metadata document is not JSON", observed=response.text[:200]
        ) from None
    if not isinstance(document, dict):
        raise ConformanceFailure(
            "the metadata document is not a JSON object", observed=type(document).__name__
        )
    return document


@check(REQUIREMENTS["metadata_location_and_issuer"], level="MUST", needs=["metadata"])
def test_metadata_is_a_json_object(proctor_target: Target) -> None:
    """The metadata is a JSON object served as application/json (RFC 8414 §3.2)."""
    response = proctor_target.client.get(proctor_target.metadata_url)
    assert response.status_code == 200, f"HTTP {response.status_code}"
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    assert media_type == "application/json", f"content type {media_type!r}"
    fetch_metadata(proctor_target)


@check(REQUIREMENTS["metadata_location_and_issuer"], level="MUST", needs=["metadata"])
def test_issuer_is_identical_to_the_fetched_identifier(proctor_target: Target) -> None:
    """``issuer`` is identical to the issuer the metadata URL was built from (RFC 8414 §3.3).

    "The issuer value returned MUST be identical to the authorization server's issuer
    identifier value into which the well-known URI string was inserted to create the
    URL used to retrieve the metadata." Identical means character for character: a
    trailing slash, a different case or a default port is a different issuer.
    """
    metadata = fetch_metadata(proctor_target)
    issuer = metadata.get("issuer")
    if issuer != proctor_target.base_url:
        raise ConformanceFailure(
            "the metadata's issuer differs from the issuer identifier it was fetched for",
            expected=repr(proctor_target.base_url),
            observed=repr(issuer),
        )


@check(REQUIREMENTS["metadata_required_members"], level="MUST", needs=["metadata"])
def test_required_members_are_present(proctor_target: Target) -> None:
    """The members RFC 8414 §2 requires are present with the right types.

    ``issuer`` and ``response_types_supported`` are REQUIRED; ``token_endpoint`` is
    REQUIRED unless only the implicit grant is supported, which never holds for a
    service that issues tokens at its token endpoint.
    """
    metadata = fetch_metadata(proctor_target)
    problems = []
    for member in ("issuer", "token_endpoint"):
        if not isinstance(metadata.get(member), str) or not metadata[member]:
            problems.append(f"{member} is missing or not a string")
    response_types = metadata.get("response_types_supported")
    if not isinstance(response_types, list) or not all(
        isinstance(item, str) for item in response_types
    ):
        problems.append("response_types_supported is missing or not an array of strings")
    assert not problems, "; ".join(problems)


@check(
    REQUIREMENTS["metadata_required_members"], level="MUST", needs=["metadata", "token_exchange"]
)
def test_token_exchange_is_listed_in_grant_types(proctor_target: Target) -> None:
    """A token-exchange service lists the RFC 8693 grant in ``grant_types_supported``.

    RFC 8414 §2: when ``grant_types_supported`` is omitted its default is
    ``["authorization_code", "implicit"]``, which would tell clients that token exchange
    is *not* supported.
    """
    grant_types = fetch_metadata(proctor_target).get("grant_types_supported")
    assert isinstance(grant_types, list), "grant_types_supported is missing"
    assert TOKEN_EXCHANGE_GRANT in grant_types, f"{TOKEN_EXCHANGE_GRANT} is not listed"


def fetch_jwks(target: Target) -> dict[str, Any]:
    jwks_uri = fetch_metadata(target).get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri:
        raise ConformanceFailure("the metadata has no jwks_uri")
    response = target.client.get(jwks_uri)
    if response.status_code != 200:
        raise ConformanceFailure(
            f"the JWK Set at {jwks_uri} is not served",
            expected="HTTP 200",
            observed=f"HTTP {response.status_code}",
        )
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in JWK_SET_MEDIA_TYPES:
        raise ConformanceFailure(
            "the JWK Set is served with the wrong content type",
            expected=" or ".join(JWK_SET_MEDIA_TYPES),
            observed=repr(media_type),
        )
    try:
        document = response.json()
    except ValueError:
        raise ConformanceFailure("the JWK Set is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ConformanceFailure('the JWK Set is not a JSON object with a "keys" array')
    return document


@check(REQUIREMENTS["jwk_set_public_keys"], level="MUST", needs=["metadata", "jwks"])
def test_jwks_uri_serves_a_jwk_set(proctor_target: Target) -> None:
    """``jwks_uri`` is present and serves a JWK Set (RFC 8414 §2, RFC 7517 §5).

    Every key is a JSON object with a ``kty`` (RFC 7517 §4.1), and ``kid`` values, when
    present, are distinct so a verifier can choose a key (RFC 7517 §4.5).
    """
    keys = fetch_jwks(proctor_target)["keys"]
    assert keys, "the JWK Set has no keys"
    assert all(isinstance(key, dict) and isinstance(key.get("kty"), str) for key in keys), (
        "a key is not an object with a kty"
    )
    kids = [key["kid"] for key in keys if "kid" in key]
    assert len(kids) == len(set(kids)), "kid values repeat"


@check(REQUIREMENTS["jwk_set_public_keys"], level="MUST", needs=["metadata", "jwks"])
def test_jwks_publishes_no_private_key_material(proctor_target: Target) -> None:
    """The published JWK Set holds public keys only (RFC 7517 §9.2, RFC 7518 §6)."""
    keys = fetch_jwks(proctor_target)["keys"]
    leaking = sorted(
        {
            f"{key.get('kid', '?')}:{member}"
            for key in keys
            if isinstance(key, dict)
            for member in PRIVATE_JWK_MEMBERS
            if member in key
        }
    )
    assert not leaking, f"private or symmetric key members published: {', '.join(leaking)}"
