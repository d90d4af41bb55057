"""How a workload proves who it is: client authentication (RFC 6749 §2.3, RFC 7523).

At the OAuth endpoints (``/oauth2/token``, ``/oauth2/introspect``, ``/oauth2/revoke``)
:class:`ClientAuthenticator` accepts exactly one of three methods (spec
``07-token-exchange.md`` TX-CAUTH-001 to TX-CAUTH-003, ``03-workload-identity.md``
WID-PKJ-001 to WID-PKJ-005):

``client_secret_basic`` (RFC 6749 §2.3.1)
    ``Authorization: Basic base64(urlencode(client_id) ":" urlencode(secret))``. Both
    halves are ``application/x-www-form-urlencoded`` *before* base64, so the service
    decodes them after splitting at the first ``:`` (a ``:`` in an id arrives as ``%3A``).
``client_secret_post`` (RFC 6749 §2.3.1)
    ``client_id`` and ``client_secret`` in the form body.
``private_key_jwt`` (RFC 7523 §2.2 and §3, RFC 7521 §4.2, draft-ietf-oauth-rfc7523bis)
    ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and a
    ``client_assertion`` JWT signed with a key of the workload's registered ``jwks``:
    ``iss`` = ``sub`` = the client id; ``aud`` a single string *equal to the service's
    issuer* (an array, or the token endpoint URL, is refused: audience injection,
    CVE-2025-27370); ``exp`` required and at most 300 seconds ahead; ``nbf``/``iat`` not
    in the future; a ``jti`` that is consumed, once, in the shared replay store;
    ``alg`` ES256 or RS256 only (never ``none`` or HMAC, RFC 8725 §3.1).

Two methods in one request are ``invalid_request``; everything else that fails is
``invalid_client`` (HTTP 401, with a ``Basic`` challenge) with one and the same description,
whether the client is unknown, disabled, registered for another method, or presented a
wrong secret or a bad assertion, so the answer is no oracle of which clients exist
(TX-CAUTH-001, WID-AUTH-002). The internal reason goes to ``detail`` (logs only). Secrets
are compared as keyed hashes in constant time (:class:`~proctor.reference.credentials.
CredentialHasher`, WID-SEC-002), and an unknown client costs the same hash computation.

On the **data plane** (:mod:`proctor.reference.workload_auth`), ``Authorization: Bearer``
takes a ``client_credentials`` token the service issued to the workload; the check is
:class:`WorkloadBearerVerifier` (WID-AUTH-001).
"""

from __future__ import annotations

import binascii
import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol
from urllib.parse import unquote_plus

from proctor.reference.authorizer_config import normalize_typ
from proctor.reference.clock import Clock
from proctor.reference.compact_jws import MalformedJws, parse_compact
from proctor.reference.credentials import CredentialHasher
from proctor.reference.errors import InvalidClient, InvalidRequest
from proctor.reference.jwks import StaticKeySource, VerificationKey
from proctor.reference.tokens import AccessTokens, OwnTokenRejected

__all__ = [
    "ASSERTION_ALGORITHMS",
    "CLIENT_AUTH_PARAMETERS",
    "JWT_BEARER_ASSERTION",
    "MAX_ASSERTION_LIFETIME",
    "AuthMethod",
    "AuthenticatedClient",
    "ClientAuthenticator",
    "InMemoryJtiStore",
    "InMemoryWorkloadDirectory",
    "JtiReplayStore",
    "Workload",
    "WorkloadBearerVerifier",
    "WorkloadDirectory",
    "decode_basic",
]

AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]
SECRET_METHODS: Final = frozenset(("client_secret_basic", "client_secret_post"))
ASSERTION_METHODS: Final = frozenset(("private_key_jwt",))
#: RFC 7523 §2.2.
JWT_BEARER_ASSERTION: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: ``token_endpoint_auth_signing_alg_values_supported`` (WID-PKJ-005, AS-META-002).
ASSERTION_ALGORITHMS: Final = ("ES256", "RS256")
#: WID-PKJ-003: ``exp`` at most this far (plus the leeway) after now.
MAX_ASSERTION_LIFETIME: Final = 300
#: Form parameters that belong to client authentication (RFC 6749 §2.3.1, RFC 7521 §4.2).
CLIENT_AUTH_PARAMETERS: Final = frozenset(
    ("client_id", "client_secret", "client_assertion", "client_assertion_type")
)
_MAX_ASSERTION_LENGTH: Final = 8 * 1024
_MAX_JTI: Final = 256
_FAILED: Final = "client_auth_failed: client authentication failed"
# Compared against when the client is unknown, so every failure costs one HMAC.
_DUMMY_HASH: Final = "0" * 64


