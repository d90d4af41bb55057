"""Token endpoint grants. Each class declares its ``grant_type`` and turns a token request
from an already authenticated client into a token response body, or raises an
:class:`~proctor.mock_idps.errors.OAuthError`.

Vendor profiles add or replace grants through
:meth:`VendorProfile.grants <proctor.mock_idps.profile.VendorProfile.grants>` (Entra's
jwt-bearer on-behalf-of grant is one such addition).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from proctor.mock_idps import pkce
from proctor.mock_idps.config import DEVICE_CODE, TOKEN_EXCHANGE, Client, User
from proctor.mock_idps.errors import (
    AccessDenied,
    AuthorizationPending,
    ExpiredToken,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    SlowDown,
    UnauthorizedClient,
)
from proctor.mock_idps.messages import Params
from proctor.mock_idps.profile import AuthServer

if TYPE_CHECKING:
    from proctor.mock_idps.engine import Engine
    from proctor.mock_idps.state import AuthorizationCode

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "STANDARD_GRANTS",
    "AuthorizationCodeGrant",
    "ClientCredentialsGrant",
    "DeviceCodeGrant",
    "Grant",
    "Redemption",
    "RefreshTokenGrant",
    "TokenExchangeGrant",
]

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105


class Grant(Protocol):
    grant_type: ClassVar[str]

    def exchange(
        self, engine: Engine, server: AuthServer, client: Client, params: Params
    ) -> dict[str, Any]:
        """The token response body for a request by the authenticated ``client``."""
        ...


@dataclass(frozen=True)
class Redemption:
    """An authorization code being redeemed (RFC 6749 §4.1.3): by ``client`` at ``server``
    for ``user``, with the token request's ``params``. ``refresh`` and ``resource`` are
    what to issue with: whether a refresh token may come, and the parameters that name the
    token's resource (RFC 8707)."""

    server: AuthServer
    client: Client
    user: User
    code: AuthorizationCode
    params: Params
    refresh: bool = True
    resource: Params | None = None


class AuthorizationCodeGrant:
    """RFC 6749 §4.1.3 with RFC 7636 §4.5-4.6.

    The code is single-use and any redemption attempt burns it, successful or not.
    Replaying a redeemed code revokes every token issued from it (RFC 6749 §4.1.2).
    ``redirect_uri`` must be identical to the authorization request's (§4.1.3).
    """

    grant_type: ClassVar[str] = "authorization_code"

    def exchange(
        self, engine: Engine, server: AuthServer, client: Client, params: Params
    ) -> dict[str, Any]:
        value = params.require("code")
        redirect_uri = params.get("redirect_uri")
        verifier = params.get("code_verifier")
        now = engine.clock.now()
        invalid = InvalidGrant(
            "The authorization code is invalid or has expired.", reason="code_invalid"
        )
        with engine.state.locked() as st:
            code = st.codes.get(value)
            if code is None:
                raise invalid
            if code.used:
                if code.family_id is not None:
                    st.revoke_family(code.family_id)
                raise invalid
            code.used = True  # burned from here on, whatever happens next
        request = code.request
        if code.expires_at <= now or request.server_id != server.id:
            raise invalid
        if request.client_id != client.client_id:
            raise invalid
        if redirect_uri != request.redirect_uri:
            raise InvalidGrant(
                "The 'redirect_uri' does not match the redirection URI used in the "
                "authorization request.",
                reason="redirect_uri_mismatch",
            )
        pkce.verify(request.code_challenge, request.code_challenge_method, verifier)
        user = engine.user(code.username)
        if user is None:
            raise invalid
        family = engine.new_family(server, client, code.username, request.scopes, code.auth_time)
        code.family_id = family.id
        return self.issue(engine, Redemption(server, client, user, code, params))

    def issue(self, engine: Engine, redeemed: Redemption) -> dict[str, Any]:
        """The tokens for a redeemed code. A vendor's grant overrides this to check the
        redemption or read its own parameters of the authorization request
        (``redeemed.code.request.params``), and calls it with ``refresh`` or ``resource``
        set (:func:`dataclasses.replace`)."""
        code = redeemed.code
        return engine.issue(
            redeemed.server,
            redeemed.client,
            redeemed.user,
            code.request.scopes,
            self.grant_type,
            family_id=code.family_id,
            nonce=code.request.nonce,
            auth_time=code.auth_time,
            refresh=redeemed.refresh,
            params=redeemed.resource,
        )


