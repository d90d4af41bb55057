"""The service as an OAuth 2.0 client of credential providers (spec ``05``, "The service as
an OAuth client").

What the service sends to a provider's authorization server, and what it accepts back:

- **Authorization requests** (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 8707 §2.1): built by
  :func:`authorization_url` on the provider's ``authorization_endpoint``, keeping its query
  (RFC 6749 §3.1). Every session has its own PKCE verifier (:func:`new_code_verifier`: 32
  random octets, base64url, 43 characters; VLT-PKCE-001) sent as an S256 challenge
  (:func:`code_challenge`; VLT-PKCE-002, never ``plain``) and its own ``state``
  (:func:`new_state`: 256 random bits; VLT-STATE-001).
- **Token requests** (:meth:`OAuthClient.redeem_code` RFC 6749 §4.1.3 + RFC 7636 §4.5,
  :meth:`~OAuthClient.refresh` RFC 6749 §6, :meth:`~OAuthClient.client_credentials` §4.4.2,
  :meth:`~OAuthClient.token_exchange` RFC 8693 §2.1, :meth:`~OAuthClient.jwt_bearer`
  RFC 7523 §2.1 on-behalf-of), each with the provider's client authentication and nothing
  else (PRV-AUTH-001): ``client_secret_basic`` (both parts form-urlencoded first, RFC 6749
  §2.3.1 and Appendix B), ``client_secret_post`` or ``private_key_jwt`` (a fresh RFC 7523
  §3 assertion per request, PRV-AUTH-002). ``resource`` and ``audience`` are repeated
  parameters (RFC 8707 §2, RFC 8693 §2.1; VLT-RES-001).
- **Token responses** are validated (VLT-CLI-002, RFC 6749 §5.1/§5.2/§7.1) after the
  vendor's departures are normalised (:class:`ResponseRules`, PRV-VEND-004): status 200, a
  JSON object (or a form-encoded body where the vendor documents one), no ``error``
  member, a non-empty ``access_token``, a ``token_type`` of ``Bearer`` (or the vendor's),
  ``expires_in`` a non-negative integer (VLT-CLI-003). Granted scopes come from ``scope``
  when present (VLT-CLI-004). Unknown members are ignored. A refused or unusable answer
  raises :class:`ProviderRejected` / :class:`~proctor.reference.errors.UpstreamError`
  (502); the provider's ``error`` code is kept (``invalid_grant`` matters, VLT-REF-003),
  its body never is.
- **Revocation** (RFC 7009 §2, §2.2, §2.2.1): :meth:`OAuthClient.revoke` posts ``token`` and
  ``token_type_hint`` with the client authentication; 200 is success whatever the body,
  503 means "try again" (VLT-RVK-002), ``unsupported_token_type`` means "never again".

Back channel (VLT-CLI-001, RFC 9700 §2.6): ``https`` only (``http`` on loopback hosts in
insecure development mode), TLS verified by httpx, **no redirects** (a 3xx is a failure),
30 seconds at most per request. No secret, token, code or verifier is ever logged or put
into an error (VLT-LEAK-001).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit

import httpx
from joserfc import jwt

from proctor.reference.authorizer_config import check_url
from proctor.reference.clock import Clock
from proctor.reference.errors import UpstreamError
from proctor.reference.keys import SigningKey

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "JWT_BEARER",
    "TOKEN_EXCHANGE",
    "ClientAuthMethod",
    "ClientConfig",
    "OAuthClient",
    "ProviderRejected",
    "ResponseRules",
    "RevokeOutcome",
    "TokenSet",
    "authorization_url",
    "code_challenge",
    "margin",
    "new_code_verifier",
    "new_state",
    "oauth_error_code",
]

ClientAuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]
CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
JWT_BEARER: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
ID_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105

#: VLT-CLI-001: every back-channel request times out within 30 seconds.
TIMEOUT: Final = 30.0
#: PRV-AUTH-002: a client assertion lives at most 300 seconds; proctor uses 60.
ASSERTION_LIFETIME: Final = 60
_MAX_BODY: Final = 1024 * 1024
#: RFC 6749 §5.2: the characters of an ``error`` code.
_ERROR_CODE: Final = re.compile(r"[\x20\x21\x23-\x5B\x5D-\x7E]{1,128}")
_DIGITS: Final = re.compile(r"[0-9]{1,12}")


def new_code_verifier() -> str:
    """VLT-PKCE-001 (RFC 7636 §4.1, §7.1): 32 random octets, base64url without padding:
    43 unreserved characters carrying 256 bits."""
    return secrets.token_urlsafe(32)


def code_challenge(verifier: str) -> str:
    """VLT-PKCE-002 (RFC 7636 §4.2): ``BASE64URL(SHA256(ASCII(code_verifier)))``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_state() -> str:
    """VLT-STATE-001 (RFC 6749 §10.10): 256 random bits in unreserved characters,
    independent of every other value of the session."""
    return secrets.token_urlsafe(32)


