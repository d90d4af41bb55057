"""Resource APIs of the mock third-party providers: the base class, and the tools of the
Sarah scenario (CRM notes, finance spend, documents). Google's userinfo and GitHub's user
API build on the same class in :mod:`proctor.mock_idps.google` and
:mod:`proctor.mock_idps.github`.

Each API is protected by bearer tokens (RFC 6750) issued by the authorization server of
its own provider (:mod:`proctor.mock_idps.providers`), and checks every request the same way:

1. **Token** (RFC 6750 §2.1): only the ``Authorization`` request header is accepted. No
   credentials at all is a 401 whose challenge has no error code (§3.1: "the resource
   server SHOULD NOT include an error code"); a token in the URI (``access_token``, which
   RFC 6750 §2.3 discourages and RFC 9700 §2.4 rules out) or a malformed header is a 400
   ``invalid_request``.
2. **Validity**: the token must be one the provider issued, active (not expired, not yet
   valid, revoked, or of a revoked grant). Otherwise 401 ``invalid_token``.
3. **Audience** (RFC 8707 §2, RFC 9068 §4): the token must be meant for this resource;
   otherwise 401 ``invalid_token`` ("the access token provided is ... invalid for other
   reasons", RFC 6750 §3.1).
4. **Scope**: the token must carry one of the operation's scopes; otherwise 403
   ``insufficient_scope`` with the ``scope`` attribute naming the scope needed.

Every 401 and 403 carries ``WWW-Authenticate: Bearer realm=..., error=...`` (RFC 6750 §3)
and, where the API publishes it, the RFC 9728 §5.1 ``resource_metadata`` URL. Tokens are
looked up through a :class:`ResourceContext`: the provider's token store, so opaque and JWT
access tokens are validated alike (the same facts RFC 7662 introspection would return).

Every request to an API path is recorded in a :class:`ResourceLog` (what was asked, for
whom, the answer and a short summary of what was served; never the token), which
``GET /_mock/resource/requests`` and a demo can show.

The core is framework-free (:meth:`ResourceApi.handle` takes and returns the
:mod:`~proctor.mock_idps.messages` values); :func:`resource_routes` is the thin Starlette
layer. Vendor-shaped errors (Google's and GitHub's bodies) are :meth:`ResourceApi.error_body`
overrides.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.responses import Response as StarletteResponse
from starlette.routing import BaseRoute, Route

from proctor.mock_idps.asgi import from_starlette, to_starlette
from proctor.mock_idps.config import User
from proctor.mock_idps.errors import (
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    MethodNotAllowed,
    NotFound,
    OAuthError,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from proctor.mock_idps.messages import Request, Response

__all__ = [
    "CrmApi",
    "DocumentsApi",
    "FinanceApi",
    "Operation",
    "ResourceApi",
    "ResourceCall",
    "ResourceContext",
    "ResourceLog",
    "ResourceRequest",
    "TokenInfo",
    "resource_routes",
]

MAX_BODY = 256 * 1024
# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


# -- what an API needs from its authorization server ---------------------------------------
@dataclass(frozen=True)
class TokenInfo:
    """An active access token as its issuer recorded it (the RFC 7662 facts)."""

    subject: str | None
    username: str | None
    """The provider's user the token was issued for; ``None`` for client credentials."""
    client_id: str | None
    scopes: frozenset[str]
    audiences: tuple[str, ...]
    expires_at: float | None


class ResourceContext(Protocol):
    """The provider side of a resource API: its audience, its tokens, its users, time."""

    def audience(self) -> str:
        """This resource's identifier, the audience its tokens must carry."""
        ...

    def introspect(self, token: str) -> TokenInfo | None:
        """The token's facts if it is an active access token of this provider."""
        ...

    def base_url(self) -> str: ...

    def issuer(self) -> str: ...

    def now(self) -> float: ...

    def user(self, name: str) -> User | None: ...

    def user_id(self, user: User) -> str: ...


