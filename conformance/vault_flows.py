"""Driving the token vault as a black box: the kit's mock providers, its own return URL,
and the 3-legged flow end to end (spec 05).

Everything here speaks HTTP, to the target and to the kit's mock OAuth 2.0 providers
(``crm``, ``finance``, ``documents``: ``docs/mock-idps/providers.md``), never importing
either:

- :class:`MockProvider`: one mock provider through its ``/_mock`` admin API: what it
  serves (``GET /_mock/provider``, ``/_mock/config``), its client registration (the
  target's callback URL is added to it), headless approval (``PUT /_mock/headless``), its
  request log (``GET /_mock/requests``: what the *target* sent it, secrets redacted but
  their presence kept), faults, its clock, and RFC 7662 introspection as its client;
- :class:`ReturnListener`: the application's return URL, served by the kit itself on
  loopback, so the browser leg of the flow really lands somewhere the kit controls;
- :class:`VaultFlows`: the flow as the spec draws it (§ "The user_federation flow"):
  ``POST /v1/resource-tokens/oauth2`` → the authorization URL → the provider's headless
  approval → the service's callback → its ``303`` to the return URL →
  ``POST /v1/sessions/complete`` → poll with ``session_uri``.

Each step returns what it observed; helpers named ``expect_*`` turn a wrong answer into a
:class:`~proctor.conformance.errors.ConformanceFailure`, and problems of the kit's own
setup (a mock that does not answer) are :class:`~proctor.conformance.errors.InfrastructureError`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import httpx

from proctor.conformance.errors import ConformanceFailure, InfrastructureError
from proctor.conformance.native import json_object
from proctor.conformance.target import Target
from proctor.conformance.transport import RecordingTransport

__all__ = [
    "RESOURCE_TOKEN_MEMBERS",
    "SESSION_MEMBERS",
    "SESSION_URI_PREFIX",
    "MockProvider",
    "ReturnListener",
    "Session",
    "StubAnswer",
    "StubProvider",
    "StubRequest",
    "VaultFlows",
    "VaultUser",
    "is_base64url",
    "iter_strings",
    "query_of",
    "s256",
    "secrets_in",
    "stub_provider",
    "verifier_candidates",
]

SESSION_URI_PREFIX: Final = "urn:ietf:params:oauth:request_uri:"
#: VLT-LEAK-002: a token answer has exactly these members.
RESOURCE_TOKEN_MEMBERS: Final = frozenset({"access_token", "expires_at", "scopes"})
#: VLT-SESS-001: a session answer has exactly these members.
SESSION_MEMBERS: Final = frozenset({"authorization_url", "session_uri", "session_status"})
_ADMIN: Final = "/_mock"
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]+")


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: ``BASE64URL(SHA256(ASCII(code_verifier)))`` without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def query_of(url: str) -> dict[str, list[str]]:
    """Every query parameter of ``url`` with all its values, in order."""
    found: dict[str, list[str]] = {}
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        found.setdefault(name, []).append(value)
    return found


def secrets_in(texts: Iterable[str], secrets: Mapping[str, str]) -> list[str]:
    """The names of the ``secrets`` (name → value) that occur in any of ``texts``.

    Each value is also looked for in its form-urlencoded, JSON-escaped and base64 forms
    (a secret inside ``Basic`` credentials or an escaped string is still a leak).
    """
    joined = "\n".join(texts)
    found = []
    for name, value in secrets.items():
        if not value:
            continue
        forms = {value, quote_plus(value), quote(value, safe=""), json.dumps(value)[1:-1]}
        if any(form in joined for form in forms):
            found.append(name)
    return sorted(found)


# -- the kit's mock OAuth 2.0 providers -----------------------------------------------------


class MockProvider:
    """One of the kit's mock OAuth 2.0 providers, driven through its admin API.

    ``client`` is the target's recording client, so every exchange with the mock is
    evidence of the check that made it (the client secret is registered as a secret of
    the run, so the evidence never shows it).
    """

    def __init__(self, base_url: str, target: Target) -> None:
        self.base_url = base_url.rstrip("/")
        self._target = target
        self._client = target.client
        self._lock = threading.Lock()
        summary = self._json("GET", "/provider")
        config = self._json("GET", "/config")
        if not isinstance(summary, dict) or not isinstance(config, dict):
            raise InfrastructureError(f"{self.base_url}{_ADMIN} is not a mock provider")
        self.summary: dict[str, Any] = summary
        self.config: dict[str, Any] = config
        clients = [c for c in config.get("clients") or [] if c.get("client_secret")]
        apis = list(config.get("apis") or [])
        if not clients or not apis:
            raise InfrastructureError(f"mock provider {self.base_url} has no confidential client")
        self._client_config: dict[str, Any] = dict(clients[0])
        self._api: dict[str, Any] = dict(apis[0])
        target.add_secret(self.client_secret)
        self.redirect_uris: set[str] = set(self._client_config.get("redirect_uris") or [])

    def __repr__(self) -> str:
        return f"MockProvider({self.preset!r}, {self.base_url!r})"

    # -- what it serves --------------------------------------------------------------------

    @property
    def preset(self) -> str:
        return str(self.summary.get("provider") or "provider")

    @property
    def issuer(self) -> str:
        return str(self.summary["issuer"])

    @property
    def metadata_url(self) -> str:
        url = self.summary.get("metadata_url")
        if not isinstance(url, str):
            raise InfrastructureError(f"mock provider {self.preset} publishes no metadata")
        return url

    def endpoint(self, name: str) -> str:
        url = (self.summary.get("endpoints") or {}).get(name)
        if not isinstance(url, str):
            raise InfrastructureError(f"mock provider {self.preset} has no {name} endpoint")
        return url

    @property
    def client_id(self) -> str:
        return str(self._client_config["client_id"])

    @property
    def client_secret(self) -> str:
        return str(self._client_config["client_secret"])

    @property
    def scopes(self) -> list[str]:
        """The scopes of its resource, in the configured order."""
        return [str(s) for s in self._api.get("scopes") or []]

    @property
    def default_scopes(self) -> list[str]:
        return [str(s) for s in self._api.get("default_scopes") or []]

    @property
    def resource(self) -> str:
        """The resource indicator (RFC 8707) of its API: the audience of its tokens."""
        resources = self.summary.get("resources") or []
        if not resources:
            raise InfrastructureError(f"mock provider {self.preset} names no resource")
        return str(resources[0])

    @property
    def usernames(self) -> list[str]:
        return [str(u["username"]) for u in self.config.get("users") or []]

    # -- plumbing ---------------------------------------------------------------------------

    def _admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.base_url}{_ADMIN}{path}"
        try:
            return self._client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise InfrastructureError(
                f"mock provider at {url} is unreachable: {type(error).__name__}"
            ) from None

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._admin(method, path, **kwargs)
        if not response.is_success:
            raise InfrastructureError(
                f"mock provider {self.base_url}: {method} {_ADMIN}{path} answered "
                f"HTTP {response.status_code}: {response.text[:300]}"
            )
        return response.json() if response.content else None

    # -- administration -----------------------------------------------------------------------

    def register_redirect_uri(self, uri: str) -> None:
        """Register ``uri`` (the target's callback URL) on the provider's client."""
        with self._lock:
            if uri in self.redirect_uris:
                return
            client = dict(self._client_config)
            client["redirect_uris"] = [*client.get("redirect_uris", []), uri]
            self._json("PUT", f"/clients/{quote(self.client_id, safe='')}", json=client)
            self._client_config = client
            self.redirect_uris.add(uri)

    def update_client(self, **changes: Any) -> None:
        with self._lock:
            client = {**self._client_config, **changes}
            self._json("PUT", f"/clients/{quote(self.client_id, safe='')}", json=client)
            self._client_config = client

    def update_api(self, **changes: Any) -> None:
        with self._lock:
            api = {**self._api, **changes}
            self._json("PUT", f"/apis/{quote(str(api['id']), safe='')}", json=api)
            self._api = api

    def reload_config(self) -> dict[str, Any]:
        found = self._json("GET", "/config")
        if not isinstance(found, dict):
            raise InfrastructureError(f"mock provider {self.preset}: the config is not an object")
        self.config = found
        return found

    def put_config(self, config: Mapping[str, Any]) -> None:
        self._json("PUT", "/config", json=dict(config))
        self.reload_config()

    def headless(self, username: str | None) -> None:
        """Approve every authorization at once as ``username`` (``None``: pages again)."""
        self._json("PUT", "/headless", json={"user": username})

    def fault(self, **spec: Any) -> str:
        found = self._json("POST", "/faults", json=spec)
        return str(found["id"])

    def clear_faults(self) -> None:
        self._json("DELETE", "/faults")

    def advance_clock(self, seconds: float) -> None:
        self._json("POST", "/clock", json={"advance": seconds})

    # -- what the target sent it --------------------------------------------------------------

    def requests(self, endpoint: str | None = None, *, after: int = 0) -> list[dict[str, Any]]:
        """The request log (``endpoint``: ``token``, ``authorize``, ``revoke``, ...), entries
        with a sequence number above ``after`` only."""
        params = {"endpoint": endpoint} if endpoint else {}
        found = self._json("GET", "/requests", params=params)
        return [e for e in found["requests"] if int(e["seq"]) > after]

    def seq(self) -> int:
        """The sequence number of the latest logged request (0 if none)."""
        return max((int(e["seq"]) for e in self.requests()), default=0)

    def token_requests(self, grant_type: str | None = None, *, after: int = 0) -> list[Any]:
        entries = self.requests("token", after=after)
        if grant_type is None:
            return entries
        return [e for e in entries if (e.get("form") or {}).get("grant_type") == grant_type]

    # -- the provider as its own client would see it --------------------------------------------

    def client_auth(self) -> dict[str, str]:
        """RFC 6749 §2.3.1 ``client_secret_basic``: both parts form-urlencoded first."""
        pair = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 introspection of ``token`` at the provider, as its client."""
        url = self.endpoint("introspect")
        try:
            response = self._client.post(url, data={"token": token}, headers=self.client_auth())
        except httpx.HTTPError as error:
            raise InfrastructureError(f"introspection at {url}: {type(error).__name__}") from None
        if response.status_code != 200:
            raise InfrastructureError(f"introspection at {url} answered {response.status_code}")
        body: dict[str, Any] = response.json()
        return body

    def is_active(self, token: str) -> bool:
        return self.introspect(token).get("active") is True


# -- the application's return URL ---------------------------------------------------------------


class _ReturnHandler(BaseHTTPRequestHandler):
    server: _ReturnServer

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        body = b"proctor conformance kit: the browser is back at the application\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _ReturnServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReturnHandler)
        self.hits: list[str] = []

    def server_bind(self) -> None:
        # Accepted sockets inherit TCP_NODELAY: no delayed-ACK stall per response.
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()


class ReturnListener:
    """The application's return URL, served by the kit on a loopback port.

    ``url`` is what the kit registers as the workload's ``allowed_return_urls``; the kit's
    browser follows the service's ``303`` to it. With ``external`` (an operator's URL for a
    target that refuses loopback ``http``), nothing is served and the kit reads the
    ``Location`` without following it.
    """

    PATH: Final = "/proctor/return"

    def __init__(self, target: Target, external: str | None = None) -> None:
        self._server: _ReturnServer | None = None
        self._thread: threading.Thread | None = None
        if external is not None:
            self.url = external
        else:
            self._server = _ReturnServer()
            port = int(self._server.server_address[1])
            self.url = f"http://127.0.0.1:{port}{self.PATH}"
            self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
            self._thread.start()
        self._browser = httpx.Client(
            transport=RecordingTransport(httpx.HTTPTransport(), target.recorder),
            timeout=target.config.timeout,
            follow_redirects=False,
        )

    @property
    def served(self) -> bool:
        return self._server is not None

    @property
    def hits(self) -> list[str]:
        return list(self._server.hits) if self._server is not None else []

    def variants(self) -> dict[str, str]:
        """Near misses of the return URL (catalog OA-02): each must be refused."""
        parts = urlsplit(self.url)
        host, _, port = parts.netloc.rpartition(":")
        other_port = str(int(port) + 1 if port.isdigit() and int(port) < 65535 else 1)
        if not port.isdigit():
            host, other_port = parts.netloc, "8443"
        base = f"{parts.scheme}://{parts.netloc}"
        return {
            "trailing slash": self.url + "/",
            "suffix": self.url + "x",
            "other path": base + parts.path.rsplit("/", 1)[0] + "/elsewhere",
            "other port": f"{parts.scheme}://{host}:{other_port}{parts.path}",
            "extra query": self.url + "?next=https%3A%2F%2Fevil.example",
            "fragment": self.url + "#x",
            "upper case path": base + parts.path.upper(),
            "other host": f"{parts.scheme}://evil.example{parts.path}",
        }

    def follow(self, location: str) -> dict[str, list[str]]:
        """The browser at ``location`` (the return URL): its query, after checking that
        the kit's listener received it."""
        if self._server is not None:
            before = len(self._server.hits)
            try:
                response = self._browser.get(location)
            except httpx.HTTPError as error:
                raise ConformanceFailure(
                    "the browser could not follow the redirect to the return URL",
                    observed=f"{type(error).__name__} at {location[:200]}",
                ) from None
            if response.status_code != 200 or len(self._server.hits) != before + 1:
                raise ConformanceFailure(
                    "the redirect did not lead to the registered return URL",
                    observed=f"HTTP {response.status_code} at {location[:200]}",
                )
        return query_of(location)

    def close(self) -> None:
        self._browser.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


# -- a scripted authorization server -----------------------------------------------------------


@dataclass(frozen=True)
class StubRequest:
    """A request the stub received (form-encoded bodies parsed)."""

    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]


