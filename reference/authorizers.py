"""The registry of inbound authorizer configurations (spec ``02-inbound-authorization.md``).

Two jobs:

- **CRUD over storage** for ``/v1/authorizers`` (INB-CFG-001/002/003): a request body is
  validated into an :class:`~proctor.reference.authorizer_config.AuthorizerConfig`
  (defaults filled in, ``created_at``/``updated_at`` ignored) and stored without its name;
  the IdP's metadata is fetched before a create or replace is stored (INB-DISC-003), and a
  delete is refused with ``409 conflict`` while a workload names the authorizer.
- **Live authorizers**: one :class:`~proctor.reference.authorizer.Authorizer` per stored
  configuration *version*, all sharing one :class:`httpx.Client`. Every decision reads the
  stored version first, so a replace or delete answered by any replica takes effect on the
  next decision everywhere (INB-CACHE-002); a replace that keeps the IdP (discovery URL,
  issuer, profile) keeps the cached keys and drops only the cached decisions.

:meth:`AuthorizerRegistry.decide` never raises for the IdP's state: when the keys have
never been obtainable the decision is ``deny``/``unknown_key`` (INB-DISC-001,
INB-JWKS-003: an IdP failure never turns into a 5xx).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from proctor.reference.authorizer import Authorizer, Decision
from proctor.reference.authorizer_config import AuthorizerConfig, TokenKind
from proctor.reference.claims import Identity
from proctor.reference.clock import Clock
from proctor.reference.directory import is_name
from proctor.reference.errors import (
    Conflict,
    InvalidRequestBody,
    NotFound,
    UpstreamError,
    ValidationFailed,
)
from proctor.reference.jwks import DiscoveryKeySource, KeySource
from proctor.reference.storage.authorizers import AuthorizerRecord, AuthorizerRepository
from proctor.reference.storage.columns import dump_object, load_object
from proctor.reference.storage.database import Database, Transaction, in_transaction
from proctor.reference.storage.pagination import DEFAULT_LIMIT, Page
from proctor.reference.workload_tokens import requested_kind

__all__ = [
    "AuthorizerRegistry",
    "authorizer_view",
    "json_pointer",
    "parse_model",
]

#: Members of the API object that the service sets; ignored in requests (INB-CFG-001).
_READ_ONLY: Final = ("created_at", "updated_at")
_SHAPE_ERRORS: Final = frozenset(
    {"extra_forbidden", "missing", "model_type", "dict_type", "list_type", "json_invalid"}
)
UNKNOWN_KEY: Final = Decision(False, "unknown_key")
#: Not an :class:`Authorizer` reason: the registry adds it for the service's own tokens.
REVOKED: Final = Decision(False, "revoked")

#: ``is_revoked(identity) -> bool`` for tokens the service issued itself: wired by the
#: token service so that an authorizer configured for the service's own issuer sees a
#: revocation at once, past any decision cache (AS-CASC-002).
RevocationCheck = Callable[[Identity], bool]

FetchHook = Callable[[str, str], None]
M = TypeVar("M", bound=BaseModel)


def json_pointer(location: Iterable[int | str]) -> str:
    """RFC 6901: the JSON Pointer of a member location (``""`` is the whole body), as
    ERR-SHAPE-002 wants in ``errors[].field``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in location)


def parse_model(
    model: type[M], data: Mapping[str, Any], *, context: dict[str, Any] | None = None
) -> M:
    """``data`` as ``model``: missing, unknown or wrongly typed members are
    ``invalid_request_body``; values breaking a rule are ``validation_failed`` naming
    each field. (:func:`proctor.reference.http.bodies.to_model` without a validation
    context; the authorizer's rules need one for development mode.)"""
    try:
        return model.model_validate(dict(data), context=context)
    except ValidationError as exc:
        details = exc.errors(include_url=False, include_input=False)
        fields = [{"field": json_pointer(err["loc"]), "message": err["msg"]} for err in details]
        if any(
            err["type"] in _SHAPE_ERRORS or err["type"].endswith(("_type", "_parsing"))
            for err in details
        ):
            raise InvalidRequestBody(
                "The request body has missing, unknown or wrongly typed members."
            ).with_errors(fields) from None
        raise ValidationFailed("The request body breaks a rule.", errors=fields) from None


