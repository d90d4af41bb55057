"""The capabilities a target declares, and the checks that need them.

A target lists what it implements in ``target.yaml`` (``capabilities: [...]``); a check
lists what it needs (``@check(..., needs=["token_exchange"])``). A check whose needs the
target does not declare is SKIPPED with the reason, never passed.

The vocabulary is closed, so a typo in a config file or a check is an error rather than
a silently skipped check. Suite authors add the names their checks need here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

__all__ = ["CAPABILITIES", "unknown_capabilities"]

CAPABILITIES: Mapping[str, str] = MappingProxyType(
    {
        "metadata": "RFC 8414 authorization server metadata at the well-known URI",
        "jwks": "a JWK Set (RFC 7517 §5) published at the metadata's jwks_uri",
        "client_credentials": "the client_credentials grant at the token endpoint (RFC 6749 §4.4)",
        "token_exchange": "RFC 8693 token exchange at the token endpoint",
        "introspection": "RFC 7662 token introspection",
        "revocation": "RFC 7009 token revocation",
        "private_key_jwt": "clients may authenticate with RFC 7523 client assertions "
        "(private_key_jwt) at the OAuth endpoints",
        "inbound_authorization": "decisions on the user's IdP token (spec §2)",
        "workload_identity": "registered workload identities that authenticate (spec §3)",
        "workload_tokens": "workload access tokens binding an agent to a user (spec §4)",
        "vault": "credential providers and the token vault (spec §5)",
        "consent": "persisted, listable, revocable consent (spec §6)",
        "audit": "the append-only audit log (spec §8)",
        "control_plane": "the native control plane, so the kit can provision the target",
        "dpop": "DPoP sender-constrained tokens (RFC 9449)",
        "mock_providers": "the kit's mock OAuth 2.0 providers (suite_options.vault.providers) "
        "are reachable by the kit and the target, so the kit can configure providers on them",
        "test_clock": "the kit may advance the target's clock (suite_options.vault.clock_url) "
        "to check expiry without waiting",
        "three_legged": "3-legged (user-delegated) flows against the kit's mock OAuth provider",
        "workload_principals": "credentials whose principal is one workload (AgentCore: SigV4 "
        "keys limited to one workload identity)",
        "rate_limits": "the target limits failed client authentications per client_id "
        "(SEC-DOS-002), so the kit may exhaust one fresh client's limit",
    }
)


def unknown_capabilities(names: Iterable[str]) -> list[str]:
    """The names that are not in :data:`CAPABILITIES`, in the order given."""
    return [name for name in names if name not in CAPABILITIES]
