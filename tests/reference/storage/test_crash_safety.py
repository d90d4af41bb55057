"""A process killed mid-write loses nothing it committed, and keeps nothing it did not.

SQLite only: the embedded back-end's durability is this project's to configure (WAL,
``synchronous=FULL``); PostgreSQL's is the server's.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from proctor.reference.audit import AuditLog
from proctor.reference.clock import ManualClock
from proctor.reference.storage import open_database
from proctor.reference.storage.authorizers import AuthorizerRepository

WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from proctor.reference.audit import AuditLog
    from proctor.reference.clock import ManualClock
    from proctor.reference.storage import open_database
    from proctor.reference.storage.authorizers import AuthorizerRepository

    db = open_database(sys.argv[1])
    clock = ManualClock()
    authorizers = AuthorizerRepository(db, clock)
    audit = AuditLog(db, clock)
    for i in range(20):
        with db.transaction() as tx:
            authorizers.create(f"committed-{i:02d}", {"i": i}, tx=tx)
            audit.append({"request_id": f"req-{i}", "operation": "authorizer.create",
                          "actor_chain": ["admin"], "decision": "allow", "reason": "ok"}, tx=tx)
    with db.transaction() as tx:
        authorizers.create("uncommitted", {}, tx=tx)
        audit.append({"request_id": "req-x", "operation": "authorizer.create",
                      "actor_chain": ["admin"], "decision": "allow", "reason": "ok"}, tx=tx)
        print("mid-transaction", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)   # no rollback, no close, no atexit
    """
)


def test_committed_writes_survive_a_killed_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'proctor.db'}"
    run = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", WRITER, url], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    assert run.stdout.strip() == "mid-transaction"
    assert (tmp_path / "proctor.db-wal").exists()  # the commits are (at least) in the WAL

    db = open_database(url)
    try:
        clock = ManualClock()
        names = [record.name for record in AuthorizerRepository(db, clock).list(limit=100).items]
        assert names == [f"committed-{i:02d}" for i in range(20)]
        verification = AuditLog(db, clock).verify()
        assert verification.valid
        assert verification.events == 20
        with db.transaction(readonly=True) as tx:
            assert tx.fetchone("PRAGMA integrity_check") == {"integrity_check": "ok"}
    finally:
        db.close()
