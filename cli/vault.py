"""``proctor vault``: operate on the token vault offline.

``rotate-key`` makes a new key-encryption key (KEK) current and re-wraps every sealed value
in the database under it (spec ``05``, VLT-ENC-003): vault entries, sessions, cached
tokens, provider secrets, API keys, bound user tokens and the token service's signing
keys. Only the wrapped data keys change; the ciphertexts stay.

Where the KEK lives decides the steps:

- in ``{data_dir}/service-keys.json`` (the default): a new KEK is generated and written as
  ``kek``, the old one kept under ``retired_keks`` *before* any row changes, so an
  interrupted run loses nothing; once no row references the old KEK it is dropped from the
  file;
- in ``PROCTOR_KEK`` (the environment): the new KEK comes from ``PROCTOR_NEW_KEK``
  (base64url, 32 bytes); afterwards set ``PROCTOR_KEK`` to it on every node.

A running service whose KEK comes from the keys file follows the rotation without a
restart: it reloads the file when it changes, so it seals new values under the new KEK and
opens the re-wrapped ones. With ``PROCTOR_KEK``, restart each node with the new value once
the command has finished. Exit codes: 0 done, 1 some values could not be opened (the old keys are
kept), 2 usage or configuration error.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from proctor.reference.audit import AuditLog
from proctor.reference.audit_trail import Trail
from proctor.reference.clock import SystemClock
from proctor.reference.encryption import Envelope, LocalKeyProvider
from proctor.reference.sealing import Sealer
from proctor.reference.service import (
    KEK_ENV,
    KEK_ID_ENV,
    KEYS_FILE,
    _b64decode,
    _b64encode,
    _key_id,
)
from proctor.reference.settings import Settings
from proctor.reference.storage import Database, StorageError, open_database, schema_version
from proctor.reference.vault import rotate_key

__all__ = ["app"]

app = typer.Typer(help="Operate on the token vault.", no_args_is_help=True)


@app.callback()
def _vault() -> None:
    """Operate on the token vault (offline, on the service's database)."""


NEW_KEK_ENV = "PROCTOR_NEW_KEK"
NEW_KEK_ID_ENV = "PROCTOR_NEW_KEK_ID"
#: The schema version that created the vault's tables.
VAULT_SCHEMA = 3

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="The service's data directory (default .proctor)."),
]
DatabaseUrl = Annotated[
    str | None, typer.Option("--database", help="sqlite:///path or postgresql://...")
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"proctor vault: {message}", err=True)
    return typer.Exit(code)


def _write_keys(path: Path, document: Mapping[str, Any]) -> None:
    """Replaces the keys file atomically, mode 0600."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(dict(document), handle)
        handle.write("\n")
    os.replace(temporary, path)


def _open(settings: Settings) -> Database:
    url = settings.effective_database_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).is_file():
        raise _fail(f"no database at {url}")
    try:
        database = open_database(url, run_migrations=False)
    except (StorageError, ValueError, OSError) as exc:
        raise _fail(f"cannot open the database: {type(exc).__name__}") from exc
    if schema_version(database) < VAULT_SCHEMA:
        database.close()
        raise _fail("the database has no vault yet (start the service once)")
    return database


@app.command("rotate-key")
def rotate_key_command(data_dir: DataDir = None, database: DatabaseUrl = None) -> None:
    """Make a new key-encryption key current and re-wrap every sealed value under it."""
    settings = Settings.from_env(data_dir=data_dir, database_url=database)
    env = os.environ
    keys: dict[str, bytes] = {}
    keys_path = Path(settings.data_dir) / KEYS_FILE
    document: dict[str, Any] | None = None
    try:
        if KEK_ENV in env:
            if NEW_KEK_ENV not in env:
                raise _fail(f"{KEK_ENV} is set: give the new key in {NEW_KEK_ENV}")
            old = _b64decode(env[KEK_ENV], "the key-encryption key")
            new = _b64decode(env[NEW_KEK_ENV], "the new key-encryption key")
            keys[env.get(KEK_ID_ENV) or _key_id(old, "kek")] = old
            new_id = env.get(NEW_KEK_ID_ENV) or _key_id(new, "kek")
        else:
            if not keys_path.is_file():
                raise _fail(f"no {KEYS_FILE} in {settings.data_dir}")
            document = json.loads(keys_path.read_text(encoding="utf-8"))
            if not isinstance(document, dict) or "kek" not in document:
                raise _fail(f"{KEYS_FILE} holds no key-encryption key")
            old = _b64decode(str(document["kek"]), "the key-encryption key")
            keys[env.get(KEK_ID_ENV) or _key_id(old, "kek")] = old
            for kid, value in dict(document.get("retired_keks") or {}).items():
                keys[str(kid)] = _b64decode(str(value), "a retired key-encryption key")
            new = secrets.token_bytes(32)
            new_id = _key_id(new, "kek")
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    if len(new) != 32:
        raise _fail("a key-encryption key is exactly 32 bytes")
    keys[new_id] = new
    old_ids = sorted(k for k in keys if k != new_id)
    if document is not None:
        # First make the new key current on disk, keeping the old ones for unwrapping.
        retired = {kid: _b64encode(keys[kid]) for kid in old_ids}
        _write_keys(keys_path, {**document, "kek": _b64encode(new), "retired_keks": retired})

    db = _open(settings)
    try:
        sealer = Sealer(Envelope(LocalKeyProvider(keys, new_id)))
        report = rotate_key(db, sealer, Trail.internal(AuditLog(db, SystemClock())))
    finally:
        db.close()

    table = Table("Sealed values", "Re-wrapped", title=f"current KEK: {new_id}")
    for name, count in report.rewrapped.items():
        table.add_row(name, str(count))
    Console().print(table)
    still_used = sorted(report.key_ids - {new_id})
    if report.failed or still_used:
        typer.echo(
            f"{report.failed} value(s) could not be opened; KEKs still referenced: "
            f"{', '.join(still_used) or 'none'}. The old keys are kept."
        )
        raise typer.Exit(1)
    if document is not None:
        current = json.loads(keys_path.read_text(encoding="utf-8"))
        current.pop("retired_keks", None)
        _write_keys(keys_path, current)
        typer.echo(
            f"old KEK(s) dropped: {', '.join(old_ids)}. Running services follow the new key."
        )
    else:
        typer.echo(
            f"no value references the old KEK any more: set {KEK_ENV} to the new key "
            f"({NEW_KEK_ENV}) and {KEK_ID_ENV}={new_id} on every node, then restart."
        )
