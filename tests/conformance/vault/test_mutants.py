"""Each one-defect variant of the reference is caught by the checks aimed at it.

A variant is the reference with ONE defect monkeypatched in this process (the service runs
in a thread of it): never a switch in the reference. Each run selects the checks aimed at
the defect (``keyword``); every one named in ``caught`` must FAIL, not merely ERROR.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from proctor.conformance.results import Outcome
from proctor.reference import sessions as sessions_module
from proctor.reference import vault as vault_module
from proctor.reference.consent import entry_tokens
from proctor.reference.storage.sessions import SessionRepository
from proctor.reference.storage.vault import EntryKey
from proctor.reference.vault import TokenResult, Vault
from proctor.reference.workload_tokens import UserBinding
from tests.conformance.vault.conftest import RunVault

pytestmark = pytest.mark.network


@dataclass(frozen=True)
class Mutant:
    defect: str
    patch: Callable[[pytest.MonkeyPatch], None]
    keyword: str
    caught: frozenset[str]


def _key_without_user(mp: pytest.MonkeyPatch) -> None:
    """The vault is keyed by (workload, provider) only: every user shares one entry."""
    aad = EntryKey.aad_identity

    def params(self: EntryKey) -> tuple[str, str, str, str]:
        return (self.workload_client_id, "shared", "shared", self.provider)

    def identity(self: EntryKey) -> dict[str, str]:
        return {**aad(self), "user_issuer": "shared", "user_key": "shared"}

    mp.setattr(EntryKey, "params", params)
    mp.setattr(EntryKey, "aad_identity", identity)


def _complete_for_anyone(mp: pytest.MonkeyPatch) -> None:
    """Completion takes the session's user for whoever completes it."""
    complete = sessions_module.Sessions.complete

    def patched(
        self: Any, *, client_id: str, session_uri: str, claimed: UserBinding, via: Any, trail: Any
    ) -> Any:
        record = self.find(session_uri, client_id=client_id, user=None)
        claimed = dataclasses.replace(
            claimed,
            issuer=record.user_issuer,
            subject=record.user_subject,
            user_key=record.user_key,
        )
        by_id = record.user_issuer == sessions_module.USER_ID_ISSUER
        via = "user_id" if by_id else "user_token"
        return complete(
            self,
            client_id=client_id,
            session_uri=session_uri,
            claimed=claimed,
            via=via,
            trail=trail,
        )

    mp.setattr(sessions_module.Sessions, "complete", patched)


def _skip_pkce(mp: pytest.MonkeyPatch) -> None:
    """The authorization request carries no code_challenge."""
    build = sessions_module.authorization_url

    def without_pkce(endpoint: str, params: list[tuple[str, str]]) -> str:
        return build(endpoint, [p for p in params if not p[0].startswith("code_challenge")])

    mp.setattr(sessions_module, "authorization_url", without_pkce)


def _replayable_state(mp: pytest.MonkeyPatch) -> None:
    """A consumed state is accepted again."""
    get_by_state = SessionRepository.get_by_state

    def fresh(self: SessionRepository, *args: Any, **kwargs: Any) -> Any:
        record = get_by_state(self, *args, **kwargs)
        if record is None:
            return None
        return dataclasses.replace(record, state_consumed=False, status="in_progress")

    mp.setattr(SessionRepository, "get_by_state", fresh)
    mp.setattr(SessionRepository, "consume_state", lambda self, *a, **k: True)


def _any_state(mp: pytest.MonkeyPatch) -> None:
    """An unknown state is taken for the latest session started."""
    started: list[str] = []
    start = sessions_module.Sessions.start
    get_by_state = SessionRepository.get_by_state

    def remember(self: Any, **kwargs: Any) -> Any:
        result = start(self, **kwargs)
        started.append(result.session_uri)
        return result

    def lenient(self: SessionRepository, *args: Any, **kwargs: Any) -> Any:
        found = get_by_state(self, *args, **kwargs)
        if found is None and started:
            return self.get(started[-1])
        return found

    mp.setattr(sessions_module.Sessions, "start", remember)
    mp.setattr(SessionRepository, "get_by_state", lenient)


@dataclass(frozen=True)
class _LeakyResult(TokenResult):
    refresh_token: str | None = None

    def response(self) -> dict[str, Any]:
        return {**super().response(), "refresh_token": self.refresh_token}