# -- the request log -----------------------------------------------------------------------
@dataclass(frozen=True)
class ResourceRequest:
    """One request to a resource API and what it was served."""

    seq: int
    time: float
    method: str
    path: str
    operation: str | None
    status: int
    error: str | None
    subject: str | None
    username: str | None
    client_id: str | None
    scopes: list[str]
    summary: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ResourceLog:
    """A bounded, thread-safe list of :class:`ResourceRequest`."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[ResourceRequest] = deque(maxlen=maxlen)
        self._seq = 0

    def record(self, **values: Any) -> ResourceRequest:
        with self._lock:
            self._seq += 1
            entry = ResourceRequest(seq=self._seq, **values)
            self._entries.append(entry)
            return entry

    def entries(self, operation: str | None = None) -> list[ResourceRequest]:
        with self._lock:
            return [e for e in self._entries if operation is None or e.operation == operation]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# -- operations ----------------------------------------------------------------------------
@dataclass
class ResourceCall:
    """An authorized request, handed to an operation's handler."""

    request: Request
    path_params: dict[str, str]
    token: TokenInfo
    summary: dict[str, Any] = field(default_factory=dict)
    """What was served, for the request log (filled in by the handler)."""


@dataclass(frozen=True)
class Operation:
    """One endpoint of a resource API: ``scopes`` lists the scopes any one of which
    authorizes it (empty: any valid token does)."""

    name: str
    method: str
    path: str
    scopes: tuple[str, ...]
    handler: Callable[[ResourceCall], Response]

    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        return re.compile(f"^{regex}$")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ResourceApi(ABC):
    """A bearer-token protected API: a list of :class:`Operation` and the checks above."""

    name: ClassVar[str] = "resource"
    title: ClassVar[str] = "Resource API"
    realm: ClassVar[str | None] = None
    publishes_metadata: ClassVar[bool] = False
    """Serve RFC 9728 protected resource metadata (when the audience is on this host)."""
    extra_token_schemes: ClassVar[frozenset[str]] = frozenset()
    """Authorization schemes accepted besides ``Bearer`` (GitHub's ``token``)."""

    def __init__(self, context: ResourceContext) -> None:
        self.context = context
        self.log = ResourceLog()
        self._lock = threading.RLock()
        self._operations = self.operations()
        self._patterns = [(op, op.pattern()) for op in self._operations]
        self.reset()

    # -- to override ---------------------------------------------------------------------
    @abstractmethod
    def operations(self) -> list[Operation]:
        """The API's operations, matched in order."""

    def reset(self) -> None:
        """Restore the API's data to its initial state (and clear the log)."""
        self.log.clear()

    def error_body(self, error: OAuthError) -> dict[str, Any]:
        """The JSON body of an error response (RFC 6749 §5.2 shape by default)."""
        return {"error": error.error, "error_description": error.description}

    def success_headers(self, call: ResourceCall) -> dict[str, str]:
        """Extra headers on a successful response (GitHub's ``X-OAuth-Scopes``)."""
        return {}

    # -- description ---------------------------------------------------------------------
    @property
    def paths(self) -> list[str]:
        return list(dict.fromkeys(op.path for op in self._operations))

    def url(self, path: str = "") -> str:
        return self.context.base_url() + path

    def metadata_path(self) -> str | None:
        """RFC 9728 §3.1: the well-known segment inserted before the resource's path."""
        base, audience = self.context.base_url(), self.context.audience()
        if not self.publishes_metadata or not audience.startswith(base + "/"):
            return None
        return "/.well-known/oauth-protected-resource" + audience[len(base) :]

    def metadata(self) -> dict[str, Any]:
        """RFC 9728 §2 protected resource metadata."""
        scopes = sorted({s for op in self._operations for s in op.scopes})
        return {
            "resource": self.context.audience(),
            "authorization_servers": [self.context.issuer()],
            "scopes_supported": scopes,
            "bearer_methods_supported": ["header"],
            "resource_name": self.title,
        }

    def summary(self) -> dict[str, Any]:
        metadata = self.metadata_path()
        return {
            "name": self.name,
            "title": self.title,
            "audience": self.context.audience(),
            "base_url": self.context.base_url(),
            "metadata_url": self.url(metadata) if metadata else None,
            "operations": [
                {
                    "name": op.name,
                    "method": op.method,
                    "path": op.path,
                    "url": self.url(op.path),
                    "scopes": list(op.scopes),
                }
                for op in self._operations
            ],
            "requests": len(self.log.entries()),
        }

    # -- handling ------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        """Answer one request to an API path (never raises :class:`OAuthError`)."""
        if req.method == "GET" and req.path == self.metadata_path():
            return Response.json(self.metadata(), headers={"cache-control": "max-age=3600"})
        candidates = [(op, m) for op, p in self._patterns if (m := p.match(req.path))]
        token: TokenInfo | None = None
        operation: Operation | None = None
        summary: dict[str, Any] = {}
        try:
            if not candidates:
                raise NotFound("No such resource.", reason="not_found")
            method = "GET" if req.method == "HEAD" else req.method
            found = [(op, m) for op, m in candidates if op.method == method]
            if not found:
                allowed = sorted({op.method for op, _ in candidates})
                error = MethodNotAllowed("The method is not allowed here.")
                error.headers["allow"] = ", ".join(allowed)
                raise error
            operation, match = found[0]
            token = self._authenticate(req)
            self._authorize(operation, token)
            call = ResourceCall(req, dict(match.groupdict()), token)
            response = operation.handler(call)
            summary = call.summary
            for name, value in self.success_headers(call).items():
                response.headers.append((name.lower(), value))
            error_code = None
        except OAuthError as exc:
            response = self._error_response(exc)
            error_code = exc.error
        self.log.record(
            time=self.context.now(),
            method=req.method,
            path=req.path,
            operation=operation.name if operation else None,
            status=response.status,
            error=error_code,
            subject=token.subject if token else None,
            username=token.username if token else None,
            client_id=token.client_id if token else None,
            scopes=sorted(token.scopes) if token else [],
            summary=summary,
        )
        if req.method == "HEAD":
            response.body = b""
        return response

    def _authenticate(self, req: Request) -> TokenInfo:
        """RFC 6750 §2.1 (header only) and §3.1 (which failure gets which answer)."""
        if any(k == "access_token" for k, _ in req.query):
            raise InvalidRequest(
                "Access tokens are accepted only in the Authorization header.",
                reason="token_in_uri",
            )
        header = req.headers.get("authorization")
        if header is None:
            raise InvalidToken("The request lacks an access token.", reason="token_missing")
        scheme, _, credentials = header.strip().partition(" ")
        schemes = {"bearer", *self.extra_token_schemes}
        if scheme.lower() not in schemes:
            raise InvalidToken("The request lacks a bearer token.", reason="token_missing")
        value = credentials.strip()
        if not _B64TOKEN.fullmatch(value):
            raise InvalidRequest("The Authorization header is malformed.", reason="token_malformed")
        info = self.context.introspect(value)
        if info is None:
            raise InvalidToken(
                "The access token is invalid, expired or revoked.", reason="token_invalid"
            )
        if self.context.audience() not in info.audiences:
            raise InvalidToken(
                "The access token is not meant for this resource.", reason="token_audience"
            )
        return info

    def _authorize(self, operation: Operation, token: TokenInfo) -> None:
        if operation.scopes and not token.scopes & set(operation.scopes):
            raise InsufficientScope(
                "The access token does not carry the scope this request needs.",
                reason="insufficient_scope",
                params={"scope": operation.scopes[0]},
            )

    def _error_response(self, error: OAuthError) -> Response:
        headers = dict(error.headers)
        if isinstance(error, InvalidToken | InsufficientScope) or (
            isinstance(error, InvalidRequest) and error.reason.startswith("token_")
        ):
            headers["www-authenticate"] = self.challenge(error)
        return Response.json(self.error_body(error), error.status_code, headers)

    def challenge(self, error: OAuthError) -> str:
        """The ``WWW-Authenticate`` value (RFC 6750 §3, RFC 9728 §5.1)."""
        params: list[tuple[str, str]] = []
        if self.realm is not None:
            params.append(("realm", self.realm))
        if error.reason != "token_missing":
            params.append(("error", error.error))
            params.append(("error_description", error.description))
        if isinstance(error, InsufficientScope) and "scope" in error.params:
            params.append(("scope", error.params["scope"]))
        metadata = self.metadata_path()
        if metadata is not None:
            params.append(("resource_metadata", self.url(metadata)))
        rendered = ", ".join(f"{k}={_quoted(v)}" for k, v in params)
        return f"Bearer {rendered}" if rendered else "Bearer"

    # -- helpers for handlers ------------------------------------------------------------
    @staticmethod
    def json_body(req: Request) -> dict[str, Any]:
        """A JSON object body, or a 4xx."""
        if req.media_type != "application/json":
            raise UnsupportedMediaType(
                "The request body must be application/json.", reason="content_type"
            )
        if len(req.body) > MAX_BODY:
            raise PayloadTooLarge("The request body is too large.", reason="body_too_large")
        try:
            data = json.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise InvalidRequest("The request body is not valid JSON.", reason="body") from exc
        if not isinstance(data, dict):
            raise InvalidRequest("The request body must be a JSON object.", reason="body")
        return data


