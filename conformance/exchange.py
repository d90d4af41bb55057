"""The token endpoint as the token-exchange and authorization-server suites speak it.

Helpers over HTTP only (the kit never imports the implementation it judges):

- **form posts** that keep parameter order and repeats (:func:`form_body`,
  :func:`post_form`), so a check can send ``audience`` twice or ``scope`` twice on
  purpose (RFC 8693 §2.1, RFC 6749 §3.2);
- **client authentication** in every variant the spec names (:class:`Client`):
  ``client_secret_basic`` (RFC 6749 §2.3.1: both parts form-encoded before Base64),
  ``client_secret_post`` and ``private_key_jwt`` (RFC 7523 §2.2, §3) with assertions the
  kit signs itself and can deliberately get wrong (OA-07);
- **requests**: token exchange (RFC 8693 §2.1), ``client_credentials`` (RFC 6749 §4.4),
  introspection (RFC 7662 §2.1) and revocation (RFC 7009 §2.1);
- **reading answers**: tokens decoded *without* trusting them (the kit observes what was
  issued; it never decides trust on it), and assertions on OAuth error bodies with the
  exact code and status (RFC 6749 §5.2; spec 09 ERR-OAUTH-001/002);
- **the exchange setup** both suites share (:class:`ExchangeSetup`, fixture
  ``exchange_setup``): three clients (an *orchestrator* that exchanges the user's token,
  a *sub-agent* it delegates to, an *outsider* with no exchange permission), a final
  audience, and a source of user tokens. Under the ``proctor`` profile the kit creates
  all of it through the control plane (workloads, and exchange policies, spec 07
  §Exchange policy, which :mod:`~proctor.conformance.provisioning` does not create) in its
  run's namespace and deletes it afterwards; under ``rfc8693`` it reads it from the target
  config (:data:`SUITE_OPTIONS`, and :func:`setup_lines` for ``proctor conform setup``).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import quote, quote_plus, urlencode

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

from proctor.conformance.chains.invariants import decode_jwt, scope_set
from proctor.conformance.config import (
    ClientCredentials,
    ClientCredentialsSubjectToken,
    MockIdpSubjectToken,
    TargetConfig,
)
from proctor.conformance.error_shape import error_shape
from proctor.conformance.errors import ConformanceFailure, InfrastructureError
from proctor.conformance.idps import MockIdp
from proctor.conformance.native import refused
from proctor.conformance.target import Target

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "AUDIENCE",
    "ID_TOKEN_TYPE",
    "JWT_BEARER",
    "JWT_TOKEN_TYPE",
    "REFRESH_TOKEN_TYPE",
    "RESOURCE",
    "SAML2_TOKEN_TYPE",
    "SECOND_AUDIENCE",
    "SUITE_OPTIONS",
    "TOKEN_EXCHANGE",
    "Client",
    "ExchangeSetup",
    "Issued",
    "PolicyStore",
    "audience_of",
    "client_credentials",
    "client_from_config",
    "decode",
    "exchange",
    "exchange_pairs",
    "exchange_setup",
    "expect_error",
    "expect_issued",
    "form_body",
    "introspect",
    "not_rate_limited",
    "oauth_error",
    "post_form",
    "private_key",
    "revoke",
    "setup_lines",
    "tamper",
    "token_request",
]

#: RFC 8693 §2.1 and §3; RFC 7523 §2.2.
TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
JWT_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105
ID_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105
REFRESH_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:refresh_token"  # noqa: S105
SAML2_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:saml2"  # noqa: S105
JWT_BEARER: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM: Final = {"Content-Type": "application/x-www-form-urlencoded"}

#: The final audience and resource the kit asks for under the ``proctor`` profile.
AUDIENCE: Final = "urn:proctor:conformance:crm"
SECOND_AUDIENCE: Final = "urn:proctor:conformance:mail"
RESOURCE: Final = "https://crm.conformance.example/mcp"
#: The scopes the kit's users hold and its policies allow (``proctor`` profile).
SCOPES: Final = ("crm.read", "finance.read", "docs.write")

#: ``suite_options.token_exchange`` (and ``.authorization_server``) of an ``rfc8693``
#: target config: what each option means and its default.
SUITE_OPTIONS: Final[dict[str, str]] = {
    "orchestrator": "client (a key of credentials.clients) that exchanges the user's "
    "token; default orchestrator",
    "subagent": "client the orchestrator delegates to (audience = its client_id); default subagent",
    "outsider": "client with no token-exchange permission; default outsider",
    "third": "optional client the sub-agent may delegate to (a third hop, for the "
    "revocation cascade); default third, when configured",
    "audience": "the audience they may request; default: the first of audiences",
    "subject_audience": "audience requested with a client_credentials subject token "
    "(e.g. the orchestrator's client_id); default: none",
}

_SETUPS: Final = itertools.count(1)
#: RFC 6749 §5.2: the members of an error body, and the characters of its text.
ERROR_MEMBERS: Final = frozenset({"error", "error_description", "error_uri"})
ERROR_TEXT: Final = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]*")

AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]
Pairs = Sequence[tuple[str, str]]


# -- client authentication --------------------------------------------------------------


@dataclass(frozen=True)
class Client:
    """A client of the target and how it authenticates (RFC 6749 §2.3, RFC 7523 §2.2)."""

    name: str
    client_id: str
    secret: str | None = field(default=None, repr=False)
    method: AuthMethod = "client_secret_basic"
    key: ECKey | RSAKey | None = field(default=None, repr=False)
    kid: str | None = None

    @property
    def alg(self) -> str:
        return "RS256" if isinstance(self.key, RSAKey) else "ES256"

    def basic(self) -> dict[str, str]:
        """RFC 6749 §2.3.1: both parts form-urlencoded, then HTTP Basic."""
        pair = f"{quote_plus(self.client_id)}:{quote_plus(self.secret or '')}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    def post(self) -> list[tuple[str, str]]:
        return [("client_id", self.client_id), ("client_secret", self.secret or "")]

    def assertion(
        self, audience: str, *, header: Mapping[str, Any] | None = None, **changes: Any
    ) -> str:
        """A fresh RFC 7523 §3 assertion for ``audience``; ``changes`` override claims
        (``None`` removes one), ``header`` header members."""
        if self.key is None:
            raise InfrastructureError(f"client {self.name!r} has no private key for assertions")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + 120,
        }
        claims.update(changes)
        protected = {"alg": self.alg, "typ": "JWT", **({"kid": self.kid} if self.kid else {})}
        protected.update(header or {})
        payload = json.dumps({k: v for k, v in claims.items() if v is not None}).encode()
        return jws.serialize_compact(protected, payload, self.key, algorithms=[self.alg])

    def auth(self, issuer: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """Headers and form pairs authenticating this client by its method."""
        if self.method == "client_secret_basic":
            return self.basic(), []
        if self.method == "client_secret_post":
            return {}, self.post()
        return {}, [
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", self.assertion(issuer)),
        ]


def private_key(pem: str) -> ECKey | RSAKey:
    """A JOSE key from a PEM private key (EC P-256 or RSA)."""
    try:
        loaded = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise InfrastructureError("private_key is not an unencrypted PEM private key") from None
    if isinstance(loaded, ec.EllipticCurvePrivateKey):
        return ECKey.import_key(pem)
    if isinstance(loaded, rsa.RSAPrivateKey):
        return RSAKey.import_key(pem)
    raise InfrastructureError("private_key must be an EC (P-256) or RSA key")


def client_from_config(name: str, config: ClientCredentials) -> Client:
    secret = config.client_secret.get_secret_value() if config.client_secret else None
    if config.auth_method == "private_key_jwt":
        if config.private_key is None:
            raise InfrastructureError(f"client {name!r} uses private_key_jwt without private_key")
        key = private_key(config.private_key.get_secret_value())
        return Client(name, config.client_id, None, "private_key_jwt", key, config.key_id)
    if config.auth_method == "none":
        raise InfrastructureError(
            f"client {name!r} is a public client: the kit needs one that authenticates"
        )
    return Client(name, config.client_id, secret, config.auth_method)


# -- requests -----------------------------------------------------------------------------


def form_body(pairs: Pairs) -> bytes:
    """An ``application/x-www-form-urlencoded`` body, pairs in order, repeats kept."""
    return urlencode(list(pairs)).encode("ascii")


def post_form(
    target: Target, url: str, pairs: Pairs, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    try:
        return target.client.post(
            url, content=form_body(pairs), headers={**FORM, **(headers or {})}
        )
    except httpx.HTTPError as error:
        raise InfrastructureError(f"POST {url} failed: {type(error).__name__}") from None


def token_request(
    target: Target, client: Client | None, pairs: Pairs, *, endpoint: str = "token"
) -> httpx.Response:
    """POST ``pairs`` to an OAuth endpoint, authenticated as ``client`` (``None``: not)."""
    headers: dict[str, str] = {}
    auth: list[tuple[str, str]] = []
    if client is not None:
        headers, auth = client.auth(target.base_url)
    return post_form(target, target.endpoint(endpoint), [*auth, *pairs], headers)


def exchange_pairs(
    subject_token: str | None,
    *,
    subject_token_type: str | None = ACCESS_TOKEN_TYPE,
    actor_token: str | None = None,
    actor_token_type: str | None = None,
    audience: Sequence[str] = (),
    resource: Sequence[str] = (),
    scope: str | None = None,
    requested_token_type: str | None = None,
    grant_type: str | None = TOKEN_EXCHANGE,
) -> list[tuple[str, str]]:
    """The parameters of an RFC 8693 §2.1 request (``None`` leaves one out).

    ``actor_token_type`` defaults to the access-token type when an actor token is sent.
    """
    if actor_token is not None and actor_token_type is None:
        actor_token_type = ACCESS_TOKEN_TYPE
    pairs: list[tuple[str, str]] = []
    for name, value in (
        ("grant_type", grant_type),
        ("subject_token", subject_token),
        ("subject_token_type", subject_token_type),
        ("actor_token", actor_token),
        ("actor_token_type", actor_token_type),
        ("requested_token_type", requested_token_type),
    ):
        if value is not None:
            pairs.append((name, value))
    pairs += [("audience", a) for a in audience]
    pairs += [("resource", r) for r in resource]
    if scope is not None:
        pairs.append(("scope", scope))
    return pairs


def exchange(
    target: Target, client: Client | None, subject_token: str | None, **parameters: Any
) -> httpx.Response:
    """A token-exchange request (see :func:`exchange_pairs` for ``parameters``)."""
    return token_request(target, client, exchange_pairs(subject_token, **parameters))


def client_credentials(
    target: Target,
    client: Client,
    *,
    scope: str | None = None,
    audience: Sequence[str] = (),
    resource: Sequence[str] = (),
) -> httpx.Response:
    pairs = [("grant_type", "client_credentials")]
    pairs += [("audience", a) for a in audience] + [("resource", r) for r in resource]
    if scope is not None:
        pairs.append(("scope", scope))
    return token_request(target, client, pairs)


def introspect(
    target: Target, client: Client | None, token: str, hint: str | None = None
) -> httpx.Response:
    pairs = [("token", token)] + ([("token_type_hint", hint)] if hint else [])
    return token_request(target, client, pairs, endpoint="introspection")


def revoke(
    target: Target, client: Client | None, token: str, hint: str | None = None
) -> httpx.Response:
    pairs = [("token", token)] + ([("token_type_hint", hint)] if hint else [])
    return token_request(target, client, pairs, endpoint="revocation")


# -- reading answers ------------------------------------------------------------------------


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Header and claims of a compact JWS, **unverified** (``None``: not one)."""
    return decode_jwt(token)