#: What the stub answers: (status, headers, JSON body or None).
StubAnswer = tuple[int, dict[str, str], dict[str, Any] | None]


class _StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, respond: Callable[[StubRequest], StubAnswer]) -> None:
        super().__init__(("127.0.0.1", 0), _StubHandler)
        self.respond = respond
        self.received: list[StubRequest] = []
        self.lock = threading.Lock()

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()


class _StubHandler(BaseHTTPRequestHandler):
    server: _StubServer

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        form: dict[str, list[str]] = {}
        for name, value in parse_qsl(raw, keep_blank_values=True):
            form.setdefault(name, []).append(value)
        request = StubRequest(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, form
        )
        with self.server.lock:
            self.server.received.append(request)
        status, headers, body = self.server.respond(request)
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return


class StubProvider:
    """An authorization server the kit scripts, on a loopback port: it records every
    request and answers with ``respond``. For what the mock providers cannot do: verify a
    ``private_key_jwt`` assertion against the service's JWK Set, or redirect the back
    channel. A remote target cannot reach it (the checks using it say so)."""

    def __init__(self, respond: Callable[[StubRequest], StubAnswer]) -> None:
        self._server = _StubServer(respond)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def metadata(self) -> dict[str, str]:
        """RFC 8414 metadata naming the stub's own endpoints."""
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
        }

    @property
    def received(self) -> list[StubRequest]:
        with self._server.lock:
            return list(self._server.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def stub_provider(respond: Callable[[StubRequest], StubAnswer]) -> Iterator[StubProvider]:
    stub = StubProvider(respond)
    try:
        yield stub
    finally:
        stub.close()


# -- users, sessions and the flow ------------------------------------------------------------------


@dataclass(frozen=True)
class VaultUser:
    """A user of the kit's mock IdP: how to get a fresh user token, and which account the
    mock providers' headless approval uses for them (the ``index``-th of each provider)."""

    name: str
    index: int
    mint: Callable[[], str] = field(repr=False)

    def token(self) -> str:
        return self.mint()

    def at(self, provider: MockProvider) -> str:
        """The user's account at ``provider``."""
        names = provider.usernames
        if not names:
            raise InfrastructureError(f"mock provider {provider.preset} has no users")
        return names[self.index % len(names)]


@dataclass
class Session:
    """A started 3-legged session as the target described it."""

    authorization_url: str
    session_uri: str
    body: dict[str, Any]

    @property
    def params(self) -> dict[str, list[str]]:
        return query_of(self.authorization_url)

    def param(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None


class VaultFlows:
    """The data-plane calls of the vault and the browser's part of the 3-legged flow."""

    def __init__(self, target: Target, listener: ReturnListener) -> None:
        self.target = target
        self.listener = listener

    # -- data plane ------------------------------------------------------------------------------

    def issue_wat(
        self, workload: Any, *, user: VaultUser | None = None, user_id: str | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {}
        if user is not None:
            token = user.token()
            self.target.add_secret(token)
            body = {"user_token": token}
        elif user_id is not None:
            body = {"user_id": user_id}
        return self.target.client.post(
            self.target.url("/v1/workload-access-tokens"), json=body, headers=workload.auth()
        )

    def wat(
        self, workload: Any, *, user: VaultUser | None = None, user_id: str | None = None
    ) -> str:
        """A fresh workload access token (WAT-BIND-001); :class:`InfrastructureError` if
        the target refuses one (that is another suite's verdict)."""
        response = self.issue_wat(workload, user=user, user_id=user_id)
        token = response.json().get("workload_access_token") if response.is_success else None
        if not isinstance(token, str):
            raise InfrastructureError(
                f"the target issued no workload access token to {workload.name}: "
                f"HTTP {response.status_code}: {response.text[:200]}"
            )
        self.target.add_secret(token)
        return token

    def resource_token(self, workload: Any, wat: str, **body: Any) -> httpx.Response:
        """``POST /v1/resource-tokens/oauth2`` as ``workload`` (flow ``user_federation``
        unless ``flow`` is given)."""
        payload = {"workload_access_token": wat, "flow": "user_federation", **body}
        return self.target.client.post(
            self.target.url("/v1/resource-tokens/oauth2"), json=payload, headers=workload.auth()
        )

    def api_key(self, workload: Any, wat: str, provider: str) -> httpx.Response:
        return self.target.client.post(
            self.target.url("/v1/resource-tokens/api-key"),
            json={"workload_access_token": wat, "provider": provider},
            headers=workload.auth(),
        )

    def complete(
        self,
        workload: Any,
        session_uri: str,
        *,
        user: VaultUser | None = None,
        user_id: str | None = None,
        user_token: str | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"session_uri": session_uri}
        if user is not None:
            user_token = user.token()
        if user_token is not None:
            self.target.add_secret(user_token)
            body["user_token"] = user_token
        if user_id is not None:
            body["user_id"] = user_id
        return self.target.client.post(
            self.target.url("/v1/sessions/complete"), json=body, headers=workload.auth()
        )

    # -- expectations ------------------------------------------------------------------------------

    @staticmethod
    def expect_session(response: httpx.Response, what: str = "the request") -> Session:
        """A new or pending session (VLT-SESS-001): exactly the session members."""
        if response.status_code != 200:
            raise ConformanceFailure(
                f"{what} must start (or report) an authorization session",
                expected="HTTP 200 with authorization_url",
                observed=f"HTTP {response.status_code}: {response.text[:300]}",
            )
        body = json_object(response, "the session answer")
        if "access_token" in body:
            raise ConformanceFailure(
                f"{what} must lead to an authorization session, not to a token",
                observed="an access_token was returned",
            )
        if set(body) != SESSION_MEMBERS or body.get("session_status") != "in_progress":
            raise ConformanceFailure(
                "a session answer is exactly authorization_url, session_uri and "
                "session_status in_progress (VLT-SESS-001)",
                observed=", ".join(f"{k}" for k in sorted(body)),
            )
        url, uri = body["authorization_url"], body["session_uri"]
        if not isinstance(url, str) or not isinstance(uri, str):
            raise ConformanceFailure("authorization_url and session_uri are strings")
        return Session(url, uri, body)

    @staticmethod
    def expect_token(response: httpx.Response, what: str = "the request") -> dict[str, Any]:
        """A resource token (VLT-LEAK-002): exactly access_token, expires_at, scopes."""
        if response.status_code != 200:
            raise ConformanceFailure(
                f"{what} must return a resource token",
                expected="HTTP 200 with access_token",
                observed=f"HTTP {response.status_code}: {response.text[:300]}",
            )
        body = json_object(response, "the token answer")
        if "access_token" not in body:
            raise ConformanceFailure(
                f"{what} must return a token, not start a session",
                observed=", ".join(sorted(body)),
            )
        if set(body) != RESOURCE_TOKEN_MEMBERS:
            extra = sorted(set(body) - RESOURCE_TOKEN_MEMBERS)
            raise ConformanceFailure(
                "a resource-token answer has exactly access_token, expires_at and scopes; "
                "no refresh token, ID token or raw provider response (VLT-LEAK-002)",
                observed=f"members {', '.join(sorted(body))}"
                + (f" (extra: {extra})" * bool(extra)),
            )
        token, expires, scopes = body["access_token"], body["expires_at"], body["scopes"]
        if not isinstance(token, str) or not token:
            raise ConformanceFailure("access_token is a non-empty string")
        if expires is not None and (not isinstance(expires, int) or isinstance(expires, bool)):
            raise ConformanceFailure("expires_at is a NumericDate or null (VLT-CLI-003)")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ConformanceFailure("scopes is an array of strings")
        return body

    # -- the browser -------------------------------------------------------------------------------

    def authorize(self, provider: MockProvider, session: Session, user: VaultUser) -> str:
        """The user's browser at the provider, approved headlessly as ``user``: the URL of
        the callback the provider redirects to (a kit-setup failure if it does not)."""
        redirect_uri = session.param("redirect_uri")
        if redirect_uri is None:
            raise ConformanceFailure(
                "the authorization URL carries no redirect_uri (VLT-SESS-003)",
                observed=session.authorization_url[:300],
            )
        provider.register_redirect_uri(redirect_uri)
        provider.headless(user.at(provider))
        try:
            response = self.target.client.get(session.authorization_url)
        except httpx.HTTPError as error:
            raise ConformanceFailure(
                "the authorization URL does not lead to the provider",
                observed=f"{type(error).__name__}: {session.authorization_url[:200]}",
            ) from None
        location = str(response.headers.get("location", ""))
        if response.status_code not in (302, 303) or not location.startswith(redirect_uri):
            raise ConformanceFailure(
                "the provider refused the target's authorization request",
                expected=f"a redirect to {redirect_uri}",
                observed=f"HTTP {response.status_code} to {location[:200] or '-'}: "
                f"{response.text[:200]}",
            )
        query = query_of(location)
        if "error" in query:
            raise ConformanceFailure(
                "the provider refused the target's authorization request (RFC 6749 §4.1.2.1)",
                observed=f"error={query['error'][0]} "
                f"{(query.get('error_description') or [''])[0][:200]}",
            )
        self.target.add_secret((query.get("code") or [""])[0])
        return location

    def callback(self, url: str) -> httpx.Response:
        """The browser at the service's callback URL."""
        return self.target.client.get(url)

    def expect_return(
        self, response: httpx.Response, session: Session, what: str = "the callback"
    ) -> dict[str, list[str]]:
        """A ``303`` to exactly the registered return URL with ``session_id``
        (VLT-CB-005); the browser follows it to the kit's listener."""
        if response.status_code != 303:
            raise ConformanceFailure(
                f"{what} must send the browser back with 303 See Other (VLT-CB-005)",
                expected="HTTP 303",
                observed=f"HTTP {response.status_code}: {response.text[:200]}",
            )
        location = response.headers.get("location", "")
        parts = urlsplit(location)
        if location.split("?", 1)[0] != self.listener.url or parts.fragment:
            raise ConformanceFailure(
                "the callback redirects only to the registered return URL (VLT-CB-005)",
                expected=self.listener.url,
                observed=location[:300],
            )
        query = self.listener.follow(location)
        if query.get("session_id") != [session.session_uri]:
            raise ConformanceFailure(
                "the return URL carries session_id = the session URI (VLT-CB-005)",
                observed=repr(query.get("session_id")),
            )
        return query

    def run_to_callback(
        self, provider: MockProvider, session: Session, user: VaultUser
    ) -> dict[str, list[str]]:
        """Authorize at the provider, land on the callback, follow it back to the app."""
        response = self.callback(self.authorize(provider, session, user))
        return self.expect_return(response, session)

    def obtain(
        self,
        workload: Any,
        user: VaultUser,
        provider: MockProvider,
        provider_name: str,
        scopes: list[str],
        **body: Any,
    ) -> dict[str, Any]:
        """The whole 3-legged flow for (workload, user, provider): the token it ends in."""
        wat = self.wat(workload, user=user)
        request = {"provider": provider_name, "scopes": scopes, **body}
        session = self.expect_session(self.resource_token(workload, wat, **request))
        self.run_to_callback(provider, session, user)
        completed = self.complete(workload, session.session_uri, user=user)
        if completed.status_code != 200:
            raise ConformanceFailure(
                "the user who started the session completes it (VLT-BIND-001)",
                expected="HTTP 200 {}",
                observed=f"HTTP {completed.status_code}: {completed.text[:300]}",
            )
        polled = self.resource_token(workload, wat, session_uri=session.session_uri, **request)
        token = self.expect_token(polled, "a poll of the completed session")
        self.target.add_secret(token["access_token"])
        return token


def iter_strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value (keys included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from iter_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from iter_strings(item)


def verifier_candidates(texts: Iterable[str]) -> set[str]:
    """Substrings that could be an RFC 7636 code verifier (43-128 unreserved characters)."""
    found: set[str] = set()
    for text in texts:
        for match in re.finditer(r"[A-Za-z0-9._~-]{43,128}", text):
            found.add(match.group(0))
    return found


def is_base64url(value: str) -> bool:
    return bool(_BASE64URL.fullmatch(value))
