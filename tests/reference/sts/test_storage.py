"""The STS's storage on SQLite and PostgreSQL: the issued-token registry (lineage with an
index on parent, revocation seen at once by every node, deferred and bound writes), the
signing-key store (sealed keys, tombstones) and the exchange-policy repository."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import pytest

from proctor.reference.clock import ManualClock
from proctor.reference.encryption import Envelope, LocalKeyProvider
from proctor.reference.errors import Conflict, NotFound, ValidationFailed
from proctor.reference.exchange_policy import ExchangePolicy
from proctor.reference.keys import SigningKeys, generate_key, open_key, seal_key
from proctor.reference.revocation import revoke_issued_to, revoke_with_descendants
from proctor.reference.storage import Database, open_database
from proctor.reference.storage.issued_tokens import StoredTokenRegistry
from proctor.reference.storage.keys import StoredKeyStore
from proctor.reference.storage.policies import ExchangePolicyRepository
from proctor.reference.tokens import (
    AccessTokens,
    InMemoryTokenRegistry,
    IssuedTokenRecord,
    OwnTokenRejected,
    TokenRegistry,
    descendants,
    revoked_ancestor,
)

from .conftest import START

ISSUER = "https://proctor.test"


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = open_database(database_url)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def record(
    jti: str, *parents: str, client: str = "wl_a", exp: int = 1_800_000_600
) -> IssuedTokenRecord:
    return IssuedTokenRecord(
        jti=jti,
        client_id=client,
        sub="sarah",
        aud=("wl_b", "https://crm.example/mcp"),
        scopes=("crm.read",),
        iat=int(START),
        exp=exp,
        grant="token_exchange" if parents else "client_credentials",
        parents=parents,
        act={"sub": "wl_a", "iss": ISSUER, "act": {"sub": "wl_z", "iss": ISSUER}}
        if parents
        else None,
        sub_id={"format": "iss_sub", "iss": "https://idp.example", "sub": "sarah"},
    )


# -- the registry ----------------------------------------------------------------------------------


def test_records_round_trip_and_jti_is_unique(database: Database, clock: ManualClock) -> None:
    registry = StoredTokenRegistry(database, clock)
    original = record("t1", "p1", "p2")
    registry.add(original)
    assert registry.get("t1") == original
    assert registry.get("t1").act == original.act  # type: ignore[union-attr]
    assert registry.get("absent") is None
    with pytest.raises(ValueError, match="already recorded"):
        registry.add(original)


def test_lineage_revocation_and_purge(database: Database, clock: ManualClock) -> None:
    registry = StoredTokenRegistry(database, clock)
    for rec in (
        record("root", client="wl_o"),
        record("mid", "root", "actor"),
        record("leaf", "mid"),
        record("other", "root", exp=1_800_000_100),
        record("actor", client="wl_s"),
    ):
        registry.add(rec)
    assert sorted(registry.children("root")) == ["mid", "other"]
    assert sorted(descendants(registry, "root")) == ["leaf", "mid", "other"]
    assert registry.issued_to("wl_o") == ["root"]
    revoked = revoke_with_descendants(registry, "mid", int(START) + 5)
    assert [r.jti for r in revoked] == ["mid", "leaf"]
    assert revoked_ancestor(registry, "leaf") == "leaf"
    registry.add(record("late", "mid"))  # exchanged while the revocation ran
    assert revoked_ancestor(registry, "late") == "mid"
    assert revoked_ancestor(registry, "other") is None
    assert registry.mark_revoked("mid", int(START) + 9) is False
    assert registry.get("mid").revoked_at == int(START) + 5  # type: ignore[union-attr]
    assert registry.purge_expired(1_800_000_100) == 1
    assert registry.get("other") is None
    assert registry.children("root") == ["mid"]
    with database.transaction(readonly=True) as tx:
        edges = tx.fetchall(
            "SELECT child_jti FROM issued_token_parents WHERE child_jti = ?", ("other",)
        )
    assert edges == []
    clock.advance(1000)
    assert registry.issued_to("wl_o") == []  # expired: nothing left to revoke


def test_the_cascade_walks_an_index_on_parent(database: Database) -> None:
    with database.transaction(readonly=True) as tx:
        if tx.dialect == "sqlite":
            plan = tx.fetchall(
                "EXPLAIN QUERY PLAN SELECT child_jti FROM issued_token_parents"
                " WHERE parent_jti = ?",
                ("x",),
            )
            detail = " ".join(str(row["detail"]) for row in plan)
            assert "USING" in detail, detail
            assert "INDEX" in detail, detail
        else:
            rows = tx.fetchall(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'issued_token_parents'"
            )
            assert any("(parent_jti, child_jti)" in str(r["indexdef"]) for r in rows), rows


def test_a_revocation_is_seen_at_once_by_another_node(
    database_url: str, database: Database, clock: ManualClock
) -> None:
    """AS-CASC-002: two registries over the same storage (two nodes)."""
    node_a = StoredTokenRegistry(database, clock)
    other = open_database(database_url, run_migrations=False)
    try:
        node_b = StoredTokenRegistry(other, clock)
        node_a.add(record("root"))
        node_a.add(record("child", "root"))
        assert revoked_ancestor(node_b, "child") is None
        assert node_a.mark_revoked("root", int(START))
        assert revoked_ancestor(node_b, "child") == "root"
    finally:
        other.close()


def test_deferred_writes_commit_with_their_transaction(
    database: Database, clock: ManualClock
) -> None:
    registry = StoredTokenRegistry(database, clock)
    registry.add(record("root"))
    with registry.deferred() as pending:
        registry.add(record("child", "root"))
        assert registry.get("child") is not None  # reads see the pending write
        assert registry.children("root") == ["child"]
        assert registry.mark_revoked("root", int(START)) is True
        assert registry.get("root").revoked_at == int(START)  # type: ignore[union-attr]
    assert registry.get("child") is None  # nothing written yet
    assert registry.get("root").revoked_at is None  # type: ignore[union-attr]
    _flush_then_fail(database, registry, pending)
    assert registry.get("child") is None  # rolled back together
    with database.transaction() as tx:
        registry.flush(pending, tx)
    assert registry.children("root") == ["child"]
    assert revoked_ancestor(registry, "child") == "root"


def _flush_then_fail(database: Database, registry: StoredTokenRegistry, pending: Any) -> None:
    def run() -> None:
        with database.transaction() as tx:
            registry.flush(pending, tx)
            raise RuntimeError("the audit append failed")

    with pytest.raises(RuntimeError, match="audit append failed"):
        run()


def test_bound_calls_join_the_callers_transaction(database: Database, clock: ManualClock) -> None:
    registry = StoredTokenRegistry(database, clock)
    registry.add(record("root", client="wl_gone"))
    seen: list[int | None] = []

    def revoke_then_fail() -> None:
        with database.transaction() as tx, registry.bound(tx):
            revoke_issued_to(registry, "wl_gone", int(START))
            seen.append(registry.get("root").revoked_at)  # type: ignore[union-attr]
            raise RuntimeError("the directory change failed")

    with pytest.raises(RuntimeError, match="directory change failed"):
        revoke_then_fail()
    assert seen == [int(START)]  # visible inside the transaction ...
    assert registry.get("root").revoked_at is None  # type: ignore[union-attr] # ... rolled back


def test_same_answers_as_the_in_memory_registry(database: Database, clock: ManualClock) -> None:
    """The stored registry behaves as the reference in-memory one over a random history."""
    stored, memory = StoredTokenRegistry(database, clock), InMemoryTokenRegistry()
    registries: tuple[TokenRegistry, ...] = (stored, memory)
    rng = random.Random(8693)
    jtis: list[str] = []
    for step in range(60):
        action = rng.random()
        if action < 0.6 or not jtis:
            parents = tuple(rng.sample(jtis, k=min(len(jtis), rng.randint(0, 2))))
            jti, client = f"t{step}", rng.choice(["wl_a", "wl_b"])
            for registry in registries:
                registry.add(record(jti, *parents, client=client))
            jtis.append(jti)
        else:
            target = rng.choice(jtis)
            results = [
                [r.jti for r in revoke_with_descendants(registry, target, step)]
                for registry in registries
            ]
            assert sorted(results[0]) == sorted(results[1])
    for jti in jtis:
        assert stored.get(jti) == memory.get(jti)
        assert sorted(stored.children(jti)) == sorted(memory.children(jti))
        assert revoked_ancestor(stored, jti) == revoked_ancestor(memory, jti)
    assert sorted(stored.issued_to("wl_a")) == sorted(memory.issued_to("wl_a"))


# -- signing keys ----------------------------------------------------------------------------------


@pytest.fixture
def envelope() -> Envelope:
    return Envelope(LocalKeyProvider({"kek-1": os.urandom(32)}, "kek-1"))


def test_key_store_keeps_private_keys_sealed_and_kids_forever(
    database: Database, clock: ManualClock, envelope: Envelope
) -> None:
    store = StoredKeyStore(database, clock)
    private = generate_key("ES256")
    sealed = seal_key(
        private, kid="k1", alg="ES256", envelope=envelope, published_at=1, activates_at=2
    )
    store.add_key(sealed)
    (stored,) = store.list_keys()
    assert stored == sealed
    assert open_key(stored, envelope).kid == "k1"
    with database.transaction(readonly=True) as tx:
        raw = tx.fetchone("SELECT sealed_private_key, public_jwk FROM signing_keys")
    assert raw is not None
    assert b"PRIVATE" not in bytes(raw["sealed_private_key"])
    assert '"d"' not in raw["public_jwk"]
    store.replace_key(
        seal_key(private, kid="k1", alg="ES256", envelope=envelope, published_at=1, activates_at=2)
    )
    store.delete_key("k1")
    assert store.list_keys() == []
    with pytest.raises(ValueError, match="one key forever"):
        store.add_key(sealed)
    with pytest.raises(ValueError, match="no such key"):
        store.replace_key(sealed)


def test_access_tokens_over_stored_keys_and_registry(
    database: Database, clock: ManualClock, envelope: Envelope
) -> None:
    """The core over storage: issue, validate, revoke with the cascade (AS-FMT-004)."""
    keys = SigningKeys(StoredKeyStore(database, clock), envelope, clock, max_token_lifetime=600)
    keys.bootstrap()
    registry = StoredTokenRegistry(database, clock)
    tokens = AccessTokens(keys, registry, ISSUER, clock, max_lifetime=600)
    own = tokens.issue(
        sub="wl_a", client_id="wl_a", aud=[ISSUER], scopes=(), exp=int(START) + 600,
        grant="client_credentials",
    )  # fmt: skip
    child = tokens.issue(
        sub="sarah", client_id="wl_a", aud=["wl_b"], scopes=("crm.read",), exp=int(START) + 300,
        grant="token_exchange", parents=[own.record.jti], act={"sub": "wl_a", "iss": ISSUER},
    )  # fmt: skip
    assert tokens.validate(child.token).act == {"sub": "wl_a", "iss": ISSUER}
    revoke_with_descendants(registry, own.record.jti, int(START))
    for token in (own.token, child.token):
        with pytest.raises(OwnTokenRejected) as caught:
            tokens.validate(token)
        assert caught.value.reason == "revoked"


# -- exchange policies -----------------------------------------------------------------------------


def _workload(database: Database, name: str) -> None:
    with database.transaction() as tx:
        tx.execute(
            "INSERT INTO workloads (name, client_id, config, disabled, created_at, updated_at,"
            " version) VALUES (?, ?, '{}', ?, 0, 0, 1)",
            (name, "wl_" + name.replace("-", ""), False),
        )


def _policy(**changes: object) -> ExchangePolicy:
    document: dict[str, object] = {
        "name": "orchestrator-to-sub",
        "client": "orchestrator",
        "subject_issuers": ["self"],
        "audiences": ["wl_sub"],
        "scopes": ["crm.read"],
    }
    document.update(changes)
    return ExchangePolicy.model_validate(document)


def test_policy_repository(database: Database, clock: ManualClock) -> None:
    repository = ExchangePolicyRepository(database, clock, issuer=ISSUER)
    with pytest.raises(ValidationFailed):
        repository.create(_policy())  # no such workload yet
    _workload(database, "orchestrator")
    _workload(database, "other-one")
    created = repository.create(_policy())
    assert created.version == 1
    assert created.policy == _policy()
    with pytest.raises(Conflict):
        repository.create(_policy())
    with pytest.raises(Conflict):
        repository.create(_policy(name="shares-a-target"))
    with pytest.raises(ValidationFailed):
        repository.create(_policy(name="targets-issuer", audiences=[ISSUER]))
    repository.create(_policy(name="another-client", client="other-one"))
    repository.create(_policy(name="a-second", audiences=["wl_tool"]))
    assert [p.name for p in repository.policies_for("orchestrator")] == [
        "a-second",
        "orchestrator-to-sub",
    ]
    replaced = repository.replace("a-second", _policy(name="a-second", audiences=["wl_x"]))
    assert replaced.version == 2
    assert repository.policies_for("orchestrator")[0].audiences == ("wl_x",)
    with pytest.raises(NotFound):
        repository.replace("missing-one", _policy(name="missing-one"))
    repository.delete("a-second")
    with pytest.raises(NotFound):
        repository.delete("a-second")
    page = repository.list(limit=1)
    assert [s.policy.name for s in page.items] == ["another-client"]
    assert page.next_token is not None
    rest = repository.list(limit=5, next_token=page.next_token)
    assert [s.policy.name for s in rest.items] == ["orchestrator-to-sub"]