def tamper(token: str) -> str:
    """``token`` with one bit of its signature flipped (same header and claims)."""
    head, body, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    if not raw:
        return f"{head}.{body}.AA"
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{body}." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def audience_of(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [str(a) for a in aud]
    return []


def not_rate_limited(response: httpx.Response, what: str) -> None:
    """A 429 is no verdict: the target throttled the kit (raise its limits for the run)."""
    if response.status_code == 429:
        raise InfrastructureError(
            f"{what}: the target answered 429 (rate limited, Retry-After "
            f"{response.headers.get('retry-after', '?')}): raise its rate limits for the "
            "kit's clients and address during a conformance run"
        )


def _body(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ConformanceFailure(
            f"{what}: the answer is not JSON",
            observed=f"HTTP {response.status_code}: {response.text[:200]!r}",
        ) from None
    if not isinstance(body, dict):
        raise ConformanceFailure(
            f"{what}: the answer is not a JSON object", observed=response.text[:200]
        )
    return body


@dataclass(frozen=True)
class Issued:
    """A successful token response: the body, the token, and its decoded parts."""

    body: dict[str, Any]
    token: str = field(repr=False)
    header: dict[str, Any]
    claims: dict[str, Any]

    @property
    def scopes(self) -> frozenset[str]:
        return scope_set(self.claims)


def expect_issued(response: httpx.Response, what: str, target: Target | None = None) -> Issued:
    """A 200 token response with an ``access_token`` the kit can decode (a JWT)."""
    not_rate_limited(response, what)
    if response.status_code != 200:
        raise ConformanceFailure(
            f"{what} must succeed",
            expected="HTTP 200 with a token",
            observed=f"HTTP {response.status_code}: {response.text[:300]}",
        )
    body = _body(response, what)
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise ConformanceFailure(
            f"{what}: the response has no access_token", observed=", ".join(sorted(body))
        )
    if target is not None:
        target.add_secret(token)
    decoded = decode(token)
    if decoded is None:
        raise InfrastructureError(f"{what}: the issued token is not a JWT the kit can read")
    return Issued(body, token, decoded[0], decoded[1])


def expect_error(
    response: httpx.Response,
    error: str,
    what: str,
    *,
    status: int | None = None,
) -> dict[str, Any]:
    """A refusal (HTTP 4xx, no token) with an RFC 6749 §5.2 error of exactly ``error``
    (spec 09 ERR-OAUTH-001/002).

    The refusal is asserted first; the error's shape is judged in
    :func:`~proctor.conformance.error_shape.error_shape` (CONF-CTRL-002).
    ``invalid_client`` must be HTTP 401 with a ``WWW-Authenticate`` challenge; every other
    code HTTP 400 (``status`` overrides). ``invalid_grant`` is named as such in the
    message, because RFC 8693 §2.2.2 requires ``invalid_request`` for bad tokens.
    """
    expected_status = status if status is not None else (401 if error == "invalid_client" else 400)
    refused(response, what, expected=f"HTTP {expected_status} {error}")
    body: dict[str, Any] = {}
    with error_shape():
        body = _body(response, what)
        got = body.get("error")
        if got != error:
            hint = (
                " (RFC 8693 §2.2.2: invalid_request, never invalid_grant)"
                if got == "invalid_grant"
                else ""
            )
            raise ConformanceFailure(
                f"{what} must be refused with {error}{hint}",
                expected=f"error {error!r}",
                observed=f"HTTP {response.status_code} error {got!r}",
            )
        if response.status_code != expected_status:
            raise ConformanceFailure(
                f"{what}: {error} must be HTTP {expected_status}",
                observed=f"HTTP {response.status_code}",
            )
        if error == "invalid_client" and not response.headers.get("www-authenticate"):
            raise ConformanceFailure(
                f"{what}: invalid_client (401) must carry WWW-Authenticate (RFC 6749 §5.2)"
            )
        extra = sorted(set(body) - ERROR_MEMBERS)
        if extra:
            raise ConformanceFailure(
                f"{what}: an OAuth error body has only error, error_description and "
                "error_uri (RFC 6749 §5.2)",
                observed=f"also {', '.join(extra)}",
            )
        description = body.get("error_description")
        if description is not None and (
            not isinstance(description, str) or not ERROR_TEXT.fullmatch(description)
        ):
            raise ConformanceFailure(
                f"{what}: error_description must be text of %x20-21 / %x23-5B / %x5D-7E "
                "(RFC 6749 §5.2)",
                observed=repr(description)[:120],
            )
    return body


def oauth_error(response: httpx.Response) -> str | None:
    """The ``error`` of an answer, if it is an OAuth error body."""
    try:
        body = response.json()
    except ValueError:
        return None
    return (
        body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), str) else None
    )


