"""Mutation testing of the kit: each broken variant of the reference (one defect, patched in
here, never a switch in the reference) must be caught by the checks aimed at it.

A mutant is caught when every check it is aimed at ends FAILED (not ERROR: a failed
positive control proves nothing). The kill rate is the share of mutants caught; this
module asserts it is 100 %.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

import proctor.reference.audit as audit_module
import proctor.reference.authorizer as authorizer_module
import proctor.reference.http.data as data_module
from proctor.conformance.results import Outcome
from proctor.reference.compact_jws import MalformedJws, parse_compact
from proctor.reference.errors import Unauthenticated
from tests.conformance.meta.conftest import RunEmbedded

pytestmark = pytest.mark.network

Patch = Callable[[pytest.MonkeyPatch], None]


@dataclass(frozen=True)
class Mutant:
    defect: str
    patch: Patch
    suite: str
    checks: tuple[str, ...]


# -- the defects -------------------------------------------------------------------------


class _Everything(frozenset[str]):
    """An audience set that contains every audience."""

    def __contains__(self, item: object) -> bool:
        return True

    def isdisjoint(self, other: Iterable[Any]) -> bool:
        return False


def skip_the_audience_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(authorizer_module, "_audience_set", lambda config: _Everything())


def _trusting(
    monkeypatch: pytest.MonkeyPatch,
    accept: Callable[[Any, Mapping[str, Any], str, str], bool],
) -> None:
    """Wrap the authorizer's evaluation: when ``accept(plan, header, token, now)`` holds,
    go straight to the claim checks, as if the signature had verified."""
    original = authorizer_module.Authorizer._evaluate

    def evaluate(
        self: Any, plan: Any, typs: Any, token: str, kind: Any, now: float
    ) -> tuple[Any, int]:
        try:
            header, payload, _, _ = parse_compact(token)
        except MalformedJws:
            return original(self, plan, typs, token, kind, now)
        if accept(plan, header, token, str(now)):
            keyset = plan.key_source.current(now)
            key = SimpleNamespace(issuer=None)
            return self._check_claims(plan, payload, kind, now, key, keyset.issuer), 0
        return original(self, plan, typs, token, kind, now)

    monkeypatch.setattr(authorizer_module.Authorizer, "_evaluate", evaluate)


def accept_alg_none(monkeypatch: pytest.MonkeyPatch) -> None:
    _trusting(monkeypatch, lambda plan, header, token, now: str(header["alg"]).lower() == "none")


def trust_jku(monkeypatch: pytest.MonkeyPatch) -> None:
    def fetched_key_verifies(plan: Any, header: Mapping[str, Any], token: str, now: str) -> bool:
        url = header.get("jku")
        if not isinstance(url, str):
            return False
        try:
            keys = httpx.get(url, timeout=5).json()["keys"]
            for jwk in keys:
                jws.deserialize_compact(token, RSAKey.import_key(jwk), algorithms=["RS256"])
                return True
        except (httpx.HTTPError, ValueError, KeyError, JoseError):
            return False
        return False

    _trusting(monkeypatch, fetched_key_verifies)


def leak_a_secret_in_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    original = getattr(data_module, "authenticate_workload")  # noqa: B009 - not exported

    def authenticate(authenticator: Any, request: Any) -> Any:
        try:
            return original(authenticator, request)
        except Unauthenticated:
            presented = request.headers.get("authorization", "")
            if presented.lower().startswith("basic "):
                presented = base64.b64decode(presented[6:]).decode("utf-8", "replace")
            raise Unauthenticated(
                f"These credentials were refused: {presented}.", data_plane=True
            ) from None

    monkeypatch.setattr(data_module, "authenticate_workload", authenticate)


def skip_the_claim_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    original = authorizer_module._Plan.build

    def build(config: Any, key_source: Any, version: int) -> Any:
        plan = original(config, key_source, version)
        return authorizer_module._Plan(**{**_fields(plan), "rules": ()})

    monkeypatch.setattr(authorizer_module._Plan, "build", staticmethod(build))


def _fields(plan: Any) -> dict[str, Any]:
    return {name: getattr(plan, name) for name in authorizer_module._Plan.__slots__}


def ignore_exp(monkeypatch: pytest.MonkeyPatch) -> None:
    original = authorizer_module.Authorizer._check_claims

    def check_claims(self: Any, plan: Any, payload: dict[str, Any], *rest: Any) -> Any:
        if isinstance(payload.get("exp"), int | float) and not isinstance(payload["exp"], bool):
            payload = {**payload, "exp": payload["exp"] + 10**7}
        return original(self, plan, payload, *rest)

    monkeypatch.setattr(authorizer_module.Authorizer, "_check_claims", check_claims)


def stale_decision_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    def get(self: Any, key: bytes, now: float, version: int, generation: int) -> Any:
        with self._lock:
            return self._entries.get(key)

    monkeypatch.setattr(authorizer_module._DecisionCache, "get", get)


def wrong_audit_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """The event is stored in its JCS form but hashed in another (Python's own JSON)."""
    original = audit_module._canonical_and_hash

    def canonical_and_hash(body: Mapping[str, Any]) -> tuple[str, str]:
        text, _ = original(body)
        return text, hashlib.sha256(json.dumps(dict(body), sort_keys=True).encode()).hexdigest()

    monkeypatch.setattr(audit_module, "_canonical_and_hash", canonical_and_hash)


MUTANTS = [
    Mutant(
        "skip the audience check",
        skip_the_audience_check,
        "authorizer",
        ("test_the_audience_is_checked",),
    ),
    Mutant("accept alg none", accept_alg_none, "authorizer", ("test_alg_none_is_refused",)),
    Mutant("trust jku", trust_jku, "authorizer", ("test_jku_and_x5u_are_never_fetched",)),
    Mutant(
        "leak a secret in an error",
        leak_a_secret_in_an_error,
        "hygiene",
        ("test_no_secret_or_token_appears_in_an_error",),
    ),
    Mutant(
        "skip the custom claim rules",
        skip_the_claim_rules,
        "authorizer",
        ("test_a_custom_claim_rule_refuses_other_users[okta]",),
    ),
    Mutant("ignore exp", ignore_exp, "authorizer", ("test_time_claims_are_enforced",)),
    Mutant(
        "serve stale cached decisions",
        stale_decision_cache,
        "authorizer",
        ("test_cached_decisions_never_outlive_the_configuration_or_the_token",),
    ),
    Mutant(
        "hash audit events in another form",
        wrong_audit_hash,
        "audit",
        ("test_events_have_the_schema_and_form_a_hash_chain",),
    ),
]


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.defect for m in MUTANTS])
def test_each_broken_reference_is_caught(
    run_embedded: RunEmbedded, monkeypatch: pytest.MonkeyPatch, mutant: Mutant
) -> None:
    mutant.patch(monkeypatch)
    names = [name.split("[", 1)[0] for name in mutant.checks]
    done = run_embedded([mutant.suite], keyword=" or ".join(dict.fromkeys(names)))
    for name in mutant.checks:
        outcome = done.outcome_of(name)
        assert outcome is Outcome.FAILED, (
            f"{mutant.defect!r} was not caught by {name}: {outcome.value} "
            f"{done.by_name()[name].message}"
        )