# -- the Sarah scenario's tools ------------------------------------------------------------
_CUSTOMERS: Mapping[str, Mapping[str, str]] = {
    "acme": {
        "name": "Acme Corporation",
        "segment": "Enterprise",
        "industry": "Manufacturing",
        "account_owner": "sarah@example.com",
    },
    "globex": {
        "name": "Globex Corporation",
        "segment": "Enterprise",
        "industry": "Energy",
        "account_owner": "sarah@example.com",
    },
    "initech": {
        "name": "Initech",
        "segment": "Mid-market",
        "industry": "Software",
        "account_owner": "bob@example.com",
    },
}

_NOTES: Mapping[str, Sequence[Mapping[str, Any]]] = {
    "acme": (
        {
            "id": "note_a1f3c2",
            "created_at": "2025-09-18T15:20:00Z",
            "author": "sarah@example.com",
            "type": "meeting",
            "title": "Quarterly business review",
            "body": "Renewal due in Q1. Procurement wants a three-year term with a volume "
            "discount; the plant in Ohio is piloting the analytics add-on.",
            "tags": ["renewal", "expansion"],
        },
        {
            "id": "note_a1f3c3",
            "created_at": "2025-10-02T09:05:00Z",
            "author": "sarah@example.com",
            "type": "call",
            "title": "Call with the CFO",
            "body": "Budget for next year is approved at last year's level plus 8%. "
            "Security review of the add-on must finish before signature.",
            "tags": ["budget", "security-review"],
        },
        {
            "id": "note_a1f3c4",
            "created_at": "2025-10-21T13:45:00Z",
            "author": "bob@example.com",
            "type": "email",
            "title": "Invoice question",
            "body": "Accounts payable asked for the September invoice to be split by "
            "cost centre. Sent the corrected invoice.",
            "tags": ["billing"],
        },
    ),
    "globex": (
        {
            "id": "note_b7e210",
            "created_at": "2025-08-30T11:00:00Z",
            "author": "sarah@example.com",
            "type": "meeting",
            "title": "Onboarding kickoff",
            "body": "Two business units onboard first; the third waits for the data "
            "residency decision.",
            "tags": ["onboarding"],
        },
        {
            "id": "note_b7e211",
            "created_at": "2025-10-14T16:30:00Z",
            "author": "sarah@example.com",
            "type": "call",
            "title": "Escalation follow-up",
            "body": "Latency issue resolved; the customer asked for a written incident "
            "report by the end of the month.",
            "tags": ["support", "escalation"],
        },
    ),
    "initech": (
        {
            "id": "note_c0d9a1",
            "created_at": "2025-07-12T10:15:00Z",
            "author": "bob@example.com",
            "type": "meeting",
            "title": "Discovery",
            "body": "Evaluating us against two competitors; decision expected after "
            "their fiscal year closes.",
            "tags": ["new-business"],
        },
    ),
}

