"""RFC 7523 jti replay protection: atomic insert-if-absent, shared by every node."""

from __future__ import annotations

import threading

import pytest

from proctor.reference.clock import ManualClock
from proctor.reference.storage import Database, open_database
from proctor.reference.storage.assertions import ClientAssertionJtiRepository


@pytest.fixture
def repo(database: Database, clock: ManualClock) -> ClientAssertionJtiRepository:
    return ClientAssertionJtiRepository(database, clock)


def test_first_use_wins_replays_lose(
    repo: ClientAssertionJtiRepository, clock: ManualClock
) -> None:
    exp = int(clock.now()) + 300
    assert repo.consume_jti("wl_a", "jti-1", exp) is True
    assert repo.consume_jti("wl_a", "jti-1", exp) is False
    assert repo.consume_jti("wl_a", "jti-1", exp + 100) is False
    # jti values are scoped per client.
    assert repo.consume_jti("wl_b", "jti-1", exp) is True


def test_an_expired_record_no_longer_blocks(
    repo: ClientAssertionJtiRepository, clock: ManualClock
) -> None:
    exp = int(clock.now()) + 300
    assert repo.consume_jti("wl_a", "jti-1", exp) is True
    clock.advance(299)
    assert repo.consume_jti("wl_a", "jti-1", exp + 299) is False
    clock.advance(1)  # now == exp: the first assertion can no longer be accepted
    assert repo.consume_jti("wl_a", "jti-1", exp + 300) is True
    assert repo.consume_jti("wl_a", "jti-1", exp + 300) is False


def test_purge(repo: ClientAssertionJtiRepository, clock: ManualClock) -> None:
    now = int(clock.now())
    repo.consume_jti("wl_a", "old", now + 10)
    repo.consume_jti("wl_a", "new", now + 300)
    clock.advance(10)
    assert repo.purge_expired() == 1
    assert repo.consume_jti("wl_a", "new", now + 300) is False


def test_an_expired_assertion_is_misuse(
    repo: ClientAssertionJtiRepository, clock: ManualClock
) -> None:
    with pytest.raises(ValueError, match="expired"):
        repo.consume_jti("wl_a", "jti", int(clock.now()))


def race(nodes: list[ClientAssertionJtiRepository], jti: str, threads: int = 8) -> list[bool]:
    """``threads`` threads, spread over ``nodes``, present one jti at the same moment."""
    barrier = threading.Barrier(threads)
    results: list[bool] = []
    lock = threading.Lock()

    def present(node: ClientAssertionJtiRepository) -> None:
        barrier.wait()
        won = node.consume_jti("wl_a", jti, 1_800_000_300)
        with lock:
            results.append(won)

    workers = [
        threading.Thread(target=present, args=(nodes[i % len(nodes)],)) for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def test_racing_nodes_exactly_one_wins(database_url: str, database: Database) -> None:
    """Eight threads over two independent pools (two "nodes") present the same jti at once."""
    clock = ManualClock(start=1_800_000_000.0)
    other_node = open_database(database_url)
    try:
        nodes = [
            ClientAssertionJtiRepository(database, clock),
            ClientAssertionJtiRepository(other_node, clock),
        ]
        for round_ in range(5):
            assert sorted(race(nodes, f"jti-{round_}")) == [False] * 7 + [True]
    finally:
        other_node.close()
