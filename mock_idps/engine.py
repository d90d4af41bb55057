"""The emulator engine: a strict OAuth 2.0 / OpenID Connect authorization server core that
any vendor profile dresses up as Okta, Entra ID, Cognito or a third-party provider.

The engine is framework-free: :meth:`Engine.handle` takes a
:class:`~proctor.mock_idps.messages.Request` and returns a
:class:`~proctor.mock_idps.messages.Response`; :mod:`proctor.mock_idps.app` is the thin
Starlette layer that adds the admin API (``/_mock/...``), faults and the request log.

What the engine enforces, for every vendor
------------------------------------------
- Authorization endpoint (RFC 6749 §4.1.1-4.1.2, OIDC Core §3.1.2): unknown
  ``client_id`` or a ``redirect_uri`` that is not *exactly* registered gives an error
  page, never a redirect; every other error redirects with ``error``,
  ``error_description`` and ``state``. ``response_type=code`` only. PKCE per RFC 7636
  with the profile's methods (``S256`` only for Okta); public clients must use PKCE.
  ``prompt=none|login|consent``. A real HTML sign-in page and consent screen, or a
  headless user that is approved at once (``IdpConfig.headless_user``).
- Token endpoint (RFC 6749 §3.2, §5): form-encoded bodies only, no repeated
  parameters, client authentication by ``client_secret_basic`` or ``client_secret_post``
  (one method per request), public clients by ``client_id``. Grants in
  :mod:`proctor.mock_idps.grants`: authorization_code (single use; a failed attempt burns
  the code; replay revokes the family), refresh_token (rotation, reuse revokes the
  family), client_credentials, device_code (RFC 8628), token exchange (RFC 8693).
- UserInfo (OIDC Core §5.3), introspection (RFC 7662), revocation (RFC 7009), RP-initiated
  logout, device authorization (RFC 8628 §3.1-3.3), discovery (RFC 8414, OIDC Discovery)
  and JWKS (RFC 7517), each only where the server's ``paths`` has it.
- Bad input anywhere is a 4xx in the vendor's error shape, never a 5xx.

The vendor-profile interface
----------------------------
A vendor is a subclass of :class:`~proctor.mock_idps.profile.VendorProfile` in its own
module (``okta.py``, ``entra.py``, ``cognito.py``; the third-party providers'
``providers.py``, ``google.py``, ``github.py``), exposing ``PROFILE = MyProfile()`` and listed in
:data:`proctor.mock_idps.vendors.VENDORS`. That is all the CLI (``proctor idp <vendor>``),
:func:`~proctor.mock_idps.app.create_app` and the pytest plugin (``<vendor>_idp``
fixtures) need. A profile declares:

*Identity and pages* (class attributes)
    ``name``, ``title``, ``default_host`` (the real-looking host used in-process and by
    ``--vendor-hosts``), ``default_port``, ``defaults_file`` (the default configuration),
    ``session_cookie``, ``login_path`` (hosted sign-in page), ``device_verification_path``
    (or ``None``), ``pkce_methods``, ``token_type``.

*Issuers and endpoints*
    ``servers(config, base) -> list[AuthServer]``: one
    :class:`~proctor.mock_idps.profile.AuthServer` per issuer, each with its exact
    ``issuer``, the ``paths`` of the endpoints it has (absent = the vendor lacks it, the
    engine answers 404), its ``grant_types``, ``scopes``, ``audience``, key purposes
    (``key_purposes`` maps purpose to *published?*, so Okta's org server signs access
    tokens with an unpublished key and Cognito uses separate ID/access keys), an optional
    shared ``keyring_id`` (Entra's tenants share one key set) and free-form ``settings``.
    ``primary_server(servers)`` names the one the admin API and fixtures use by default;
    ``hosts(config, base)`` the host names in all those URLs (``--vendor-hosts``).
    ``keyring(server, key_factory)`` makes a new server's keys.

*Claim shaping* (plain functions of a :class:`~proctor.mock_idps.profile.TokenContext`)
    ``access_token(ctx) -> JwtSpec`` and ``id_token(ctx) -> JwtSpec`` return the claims,
    the extra header members (``typ``, ``x5t``, ``nonce``) and the key purpose;
    ``token_response(ctx, tokens)`` the token endpoint body from the
    :class:`~proctor.mock_idps.profile.IssuedTokens` (Entra's ``ext_expires_in``);
    ``userinfo(...)``, ``introspection(...)``, ``discovery(server, endpoint)``;
    ``user_id(user)`` the vendor-shaped user ID; ``refresh_token_value()``.

*Requests*
    ``grant_scopes(server, client, params, grant_type=)`` decides the granted
    scopes (Entra's ``resource=`` and ``/.default``, Okta's default scopes);
    ``demo_scopes(server, client)`` those of a typical sign-in (``MockIdp.tokens()``);
    ``check_grant_client(client, grant_type)`` refuses clients the vendor never admits;
    ``audience(server, scopes, params)``; ``grants()`` adds or replaces grant handlers
    (Entra's jwt-bearer on-behalf-of), each a :class:`~proctor.mock_idps.grants.Grant`;
    ``handlers()`` replaces the engine's handler of an endpoint (Cognito's ``/logout`` and
    ``/oauth2/revoke``). An ``AuthServer``'s ``endpoint_bases`` puts some endpoints on
    another host (Cognito's pool domain).

*Providers* (third-party OAuth servers for tools)
    ``refresh_allowed(ctx)`` (OIDC: ``offline_access``); an opaque access token is a
    :class:`~proctor.mock_idps.profile.JwtSpec` with ``opaque`` set (recorded, not signed);
    ``finish_response(req, endpoint, response)`` re-encodes a response (GitHub's form-encoded
    token responses); ``routes(engine)`` adds ASGI routes beside the vendor paths (a
    resource API). See :mod:`proctor.mock_idps.providers`.

*Errors and lifetimes*
    ``error_descriptions`` maps an error's ``reason`` key to the vendor's wording;
    ``error_response(error, server, endpoint)`` renders the body (Okta's
    ``{"error","error_description"}``, Entra's AADSTS body, Cognito's bare ``error``);
    ``not_found(path)``; ``lifetimes(server) -> Lifetimes`` (called per token, so Entra can
    randomise 60-90 minutes); ``jwks_headers(server, ring)`` and
    ``discovery_headers(server)`` (``Cache-Control`` as the vendor sends it).

Time comes from the injected :class:`~proctor.mock_idps.clock.Clock`; nothing sleeps.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any, cast
from urllib.parse import unquote_plus, urlencode

from proctor.mock_idps import pages, pkce
from proctor.mock_idps.clock import Clock
from proctor.mock_idps.config import DEVICE_CODE, Client, IdpConfig, User
from proctor.mock_idps.errors import (
    AccessDenied,
    ConsentRequired,
    InsufficientScope,
    InvalidClient,
    InvalidRequest,
    InvalidToken,
    LoginRequired,
    MethodNotAllowed,
    NotFound,
    OAuthError,
    ServerError,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UnsupportedTokenType,
)
from proctor.mock_idps.faults import FaultTable
from proctor.mock_idps.grants import STANDARD_GRANTS, Grant
from proctor.mock_idps.keys import KeyRing, generate_key
from proctor.mock_idps.messages import Params, Request, Response, add_query
from proctor.mock_idps.profile import (
    AuthServer,
    Endpoint,
    IssuedTokens,
    JwtSpec,
    KeyFactory,
    TokenContext,
    VendorProfile,
)
from proctor.mock_idps.request_log import RequestLog
from proctor.mock_idps.state import (
    AuthorizationCode,
    AuthorizationRequest,
    DeviceGrant,
    Family,
    IssuedToken,
    RefreshToken,
    Session,
    State,
    Transaction,
    token_hash,
)

__all__ = ["Engine", "Route"]

_METHODS: Mapping[str, frozenset[str]] = {
    "openid_configuration": frozenset({"GET", "HEAD"}),
    "oauth_authorization_server": frozenset({"GET", "HEAD"}),
    "jwks": frozenset({"GET", "HEAD"}),
    "authorize": frozenset({"GET", "POST"}),
    "token": frozenset({"POST"}),
    "userinfo": frozenset({"GET", "POST"}),
    "introspect": frozenset({"POST"}),
    "revoke": frozenset({"POST"}),
    "logout": frozenset({"GET", "POST"}),
    "device_authorization": frozenset({"POST"}),
    "login": frozenset({"GET", "POST"}),
    "device_verification": frozenset({"GET", "POST"}),
}
_PROMPTS = frozenset({"none", "login", "consent", "select_account"})
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 §6.1: no vowels


def _default_key_factory(alg: str, slot: str) -> Any:
    return generate_key("ES256" if alg == "ES256" else "RS256")


@dataclass(frozen=True)
class Route:
    """Where a path leads: an endpoint kind and, for per-issuer endpoints, the server."""

    kind: str
    server: AuthServer | None


class Engine:
    """One emulated IdP: a vendor profile, its configuration, keys, clock and state."""

    def __init__(
        self,
        profile: VendorProfile,
        config: IdpConfig | None = None,
        *,
        clock: Clock | None = None,
        base_url: str | None = None,
        key_factory: KeyFactory | None = None,
    ) -> None:
        self.profile = profile
        self.clock = clock or Clock()
        self.base_url = (base_url or f"https://{profile.default_host}").rstrip("/")
        """The issuer base: scheme and host of every issuer and endpoint URL."""
        self.state = State()
        self.faults = FaultTable()
        self.requests = RequestLog()
        self._key_factory = key_factory or _default_key_factory
        self._lock = threading.RLock()
        self._keyrings: dict[str, KeyRing] = {}
        self._last_purge = float("-inf")
        self._grants: dict[str, Grant] = {**STANDARD_GRANTS, **profile.grants()}
        self._handlers = dict(profile.handlers())
        self.config = IdpConfig()
        self.servers: dict[str, AuthServer] = {}
        self.primary = ""
        self._routes: dict[str, Route] = {}
        self.configure(config if config is not None else profile.default_config())

    # -- configuration -------------------------------------------------------------------
    def configure(self, config: IdpConfig) -> None:
        """Serve ``config`` from now on; keys of servers that remain are kept."""
        self.profile.validate_config(config)
        servers = self.profile.servers(config, self.base_url)
        if not servers:
            raise ValueError("a vendor profile must serve at least one authorization server")
        with self._lock:
            for server in servers:
                ring_id = self._ring_id(server)
                if ring_id not in self._keyrings:
                    self._keyrings[ring_id] = self.profile.keyring(server, self._key_factory)
            self.config = config
            self.servers = {s.id: s for s in servers}
            self.primary = self.profile.primary_server(servers)
            routes: dict[str, Route] = {}
            for server in servers:
                for kind, path in server.paths.items():
                    routes[path] = Route(kind, server)
            routes[self.profile.login_path] = Route("login", None)
            if self.profile.device_verification_path is not None:
                routes[self.profile.device_verification_path] = Route("device_verification", None)
            self._routes = routes

    @staticmethod
    def _ring_id(server: AuthServer) -> str:
        return server.keyring_id or server.id

    def server(self, server_id: str | None = None) -> AuthServer:
        """A server by id (the primary one by default); ``KeyError`` if unknown."""
        return self.servers[server_id or self.primary]

    def keyring(self, server_id: str | None = None) -> KeyRing:
        return self._keyrings[self._ring_id(self.server(server_id))]

    def user(self, name: str) -> User | None:
        """A user by username, vendor ID or email address."""
        found = self.config.user(name)
        if found is not None:
            return found
        return next((u for u in self.config.users if self.profile.user_id(u) == name), None)

    def user_id(self, user: User) -> str:
        return self.profile.user_id(user)

    def client(self, client_id: str) -> Client | None:
        return self.config.client(client_id)

    def reset(self) -> None:
        """Forget codes, sessions, consents, tokens, faults and the request log."""
        self.state.clear()
        self.faults.clear()
        self.requests.clear()

    # -- dispatch --------------------------------------------------------------------------
    def route(self, path: str) -> Route | None:
        return self._routes.get(path)

    def handle(self, req: Request) -> Response:
        """Answer one request to a vendor path (never raises :class:`OAuthError`)."""
        now = self.clock.now()
        if now - self._last_purge >= 60:
            self.state.purge(now)
            self._last_purge = now
        route = self.route(req.path)
        if route is None:
            return self.profile.not_found(req.path)
        server = route.server
        try:
            if req.method not in _METHODS[route.kind]:
                raise MethodNotAllowed(
                    f"The {req.method} method is not allowed here.", reason="method_not_allowed"
                )
            response = self._dispatch(route, req)
        except OAuthError as error:
            response = self.profile.error_response(error, server, route.kind)
            if isinstance(error, MethodNotAllowed):
                response.headers.append(("allow", ", ".join(sorted(_METHODS[route.kind]))))
        return self.profile.finish_response(req, route.kind, response)

    def fault_response(self, status: int, route: Route | None) -> Response:
        """The vendor-shaped error body an injected fault answers with."""
        if status >= 500:
            error: OAuthError = ServerError("The server encountered an error.", reason="fault")
        else:
            error = InvalidRequest("The request was rejected.", reason="fault")
        kind = route.kind if route else None
        response = self.profile.error_response(error, route.server if route else None, kind)
        response.status = status
        return response

    def _dispatch(self, route: Route, req: Request) -> Response:
        kind, server = route.kind, route.server
        if kind == "login":
            return self._login(req)
        if kind == "device_verification":
            return self._device_page(req)
        if server is None:  # every per-issuer route has a server
            raise NotFound("Not found.", reason="not_found")
        override = self._handlers.get(cast(Endpoint, kind))
        if override is not None:
            return override(self, server, req)
        handlers = {
            "openid_configuration": self._discovery,
            "oauth_authorization_server": self._discovery,
            "jwks": self._jwks,
            "authorize": self._authorize,
            "token": self._token,
            "userinfo": self._userinfo,
            "introspect": self._introspect,
            "revoke": self._revoke,
            "logout": self._logout,
            "device_authorization": self._device_authorization,
        }
        return handlers[kind](server, req, cast(Endpoint, kind))

    # -- metadata ----------------------------------------------------------------------------
    def _discovery(self, server: AuthServer, req: Request, kind: Endpoint) -> Response:
        doc = self.profile.discovery(server, kind)
        return Response.json(doc, headers=self.profile.discovery_headers(server))

    def _jwks(self, server: AuthServer, req: Request, kind: Endpoint) -> Response:
        ring = self._keyrings[self._ring_id(server)]
        published = {p for p, pub in server.key_purposes.items() if pub}
        keys = [
            k.public_jwk()
            for k in ring.keys()  # noqa: SIM118
            if k.published and k.purpose in published
        ]
        return Response.json({"keys": keys}, headers=self.profile.jwks_headers(server, ring))

    # -- authorization endpoint ------------------------------------------------------------
    def _authorize(self, server: AuthServer, req: Request, kind: Endpoint) -> Response:
        try:
            params = req.params()
            client_id = params.get("client_id")
            redirect_uri = params.get("redirect_uri")
        except InvalidRequest as error:
            return self._error_page(error)
        client = self.client(client_id) if client_id else None
        if client is None:
            return self._error_page(
                InvalidClient(
                    "The 'client_id' parameter is missing or invalid.",
                    reason="authorize_client_invalid",
                )
            )
        if redirect_uri is None or redirect_uri not in client.redirect_uris:
            return self._error_page(
                InvalidRequest(
                    "The 'redirect_uri' parameter must be a registered redirect URI.",
                    reason="redirect_uri_invalid",
                    params={"client_id": client.client_id, "redirect_uri": redirect_uri or ""},
                )
            )
        states = [v for k, v in params.pairs if k == "state" and v != ""]
        state = states[0] if states else None
        try:
            request = self._authorization_request(server, client, redirect_uri, params)
            return self._start(server, client, request, req)
        except OAuthError as error:
            return self._redirect_error(redirect_uri, error, state)

    def _authorization_request(
        self, server: AuthServer, client: Client, redirect_uri: str, params: Params
    ) -> AuthorizationRequest:
        state = params.get("state")
        response_type = params.require("response_type")
        if response_type != "code":
            raise UnsupportedResponseType(
                "The response type is not supported by the authorization server.",
                reason="response_type_unsupported",
            )
        response_mode = params.get("response_mode")
        if response_mode not in (None, "query"):
            raise InvalidRequest(
                "The 'response_mode' is not supported.", reason="response_mode_unsupported"
            )
        for unsupported in ("request", "request_uri"):
            if params.get(unsupported) is not None:
                raise InvalidRequest(
                    f"The '{unsupported}' parameter is not supported.",
                    reason=f"{unsupported}_unsupported",
                )
        if "authorization_code" not in server.grant_types:
            raise UnsupportedResponseType(
                "The response type is not supported by the authorization server.",
                reason="response_type_unsupported",
            )
        if "authorization_code" not in client.grant_types:
            raise UnauthorizedClient(
                "The client is not authorized to use the authorization code grant.",
                reason="client_grant_not_allowed",
                params={"grant_types": ", ".join(client.grant_types)},
            )
        self.check_policy(server, client)
        scopes = self.requested_scopes(server, client, params, "authorization_code")
        challenge, method = pkce.check_challenge(
            params.get("code_challenge"),
            params.get("code_challenge_method"),
            required=client.public or client.require_pkce,
            methods=self.profile.pkce_methods,
        )
        prompt = frozenset((params.get("prompt") or "").split())
        if not prompt <= _PROMPTS or ("none" in prompt and len(prompt) > 1):
            raise InvalidRequest("The 'prompt' parameter is invalid.", reason="prompt_invalid")
        return AuthorizationRequest(
            server_id=server.id,
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=state,
            nonce=params.get("nonce"),
            code_challenge=challenge,
            code_challenge_method=method,
            prompt=prompt,
            params=params.pairs,
        )

    def check_policy(self, server: AuthServer, client: Client) -> None:
        """The server's access policy: ``Api.clients`` lists who may get its tokens."""
        api = server.api
        if api is not None and api.clients is not None and client.client_id not in api.clients:
            raise AccessDenied("The access policy denies this client.", reason="policy_denied")

    def requested_scopes(
        self, server: AuthServer, client: Client, params: Params, grant_type: str
    ) -> tuple[str, ...]:
        """The scopes a request may have (RFC 6749 §3.3): the vendor's scope rules for
        ``params``'s ``scope``, then the client's allow-list."""
        scopes = self.profile.grant_scopes(server, client, params, grant_type=grant_type)
        self.check_client_scopes(client, scopes)
        return scopes

    def check_client_scopes(self, client: Client, scopes: tuple[str, ...]) -> None:
        if client.scopes is not None and not set(scopes) <= set(client.scopes):
            raise AccessDenied("The access policy denies these scopes.", reason="policy_denied")

    def _start(
        self, server: AuthServer, client: Client, request: AuthorizationRequest, req: Request
    ) -> Response:
        now = self.clock()
        txn = Transaction(
            id=State.new_id(),
            kind="authorize",
            server_id=server.id,
            client_id=client.client_id,
            scopes=request.scopes,
            expires_at=self.clock.now() + self.profile.lifetimes(server).transaction,
            request=request,
        )
        headless = self.config.headless_user
        session = self._session(req)
        if headless is not None:
            txn.username, txn.auth_time, txn.consented = headless, now, True
        elif session is not None and "login" not in request.prompt:
            txn.username, txn.auth_time = session.username, session.auth_time
        if "none" in request.prompt:
            if txn.username is None:
                raise LoginRequired(
                    "The user is not signed in and prompt=none was requested.",
                    reason="login_required",
                )
            user = self.user(txn.username)
            if user is None or not self._assigned(client, user):
                raise AccessDenied(
                    "The user is not assigned to the client application.",
                    reason="user_not_assigned",
                )
            if self._needs_consent(txn, client):
                raise ConsentRequired(
                    "Consent is required and prompt=none was requested.",
                    reason="consent_required",
                )
            return self._finish(txn)
        with self.state.locked() as st:
            st.transactions[txn.id] = txn
        if txn.username is None:
            return Response.redirect(self._login_url(txn))
        return self._advance(txn)

    def _login_url(self, txn: Transaction) -> str:
        return f"{self.profile.login_path}?{urlencode({'transaction': txn.id})}"

    # -- hosted pages ----------------------------------------------------------------------
    def _login(self, req: Request) -> Response:
        try:
            params = req.params()
            txn_id = params.get("transaction")
        except InvalidRequest as error:
            return self._error_page(error)
        with self.state.locked() as st:
            txn = st.transactions.get(txn_id or "")
        if txn is None or txn.expires_at <= self.clock.now():
            return self._error_page(
                InvalidRequest(
                    "The sign-in transaction is unknown or has expired.",
                    reason="transaction_invalid",
                )
            )
        brand, action = self.profile.title, self.profile.login_path
        if req.method == "GET":
            if txn.username is None:
                return Response.html(pages.login_page(brand, action, txn.id))
            return self._advance(txn)
        step = params.get("step")
        if step == "login":
            username = params.get("username") or ""
            password = params.get("password") or ""
            user = self.user(username)
            if user is None or not hmac.compare_digest(password.encode(), user.password.encode()):
                page = pages.login_page(
                    brand, action, txn.id, error="Unable to sign in", username=username
                )
                return Response.html(page, 401)
            now = self.clock()
            session = Session(State.new_id(), user.username, now)
            with self.state.locked() as st:
                st.sessions[session.id] = session
            txn.username, txn.auth_time = user.username, now
            response = self._advance(txn)
            response.set_cookie(
                self.profile.session_cookie, session.id, secure=self.base_url.startswith("https:")
            )
            return response
        if step == "consent" and txn.username is not None:
            decision = params.get("decision")
            if decision == "allow":
                with self.state.locked() as st:
                    key = (txn.username, txn.client_id, txn.server_id)
                    st.consents.setdefault(key, set()).update(txn.scopes)
                txn.consented = True
                return self._advance(txn)
            if decision == "deny":
                return self._finish_error(
                    txn, AccessDenied("The user denied consent.", reason="consent_denied")
                )
        return self._error_page(
            InvalidRequest("The form submission is invalid.", reason="form_invalid")
        )

    def _advance(self, txn: Transaction) -> Response:
        """The next step for a signed-in transaction: consent page, or done."""
        client = self.client(txn.client_id)
        user = self.user(txn.username or "")
        if client is None or user is None:
            return self._finish_error(
                txn, AccessDenied("The client or user no longer exists.", reason="gone")
            )
        if not self._assigned(client, user):
            return self._finish_error(
                txn,
                AccessDenied(
                    "The user is not assigned to the client application.",
                    reason="user_not_assigned",
                ),
            )
        if self._needs_consent(txn, client):
            page = pages.consent_page(
                self.profile.title,
                self.profile.login_path,
                txn.id,
                client.name or client.client_id,
                txn.scopes,
            )
            return Response.html(page)
        return self._finish(txn)

    @staticmethod
    def _assigned(client: Client, user: User) -> bool:
        return client.assigned_users is None or user.username in client.assigned_users

    def _needs_consent(self, txn: Transaction, client: Client) -> bool:
        if not client.consent or txn.consented:
            return False
        if txn.request is not None and "consent" in txn.request.prompt:
            return True
        with self.state.locked() as st:
            granted = st.consents.get((txn.username or "", txn.client_id, txn.server_id), set())
        return not set(txn.scopes) <= granted

    def _finish(self, txn: Transaction) -> Response:
        with self.state.locked() as st:
            st.transactions.pop(txn.id, None)
        username, auth_time = txn.username or "", txn.auth_time or self.clock()
        if txn.kind == "device":
            with self.state.locked() as st:
                grant = st.devices.get(txn.device_code or "")
                if grant is not None and grant.status == "pending":
                    grant.status, grant.username, grant.auth_time = "approved", username, auth_time
            return Response.html(
                pages.message_page(
                    self.profile.title, "Device activated", "You can return to your device."
                )
            )
        request = txn.request
        if request is None:  # an authorize transaction always has its request
            raise InvalidRequest("The transaction is invalid.", reason="transaction_invalid")
        server = self.servers.get(request.server_id)
        if server is None:  # reconfigured away while the user was signing in
            return self._finish_error(
                txn, AccessDenied("The authorization server no longer exists.", reason="gone")
            )
        code = AuthorizationCode(
            code=State.new_id(),
            request=request,
            username=username,
            auth_time=auth_time,
            expires_at=self.clock.now() + self.profile.lifetimes(server).code,
        )
        with self.state.locked() as st:
            st.codes[code.code] = code
        return Response.redirect(
            add_query(request.redirect_uri, {"code": code.code, "state": request.state})
        )

    def _finish_error(self, txn: Transaction, error: OAuthError) -> Response:
        with self.state.locked() as st:
            st.transactions.pop(txn.id, None)
            if txn.kind == "device":
                grant = st.devices.get(txn.device_code or "")
                if grant is not None and grant.status == "pending":
                    grant.status = "denied"
        if txn.kind == "device" or txn.request is None:
            return self._error_page(error, 403)
        return self._redirect_error(txn.request.redirect_uri, error, txn.request.state)

    def _redirect_error(self, redirect_uri: str, error: OAuthError, state: str | None) -> Response:
        """RFC 6749 §4.1.2.1: errors go back to the client in the redirect's query."""
        return Response.redirect(
            add_query(
                redirect_uri,
                {
                    "error": error.error,
                    "error_description": self.profile.describe(error),
                    "state": state,
                },
            )
        )

    def _error_page(self, error: OAuthError, status: int = 400) -> Response:
        page = pages.error_page(self.profile.title, error.error, self.profile.describe(error))
        return Response.html(page, status)

    def _session(self, req: Request) -> Session | None:
        sid = req.cookies.get(self.profile.session_cookie)
        if not sid:
            return None
        with self.state.locked() as st:
            session = st.sessions.get(sid)
        if session is None or self.user(session.username) is None:
            return None
        return session

    # -- token endpoint --------------------------------------------------------------------
    def authenticate_client(self, req: Request, params: Params) -> Client:
        """RFC 6749 §2.3.1: Basic or body credentials (never both), or a public client's
        ``client_id`` alone."""
        header = req.headers.get("authorization")
        body_id = params.get("client_id")
        body_secret = params.get("client_secret")
        challenge: dict[str, str] = {}
        if header is not None:
            challenge = {"www-authenticate": 'Basic realm="oauth2"'}
            scheme, _, encoded = header.partition(" ")
            if scheme.lower() != "basic":
                raise InvalidClient(
                    "Client authentication failed.", reason="client_auth_scheme", headers=challenge
                )
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
                raise InvalidClient(
                    "Client authentication failed.",
                    reason="client_auth_malformed",
                    headers=challenge,
                ) from exc
            raw_id, sep, raw_secret = decoded.partition(":")
            if not sep:
                raise InvalidClient(
                    "Client authentication failed.",
                    reason="client_auth_malformed",
                    headers=challenge,
                )
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
            if body_secret is not None:
                raise InvalidRequest(
                    "Only one client authentication method may be used.",
                    reason="client_auth_multiple",
                )
            if body_id is not None and body_id != client_id:
                raise InvalidClient(
                    "Client authentication failed.", reason="client_id_mismatch", headers=challenge
                )
            method: str = "client_secret_basic"
        elif body_secret is not None:
            if body_id is None:
                raise InvalidClient("Client authentication failed.", reason="client_missing")
            client_id, secret, method = body_id, body_secret, "client_secret_post"
        else:
            if body_id is None:
                raise InvalidClient("Client authentication failed.", reason="client_missing")
            client_id, secret, method = body_id, "", "none"
        client = self.client(client_id)
        if client is None:
            raise InvalidClient(
                "Client authentication failed.", reason="client_unknown", headers=challenge
            )
        if client.public:
            if method != "none":
                raise InvalidClient(
                    "A public client must not send a secret.",
                    reason="public_client_secret",
                    headers=challenge,
                )
            return client
        if method == "none":
            raise InvalidClient(
                "Client authentication is required.", reason="client_secret_missing"
            )
        expected = client.client_secret or ""
        if method not in client.auth_methods or not hmac.compare_digest(
            secret.encode(), expected.encode()
        ):
            raise InvalidClient(
                "Client authentication failed.", reason="client_secret_invalid", headers=challenge
            )
        return client

    def _token(self, server: AuthServer, req: Request, kind: Endpoint) -> Response:
        params = req.form()
        client = self.authenticate_client(req, params)
        return Response.json(self.run_grant(server, client, params))

    def run_grant(self, server: AuthServer, client: Client, params: Params) -> dict[str, Any]:
        """The token endpoint after client authentication (RFC 6749 §4.1.3, §5.2): the
        ``grant_type`` must be one the server offers and the client may use, the server's
        access policy must admit the client; then the grant answers."""
        grant_type = params.require("grant_type")
        handler = self._grants.get(grant_type)
        if handler is None or grant_type not in server.grant_types:
            raise UnsupportedGrantType(
                "The authorization grant type is not supported by the authorization server.",
                reason="grant_type_unsupported",
                params={"grant_type": grant_type},
            )
        self.profile.check_grant_client(client, grant_type)
        if grant_type not in client.grant_types:
            raise UnauthorizedClient(
                "The client is not authorized to use the provided grant type.",
                reason="client_grant_not_allowed",
                params={"grant_types": ", ".join(client.grant_types)},
            )
        self.check_policy(server, client)
        return handler.exchange(self, server, client, params)

    # -- issuing ----------------------------------------------------------------------------
    def new_family(
        self,
        server: AuthServer,
        client: Client,
        username: str | None,
        scopes: tuple[str, ...],
        auth_time: int | None,
    ) -> Family:
        family = Family(State.new_id(16), server.id, client.client_id, username, scopes, auth_time)
        with self.state.locked() as st:
            st.families[family.id] = family
        return family

    def context(
        self,
        server: AuthServer,
        client_id: str,
        user: User | None,
        scopes: tuple[str, ...],
        grant_type: str,
        *,
        audience: str | None = None,
        client: Client | None = None,
        nonce: str | None = None,
        auth_time: int | None = None,
        subject: Mapping[str, Any] | None = None,
        family_id: str | None = None,
    ) -> TokenContext:
        return TokenContext(
            server=server,
            client_id=client_id,
            client=client,
            user=user,
            user_id=self.user_id(user) if user is not None else None,
            scopes=scopes,
            grant_type=grant_type,
            now=self.clock(),
            lifetimes=self.profile.lifetimes(server),
            audience=audience,
            nonce=nonce,
            auth_time=auth_time,
            subject=subject,
            family_id=family_id,
        )

    def issue(
        self,
        server: AuthServer,
        client: Client,
        user: User | None,
        scopes: tuple[str, ...],
        grant_type: str,
        *,
        family_id: str | None = None,
        nonce: str | None = None,
        auth_time: int | None = None,
        refresh: bool = True,
        id_token: bool = True,
        keep_refresh: str | None = None,
        subject: Mapping[str, Any] | None = None,
        issued_token_type: str | None = None,
        params: Params | None = None,
    ) -> dict[str, Any]:
        """Sign and record the tokens of one grant; the token endpoint's JSON body."""
        audience = self.profile.audience(server, scopes, params or Params(()))
        ctx = self.context(
            server,
            client.client_id,
            user,
            scopes,
            grant_type,
            audience=audience,
            client=client,
            nonce=nonce,
            auth_time=auth_time,
            subject=subject,
            family_id=family_id,
        )
        access_spec = self.profile.access_token(ctx)
        username = user.username if user is not None else None
        access = self.sign(
            server,
            access_spec,
            kind="access",
            client_id=client.client_id,
            username=username,
            family_id=family_id,
            scopes=scopes,
        )
        exp = access_spec.claims.get("exp")
        expires_in = int(exp) - ctx.now if isinstance(exp, int) else ctx.lifetimes.access
        id_jwt = None
        if id_token and user is not None and "openid" in scopes:
            id_spec = self.profile.id_token(replace(ctx, access_token=access))
            id_jwt = self.sign(
                server,
                id_spec,
                kind="id",
                client_id=client.client_id,
                username=username,
                family_id=family_id,
                scopes=scopes,
            )
        refresh_value = None
        if (
            refresh
            and family_id is not None
            and self.profile.refresh_allowed(ctx)
            and "refresh_token" in client.grant_types
            and "refresh_token" in server.grant_types
        ):
            if keep_refresh is not None:
                refresh_value = keep_refresh
            else:
                refresh_value = self.profile.refresh_token_value()
                lifetime = ctx.lifetimes.refresh
                with self.state.locked() as st:
                    st.refresh_tokens[refresh_value] = RefreshToken(
                        refresh_value,
                        family_id,
                        None if lifetime is None else self.clock.now() + lifetime,
                    )
        issued = IssuedTokens(access, expires_in, id_jwt, refresh_value, issued_token_type)
        return self.profile.token_response(ctx, issued)

    def sign(
        self,
        server: AuthServer,
        spec: JwtSpec,
        *,
        kind: str,
        client_id: str | None,
        username: str | None,
        family_id: str | None = None,
        scopes: tuple[str, ...] = (),
    ) -> str:
        """Sign ``spec`` with the server's active key for its purpose and record it (an
        opaque token, ``spec.opaque``, is recorded as it is: nothing is signed)."""
        if spec.opaque is not None:
            token = spec.opaque
        else:
            ring = self._keyrings[self._ring_id(server)]
            token = ring.sign(spec.claims, purpose=spec.purpose, header=spec.header)
        self.register(
            token,
            server,
            spec.claims,
            kind=kind,
            client_id=client_id,
            username=username,
            family_id=family_id,
            scopes=scopes,
        )
        return token

    def register(
        self,
        token: str,
        server: AuthServer,
        claims: Mapping[str, Any],
        *,
        kind: str,
        client_id: str | None,
        username: str | None,
        family_id: str | None = None,
        scopes: tuple[str, ...] = (),
    ) -> IssuedToken:
        """Remember a signed token so introspection, userinfo and exchange know it."""
        exp, nbf = claims.get("exp"), claims.get("nbf")
        record = IssuedToken(
            kind="id" if kind == "id" else "access",
            server_id=server.id,
            client_id=client_id,
            username=username,
            scopes=scopes,
            claims=dict(claims),
            expires_at=float(exp) if isinstance(exp, int | float) else None,
            not_before=float(nbf) if isinstance(nbf, int | float) else None,
            family_id=family_id,
        )
        with self.state.locked() as st:
            st.issued[token_hash(token)] = record
        return record

    def token_record(self, token: str) -> IssuedToken | None:
        with self.state.locked() as st:
            return st.issued.get(token_hash(token))

    def active_access_token(self, token: str, servers: Collection[str]) -> IssuedToken | None:
        """The record of ``token`` if it is an access token issued (or minted) at one of
        ``servers`` and still active (not revoked, expired or before ``nbf``)."""
        record = self.token_record(token)
        if (
            record is None
            or record.kind != "access"
            or record.server_id not in servers
            or not self.is_active(record)
        ):
            return None
        return record

    def is_active(self, record: IssuedToken) -> bool:
        now = self.clock.now()
        if record.revoked:
            return False
        if record.family_id is not None:
            with self.state.locked() as st:
                family = st.families.get(record.family_id)
            if family is not None and family.revoked:
                return False
        if record.expires_at is not None and record.expires_at <= now:
            return False
        return not (record.not_before is not None and record.not_before > now)

    # -- userinfo, introspection, revocation -----------------------------------------------
    def _userinfo(self, server: AuthServer, req: Request, kind: Endpoint) -> Response:
        header = req.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        challenge = 'Bearer error="invalid_token", error_description="{d}"'
        invalid = InvalidToken("The access token is invalid.", reason="userinfo_token_invalid")
        invalid.headers["www-authenticate"] = challenge.format(d=self.profile.describe(invalid))
        if scheme.lower() != "bearer" or not token.strip():
            missing = InvalidToken("The access token is missing.", reason="userinfo_token_missing")
            missing.headers["www-authenticate"] = 'Bearer realm="userinfo"'
            raise missing
        record = self.active_access_token(token.strip(), (server.id,))
        if record is None or record.username is None:
            raise invalid
        user = self.user(record.username)
        if user is None:
            raise invalid
        if "openid" not in record.scopes:
            insufficient = InsufficientScope(
                "The access token must carry the openid scope.", reason="userinfo_scope"
            )
            insufficient.headers["www-authenticate"] = (
                'Bearer error="insufficient_scope", error_description="'
                + self.profile.describe(insufficient)
                + '"'
            )
            raise insufficient
        claims = self.profile.userinfo(server, user, self.user_id(user), record.scopes)
        return Response.json(claims)

    def _introspect(self, server: AuthServer, req: Request, kind: Endpoint) -> Response:
        params = req.form()
        client = self.authenticate_client(req, params)
        token = params.require("token")
        params.get("token_type_hint")
        record = self.token_record(token)
        if record is not None and record.kind == "access" and record.server_id == server.id:
            active = self.is_active(record)
            return Response.json(self.profile.introspection(server, record, active))
        with self.state.locked() as st:
            refresh = st.refresh_tokens.get(token)
            family = st.families.get(refresh.family_id) if refresh else None
        if refresh is not None and family is not None:
            now = self.clock.now()
            active = (
                family.server_id == server.id
                and family.client_id == client.client_id
                and not family.revoked
                and refresh.used_at is None
                and (refresh.expires_at is None or refresh.expires_at > now)
            )
            return Response.json(
                self.profile.refresh_introspection(server, family, refresh, active)
            )
        return Response.json(self.profile.introspection(server, None, False))

    def _revoke(self, server: AuthServer, req: Request, kind: Endpoint) -> Response:
        """RFC 7009 §2.1-2.2: 200 whether or not the token was known."""
        params = req.form()
        client = self.authenticate_client(req, params)
        token = params.require("token")
        hint = params.get("token_type_hint")
        if hint is not None and hint not in ("access_token", "refresh_token"):
            raise UnsupportedTokenType(
                "The token type is not supported.", reason="token_type_unsupported"
            )
        with self.state.locked() as st:
            refresh = st.refresh_tokens.get(token)
            if refresh is not None:
                family = st.families.get(refresh.family_id)
                if (
                    family is not None
                    and family.client_id == client.client_id
                    and family.server_id == server.id
                ):
                    st.revoke_family(family.id)  # RFC 7009 §2.1: and its access tokens
            record = st.issued.get(token_hash(token))
            if (
                record is not None
                and record.kind == "access"
                and record.server_id == server.id
                and record.client_id == client.client_id
            ):
                record.revoked = True
        return Response(200, b"", None, [("cache-control", "no-store")])

    def _logout(self, server: AuthServer, req: Request, kind: Endpoint) -> Response:
        try:
            params = req.params()
            hint = params.get("id_token_hint")
            target = params.get("post_logout_redirect_uri")
            state = params.get("state")
        except InvalidRequest as error:
            return self._error_page(error)
        client: Client | None = None
        if hint is not None:
            record = self.token_record(hint)
            if record is None or record.kind != "id" or record.server_id != server.id:
                return self._error_page(
                    InvalidRequest("The 'id_token_hint' is invalid.", reason="logout_hint_invalid")
                )
            client = self.client(record.client_id or "")
        if target is not None and (
            client is None or target not in client.post_logout_redirect_uris
        ):
            return self._error_page(
                InvalidRequest(
                    "The 'post_logout_redirect_uri' is not registered.",
                    reason="logout_redirect_invalid",
                )
            )
        sid = req.cookies.get(self.profile.session_cookie)
        if sid:
            with self.state.locked() as st:
                st.sessions.pop(sid, None)
        if target is not None:
            response = Response.redirect(add_query(target, {"state": state}))
        else:
            response = Response.html(
                pages.message_page(self.profile.title, "Signed out", "You have been signed out.")
            )
        response.set_cookie(
            self.profile.session_cookie, "", secure=self.base_url.startswith("https:"), max_age=0
        )
        return response

    # -- device flow (RFC 8628) ------------------------------------------------------------
    def _device_authorization(self, server: AuthServer, req: Request, kind: Endpoint) -> Response:
        params = req.form()
        client = self.authenticate_client(req, params)
        if DEVICE_CODE not in server.grant_types:
            raise UnsupportedGrantType(
                "The device flow is not supported.", reason="grant_type_unsupported"
            )
        if DEVICE_CODE not in client.grant_types:
            raise UnauthorizedClient(
                "The client is not authorized to use the device flow.",
                reason="client_grant_not_allowed",
                params={"grant_types": ", ".join(client.grant_types)},
            )
        self.check_policy(server, client)
        scopes = self.requested_scopes(server, client, params, DEVICE_CODE)
        lifetimes = self.profile.lifetimes(server)
        user_code = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
        grant = DeviceGrant(
            device_code=State.new_id(),
            user_code=user_code,
            server_id=server.id,
            client_id=client.client_id,
            scopes=scopes,
            expires_at=self.clock.now() + lifetimes.device_code,
            interval=lifetimes.device_interval,
        )
        headless = self.config.headless_user
        if headless is not None:
            grant.status, grant.username, grant.auth_time = "approved", headless, self.clock()
        with self.state.locked() as st:
            st.devices[grant.device_code] = grant
            st.user_codes[user_code] = grant.device_code
        page = self.base_url + (self.profile.device_verification_path or "")
        return Response.json(
            {
                "device_code": grant.device_code,
                "user_code": user_code,
                "verification_uri": page,
                "verification_uri_complete": f"{page}?{urlencode({'user_code': user_code})}",
                "expires_in": lifetimes.device_code,
                "interval": lifetimes.device_interval,
            }
        )

    def _device_page(self, req: Request) -> Response:
        brand, action = self.profile.title, self.profile.device_verification_path or ""
        try:
            params = req.params()
            raw = params.get("user_code") or ""
        except InvalidRequest as error:
            return self._error_page(error)
        if req.method == "GET":
            return Response.html(pages.device_page(brand, action, user_code=raw))
        code = "".join(ch for ch in raw.upper() if ch.isalnum())
        now = self.clock.now()
        with self.state.locked() as st:
            device_code = st.user_codes.get(code)
            grant = st.devices.get(device_code or "")
        server = self.servers.get(grant.server_id) if grant is not None else None
        if grant is None or server is None or grant.status != "pending" or grant.expires_at <= now:
            page = pages.device_page(brand, action, user_code=raw, error="Invalid code")
            return Response.html(page, 400)
        txn = Transaction(
            id=State.new_id(),
            kind="device",
            server_id=grant.server_id,
            client_id=grant.client_id,
            scopes=grant.scopes,
            expires_at=min(grant.expires_at, now + self.profile.lifetimes(server).transaction),
            device_code=grant.device_code,
        )
        session = self._session(req)
        if session is not None:
            txn.username, txn.auth_time = session.username, session.auth_time
        with self.state.locked() as st:
            st.transactions[txn.id] = txn
        if txn.username is None:
            return Response.redirect(self._login_url(txn))
        return self._advance(txn)