class RefreshTokenGrant:
    """RFC 6749 §6 with rotation and reuse detection (RFC 9700 §4.14.2).

    With rotation on, each refresh token works once; presenting a rotated token again
    (after the configured grace period) revokes the whole family: every refresh token and
    every access token issued since the user authorized. ``scope`` may only narrow.
    """

    grant_type: ClassVar[str] = "refresh_token"

    def exchange(
        self, engine: Engine, server: AuthServer, client: Client, params: Params
    ) -> dict[str, Any]:
        value = params.require("refresh_token")
        requested = params.get("scope")
        now = engine.clock.now()
        invalid = InvalidGrant("The refresh token is invalid or expired.", reason="refresh_invalid")
        with engine.state.locked() as st:
            token = st.refresh_tokens.get(value)
            if token is None:
                raise invalid
            family = st.families[token.family_id]
            if family.client_id != client.client_id or family.server_id != server.id:
                raise invalid
            if family.revoked or (token.expires_at is not None and token.expires_at <= now):
                raise invalid
            if (
                token.used_at is not None
                and now - token.used_at > engine.config.refresh_reuse_grace
            ):
                st.revoke_family(family.id)
                raise InvalidGrant(
                    "The refresh token is invalid or expired.", reason="refresh_reused"
                )
            scopes = family.scopes
            if requested is not None:
                narrowed = tuple(dict.fromkeys(requested.split(" ")))
                if not set(narrowed) <= set(family.scopes) or "" in narrowed:
                    raise InvalidScope(
                        "The requested scope exceeds the scope originally granted.",
                        reason="scope_exceeds_grant",
                    )
                scopes = narrowed
            keep = None
            if client.refresh_rotation:
                if token.used_at is None:
                    token.used_at = now
            else:
                keep = token.value
        username = family.username
        user = engine.user(username) if username else None
        if username and user is None:
            raise invalid
        return engine.issue(
            server,
            client,
            user,
            scopes,
            self.grant_type,
            family_id=family.id,
            auth_time=family.auth_time,
            keep_refresh=keep,
        )


class ClientCredentialsGrant:
    """RFC 6749 §4.4: a confidential client acting for itself; no refresh or ID token."""

    grant_type: ClassVar[str] = "client_credentials"

    def exchange(
        self, engine: Engine, server: AuthServer, client: Client, params: Params
    ) -> dict[str, Any]:
        if client.public:
            raise UnauthorizedClient(
                "Public clients cannot use the client_credentials grant.",
                reason="client_credentials_public",
            )
        scopes = engine.requested_scopes(server, client, params, self.grant_type)
        return engine.issue(
            server, client, None, scopes, self.grant_type, refresh=False, params=params
        )


class DeviceCodeGrant:
    """RFC 8628 §3.4-3.5: poll until the user approves on the verification page."""

    grant_type: ClassVar[str] = DEVICE_CODE

    def exchange(
        self, engine: Engine, server: AuthServer, client: Client, params: Params
    ) -> dict[str, Any]:
        value = params.require("device_code")
        now = engine.clock.now()
        with engine.state.locked() as st:
            grant = st.devices.get(value)
            if grant is None or grant.client_id != client.client_id or grant.server_id != server.id:
                raise InvalidGrant("The device code is invalid.", reason="device_code_invalid")
            if grant.status == "consumed":
                raise InvalidGrant("The device code is invalid.", reason="device_code_invalid")
            if grant.expires_at <= now:
                raise ExpiredToken("The device code has expired.", reason="device_code_expired")
            if grant.status == "denied":
                raise AccessDenied("The user denied the request.", reason="device_denied")
            if grant.status == "pending":
                last, grant.last_poll = grant.last_poll, now
                if last is not None and now - last < grant.interval:
                    grant.interval += 5  # RFC 8628 §3.5
                    raise SlowDown("The client is polling too fast.", reason="slow_down")
                raise AuthorizationPending(
                    "The device authorization is pending.", reason="authorization_pending"
                )
            grant.status = "consumed"
            username, auth_time, scopes = grant.username, grant.auth_time, grant.scopes
        user = engine.user(username) if username else None
        if user is None or username is None:
            raise InvalidGrant("The device code is invalid.", reason="device_code_invalid")
        family = engine.new_family(server, client, username, scopes, auth_time)
        return engine.issue(
            server, client, user, scopes, self.grant_type, family_id=family.id, auth_time=auth_time
        )