def _leak_refresh_token(mp: pytest.MonkeyPatch) -> None:
    """A reused token's answer also carries the entry's refresh token."""
    reuse = Vault._reuse

    def leaky(self: Vault, ctx: Any, entry: Any) -> Any:
        result = reuse(self, ctx, entry)
        if result is None:
            return None
        tokens = entry_tokens(self._sealer, entry) or {}
        return _LeakyResult(
            result.access_token, result.expires_at, result.scopes, tokens.get("refresh_token")
        )

    mp.setattr(Vault, "_reuse", leaky)


def _prefix_return_url(mp: pytest.MonkeyPatch) -> None:
    """A return URL is accepted when it starts with a registered one."""
    choose = vault_module.choose_return_url

    def loose(caller: Any, return_url: str | None) -> str:
        allowed = [str(u) for u in caller.config.get("allowed_return_urls", [])]
        if return_url is not None and any(return_url.startswith(u) for u in allowed):
            return return_url
        return choose(caller, return_url)

    mp.setattr(vault_module, "choose_return_url", loose)


def _shared_m2m_cache(mp: pytest.MonkeyPatch) -> None:
    """m2m tokens are cached without the workload in the key."""
    cache_key = vault_module._cache_key

    def shared(parts: Mapping[str, Any]) -> str:
        return cache_key({k: v for k, v in parts.items() if k != "workload"})

    mp.setattr(vault_module, "_cache_key", shared)


MUTANTS = {
    "vault keyed without the user": Mutant(
        "vault keyed without the user",
        _key_without_user,
        "another_users_or_workloads or isolation_and_scopes",
        frozenset({"test_another_users_or_workloads_token_is_never_returned"}),
    ),
    "completion for a different user": Mutant(
        "completion for a different user",
        _complete_for_anyone,
        "completion_by_another_user or same_user_id or only_a_completed",
        frozenset(
            {
                "test_completion_by_another_user_gets_nothing",
                "test_a_user_id_session_is_completed_with_the_same_user_id",
                "test_only_a_completed_session_creates_a_consent",
            }
        ),
    ),
    "no PKCE": Mutant(
        "no PKCE",
        _skip_pkce,
        "pkce_s256",
        frozenset({"test_the_authorization_url_has_pkce_s256_and_an_unguessable_state"}),
    ),
    "a replayed state accepted": Mutant(
        "a replayed state accepted",
        _replayable_state,
        "single_use",
        frozenset({"test_the_state_is_single_use_and_a_code_is_redeemed_once"}),
    ),
    "any state accepted": Mutant(
        "any state accepted",
        _any_state,
        "forged_state",
        frozenset({"test_a_missing_or_forged_state_gets_an_error_page_and_nothing_else"}),
    ),
    "a refresh token in a response": Mutant(
        "a refresh token in a response",
        _leak_refresh_token,
        "no_response_of_the_vault or stored_token_is_reused",
        frozenset(
            {
                "test_no_response_of_the_vault_api_carries_a_secret_or_a_refresh_token",
                "test_a_stored_token_is_reused_without_a_session_or_an_upstream_call",
            }
        ),
    ),
    "return URL matched by prefix": Mutant(
        "return URL matched by prefix",
        _prefix_return_url,
        "return_url_must_match",
        frozenset({"test_the_return_url_must_match_exactly"}),
    ),
    "m2m cache shared between workloads": Mutant(
        "m2m cache shared between workloads",
        _shared_m2m_cache,
        "m2m_tokens_come",
        frozenset({"test_m2m_tokens_come_from_client_credentials_and_are_cached_per_workload"}),
    ),
}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_each_broken_variant_is_caught(
    name: str,
    run_vault: RunVault,
    shared_target: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mutant = MUTANTS[name]
    mutant.patch(monkeypatch)
    run = run_vault(shared_target, keyword=mutant.keyword)
    outcomes = run.outcomes()
    assert mutant.caught <= set(outcomes), sorted(outcomes)
    missed = {n: outcomes[n].value for n in mutant.caught if outcomes[n] is not Outcome.FAILED}
    assert not missed, f"{mutant.defect}: not caught by {missed}\n" + "\n".join(run.problems())
    assert int(run.outcome.exit_code) == 1
