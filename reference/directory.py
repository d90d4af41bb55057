"""The directory of workload identities (spec ``03-workload-identity.md``).

A workload identity is an agent registered by the operator: a unique ``name``, a
service-generated ``client_id`` (WID-DIR-002), the authorizer that vouches for its users,
its return URLs, flags, and a credential. This module is the framework-free core behind
``/v1/workloads``:

- **create** validates the request (WID-DIR-003), generates the ``client_id`` and, for the
  secret methods, a 256-bit client secret that is returned once and stored only as an
  HMAC-SHA-256 under the service's pepper (WID-SEC-001, WID-SEC-002);
- **replace** keeps ``client_id`` and secret, except that switching to ``private_key_jwt``
  deletes the secret (WID-SEC-003); setting ``disabled`` revokes every token of the
  workload in the same transaction (WID-STATE-001, WAT-REV-001);
- **delete** revokes the tokens too and removes the row (WID-STATE-002); a later
  workload of the same name gets a fresh ``client_id``;
- **rotate_secret** replaces the secret; the old one fails from the response on
  (WID-SEC-003).

Every mutating method takes the caller's transaction, so the HTTP layer commits the
change and its audit event together (AUD-APP-002).

Token kinds other than workload access tokens (the token endpoint's access tokens) are
revoked through :attr:`Directory.revocation_hooks`: the token-endpoint wiring registers
one callable there, and disabling or deleting a workload calls it inside the same
transaction.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator

from proctor.reference.authorizer_config import check_url
from proctor.reference.credentials import CredentialHasher, new_secret
from proctor.reference.errors import NotFound, ValidationFailed
from proctor.reference.storage.database import Database, Transaction, in_transaction
from proctor.reference.storage.pagination import DEFAULT_LIMIT, Page
from proctor.reference.storage.workload_tokens import WorkloadTokenRepository
from proctor.reference.storage.workloads import WorkloadRecord, WorkloadRepository

__all__ = [
    "NAME_PATTERN",
    "SECRET_METHODS",
    "Directory",
    "RevocationHook",
    "WorkloadSpec",
    "is_name",
    "new_client_id",
    "workload_view",
]

#: TERM-NAME-001: names of control-plane objects.
NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,63}")
#: Token-endpoint auth methods that use a client secret (RFC 7591 §2).
SECRET_METHODS: Final = frozenset({"client_secret_basic", "client_secret_post"})
AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]

_MAX_RETURN_URLS: Final = 50
_MAX_URL: Final = 2048
_MAX_KEYS: Final = 10
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_CURVES: Final = {"EC": frozenset({"P-256", "P-384", "P-521"}), "OKP": frozenset({"Ed25519"})}
# Looks like a compact JWS/JWE: such a value must never reach the audit log (AUD-SEC-001).
_TOKEN_SHAPED: Final = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")
_ALNUM: Final = re.compile(r"[A-Za-z0-9]+")

#: Called with the workload and the open transaction when its tokens must die.
RevocationHook = Callable[[WorkloadRecord, Transaction], None]


def is_name(value: object) -> bool:
    """TERM-NAME-001, plus: not shaped like a token (such a name could not be audited)."""
    return (
        isinstance(value, str)
        and NAME_PATTERN.fullmatch(value) is not None
        and _TOKEN_SHAPED.search(value) is None
    )


def new_client_id() -> str:
    """WID-DIR-002: ``wl_`` + base64url of 144 random bits, drawn until it is alphanumeric.

    The OpenAPI document constrains ``client_id`` to ``^wl_[A-Za-z0-9]{8,64}$``; a
    base64url string without ``-`` and ``_`` is both. Rejecting the ~53% of draws that
    contain them costs about one bit, leaving ~143 bits (the spec asks for 128).
    """
    while True:
        candidate = secrets.token_urlsafe(18)
        if _ALNUM.fullmatch(candidate):
            return "wl_" + candidate


class WorkloadSpec(BaseModel):
    """A create or replace request (Table 3.1 of the spec). Read-only members are dropped
    before validation (WID-DIR-002)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StrictStr
    authorizer: StrictStr | None = None
    allowed_return_urls: Annotated[list[StrictStr], Field(max_length=_MAX_RETURN_URLS)] = []
    allow_user_id_tokens: StrictBool = False
    jwks: dict[str, Any] | None = None
    token_endpoint_auth_method: StrictStr = "client_secret_basic"  # noqa: S105 - a method name
    disabled: StrictBool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not is_name(value):
            raise ValueError("name is 3-64 characters matching ^[A-Za-z0-9][A-Za-z0-9_.-]*$")
        return value

    @field_validator("authorizer")
    @classmethod
    def _authorizer(cls, value: str | None) -> str | None:
        if value is not None and not is_name(value):
            raise ValueError("authorizer is the name of an existing authorizer")
        return value

    @field_validator("token_endpoint_auth_method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value not in (*SECRET_METHODS, "private_key_jwt"):
            raise ValueError(
                "token_endpoint_auth_method is client_secret_basic, client_secret_post "
                "or private_key_jwt"
            )
        return value

    @property
    def uses_secret(self) -> bool:
        return self.token_endpoint_auth_method in SECRET_METHODS

    def config(self) -> dict[str, Any]:
        """The stored document (everything but name and disabled, which have columns)."""
        return {
            "authorizer": self.authorizer,
            "allowed_return_urls": list(self.allowed_return_urls),
            "allow_user_id_tokens": self.allow_user_id_tokens,
            "jwks": self.jwks,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
        }


def _check_return_urls(urls: list[str], allow_loopback_http: bool) -> list[str]:
    problems: list[str] = []
    if len(set(urls)) != len(urls):
        problems.append("return URLs must be distinct")
    for url in urls:
        if len(url) > _MAX_URL:
            problems.append(f"a return URL is at most {_MAX_URL} characters")
            continue
        try:
            check_url(url, "a return URL", allow_loopback_http=allow_loopback_http)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def _check_jwks(jwks: Mapping[str, Any]) -> list[str]:
    """Table 3.1: 1-10 public keys, unique ``kid``s, supported ``kty``/``crv``, RSA of at
    least 2048 bits (INB-KEY-004), no private or symmetric material."""
    keys = jwks.get("keys")
    if set(jwks) - {"keys"}:
        return ["a JWK Set has only a keys member"]
    if not isinstance(keys, list) or not 1 <= len(keys) <= _MAX_KEYS:
        return [f"jwks.keys is an array of 1 to {_MAX_KEYS} keys"]
    problems: list[str] = []
    kids: list[object] = []
    for position, jwk in enumerate(keys):
        label = f"jwks.keys[{position}]"
        if not isinstance(jwk, dict):
            problems.append(f"{label} is not an object")
            continue
        kids.append(jwk.get("kid"))
        kty = jwk.get("kty")
        if _PRIVATE_MEMBERS & set(jwk) or kty == "oct":
            problems.append(f"{label} holds private or symmetric key material")
            continue
        if kty not in ("RSA", "EC", "OKP"):
            problems.append(f"{label}: kty must be RSA, EC or OKP")
            continue
        if kty in _CURVES and jwk.get("crv") not in _CURVES[kty]:
            problems.append(f"{label}: unsupported curve")
            continue
        if "kid" in jwk and not isinstance(jwk["kid"], str):
            problems.append(f"{label}: kid is a string")
            continue
        try:
            if kty == "RSA":
                if _rsa_bits(RSAKey.import_key(jwk)) < 2048:
                    problems.append(f"{label}: RSA keys have at least 2048 bits")
            elif kty == "EC":
                ECKey.import_key(jwk)
            else:
                OKPKey.import_key(jwk)
        except (JoseError, ValueError, TypeError):
            problems.append(f"{label} is not a valid public key")
    if len(set(map(repr, kids))) != len(kids):
        problems.append("jwks keys need distinct kid values")
    return problems


def _rsa_bits(key: RSAKey) -> int:
    raw: Any = key.raw_value  # a public key: private members were refused above
    return int(raw.key_size)


def workload_view(record: WorkloadRecord) -> dict[str, Any]:
    """The workload as the control plane returns it: never the secret or its hash."""
    config = record.config
    return {
        "name": record.name,
        "client_id": record.client_id,
        "authorizer": config.get("authorizer"),
        "allowed_return_urls": list(config.get("allowed_return_urls", [])),
        "allow_user_id_tokens": bool(config.get("allow_user_id_tokens", False)),
        "jwks": config.get("jwks"),
        "token_endpoint_auth_method": config.get("token_endpoint_auth_method"),
        "disabled": record.disabled,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


@dataclass(frozen=True)
class _Secret:
    value: str
    hash: str


class Directory:
    """Workload identities over storage; see the module docstring."""

    def __init__(
        self,
        database: Database,
        workloads: WorkloadRepository,
        tokens: WorkloadTokenRepository,
        hasher: CredentialHasher,
        *,
        secret_key_id: str,
        allow_loopback_http: bool = False,
    ) -> None:
        self._database = database
        self._workloads = workloads
        self._tokens = tokens
        self._hasher = hasher
        self._secret_key_id = secret_key_id
        self._allow_loopback_http = allow_loopback_http
        #: Extra revocations run when a workload is disabled or deleted (token endpoint).
        self.revocation_hooks: list[RevocationHook] = []

    @property
    def secret_key_id(self) -> str:
        """Names the pepper that hashed the stored secrets."""
        return self._secret_key_id

    # -- reading ---------------------------------------------------------------------

    def get(self, name: str, *, tx: Transaction | None = None) -> WorkloadRecord:
        record = self._workloads.get(name, tx=tx) if is_name(name) else None
        if record is None:
            raise NotFound("No workload has that name.")
        return record

    def find(self, name: str, *, tx: Transaction | None = None) -> WorkloadRecord | None:
        return self._workloads.get(name, tx=tx) if is_name(name) else None

    def find_by_client_id(
        self, client_id: str, *, tx: Transaction | None = None
    ) -> WorkloadRecord | None:
        return self._workloads.get_by_client_id(client_id, tx=tx)

    def list(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        next_token: str | None = None,
        tx: Transaction | None = None,
    ) -> Page[WorkloadRecord]:
        """WID-DIR-001: ordered by name, keyset-paginated."""
        return self._workloads.list(limit=limit, next_token=next_token, tx=tx)

    # -- writing -----------------------------------------------------------------------

    def create(
        self, spec: WorkloadSpec, *, tx: Transaction | None = None
    ) -> tuple[WorkloadRecord, str | None]:
        """WID-DIR-001/002, WID-SEC-001: the stored workload and, for the secret
        methods, the client secret (the only time it exists outside the caller's memory).
        :class:`~proctor.reference.errors.Conflict` when the name is taken."""
        with in_transaction(self._database, tx) as t:
            self._validate(spec, t)
            secret = self._new_secret() if spec.uses_secret else None
            record = self._workloads.create(
                spec.name,
                new_client_id(),
                spec.config(),
                secret_hash=None if secret is None else secret.hash,
                secret_key_id=None if secret is None else self._secret_key_id,
                disabled=spec.disabled,
                tx=t,
            )
        return record, None if secret is None else secret.value

    def replace(
        self, name: str, spec: WorkloadSpec, *, tx: Transaction | None = None
    ) -> WorkloadRecord:
        """WID-DIR-001/003, WID-SEC-003, WID-STATE-001."""
        if spec.name != name:
            raise ValidationFailed(
                "The name in the body must equal the name in the path.",
                errors=[{"field": "/name", "message": "must equal the name in the path"}],
            )
        with in_transaction(self._database, tx) as t:
            current = self.get(name, tx=t)
            self._validate(spec, t)
            record = self._workloads.replace(name, spec.config(), disabled=spec.disabled, tx=t)
            if not spec.uses_secret and current.secret_hash is not None:
                record = self._drop_secret(t, name)
            if spec.disabled:
                self._revoke_all(record, t)
        return record

    def delete(self, name: str, *, tx: Transaction | None = None) -> WorkloadRecord:
        """WID-STATE-002: revokes its tokens, then removes it (tokens cascade away)."""
        with in_transaction(self._database, tx) as t:
            record = self.get(name, tx=t)
            self._revoke_all(record, t)
            self._workloads.delete(name, tx=t)
        return record

    def rotate_secret(
        self, name: str, *, tx: Transaction | None = None
    ) -> tuple[WorkloadRecord, str]:
        """WID-SEC-003: a new secret replaces the old one at once; tokens stay valid."""
        with in_transaction(self._database, tx) as t:
            current = self.get(name, tx=t)
            method = current.config.get("token_endpoint_auth_method")
            if method not in SECRET_METHODS:
                raise ValidationFailed(
                    "A private_key_jwt workload has no client secret to rotate.",
                    errors=[
                        {
                            "field": "/token_endpoint_auth_method",
                            "message": "is private_key_jwt",
                        }
                    ],
                )
            secret = self._new_secret()
            record = self._workloads.set_secret(
                name, secret_hash=secret.hash, secret_key_id=self._secret_key_id, tx=t
            )
        return record, secret.value

    # -- credentials -----------------------------------------------------------------

    def verify_secret(self, record: WorkloadRecord, secret: str) -> bool:
        """WID-SEC-002: HMAC the presented secret, compare in constant time. A workload
        without a secret, or whose hash was made under another pepper, never matches
        (the comparison still runs, against a dummy, to keep the timing alike)."""
        stored = record.secret_hash
        usable = stored is not None and record.secret_key_id == self._secret_key_id
        matches = self._hasher.verify(secret, stored if usable and stored else _DUMMY_HASH)
        return usable and matches

    def burn_time(self, secret: str) -> None:
        """Spends one HMAC and comparison, for a ``client_id`` that matched nothing
        (WID-AUTH-002: comparable time whatever failed)."""
        self._hasher.verify(secret, _DUMMY_HASH)

    # -- internals -------------------------------------------------------------------

    def _new_secret(self) -> _Secret:
        value = new_secret("pcs_")
        return _Secret(value, self._hasher.hash(value))

    def _validate(self, spec: WorkloadSpec, tx: Transaction) -> None:
        """WID-DIR-003: every rule of Table 3.1; all offending members are named."""
        errors: list[dict[str, str]] = []
        errors += [
            {"field": "/allowed_return_urls", "message": message}
            for message in _check_return_urls(spec.allowed_return_urls, self._allow_loopback_http)
        ]
        if spec.token_endpoint_auth_method == "private_key_jwt":  # noqa: S105 - a method name
            if spec.jwks is None:
                errors.append({"field": "/jwks", "message": "required for private_key_jwt"})
            else:
                errors += [{"field": "/jwks", "message": m} for m in _check_jwks(spec.jwks)]
        elif spec.jwks is not None:
            errors.append({"field": "/jwks", "message": "only private_key_jwt workloads have one"})
        if spec.authorizer is not None and not _lock_authorizer(tx, spec.authorizer):
            errors.append({"field": "/authorizer", "message": "no authorizer has that name"})
        if errors:
            raise ValidationFailed("The workload breaks a rule.", errors=errors)

    def _drop_secret(self, tx: Transaction, name: str) -> WorkloadRecord:
        """WID-SEC-003: switching to ``private_key_jwt`` deletes the stored secret. (The
        repository has no method to clear a secret; this one statement is the adapter.)"""
        tx.execute(
            "UPDATE workloads SET secret_hash = NULL, secret_key_id = NULL WHERE name = ?",
            (name,),
        )
        record = self._workloads.get(name, tx=tx)
        assert record is not None  # updated in this very transaction
        return record

    def _revoke_all(self, record: WorkloadRecord, tx: Transaction) -> None:
        self._tokens.revoke_for_workload(record.name, tx=tx)
        for hook in self.revocation_hooks:
            hook(record, tx)


_DUMMY_HASH: Final = "0" * 64


def _lock_authorizer(tx: Transaction, name: str) -> bool:
    """Whether the authorizer exists; on PostgreSQL its row stays locked until ``tx`` ends,
    so a concurrent delete (which checks for referencing workloads) waits for this
    transaction and then sees the reference (INB-CFG-003)."""
    sql = "SELECT name FROM authorizers WHERE name = ?"
    if tx.dialect == "postgresql":
        sql += " FOR UPDATE"
    return tx.fetchone(sql, (name,)) is not None