def authorization_url(endpoint: str, params: Sequence[tuple[str, str]]) -> str:
    """VLT-SESS-003 (RFC 6749 §3.1): ``endpoint`` with ``params`` added to its query
    (an existing query component is kept)."""
    query = urlencode(list(params), quote_via=quote)
    separator = "&" if urlsplit(endpoint).query else ("" if endpoint.endswith("?") else "?")
    return endpoint + separator + query


def oauth_error_code(value: object) -> str | None:
    """The value if it is a valid RFC 6749 §5.2 ``error`` code, else ``None``."""
    if isinstance(value, str) and _ERROR_CODE.fullmatch(value):
        return value
    return None


def margin(expires_in: int | None) -> int:
    """VLT-CLI-003: the early-expiry margin, ``min(60, floor(expires_in / 2))``."""
    return 0 if expires_in is None else min(60, expires_in // 2)


@dataclass(frozen=True)
class ClientConfig:
    """How the service authenticates as a provider's client (PRV-AUTH-001/002)."""

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    auth_method: ClientAuthMethod = "client_secret_basic"
    #: PRV-AUTH-002: ``aud`` of client assertions (the issuer, or the token endpoint).
    assertion_audience: str | None = None

    def __post_init__(self) -> None:
        if self.auth_method != "private_key_jwt" and not self.client_secret:
            raise ValueError(f"{self.auth_method} needs a client secret")


@dataclass(frozen=True)
class ResponseRules:
    """PRV-VEND-004: a vendor's departures from RFC 6749 §5.1/§5.2 in token responses."""

    #: GitHub: a form-encoded body is a token response too.
    form_encoded: bool = False
    #: Delimiters of the granted ``scope`` (GitHub and Slack: commas).
    scope_delimiters: str = " "
    #: Slack: the user token is in ``authed_user``; ``"ok": false`` is an error.
    slack: bool = False
    #: Accepted ``token_type`` values, lowercase (RFC 6749 §7.1 types are case-insensitive).
    token_types: frozenset[str] = frozenset({"bearer"})


@dataclass(frozen=True)
class TokenSet:
    """A validated token response (never repr'd with its tokens)."""

    access_token: str = field(repr=False)
    token_type: str
    #: VLT-CLI-003: the request time by the service clock plus ``expires_in``, or ``None``.
    expires_at: int | None
    expires_in: int | None
    #: VLT-CLI-004: the granted scopes when the response had ``scope``, else ``None``.
    scopes: tuple[str, ...] | None
    refresh_token: str | None = field(default=None, repr=False)
    issued_token_type: str | None = None

    def usable(self, now: float) -> bool:
        """VLT-CLI-003: ``expires_at`` is null, or ``now < expires_at - margin``."""
        return self.expires_at is None or now < self.expires_at - margin(self.expires_in)


class ProviderRejected(UpstreamError):
    """The provider answered a token request with an OAuth error (RFC 6749 §5.2).
    ``error`` is its code when it was a valid one, else ``invalid_provider_response``."""

    def __init__(self, error: str) -> None:
        super().__init__(f"The provider refused the request ({error}).")
        self.error = error


class RevokeOutcome(enum.Enum):
    """RFC 7009 §2.2, §2.2.1, as VLT-RVK-002 acts on it."""

    REVOKED = "ok"
    RETRY = "temporarily_unavailable"  # 503: the token must be assumed to exist
    UNSUPPORTED = "unsupported_token_type"  # never retry this token
    FAILED = "upstream_error"


#: Returns the service's current signing key (for ``private_key_jwt``).
KeySource = Callable[[], SigningKey]


class OAuthClient:
    """Back-channel requests to providers over one injected :class:`httpx.Client`."""

    def __init__(
        self,
        http: httpx.Client,
        clock: Clock,
        *,
        allow_loopback_http: bool = False,
        signing_key: KeySource | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        if not 0 < timeout <= TIMEOUT:
            raise ValueError("back-channel requests time out within 30 seconds (VLT-CLI-001)")
        self._http = http
        self._clock = clock
        self._allow_loopback_http = allow_loopback_http
        self._signing_key = signing_key
        self._timeout = timeout

    @property
    def allow_loopback_http(self) -> bool:
        return self._allow_loopback_http

    # -- transport ----------------------------------------------------------------

    def _check(self, url: str) -> None:
        try:
            check_url(
                url,
                "a provider endpoint",
                allow_loopback_http=self._allow_loopback_http,
                query=True,
            )
        except ValueError as exc:
            raise UpstreamError("A provider endpoint is not usable.", detail=str(exc)) from exc

    def _send(self, request: httpx.Request) -> httpx.Response:
        self._check(str(request.url))
        try:
            response = self._http.send(request, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise UpstreamError(
                "The provider could not be reached.", detail=type(exc).__name__
            ) from exc
        if response.is_redirect or 300 <= response.status_code < 400:
            raise UpstreamError(
                "The provider answered with a redirect.",
                detail=f"status {response.status_code}",
            )
        if len(response.content) > _MAX_BODY:
            raise UpstreamError("The provider's answer is too large.")
        return response

    def fetch_metadata(self, url: str) -> dict[str, Any]:
        """RFC 8414 §3 / OIDC Discovery §4: the JSON object at ``url`` (no redirects)."""
        request = self._http.build_request(
            "GET", url, headers={"Accept": "application/json"}, timeout=self._timeout
        )
        response = self._send(request)
        if response.status_code != 200:
            raise UpstreamError(
                "The provider's metadata could not be fetched.",
                detail=f"status {response.status_code}",
            )
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise UpstreamError("The provider's metadata is not JSON.") from exc
        if not isinstance(body, dict):
            raise UpstreamError("The provider's metadata is not a JSON object.")
        return body

    # -- client authentication (PRV-AUTH-001/002) ----------------------------------

    def _authenticate(
        self, client: ClientConfig, form: list[tuple[str, str]], headers: dict[str, str]
    ) -> None:
        if client.auth_method == "client_secret_basic":
            assert client.client_secret is not None  # checked by ClientConfig
            user = quote_plus(client.client_id, safe="")
            password = quote_plus(client.client_secret, safe="")
            raw = f"{user}:{password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        elif client.auth_method == "client_secret_post":
            assert client.client_secret is not None
            form += [("client_id", client.client_id), ("client_secret", client.client_secret)]
        else:
            form += [
                ("client_id", client.client_id),
                ("client_assertion_type", CLIENT_ASSERTION_TYPE),
                ("client_assertion", self._assertion(client)),
            ]

    def _assertion(self, client: ClientConfig) -> str:
        """PRV-AUTH-002 (RFC 7523 §3): ``iss`` = ``sub`` = client_id, a single-string
        ``aud``, a fresh ``jti`` (128 random bits), ``iat`` now, ``exp`` 60 s later."""
        if self._signing_key is None or not client.assertion_audience:
            raise UpstreamError(
                "The service cannot sign client assertions for this provider.",
                detail="no signing key or assertion audience configured",
            )
        key = self._signing_key()
        now = int(self._clock.now())
        claims = {
            "iss": client.client_id,
            "sub": client.client_id,
            "aud": client.assertion_audience,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        header = {"alg": key.alg, "kid": key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, key.jwk, algorithms=[key.alg])

    # -- token requests -------------------------------------------------------------

    def _token_request(
        self,
        endpoint: str,
        client: ClientConfig,
        params: list[tuple[str, str]],
        rules: ResponseRules,
    ) -> TokenSet:
        form = list(params)
        # PRV-VEND-004: GitHub answers form-encoded unless asked for JSON; asking every
        # provider for JSON costs nothing.
        headers = {"Accept": "application/json"}
        self._authenticate(client, form, headers)
        sent_at = int(self._clock.now())
        request = self._http.build_request(
            "POST",
            endpoint,
            content=urlencode(form).encode("ascii"),
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
            timeout=self._timeout,
        )
        response = self._send(request)
        return parse_token_response(response, rules, sent_at)

    def redeem_code(
        self,
        endpoint: str,
        client: ClientConfig,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str,
        resources: Sequence[str] = (),
        rules: ResponseRules = ResponseRules(),
    ) -> TokenSet:
        """VLT-CB-004 (RFC 6749 §4.1.3, RFC 7636 §4.5, RFC 8707 §2.2)."""
        params = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
            *(("resource", r) for r in resources),
        ]
        return self._token_request(endpoint, client, params, rules)

    def refresh(
        self,
        endpoint: str,
        client: ClientConfig,
        *,
        refresh_token: str,
        resources: Sequence[str] = (),
        rules: ResponseRules = ResponseRules(),
    ) -> TokenSet:
        """VLT-REF-001 (RFC 6749 §6): no ``scope``, so the original grant is kept."""
        params = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            *(("resource", r) for r in resources),
        ]
        return self._token_request(endpoint, client, params, rules)

    def client_credentials(
        self,
        endpoint: str,
        client: ClientConfig,
        *,
        scopes: Sequence[str],
        resources: Sequence[str] = (),
        audiences: Sequence[str] = (),
        rules: ResponseRules = ResponseRules(),
    ) -> TokenSet:
        """VLT-M2M-001 (RFC 6749 §4.4.2, RFC 8707 §2.2)."""
        params = [("grant_type", "client_credentials")]
        if scopes:
            params.append(("scope", " ".join(scopes)))
        params += [("resource", r) for r in resources]
        params += [("audience", a) for a in audiences]
        return self._token_request(endpoint, client, params, rules)

    def token_exchange(
        self,
        endpoint: str,
        client: ClientConfig,
        *,
        subject_token: str,
        subject_is_id_token: bool,
        scopes: Sequence[str],
        audiences: Sequence[str] = (),
        resources: Sequence[str] = (),
        rules: ResponseRules = ResponseRules(),
    ) -> TokenSet:
        """VLT-OBO-002 (RFC 8693 §2.1, §2.2.1): a response without ``issued_token_type``
        or with a ``token_type`` other than Bearer is refused."""
        params = [
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", subject_token),
            ("subject_token_type", ID_TOKEN_TYPE if subject_is_id_token else ACCESS_TOKEN_TYPE),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
            *(("audience", a) for a in audiences),
            *(("resource", r) for r in resources),
        ]
        if scopes:
            params.append(("scope", " ".join(scopes)))
        tokens = self._token_request(endpoint, client, params, rules)
        if not tokens.issued_token_type or tokens.token_type.lower() != "bearer":
            raise UpstreamError(
                "The provider's token exchange answer is not usable.",
                detail="missing issued_token_type or non-Bearer token_type",
            )
        return tokens

    def jwt_bearer(
        self,
        endpoint: str,
        client: ClientConfig,
        *,
        assertion: str,
        scopes: Sequence[str],
        rules: ResponseRules = ResponseRules(),
    ) -> TokenSet:
        """VLT-OBO-003 (RFC 7523 §2.1; Microsoft identity platform on-behalf-of flow)."""
        params = [
            ("grant_type", JWT_BEARER),
            ("assertion", assertion),
            ("requested_token_use", "on_behalf_of"),
        ]
        if scopes:
            params.append(("scope", " ".join(scopes)))
        return self._token_request(endpoint, client, params, rules)

    # -- revocation (RFC 7009) --------------------------------------------------------

    def revoke(
        self,
        endpoint: str,
        client: ClientConfig,
        *,
        token: str,
        token_type_hint: Literal["access_token", "refresh_token"],
    ) -> RevokeOutcome:
        """VLT-RVK-001/002: one RFC 7009 §2.1 request; never raises."""
        form = [("token", token), ("token_type_hint", token_type_hint)]
        headers: dict[str, str] = {"Accept": "application/json"}
        try:
            self._authenticate(client, form, headers)
            request = self._http.build_request(
                "POST",
                endpoint,
                content=urlencode(form).encode("ascii"),
                headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
                timeout=self._timeout,
            )
            response = self._send(request)
        except UpstreamError:
            return RevokeOutcome.FAILED
        if response.status_code == 200:
            return RevokeOutcome.REVOKED  # RFC 7009 §2.2: the body is ignored
        if response.status_code == 503:
            return RevokeOutcome.RETRY
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict) and body.get("error") == "unsupported_token_type":
            return RevokeOutcome.UNSUPPORTED
        return RevokeOutcome.FAILED


# -- token responses (VLT-CLI-002/003/004, PRV-VEND-004) ---------------------------------


def _body(response: httpx.Response, rules: ResponseRules) -> dict[str, Any] | None:
    text = response.text
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # a hostile provider must not cause a 5xx
        value = None
    if isinstance(value, dict):
        return value
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if rules.form_encoded and (media == "application/x-www-form-urlencoded" or value is None):
        try:
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            return None
        return dict(pairs)
    return None


def _expires_in(value: object) -> int | None:
    """VLT-CLI-003: a non-negative integer, as a JSON number or a string of digits."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise UpstreamError("The provider's token response is not usable.", detail="expires_in")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    raise UpstreamError("The provider's token response is not usable.", detail="expires_in")


def parse_token_response(response: httpx.Response, rules: ResponseRules, sent_at: int) -> TokenSet:
    """VLT-CLI-002: the token set of a successful response, else an error (the provider's
    body is never reproduced)."""
    body = _body(response, rules)
    if body is not None and rules.slack and body.get("ok") is False:
        raise ProviderRejected(oauth_error_code(body.get("error")) or "invalid_provider_response")
    if body is not None and "error" in body:
        raise ProviderRejected(oauth_error_code(body.get("error")) or "invalid_provider_response")
    if response.status_code != 200 or body is None:
        raise UpstreamError(
            "The provider's token response is not usable.",
            detail=f"status {response.status_code}",
        )
    if rules.slack:
        user = body.get("authed_user")
        if not isinstance(user, Mapping):
            raise UpstreamError("The provider's token response is not usable.", detail="slack")
        body = dict(user)
    access_token = body.get("access_token")
    token_type = body.get("token_type")
    if not isinstance(access_token, str) or not access_token:
        raise UpstreamError("The provider's token response is not usable.", detail="access_token")
    if not isinstance(token_type, str) or token_type.lower() not in rules.token_types:
        raise UpstreamError("The provider's token response is not usable.", detail="token_type")
    expires_in = _expires_in(body.get("expires_in"))
    scope = body.get("scope")
    scopes: tuple[str, ...] | None = None
    if isinstance(scope, str):
        pattern = "[" + re.escape(rules.scope_delimiters) + "]+"
        scopes = tuple(dict.fromkeys(s for s in re.split(pattern, scope) if s))
    elif scope is not None:
        raise UpstreamError("The provider's token response is not usable.", detail="scope")
    refresh_token = body.get("refresh_token")
    if refresh_token is not None and (not isinstance(refresh_token, str) or not refresh_token):
        raise UpstreamError("The provider's token response is not usable.", detail="refresh")
    issued = body.get("issued_token_type")
    return TokenSet(
        access_token=access_token,
        token_type=token_type,
        expires_at=None if expires_in is None else sent_at + expires_in,
        expires_in=expires_in,
        scopes=scopes,
        refresh_token=refresh_token,
        issued_token_type=issued if isinstance(issued, str) else None,
    )