def authorizer_view(record: AuthorizerRecord) -> dict[str, Any]:
    """The authorizer as the control plane returns it (Table 2.1, defaults included)."""
    return {
        "name": record.name,
        **record.config,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


@dataclass(frozen=True)
class _Live:
    version: int
    authorizer: Authorizer


def _same_idp(a: AuthorizerConfig, b: AuthorizerConfig) -> bool:
    return (a.discovery_url, a.issuer, a.idp_profile) == (b.discovery_url, b.issuer, b.idp_profile)


class AuthorizerRegistry:
    """Stored authorizer configurations and their live :class:`Authorizer` instances."""

    def __init__(
        self,
        database: Database,
        repository: AuthorizerRepository,
        clock: Clock,
        http: httpx.Client,
        *,
        allow_loopback_http: bool = False,
        verify_metadata_on_save: bool = True,
        on_fetch: FetchHook | None = None,
        decision_cache_size: int = 10_000,
    ) -> None:
        self._database = database
        self._repository = repository
        self._clock = clock
        self._http = http
        self._allow_loopback_http = allow_loopback_http
        self._verify_on_save = verify_metadata_on_save
        self._on_fetch = on_fetch
        self._cache_size = decision_cache_size
        self._lock = threading.Lock()
        self._live: dict[str, _Live] = {}
        self.revocation_check: RevocationCheck | None = None
        # Key sources warmed by a create/replace, adopted by the next live authorizer.
        self._warm: dict[str, tuple[AuthorizerConfig, KeySource]] = {}

    # -- parsing -------------------------------------------------------------------

    def parse(self, body: Mapping[str, Any]) -> AuthorizerConfig:
        """INB-CFG-001/002: a request body as a validated configuration with defaults."""
        data = {k: v for k, v in body.items() if k not in _READ_ONLY}
        config = parse_model(
            AuthorizerConfig, data, context={"allow_loopback_http": self._allow_loopback_http}
        )
        if not is_name(config.name):  # token-shaped: it could never be audited
            raise ValidationFailed(
                "The name breaks a rule.",
                errors=[{"field": "/name", "message": "must not look like a token"}],
            )
        return config

    @staticmethod
    def stored_config(config: AuthorizerConfig) -> dict[str, Any]:
        return config.model_dump(mode="json", exclude={"name"})

    @staticmethod
    def config_of(record: AuthorizerRecord) -> AuthorizerConfig:
        """The stored configuration as a model (stored ones were validated on save)."""
        return AuthorizerConfig.model_validate(
            {**load_object(dump_object(record.config)), "name": record.name},
            context={"allow_loopback_http": True},
        )

    def check_metadata(self, config: AuthorizerConfig) -> KeySource | None:
        """INB-DISC-003 (SHOULD): fetch the IdP's metadata and keys now; a document that
        is unusable (INB-DISC-001) or names another issuer (INB-DISC-002) is a
        ``validation_failed`` naming ``discovery_url`` (or ``issuer`` when the document
        named another issuer than the configured one)."""
        if not self._verify_on_save:
            return None
        source = self._key_source(config)
        if source.refresh():
            return source
        reason = source.stats.last_error or ""
        field = "/issuer" if "another issuer" in reason and config.issuer else "/discovery_url"
        raise ValidationFailed(
            "The identity provider's metadata or keys could not be used.",
            errors=[{"field": field, "message": "metadata or keys unusable: " + reason[:200]}],
        )

    # -- CRUD ------------------------------------------------------------------------

    def get(self, name: str, *, tx: Transaction | None = None) -> AuthorizerRecord:
        record = self._repository.get(name, tx=tx) if is_name(name) else None
        if record is None:
            raise NotFound("No authorizer has that name.")
        return record

    def list(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        next_token: str | None = None,
        tx: Transaction | None = None,
    ) -> Page[AuthorizerRecord]:
        return self._repository.list(limit=limit, next_token=next_token, tx=tx)

    def create(
        self,
        config: AuthorizerConfig,
        *,
        warm: KeySource | None = None,
        tx: Transaction | None = None,
    ) -> AuthorizerRecord:
        """Stores a new configuration; :class:`Conflict` when the name is taken."""
        record = self._repository.create(config.name, self.stored_config(config), tx=tx)
        if warm is not None:
            with self._lock:
                self._warm[config.name] = (config, warm)
        return record

    def replace(
        self,
        name: str,
        config: AuthorizerConfig,
        *,
        warm: KeySource | None = None,
        tx: Transaction | None = None,
    ) -> AuthorizerRecord:
        """Replaces the configuration; the name cannot change (``validation_failed``)."""
        if config.name != name:
            raise ValidationFailed(
                "The name in the body must equal the name in the path.",
                errors=[{"field": "/name", "message": "must equal the name in the path"}],
            )
        record = self._repository.replace(name, self.stored_config(config), tx=tx)
        if warm is not None:
            with self._lock:
                self._warm[name] = (config, warm)
        return record

    def delete(self, name: str, *, tx: Transaction | None = None) -> None:
        """INB-CFG-003: refused with :class:`Conflict` while a workload names it."""
        if not is_name(name):
            raise NotFound("No authorizer has that name.")
        with in_transaction(self._database, tx) as t:
            if t.dialect == "postgresql":  # serialise with workloads naming it (see directory)
                t.execute("SELECT name FROM authorizers WHERE name = ? FOR UPDATE", (name,))
            users = referencing_workloads(t, name)
            if users:
                raise Conflict("Workloads still name this authorizer; change them first.")
            self._repository.delete(name, tx=t)
        with self._lock:
            self._live.pop(name, None)
            self._warm.pop(name, None)

    # -- deciding --------------------------------------------------------------------

    def authorizer(self, name: str) -> Authorizer | None:
        """The live authorizer for the stored configuration named ``name`` (``None`` if
        there is none). Built once per configuration version."""
        record = self._repository.get(name) if is_name(name) else None
        if record is None:
            with self._lock:
                self._live.pop(name, None)
            return None
        with self._lock:
            live = self._live.get(name)
            if live is not None and live.version == record.version:
                return live.authorizer
            config = self.config_of(record)
            warm = self._warm.pop(name, None)
            if warm is not None and warm[0] == config:
                authorizer = Authorizer(config, warm[1], self._clock, cache_size=self._cache_size)
            elif live is not None and _same_idp(live.authorizer.config, config):
                authorizer = live.authorizer
                authorizer.reconfigure(config)  # keeps the keys, drops cached decisions
            else:
                authorizer = Authorizer(
                    config, self._key_source(config), self._clock, cache_size=self._cache_size
                )
            self._live[name] = _Live(record.version, authorizer)
            return authorizer

    def kind_for(self, name: str) -> TokenKind:
        """WAT-JWT-001: the kind a user token is validated as under ``name``."""
        authorizer = self.authorizer(name)
        return "access_token" if authorizer is None else requested_kind(authorizer.config)

    def decide(self, name: str, token: str, kind: TokenKind) -> Decision:
        """The decision of the authorizer ``name``; :class:`NotFound` if there is none.
        An IdP whose keys were never obtainable yields ``unknown_key`` (INB-DISC-001)."""
        authorizer = self.authorizer(name)
        if authorizer is None:
            raise NotFound("No authorizer has that name.")
        try:
            decision = authorizer.decide(token, kind)
        except UpstreamError:
            return UNKNOWN_KEY
        check = self.revocation_check
        identity = decision.identity
        if decision.allowed and check is not None and identity is not None and check(identity):
            return REVOKED
        return decision

    def _key_source(self, config: AuthorizerConfig) -> DiscoveryKeySource:
        return DiscoveryKeySource.from_config(
            config,
            http=self._http,
            clock=self._clock,
            allow_loopback_http=self._allow_loopback_http,
            on_fetch=self._on_fetch,
        )


def referencing_workloads(tx: Transaction, authorizer: str) -> list[str]:
    """Names of the workloads whose ``authorizer`` is ``authorizer``.

    Workload configurations are stored as compact, key-sorted JSON, so a reference is the
    substring ``"authorizer":"<name>"``; ``LIKE`` narrows the rows (``_`` and ``%``
    escaped) and each candidate is confirmed by parsing it.
    """
    needle = '"authorizer":"' + authorizer + '"'
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = tx.fetchall(
        "SELECT name, config FROM workloads WHERE config LIKE ? ESCAPE '\\'", (pattern,)
    )
    return [
        row["name"] for row in rows if load_object(row["config"]).get("authorizer") == authorizer
    ]
