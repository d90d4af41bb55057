"""Token introspection (RFC 7662) of the service's own tokens: ``POST /oauth2/introspect``.

An authenticated workload asks whether a token is active and what it says (spec
``07-token-exchange.md``, AS-INTR-001 to AS-INTR-004):

- the caller authenticates like at the token endpoint (TX-CAUTH-001); a request without
  ``token`` is ``invalid_request``; ``token_type_hint`` is ignored (the service issues one
  kind of token, so no hint can change the answer);
- a token that is malformed, foreign, badly signed, expired, revoked (directly or because
  a token it was exchanged from was revoked), or that the caller may not see, is answered
  with exactly ``{"active": false}`` and nothing else (RFC 7662 §2.2; a MUST here);
- the caller may see a token only if it is the token's ``client_id``, its ``sub`` or one
  of its ``aud`` values (RFC 7662 §4: no claims for parties that do not already hold the
  token legitimately);
- an active token is answered with its claims, ``act`` included whole, current actor
  outermost (RFC 8693 §4.1), and ``token_type`` ``Bearer``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from proctor.reference.client_auth import ClientAuthenticator
from proctor.reference.errors import InvalidRequest, OAuthError
from proctor.reference.grants import BEARER, NO_STORE, AuditRecord, FormRequest, OAuthResult
from proctor.reference.tokens import AccessTokens, OwnTokenRejected, VerifiedToken

__all__ = ["INACTIVE", "IntrospectionEndpoint", "introspection_response"]

#: AS-INTR-002: the whole answer for every token that is not active for the caller.
INACTIVE: Final = {"active": False}
#: AS-INTR-003: the members copied from the token when it carries them.
_MEMBERS: Final = ("iss", "sub", "sub_id", "aud", "client_id", "scope", "act", "iat", "exp", "jti")


def introspection_response(token: VerifiedToken) -> dict[str, Any]:
    """The active response for a token (AS-INTR-003): each member equals the claim."""
    claims = token.json_claims()
    body: dict[str, Any] = {"active": True}
    for name in _MEMBERS:
        if name in claims:
            body[name] = claims[name]
    body["token_type"] = BEARER
    return body


def _may_see(token: VerifiedToken, client_id: str) -> bool:
    """AS-INTR-004 (top-level claims only, TX-ACT-005)."""
    return client_id in (token.client_id, token.sub) or client_id in token.aud


class IntrospectionEndpoint:
    """``POST /oauth2/introspect``; :meth:`handle` returns an :class:`OAuthResult`."""

    operation = "token.introspect"

    def __init__(self, clients: ClientAuthenticator, tokens: AccessTokens) -> None:
        self._clients = clients
        self._tokens = tokens

    def handle(
        self, pairs: Iterable[tuple[str, str]], authorization: str | None = None
    ) -> OAuthResult:
        audit = AuditRecord(operation=self.operation)
        try:
            request = FormRequest.parse(pairs)
            client = self._clients.authenticate(authorization, request.params)
            audit.workload = client.name
            audit.actor_chain = [client.client_id]
            token = request.get("token")
            if token is None:
                raise InvalidRequest("malformed_request: token is required")
        except OAuthError as error:
            audit.deny(error)
            return OAuthResult.refused(error, audit)
        audit.allow()
        try:
            verified = self._tokens.validate(token)
        except OwnTokenRejected as exc:
            audit.detail = exc.reason
            return OAuthResult(200, dict(INACTIVE), dict(NO_STORE), (audit,))
        if not _may_see(verified, client.client_id):
            audit.detail = "not introspectable by the caller"
            return OAuthResult(200, dict(INACTIVE), dict(NO_STORE), (audit,))
        sub_id = verified.sub_id
        if sub_id is not None and isinstance(sub_id.get("iss"), str):
            audit.user = {"issuer": str(sub_id["iss"]), "subject": str(sub_id.get("sub"))}
        return OAuthResult(200, introspection_response(verified), dict(NO_STORE), (audit,))