# -- the directory --------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """What authentication and the token endpoint need to know of a registered workload
    (spec Table 3.1). The wiring adapts :class:`proctor.reference.storage.workloads.
    WorkloadRecord` to it, passing ``secret_hash`` only when the record's
    ``secret_key_id`` names the pepper of the :class:`CredentialHasher` in use (a hash
    made under another pepper never matches)."""

    name: str
    client_id: str
    token_endpoint_auth_method: AuthMethod = "client_secret_basic"  # noqa: S105 - a name
    #: ``CredentialHasher.hash`` of the client secret (never the secret itself).
    secret_hash: str | None = field(default=None, repr=False)
    #: The public JWK Set for ``private_key_jwt``.
    jwks: Mapping[str, Any] | None = field(default=None, hash=False)
    disabled: bool = False
    #: The name of the inbound authorizer that validates this workload's user tokens.
    authorizer: str | None = None


class WorkloadDirectory(Protocol):
    """Looks workloads up by ``client_id`` (storage in a deployment)."""

    def by_client_id(self, client_id: str) -> Workload | None: ...


class InMemoryWorkloadDirectory:
    """A :class:`WorkloadDirectory` in process memory."""

    def __init__(self, workloads: tuple[Workload, ...] | list[Workload] = ()) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Workload] = {}
        for workload in workloads:
            self.put(workload)

    def put(self, workload: Workload) -> None:
        with self._lock:
            self._by_id[workload.client_id] = workload

    def by_client_id(self, client_id: str) -> Workload | None:
        with self._lock:
            return self._by_id.get(client_id)


class JtiReplayStore(Protocol):
    """Single use of client-assertion ``jti`` values across every node (WID-PKJ-004).

    :class:`proctor.reference.storage.assertions.ClientAssertionJtiRepository` has this
    shape.
    """

    def consume_jti(self, client_id: str, jti: str, expires_at: int) -> bool:
        """``True`` the first time ``(client_id, jti)`` is seen before ``expires_at``."""
        ...


class InMemoryJtiStore:
    """A :class:`JtiReplayStore` in process memory."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], int] = {}

    def consume_jti(self, client_id: str, jti: str, expires_at: int) -> bool:
        now = self._clock.now()
        if expires_at <= now:
            raise ValueError("an expired assertion must be refused before its jti is recorded")
        with self._lock:
            held = self._seen.get((client_id, jti))
            if held is not None and held > now:
                return False
            self._seen[(client_id, jti)] = expires_at
            return True


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthenticatedClient:
    workload: Workload
    method: AuthMethod

    @property
    def client_id(self) -> str:
        return self.workload.client_id

    @property
    def name(self) -> str:
        return self.workload.name


def _fail(detail: str) -> InvalidClient:
    # ERR-OAUTH-002: invalid_client always carries the Basic challenge.
    return InvalidClient(_FAILED, used_basic=True, detail=detail)