# -- exchange policies (proctor profile) ------------------------------------------------------


class PolicyStore:
    """Workloads and exchange policies the kit creates on a ``proctor`` target.

    Names carry the run's prefix (``conf-<run id>-``); :meth:`close` deletes the policies,
    then the workloads, in reverse order of creation.
    """

    def __init__(self, target: Target, prefix: str) -> None:
        self.target = target
        self.prefix = prefix
        self._workloads: list[str] = []
        self._policies: list[str] = []

    def _call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        try:
            return self.target.client.request(
                method, self.target.url(path), json=body, headers=self.target.admin_headers()
            )
        except httpx.HTTPError as error:
            raise InfrastructureError(f"{method} {path} failed: {type(error).__name__}") from None

    def _ok(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if not response.is_success:
            raise InfrastructureError(
                f"provisioning {what}: HTTP {response.status_code}: {response.text[:300]}"
            )
        body = response.json() if response.content else {}
        return body if isinstance(body, dict) else {}

    def workload(
        self, suffix: str, *, authorizer: str | None, method: AuthMethod = "client_secret_basic"
    ) -> Client:
        """Create a workload; its secret (or key) is kept and redacted everywhere."""
        name = f"{self.prefix}{suffix}"
        body: dict[str, Any] = {
            "name": name,
            "authorizer": authorizer,
            "token_endpoint_auth_method": method,
        }
        key: ECKey | None = None
        kid = None
        if method == "private_key_jwt":
            key = ECKey.generate_key("P-256", private=True)
            kid = f"kit-{secrets.token_hex(4)}"
            public = {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": "ES256"}
            body["jwks"] = {"keys": [public]}
        created = self._ok(self._call("POST", "/v1/workloads", body), f"workload {name}")
        self._workloads.append(name)
        secret = created.get("client_secret")
        self.target.add_secret(secret if isinstance(secret, str) else None)
        client_id = created.get("client_id")
        if not isinstance(client_id, str):
            raise InfrastructureError(f"workload {name} was created without a client_id")
        if method != "private_key_jwt" and not isinstance(secret, str):
            raise InfrastructureError(f"workload {name} was created without a client_secret")
        return Client(
            name, client_id, secret if isinstance(secret, str) else None, method, key, kid
        )

    def policy(self, client: Client, **members: Any) -> dict[str, Any]:
        """Create the exchange policy named after ``client`` (its only one)."""
        body = {"name": client.name, "client": client.name, **members}
        created = self._ok(
            self._call("POST", "/v1/exchange-policies", body), f"exchange policy {client.name}"
        )
        self._policies.append(client.name)
        return created

    def post_policy(self, body: Mapping[str, Any]) -> httpx.Response:
        """POST a policy document as given (for the control plane's validation checks);
        one that is created is deleted with the rest."""
        response = self._call("POST", "/v1/exchange-policies", body)
        if response.status_code == 201 and isinstance(body.get("name"), str):
            self._policies.append(str(body["name"]))
        return response

    def delete_policy(self, name: str) -> httpx.Response:
        response = self._call("DELETE", f"/v1/exchange-policies/{quote(name, safe='')}")
        if name in self._policies and response.status_code in (204, 404):
            self._policies.remove(name)
        return response

    def delete_workload(self, name: str) -> None:
        response = self._call("DELETE", f"/v1/workloads/{quote(name, safe='')}")
        if response.status_code not in (204, 404):
            raise InfrastructureError(
                f"cleanup: DELETE workload {name}: HTTP {response.status_code}"
            )
        if name in self._workloads:
            self._workloads.remove(name)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Delete what the block creates when it ends (one hypothesis example)."""
        policies, workloads = len(self._policies), len(self._workloads)
        try:
            yield
        finally:
            for name in list(reversed(self._policies[policies:])):
                self.delete_policy(name)
            for name in list(reversed(self._workloads[workloads:])):
                self.delete_workload(name)

    def close(self) -> None:
        problems = []
        for name in list(reversed(self._policies)):
            response = self.delete_policy(name)
            if response.status_code not in (204, 404):
                problems.append(f"policy {name}: HTTP {response.status_code}")
        for name in list(reversed(self._workloads)):
            try:
                self.delete_workload(name)
            except InfrastructureError as error:
                problems.append(str(error))
        if problems:
            raise InfrastructureError("cleanup failed: " + "; ".join(problems))


# -- the setup both suites share --------------------------------------------------------------


class ExchangeSetup:
    """Three clients, a final audience and a source of user tokens (see the module doc).

    ``store`` is ``None`` outside the ``proctor`` profile: checks that need their own
    policies declare ``needs=["control_plane"]``.
    """

    def __init__(
        self,
        target: Target,
        *,
        orchestrator: Client,
        subagent: Client,
        outsider: Client,
        audience: str,
        user_token: Callable[..., str],
        third: Client | None = None,
        idp: MockIdp | None,
        idp_issuer: str | None,
        store: PolicyStore | None = None,
        authorizer: str | None = None,
        mint_defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.target = target
        self.orchestrator = orchestrator
        self.subagent = subagent
        self.outsider = outsider
        self.third = third
        self.audience = audience
        self._user_token = user_token
        self.idp = idp
        self.idp_issuer = idp_issuer
        self.store = store
        self.authorizer = authorizer
        self.mint_defaults = dict(mint_defaults or {})
        self._extra: dict[str, Client] = {}
        self._count = 0
        self._control_tokens: dict[str, str] = {}

    # -- user tokens ----------------------------------------------------------------------

    @property
    def can_mint(self) -> bool:
        """Whether the kit can mint user tokens with chosen claims (a mock IdP source)."""
        return self.idp is not None

    def user_token(self) -> str:
        """A valid user token the orchestrator may exchange."""
        token = self._user_token()
        self.target.add_secret(token)
        return token

    def mint(self, **request: Any) -> str:
        """A user token minted by the mock IdP (``claims``, ``lifetime``, ``presets``,
        ``scopes``...); SKIPS the check when the target's subject tokens are not minted."""
        if self.idp is None:
            pytest.skip(
                "needs user tokens minted by a mock IdP (subject_token.source: "
                "mock_idp, or the proctor profile)"
            )
        body = dict(self.mint_defaults)
        for name in ("claims", "header"):
            if name in request:
                body[name] = {**body.get(name, {}), **request.pop(name)}
        body.update(request)
        token = self.idp.mint(**body).token
        self.target.add_secret(token)
        return token

    # -- the clients' own tokens -----------------------------------------------------------

    def own_token(self, client: Client, **parameters: Any) -> str:
        """``client``'s own ``client_credentials`` token (RFC 6749 §4.4)."""
        response = client_credentials(self.target, client, **parameters)
        if response.status_code != 200:
            raise InfrastructureError(
                f"client {client.name!r} could not obtain its own token: "
                f"HTTP {response.status_code} {oauth_error(response)}"
            )
        return expect_issued(response, "client_credentials", self.target).token

    def _fresh(self, key: str, obtain: Callable[[], str]) -> str:
        """A token kept for positive controls, renewed a minute before it expires."""
        token = self._control_tokens.get(key)
        decoded = decode(token) if token is not None else None
        exp = decoded[1].get("exp") if decoded else None
        if token is None or not isinstance(exp, int | float) or exp - time.time() < 60:
            token = obtain()
            self._control_tokens[key] = token
        return token

    def control_token(self) -> str:
        """The orchestrator's own token kept for positive controls (introspection)."""
        return self._fresh("actor", lambda: self.own_token(self.orchestrator))

    def control_exchange(self) -> httpx.Response:
        """The positive control's valid delegation: a user token the orchestrator
        exchanges with its own actor token for the sub-agent. Both input tokens are kept
        between controls (a control proves the exchange works, not the token sources)."""
        user = self._fresh("user", self.user_token)
        actor = self.control_token()
        return exchange(
            self.target,
            self.orchestrator,
            user,
            actor_token=actor,
            audience=[self.subagent.client_id],
        )

    def delegate(
        self,
        subject: str | None = None,
        *,
        client: Client | None = None,
        audience: Sequence[str] | None = None,
        actor: bool = True,
        **parameters: Any,
    ) -> httpx.Response:
        """An exchange by ``client`` (default: the orchestrator) of ``subject`` (default: a
        fresh user token) with its own actor token, for ``audience`` (default: the
        sub-agent when the orchestrator asks, the final audience otherwise)."""
        client = client or self.orchestrator
        if audience is None:
            audience = [self.subagent.client_id if client is self.orchestrator else self.audience]
        actor_token = self.own_token(client) if actor else None
        return exchange(
            self.target,
            client,
            subject if subject is not None else self.user_token(),
            actor_token=actor_token,
            audience=audience,
            **parameters,
        )

    def chain(self, subject: str | None = None) -> tuple[Issued, Issued]:
        """T1 (orchestrator → sub-agent) and T2 (sub-agent → the final audience)."""
        first = expect_issued(self.delegate(subject), "the orchestrator's delegation", self.target)
        second = expect_issued(
            self.delegate(first.token, client=self.subagent),
            "the sub-agent's delegation of T1",
            self.target,
        )
        return first, second

    # -- extra agents with their own policies (proctor profile) -------------------------------

    def need_store(self) -> PolicyStore:
        if self.store is None:
            pytest.skip("needs the control plane to create exchange policies")
        return self.store

    def agent(
        self,
        role: str,
        *,
        policy: Mapping[str, Any] | None = None,
        authorizer: bool = True,
        method: AuthMethod = "client_secret_basic",
    ) -> Client:
        """A workload made for one purpose (created once per role, with ``policy``)."""
        if role in self._extra:
            return self._extra[role]
        store = self.need_store()
        client = store.workload(
            f"x-{role}", authorizer=self.authorizer if authorizer else None, method=method
        )
        if policy is not None:
            store.policy(client, **policy)
        self._extra[role] = client
        return client

    def issuers(self) -> list[str]:
        return [*([self.idp_issuer] if self.idp_issuer else []), "self"]

    def fresh_name(self, role: str) -> str:
        self._count += 1
        return f"p{self._count}-{role}"


def _rfc8693_setup(target: Target) -> ExchangeSetup:
    config = target.config
    options = {
        **config.suite_options.get("authorization_server", {}),
        **config.suite_options.get("token_exchange", {}),
    }

    def named(role: str) -> Client:
        name = str(options.get(role) or role)
        return client_from_config(name, target.client_credentials(name))

    audience = options.get("audience") or (config.audiences[0] if config.audiences else None)
    if not isinstance(audience, str):
        raise InfrastructureError(
            "no audience: set audiences (or suite_options.token_exchange."
            "audience) in the target config"
        )
    source = config.subject_token
    idp: MockIdp | None = None
    issuer: str | None = None
    defaults: dict[str, Any] = {}
    subject_audience = options.get("subject_audience")
    if isinstance(source, MockIdpSubjectToken):
        url = target.idp_urls.get(source.idp)
        if url is None:
            raise InfrastructureError(f"no mock IdP {source.idp!r} under mock_idps.issuers")
        idp = MockIdp(source.idp, url, target.client)
        server = idp.server_for_issuer(url)
        users = idp.users()
        issuer = server.issuer
        defaults = {"server": server.id, "client_id": source.client_id}
        if users:
            defaults["user"] = users[0]["username"]
        if source.scope:
            defaults["scopes"] = source.scope.split()
        minting = idp

        def user_token() -> str:
            return minting.mint(**defaults).token
    elif isinstance(source, ClientCredentialsSubjectToken) and isinstance(subject_audience, str):
        subject_client = client_from_config(source.client, target.client_credentials(source.client))

        def user_token() -> str:
            response = client_credentials(
                target, subject_client, scope=source.scope, audience=[subject_audience]
            )
            return expect_issued(response, "the subject token (client_credentials)").token
    else:
        user_token = target.subject_token
    third_name = str(options.get("third") or "third")
    third = (
        client_from_config(third_name, config.credentials.clients[third_name])
        if third_name in config.credentials.clients
        else None
    )
    return ExchangeSetup(
        target,
        orchestrator=named("orchestrator"),
        subagent=named("subagent"),
        outsider=named("outsider"),
        third=third,
        audience=audience,
        user_token=user_token,
        idp=idp,
        idp_issuer=issuer,
        mint_defaults=defaults,
    )


def _proctor_setup(target: Target, provisioning: Any) -> Iterator[ExchangeSetup]:
    case = provisioning.primary
    # An authorizer for the primary IdP without the scope and claim rules, so every
    # scope set and user the kit mints is allowed (spec 02 does the rest).
    authorizer = provisioning.variant("tx", case, allowed_scopes=[], custom_claims=[])
    # One setup per suite module that uses the fixture: each gets its own names.
    store = PolicyStore(target, f"{provisioning.prefix}tx{next(_SETUPS)}-")
    try:
        orchestrator = store.workload("orch", authorizer=authorizer)
        subagent = store.workload("sub", authorizer=authorizer)
        outsider = store.workload("out", authorizer=authorizer)
        third = store.workload("third", authorizer=authorizer)
        issuers = [case.server.issuer, "self"]
        targets = {
            "audiences": [AUDIENCE, SECOND_AUDIENCE],
            "resources": [RESOURCE],
            "scopes": list(SCOPES),
        }
        store.policy(
            orchestrator,
            subject_issuers=issuers,
            **{**targets, "audiences": [subagent.client_id, AUDIENCE, SECOND_AUDIENCE]},
        )
        store.policy(
            subagent,
            subject_issuers=issuers,
            **{**targets, "audiences": [third.client_id, AUDIENCE, SECOND_AUDIENCE]},
        )
        store.policy(third, subject_issuers=["self"], **targets)
        defaults = {k: v for k, v in case.valid.items() if k in ("server", "user", "client_id")}
        defaults["scopes"] = list(SCOPES)

        def user_token() -> str:
            return str(case.idp.mint(**defaults).token)

        yield ExchangeSetup(
            target,
            orchestrator=orchestrator,
            subagent=subagent,
            outsider=outsider,
            third=third,
            audience=AUDIENCE,
            user_token=user_token,
            idp=case.idp,
            idp_issuer=case.server.issuer,
            store=store,
            authorizer=authorizer,
            mint_defaults=defaults,
        )
    finally:
        store.close()


@contextmanager
def _setup(target: Target, request: pytest.FixtureRequest) -> Iterator[ExchangeSetup]:
    if target.profile == "proctor":
        if not target.has("control_plane"):
            raise InfrastructureError(
                "the proctor profile provisions through the control plane: declare control_plane"
            )
        provisioning = request.getfixturevalue("provisioning")
        yield from _proctor_setup(target, provisioning)
        return
    yield _rfc8693_setup(target)


@pytest.fixture(scope="session")
def exchange_setup(
    proctor_target: Target, request: pytest.FixtureRequest
) -> Iterator[ExchangeSetup]:
    """The clients, audience and user tokens of the token-exchange checks."""
    with _setup(proctor_target, request) as setup:
        yield setup


# -- proctor conform setup -------------------------------------------------------------------


def setup_lines(config: TargetConfig) -> list[str]:
    """What an operator must configure for the token-exchange suites (Markdown lines).

    Under ``proctor`` with a control plane the kit creates everything itself; otherwise
    the lines name the clients, the permissions each needs, and what is skipped.
    """
    if config.profile == "proctor":
        return [
            "The kit creates its own workloads (`conf-<run id>-tx<n>-orch`, `-sub`, `-third`, "
            "`-out`, and one per purpose) and their exchange policies through "
            "`/v1/exchange-policies`, trusting the first mock IdP's issuer and `self`; all "
            "are deleted when the run ends. Configure nothing by hand."
            + (
                ""
                if "control_plane" in config.capabilities
                else " (`control_plane` is not declared: these suites cannot run.)"
            )
        ]
    options = {
        **config.suite_options.get("authorization_server", {}),
        **config.suite_options.get("token_exchange", {}),
    }
    roles = {
        role: str(options.get(role) or role)
        for role in ("orchestrator", "subagent", "outsider", "third")
    }
    audience = options.get("audience") or (config.audiences[0] if config.audiences else None)
    shown = f"`{audience}`" if audience else "(none configured: set `audiences`)"
    clients = config.credentials.clients
    lines = [
        "Register these clients (`credentials.clients`) and permissions in your "
        "authorization server; option names are under `suite_options.token_exchange`:",
        "",
    ]
    for role, name in roles.items():
        if role == "third":
            state = (
                ""
                if name in clients
                else " (optional, not configured: the revocation cascade is checked over two hops)"
            )
        else:
            state = "" if name in clients else " (MISSING under `credentials.clients`)"
        shown_role = "" if name == role else f" (the {role})"
        lines.append(f"- client `{name}`{shown_role}{state}")
    lines += [
        f"- `{roles['orchestrator']}` may exchange the subject tokens (below) with its own "
        f"client_credentials token as actor_token, for audience = `{roles['subagent']}`'s "
        f"client_id and for {shown}",
        f"- `{roles['subagent']}` may exchange tokens your server issued whose aud is its "
        f"client_id, with its own actor token, for {shown}"
        + (f" and for `{roles['third']}`'s client_id" if roles["third"] in clients else ""),
        f"- `{roles['outsider']}` may use client_credentials but not token exchange "
        "(expected: unauthorized_client)",
        "- every client may use client_credentials (its token is its actor_token); no client "
        "may exchange without an actor_token (impersonation is off)",
        "- the orchestrator may also exchange your server's own tokens (`self` as a subject "
        "issuer), so that a token whose actor is its subject is refused as such",
    ]
    source = config.subject_token
    if isinstance(source, ClientCredentialsSubjectToken):
        aud = options.get("subject_audience")
        lines.append(
            f"- subject tokens: client_credentials tokens of `{source.client}`"
            + (
                f" for audience `{aud}` (that client may request it)"
                if aud
                else " (set suite_options.token_exchange.subject_audience to the orchestrator's "
                "client_id if your server binds its own subject tokens to their audience)"
            )
        )
        if source.client == roles["orchestrator"]:
            lines.append(
                "- WARNING: the subject-token client is the orchestrator itself, so every "
                "delegation has its actor as subject (refused): use another client"
            )
    if isinstance(source, MockIdpSubjectToken):
        lines.append(
            f"- subject tokens are minted by mock IdP `{source.idp}` (`/_mock/tokens`) "
            "with chosen claims: your server must trust that issuer for the "
            "orchestrator"
        )
    else:
        lines.append(
            "- SKIPPED without a mock_idp subject-token source: checks that need "
            "minted user tokens (may_act, act, expired or short-lived subjects)"
        )
    if "private_key_jwt" in config.capabilities:
        pkj = [n for n, c in clients.items() if c.auth_method == "private_key_jwt"]
        lines.append(
            "- private_key_jwt: client "
            + (
                f"`{pkj[0]}`"
                if pkj
                else "(MISSING: a client with auth_method private_key_jwt and private_key)"
            )
            + " registered with the public key of its private_key; client assertions must "
            "name the issuer identifier as aud"
        )
    else:
        lines.append(
            "- SKIPPED: the OA-07 client-assertion checks (declare private_key_jwt "
            "and configure such a client)"
        )
    for capability in ("introspection", "revocation", "metadata", "jwks"):
        if capability not in config.capabilities:
            lines.append(f"- SKIPPED: the checks that need `{capability}` (not declared)")
    lines.append(
        "- SKIPPED (need the control plane): impersonation where allowed, max_depth, "
        "exchange-policy validation, default scope, audit, and the random-chain "
        "properties, which create policies of their own"
    )
    return lines