_SPEND: Mapping[str, Mapping[str, Any]] = {
    "acme": {
        "fiscal_year": 2025,
        "by_quarter": [412_500.00, 398_250.00, 451_900.00, 126_300.00],
        "by_category": {"Licenses": 905_000.00, "Services": 348_950.00, "Support": 135_000.00},
        "open_invoices": 2,
        "last_invoice_date": "2025-10-15",
        "previous_year_total": 1_236_400.00,
    },
    "globex": {
        "fiscal_year": 2025,
        "by_quarter": [190_000.00, 205_400.00, 212_750.00, 61_000.00],
        "by_category": {"Licenses": 520_000.00, "Services": 99_150.00, "Support": 50_000.00},
        "open_invoices": 1,
        "last_invoice_date": "2025-10-01",
        "previous_year_total": 702_300.00,
    },
    "initech": {
        "fiscal_year": 2025,
        "by_quarter": [0.00, 12_000.00, 12_000.00, 4_000.00],
        "by_category": {"Licenses": 24_000.00, "Services": 4_000.00, "Support": 0.00},
        "open_invoices": 0,
        "last_invoice_date": "2025-09-30",
        "previous_year_total": 0.00,
    },
}


def _customer(call: ResourceCall, key: str) -> tuple[str, Mapping[str, str]]:
    customer_id = call.path_params.get(key) or ""
    found = _CUSTOMERS.get(customer_id)
    if found is None:
        raise NotFound("No such customer.", reason="customer_not_found")
    return customer_id, found