class TokenExchangeGrant:
    """RFC 8693 §2.1-2.2 as Okta profiles it: an access token in, an access token out.

    ``subject_token_type`` must be one of :attr:`subject_token_types` (Okta: the
    access-token URN), ``requested_token_type``, when sent, the access-token URN; there is
    no ``actor_token``. Okta's ``audience`` must be this server's audience, and the subject
    token must be active and issued by this server or one it trusts. The response adds
    ``issued_token_type`` and never carries a refresh or ID token. A provider's grant
    (:mod:`proctor.mock_idps.providers`) changes :meth:`check_target` and :meth:`subject`.
    """

    grant_type: ClassVar[str] = TOKEN_EXCHANGE
    subject_token_types: ClassVar[frozenset[str]] = frozenset({ACCESS_TOKEN_TYPE})

    def exchange(
        self, engine: Engine, server: AuthServer, client: Client, params: Params
    ) -> dict[str, Any]:
        if client.public:
            raise UnauthorizedClient(
                "Public clients cannot exchange tokens.", reason="token_exchange_public"
            )
        subject_token = params.require("subject_token")
        subject_type = params.require("subject_token_type")
        if subject_type not in self.subject_token_types:
            raise InvalidRequest(
                "The 'subject_token_type' is not supported.", reason="subject_token_type"
            )
        requested_type = params.get("requested_token_type")
        if requested_type is not None and requested_type != ACCESS_TOKEN_TYPE:
            raise InvalidRequest(
                "The 'requested_token_type' is not supported.", reason="requested_token_type"
            )
        if params.get("actor_token") is not None or params.get("actor_token_type") is not None:
            raise InvalidRequest(
                "The 'actor_token' parameter is not supported.", reason="actor_token"
            )
        self.check_target(server, params)
        found = self.subject(engine, server, subject_token, subject_type)
        if found is None:
            raise InvalidGrant("The 'subject_token' is invalid.", reason="subject_token_invalid")
        claims, user = found
        scopes = engine.requested_scopes(server, client, params, self.grant_type)
        return engine.issue(
            server,
            client,
            user,
            scopes,
            self.grant_type,
            refresh=False,
            id_token=False,
            subject=claims,
            issued_token_type=ACCESS_TOKEN_TYPE,
            params=params,
        )

    def check_target(self, server: AuthServer, params: Params) -> None:
        """Okta: ``audience`` is required and must be this server's audience."""
        if params.require("audience") != server.audience:
            raise InvalidTarget("The 'audience' is invalid.", reason="audience_invalid")

    def subject(
        self, engine: Engine, server: AuthServer, token: str, token_type: str
    ) -> tuple[Mapping[str, Any], User | None] | None:
        """The subject token's claims and user, or ``None`` if it is not acceptable: here
        an active access token of this server or of one its API trusts."""
        trusted = {server.id, *(server.api.trusted_servers if server.api else ())}
        record = engine.active_access_token(token, trusted)
        if record is None:
            return None
        return record.claims, engine.user(record.username) if record.username else None


STANDARD_GRANTS: dict[str, Grant] = {
    g.grant_type: g
    for g in (
        AuthorizationCodeGrant(),
        RefreshTokenGrant(),
        ClientCredentialsGrant(),
        DeviceCodeGrant(),
        TokenExchangeGrant(),
    )
}