def decode_basic(credentials: str) -> tuple[str, str] | None:
    """The ``(client_id, secret)`` of a Basic credential (RFC 7617 §2, RFC 6749 §2.3.1):
    strict base64, UTF-8, split at the first ``:``, each half form-urlencoding-decoded.
    ``None`` when it is not well formed."""
    try:
        raw = binascii.a2b_base64(credentials.strip().encode("ascii"), strict_mode=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, password = text.partition(":")
    if not colon:
        return None
    try:
        client_id = unquote_plus(user, errors="strict")
        secret = unquote_plus(password, errors="strict")
    except UnicodeDecodeError:
        return None
    if not client_id or not secret:
        return None
    return client_id, secret


def _split_authorization(authorization: str) -> tuple[str, str]:
    scheme, _, rest = authorization.strip().partition(" ")
    return scheme.lower(), rest.strip()


class _KeyIndexCache:
    """Bounded cache of the ``(kid, alg)`` index of a workload's registered JWKS."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, Mapping[tuple[str | None, str], VerificationKey]] = (
            OrderedDict()
        )

    def index(
        self, client_id: str, jwks: Mapping[str, Any]
    ) -> Mapping[tuple[str | None, str], VerificationKey]:
        fingerprint = hashlib.sha256(
            json.dumps([client_id, jwks], sort_keys=True, default=str).encode()
        ).digest()
        with self._lock:
            cached = self._entries.get(fingerprint)
            if cached is not None:
                self._entries.move_to_end(fingerprint)
                return cached
        try:
            index = StaticKeySource(jwks, issuer=client_id).current(0).index
        except ValueError:
            index = {}
        with self._lock:
            self._entries[fingerprint] = index
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return index


# -- the OAuth endpoints ----------------------------------------------------------------------


class ClientAuthenticator:
    """Authenticates the client of an OAuth endpoint request (TX-CAUTH-001 to -003).

    ``issuer`` is the service's issuer identifier: the only audience a client assertion
    may carry (WID-PKJ-002). ``leeway`` (at most 60 seconds, WID-PKJ-003) applies to the
    assertion's time claims.
    """

    def __init__(
        self,
        directory: WorkloadDirectory,
        hasher: CredentialHasher,
        replay: JtiReplayStore,
        issuer: str,
        clock: Clock,
        *,
        leeway: int = 30,
    ) -> None:
        if not 0 <= leeway <= 60:
            raise ValueError("leeway is 0-60 seconds (WID-PKJ-003)")
        self._directory = directory
        self._hasher = hasher
        self._replay = replay
        self._issuer = issuer
        self._clock = clock
        self._leeway = leeway
        self._keys = _KeyIndexCache()

    @property
    def directory(self) -> WorkloadDirectory:
        return self._directory

    def authenticate(
        self, authorization: str | None, params: Mapping[str, str]
    ) -> AuthenticatedClient:
        """The authenticated workload, from the ``Authorization`` header (or ``None``) and
        the request's form parameters (one value each, empty values already dropped).

        Raises :class:`InvalidRequest` for two methods at once and :class:`InvalidClient`
        for everything else that fails.
        """
        header = authorization.strip() if authorization else None
        methods = []
        if header:
            methods.append("header")
        if "client_secret" in params:
            methods.append("client_secret")
        if "client_assertion" in params or "client_assertion_type" in params:
            methods.append("client_assertion")
        if len(methods) > 1:
            raise InvalidRequest(
                "malformed_request: more than one client authentication method was used"
            )
        if not methods:
            # A client_id alone is a public client: never accepted (TX-CAUTH-001).
            raise _fail("no client credentials")
        claimed = params.get("client_id")
        if header:
            scheme, credentials = _split_authorization(header)
            if scheme != "basic":
                raise _fail("Authorization scheme is not Basic")
            decoded = decode_basic(credentials)
            if decoded is None:
                raise _fail("malformed Basic credentials")
            client_id, secret = decoded
            if claimed is not None and claimed != client_id:
                raise _fail("client_id parameter differs from the Basic client")
            return self._by_secret(client_id, secret, "client_secret_basic")
        if "client_secret" in params:
            if claimed is None:
                raise _fail("client_secret without client_id")
            return self._by_secret(claimed, params["client_secret"], "client_secret_post")
        return self._by_assertion(params, claimed)

    def _by_secret(self, client_id: str, secret: str, method: AuthMethod) -> AuthenticatedClient:
        workload = self._directory.by_client_id(client_id)
        stored = workload.secret_hash if workload is not None else None
        matches = self._hasher.verify(secret, stored or _DUMMY_HASH)
        if workload is None:
            raise _fail("unknown client")
        if workload.disabled:
            raise _fail("workload disabled")
        if workload.token_endpoint_auth_method not in SECRET_METHODS:
            raise _fail("workload is registered for private_key_jwt, not a secret")
        if stored is None or not matches:
            raise _fail("wrong client secret")
        return AuthenticatedClient(workload, method)

    def _by_assertion(self, params: Mapping[str, str], claimed: str | None) -> AuthenticatedClient:
        if params.get("client_assertion_type") != JWT_BEARER_ASSERTION:
            raise _fail("client_assertion_type is missing or not jwt-bearer")
        assertion = params.get("client_assertion")
        if assertion is None or len(assertion) > _MAX_ASSERTION_LENGTH or not assertion.isascii():
            raise _fail("client_assertion missing or too large")
        try:
            header, claims, signing_input, signature = parse_compact(assertion)
        except MalformedJws as exc:
            raise _fail(f"malformed client assertion: {exc}") from None
        alg = header["alg"]
        if alg not in ASSERTION_ALGORITHMS:
            raise _fail("assertion alg not allowed")
        typ = header.get("typ")
        if typ is not None and normalize_typ(typ) == "at+jwt":
            raise _fail("an access token is not a client assertion")
        client_id = claims.get("sub")
        if type(client_id) is not str or not client_id:
            raise _fail("assertion has no sub")
        if claimed is not None and claimed != client_id:
            raise _fail("client_id parameter differs from the assertion's sub")
        workload = self._directory.by_client_id(client_id)
        if workload is None:
            raise _fail("unknown client")
        if workload.disabled:
            raise _fail("workload disabled")
        if workload.token_endpoint_auth_method not in ASSERTION_METHODS or not workload.jwks:
            raise _fail("workload is not registered for private_key_jwt")
        key = self._keys.index(client_id, workload.jwks).get((header.get("kid"), alg))
        if key is None:
            raise _fail("no registered key for the assertion's kid and alg")
        if not key.verify(signing_input, signature):
            raise _fail("assertion signature does not verify")
        # -- the claims are authentic from here on ---------------------------------------
        expires_at = self._check_assertion_claims(claims, client_id)
        if not self._replay.consume_jti(client_id, claims["jti"], expires_at):
            raise _fail("assertion jti replayed")
        return AuthenticatedClient(workload, "private_key_jwt")

    def _check_assertion_claims(self, claims: Mapping[str, Any], client_id: str) -> int:
        """WID-PKJ-001 to WID-PKJ-004; returns when the jti record may be forgotten."""
        if claims.get("iss") != client_id:
            raise _fail("assertion iss is not the client_id")
        aud = claims.get("aud")
        if type(aud) is not str:
            raise _fail("assertion aud is not a single string")
        if aud != self._issuer:
            raise _fail("assertion aud is not the issuer identifier")
        now = self._clock.now()
        leeway = self._leeway
        exp_value: Any = claims.get("exp")
        if not _numeric(exp_value):
            raise _fail("assertion has no numeric exp")
        exp = float(exp_value)
        if now >= exp + leeway:
            raise _fail("assertion expired")
        if exp > now + MAX_ASSERTION_LIFETIME + leeway:
            raise _fail("assertion lives longer than 300 seconds")
        for name in ("nbf", "iat"):
            if name in claims:
                value = claims[name]
                if not _numeric(value) or value > now + leeway:
                    raise _fail(f"assertion {name} is in the future or not numeric")
        jti = claims.get("jti")
        if type(jti) is not str or not 1 <= len(jti) <= _MAX_JTI:
            raise _fail("assertion jti missing or too long")
        return math.ceil(exp) + leeway


def _numeric(value: Any) -> bool:
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))


# -- the data plane ---------------------------------------------------------------------------


class WorkloadBearerVerifier:
    """The data plane's ``Authorization: Bearer`` check (WID-AUTH-001), as the
    :data:`proctor.reference.workload_auth.BearerVerifier` callable: the ``client_id`` of
    the workload a ``client_credentials`` token was issued to, or ``None``.

    The token must be a valid, unrevoked token of this service (AS-FMT-005) issued by
    ``client_credentials`` (so ``sub`` = ``client_id`` and no ``act``) whose ``aud``
    includes the service's issuer; a token-exchange token, a token for a downstream
    target, a workload access token or the admin credential yields ``None``. Whether the
    workload is still enabled is the caller's check.
    """

    def __init__(self, tokens: AccessTokens) -> None:
        self._tokens = tokens

    def __call__(self, token: str) -> str | None:
        try:
            verified = self._tokens.validate(token)
        except OwnTokenRejected:
            return None
        if (
            verified.record.grant != "client_credentials"
            or verified.act is not None
            or verified.client_id != verified.sub
            or self._tokens.issuer not in verified.aud
        ):
            return None
        return verified.client_id