class CrmApi(ResourceApi):
    """The CRM tool: customer notes (``GET /api/customers/{id}/notes``, ``notes.read``)."""

    name = "crm"
    title = "CRM API (mock)"
    realm = "crm"
    publishes_metadata = True

    def operations(self) -> list[Operation]:
        return [
            Operation(
                "customer_notes", "GET", "/api/customers/{id}/notes", ("notes.read",), self._notes
            ),
        ]

    def _notes(self, call: ResourceCall) -> Response:
        customer_id, customer = _customer(call, "id")
        notes = [dict(n) for n in _NOTES.get(customer_id, ())]
        call.summary = {"customer": customer_id, "notes": len(notes)}
        return Response.json(
            {
                "customer": {"id": customer_id, **customer},
                "notes": notes,
                "total": len(notes),
            }
        )


class FinanceApi(ResourceApi):
    """The finance tool: spend per customer (``GET /api/spend?customer=``, ``spend.read``)."""

    name = "finance"
    title = "Finance API (mock)"
    realm = "finance"
    publishes_metadata = True

    def operations(self) -> list[Operation]:
        return [Operation("spend", "GET", "/api/spend", ("spend.read",), self._spend)]

    def _spend(self, call: ResourceCall) -> Response:
        values = [v for k, v in call.request.query if k == "customer"]
        if len(values) != 1 or not values[0]:
            raise InvalidRequest(
                "Exactly one 'customer' query parameter is required.", reason="customer_missing"
            )
        customer_id = values[0]
        customer = _CUSTOMERS.get(customer_id)
        spend = _SPEND.get(customer_id)
        if customer is None or spend is None:
            raise NotFound("No such customer.", reason="customer_not_found")
        quarters = spend["by_quarter"]
        total = round(sum(quarters), 2)
        previous = spend["previous_year_total"]
        change = round((total - previous) / previous * 100, 1) if previous else None
        call.summary = {"customer": customer_id, "total": total}
        return Response.json(
            {
                "customer": customer_id,
                "customer_name": customer["name"],
                "currency": "USD",
                "fiscal_year": spend["fiscal_year"],
                "total": total,
                "by_quarter": [
                    {"quarter": f"Q{i}", "amount": amount} for i, amount in enumerate(quarters, 1)
                ],
                "by_category": [
                    {"category": name, "amount": amount}
                    for name, amount in spend["by_category"].items()
                ],
                "open_invoices": spend["open_invoices"],
                "last_invoice_date": spend["last_invoice_date"],
                "year_over_year_change_pct": change,
            }
        )


_DOCUMENT_ID = re.compile(r"doc_[0-9a-f]{16}")


def _unicode(value: object) -> bool:
    """False for a string JSON let through with lone surrogates (``"\\ud800"``)."""
    if not isinstance(value, str):
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_DOCUMENT_FIELDS = frozenset({"title", "content", "customer", "format"})
_FORMATS = ("markdown", "text", "html")


