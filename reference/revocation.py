"""Token revocation (RFC 7009) with the cascade down delegation chains: ``POST /oauth2/revoke``.

Spec ``07-token-exchange.md``, AS-REV-001 to AS-REV-004 and AS-CASC-001/002:

- the caller authenticates like at the token endpoint; a request without ``token`` is
  ``invalid_request``; ``token_type_hint`` is ignored (every token type the service issues
  is searched: there is one);
- a token that is malformed, foreign (an IdP's token), badly signed, expired or already
  revoked is answered ``200`` with an empty body and nothing changes (RFC 7009 §2.2);
- a valid token issued to another client is refused with ``unauthorized_client`` and
  nothing changes (RFC 7009 §2.1: "the authorization server ... verifies whether the token
  was issued to the client making the revocation request");
- otherwise the token is revoked, and so is **every token exchanged from it**,
  transitively, whichever clients they were issued to (AS-CASC-001): revoking T1 kills T2
  that the sub-agent obtained from T1, but never T1's own subject token (an ancestor) nor a
  sibling branch.

The registry marks the token and its descendants revoked; in addition, validation of a
token walks *up* its lineage (:func:`proctor.reference.tokens.revoked_ancestor`), so a child
that was being issued while its parent was revoked is refused too (AS-CASC-002).

Audit (AS-REV-004): one ``token.revoke`` record for the request, plus one per token revoked
by the cascade, each with that token's subject, actor chain and scopes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from proctor.reference.client_auth import ClientAuthenticator
from proctor.reference.clock import Clock
from proctor.reference.errors import InvalidRequest, OAuthError, UnauthorizedClient
from proctor.reference.grants import NO_STORE, AuditRecord, FormRequest, OAuthResult
from proctor.reference.tokens import (
    AccessTokens,
    IssuedTokenRecord,
    OwnTokenRejected,
    TokenRegistry,
    descendants,
)

__all__ = ["RevocationEndpoint", "revoke_issued_to", "revoke_with_descendants"]

_OPERATION: Final = "token.revoke"


def revoke_with_descendants(registry: TokenRegistry, jti: str, at: int) -> list[IssuedTokenRecord]:
    """Revoke ``jti`` and every token derived from it (AS-CASC-001); returns the records
    this call revoked, the token itself first (already revoked ones are skipped)."""
    revoked: list[IssuedTokenRecord] = []
    for current in [jti, *descendants(registry, jti)]:
        if registry.mark_revoked(current, at):
            record = registry.get(current)
            if record is not None:
                revoked.append(record)
    return revoked


def revoke_issued_to(registry: TokenRegistry, client_id: str, at: int) -> list[IssuedTokenRecord]:
    """Revoke every token issued to a workload, with their descendants: what disabling or
    deleting the workload requires (WID-STATE-001/002). The wiring registers it as a
    :attr:`proctor.reference.directory.Directory.revocation_hooks` entry."""
    revoked: list[IssuedTokenRecord] = []
    for jti in registry.issued_to(client_id):
        revoked.extend(revoke_with_descendants(registry, jti, at))
    return revoked


def _user(record: IssuedTokenRecord) -> dict[str, str] | None:
    sub_id = record.sub_id
    if sub_id is not None and isinstance(sub_id.get("iss"), str):
        return {"issuer": str(sub_id["iss"]), "subject": str(sub_id.get("sub"))}
    return None


class RevocationEndpoint:
    """``POST /oauth2/revoke``; :meth:`handle` returns an :class:`OAuthResult` whose body
    is ``None`` (an empty 200) on success."""

    def __init__(self, clients: ClientAuthenticator, tokens: AccessTokens, clock: Clock) -> None:
        self._clients = clients
        self._tokens = tokens
        self._clock = clock

    def handle(
        self, pairs: Iterable[tuple[str, str]], authorization: str | None = None
    ) -> OAuthResult:
        audit = AuditRecord(operation=_OPERATION)
        try:
            request = FormRequest.parse(pairs)
            client = self._clients.authenticate(authorization, request.params)
            audit.workload = client.name
            audit.actor_chain = [client.client_id]
            token = request.get("token")
            if token is None:
                raise InvalidRequest("malformed_request: token is required")
            try:
                verified = self._tokens.validate(token)
            except OwnTokenRejected as exc:
                # AS-REV-002: unknown, foreign, expired or already revoked: 200, no change.
                audit.detail = exc.reason
                audit.allow()
                return OAuthResult(200, None, dict(NO_STORE), (audit,))
            audit.scopes = list(verified.scopes)
            if verified.client_id != client.client_id:
                raise UnauthorizedClient("not_token_owner: the token was not issued to this client")
        except OAuthError as error:
            audit.deny(error)
            return OAuthResult.refused(error, audit)
        revoked = revoke_with_descendants(
            self._tokens.registry, verified.jti, int(self._clock.now())
        )
        audit.allow()
        audit.user = _user(verified.record)
        records = [audit]
        for record in revoked:
            if record.jti == verified.jti:
                continue
            cascade = AuditRecord(
                operation=_OPERATION,
                workload=audit.workload,
                user=_user(record),
                actor_chain=record.actor_chain,
                audience=list(record.aud),
                scopes=list(record.scopes),
                detail="cascade",
            )
            cascade.allow()
            records.append(cascade)
        return OAuthResult(200, None, dict(NO_STORE), tuple(records))