class DocumentsApi(ResourceApi):
    """The document tool: ``POST /api/documents`` writes a brief (``documents.write``);
    ``GET /api/documents/{id}`` reads one back (``documents.read`` or
    ``documents.write``). A document is visible only to the subject that wrote it."""

    name = "documents"
    title = "Documents API (mock)"
    realm = "documents"
    publishes_metadata = True
    max_documents: ClassVar[int] = 1000

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.documents: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def operations(self) -> list[Operation]:
        return [
            Operation(
                "create_document", "POST", "/api/documents", ("documents.write",), self._create
            ),
            Operation(
                "get_document",
                "GET",
                "/api/documents/{id}",
                ("documents.read", "documents.write"),
                self._get,
            ),
        ]

    def _create(self, call: ResourceCall) -> Response:
        data = self.json_body(call.request)
        unknown = set(data) - _DOCUMENT_FIELDS
        if unknown:
            raise InvalidRequest("The body has unknown members.", reason="unknown_member")
        title, content = data.get("title"), data.get("content")
        customer, fmt = data.get("customer"), data.get("format", "markdown")
        if not all(_unicode(v) for v in (title, content, customer)):
            raise InvalidRequest("The body has a string that is not valid Unicode.")
        if not isinstance(title, str) or not 1 <= len(title.strip()) <= 200:
            raise InvalidRequest("'title' must be a string of 1 to 200 characters.")
        if not isinstance(content, str) or len(content) > 100_000:
            raise InvalidRequest("'content' must be a string of at most 100000 characters.")
        if customer is not None and (
            not isinstance(customer, str) or not 1 <= len(customer) <= 100
        ):
            raise InvalidRequest("'customer' must be a string of 1 to 100 characters.")
        if fmt not in _FORMATS:
            raise InvalidRequest("'format' must be one of markdown, text, html.")
        doc_id = f"doc_{secrets.token_hex(8)}"
        url = self.url(f"/api/documents/{doc_id}")
        document = {
            "id": doc_id,
            "title": title.strip(),
            "customer": customer,
            "format": fmt,
            "size": len(content.encode("utf-8")),
            "created_at": _iso(self.context.now()),
            "created_by": call.token.subject,
            "url": url,
            "content": content,
        }
        with self._lock:
            self.documents[doc_id] = document
            while len(self.documents) > self.max_documents:
                self.documents.popitem(last=False)
        call.summary = {"document": doc_id, "title": document["title"], "size": document["size"]}
        meta = {k: v for k, v in document.items() if k != "content"}
        return Response.json(meta, 201, {"location": url})

    def _get(self, call: ResourceCall) -> Response:
        doc_id = call.path_params.get("id") or ""
        with self._lock:
            document = self.documents.get(doc_id) if _DOCUMENT_ID.fullmatch(doc_id) else None
        if document is None or document["created_by"] != call.token.subject:
            raise NotFound("No such document.", reason="document_not_found")
        call.summary = {"document": doc_id, "title": document["title"]}
        return Response.json(dict(document))


# -- the Starlette layer -------------------------------------------------------------------
def resource_routes(api: ResourceApi) -> list[BaseRoute]:
    """Starlette routes for ``api``: its paths, RFC 9728 metadata, and the admin endpoints
    ``GET /_mock/resource`` (what it serves), ``GET|DELETE /_mock/resource/requests`` (the
    request log) and ``POST /_mock/resource/reset`` (initial data, empty log)."""

    async def serve(request: StarletteRequest) -> StarletteResponse:
        return to_starlette(api.handle(await from_starlette(request)))

    async def index(request: StarletteRequest) -> StarletteResponse:
        return JSONResponse(api.summary())

    async def requests(request: StarletteRequest) -> StarletteResponse:
        if request.method == "DELETE":
            api.log.clear()
            return StarletteResponse(status_code=204)
        entries = api.log.entries(request.query_params.get("operation"))
        return JSONResponse({"count": len(entries), "requests": [e.as_dict() for e in entries]})

    async def reset(request: StarletteRequest) -> StarletteResponse:
        api.reset()
        return StarletteResponse(status_code=204)

    routes: list[BaseRoute] = [
        Route("/_mock/resource", index, methods=["GET"]),
        Route("/_mock/resource/requests", requests, methods=["GET", "DELETE"]),
        Route("/_mock/resource/reset", reset, methods=["POST"]),
    ]
    routes.extend(Route(path, serve, methods=_METHODS) for path in api.paths)
    if api.publishes_metadata:
        routes.append(
            Route("/.well-known/oauth-protected-resource/{rest:path}", serve, methods=_METHODS)
        )
    return routes
