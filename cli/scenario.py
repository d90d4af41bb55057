"""The Sarah scenario of ``DESIGN.md``, end to end on loopback (``proctor demo``).

This module is wiring and printing only: it starts the packages' own servers on free
``127.0.0.1`` ports, provisions the reference service over its control plane, and drives
the story through the public HTTP APIs, printing what is called and why. No protocol
logic lives here; every decision is the reference service's or a mock's.

The cast, each on its own port:

- the **company IdP**: the Okta, Entra ID or Cognito emulator
  (:class:`proctor.mock_idps.server.LiveServer`), with a public "company app" client whose
  redirect URI is the company app's sign-in callback;
- the **company app** (:class:`CompanyApp`): a tiny Starlette app the demo runs itself.
  Sarah signs in to it (authorization code + PKCE), and it is the return URL of the
  vault's consent sessions, where it completes each session for Sarah
  (``POST /v1/sessions/complete`` with her token, spec 05 VLT-BIND-001);
- the **reference service** (:class:`proctor.reference.service.Service`) in development
  mode (``http`` on loopback, TERM-DEV-001) on a temporary data directory, with a
  generated admin credential;
- the **tools**: the ``crm``, ``finance`` and ``documents`` mock providers, each an
  authorization server with its resource API, whose client's redirect URI is the
  reference's ``/oauth2/callback``.

:func:`demo_stack` starts and provisions all of them; :class:`Scenario` tells the story
(steps 1-8) on a :class:`DemoStack` and returns the counted consent prompts. Every
secret the demo handles (the admin credential, client secrets, tokens, session URIs) is
registered with the :class:`Narrator`, which prints a fingerprint (``sha256:1a2b3c4d…``)
wherever one would appear.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import logging
import os
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit

import httpx
import uvicorn
from rich import box
from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from proctor.mock_idps import vendors
from proctor.mock_idps.server import LiveServer
from proctor.reference.service import Service
from proctor.reference.settings import Settings

__all__ = [
    "BROWSER_WAIT",
    "IDPS",
    "LOOPBACK",
    "TOOLS",
    "CompanyApp",
    "ConsentMode",
    "Credentials",
    "DemoStack",
    "IdpPlan",
    "Narrator",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "SessionOutcome",
    "Tool",
    "demo_stack",
    "fingerprint",
    "idp_plan",
    "run_scenario",
    "summary_line",
    "write_admin_token",
]

LOOPBACK: Final = "127.0.0.1"
#: The company IdPs the scenario runs with (``--idp``).
IDPS: Final = ("okta", "entra", "cognito")
#: Where the demo's own servers (reference service, company app) wait to start or stop.
START_TIMEOUT: Final = 10.0
#: How long ``--browser`` waits for a person (the vault's default session lifetime).
BROWSER_WAIT: Final = 600.0
#: Seconds between two polls of a session in ``--browser`` mode.
POLL_INTERVAL: Final = 1.0
#: The customer the brief is about (a customer of the mock CRM and finance APIs).
CUSTOMER: Final = "acme"
#: Sarah's account at each tool (every preset has her, with this password).
TOOL_USER: Final = "sarah@example.com"
TOOL_PASSWORD: Final = "sarah-password"  # noqa: S105 - a public demo password

ConsentMode = Literal["headless", "browser"]


class ScenarioError(Exception):
    """A step of the scenario failed; the message says which call and why."""


# -- fingerprints and redaction ------------------------------------------------------------


def fingerprint(value: str) -> str:
    """A printable stand-in for a secret: ``sha256:`` and 8 hex digits of its hash."""
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:8] + "…"


class Narrator:
    """Prints the story on a rich console, numbering the steps.

    Every string printed passes through :meth:`redact`, which replaces each registered
    secret (see :meth:`secret`) by its fingerprint: a secret cannot reach the output even
    by a mistake in a message.
    """

    _MIN_SECRET: Final = 8

    def __init__(self, console: Console) -> None:
        self.console = console
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self._step = 0

    # secrets
    def secret(self, value: str) -> str:
        """Registers ``value`` as a secret; returns its fingerprint."""
        if len(value) >= self._MIN_SECRET:
            with self._lock:
                self._secrets.add(value)
        return fingerprint(value)

    @property
    def secrets(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._secrets)

    def redact(self, text: str) -> str:
        for value in sorted(self.secrets, key=len, reverse=True):
            if value in text:
                text = text.replace(value, fingerprint(value))
        return text

    # printing
    def _print(self, text: str, style: str = "") -> None:
        self.console.print(Text(self.redact(text), style=style), soft_wrap=True)

    def title(self, text: str) -> None:
        self.console.print(Rule(Text(self.redact(text), style="bold")))

    def section(self, text: str) -> None:
        self.console.print()
        self._print(text, "bold underline")

    def step(self, title: str, why: str) -> None:
        self._step += 1
        self.console.print()
        self.console.print(Rule(Text(f"Step {self._step}. {self.redact(title)}", style="bold")))
        self._print(why, "dim")

    def sub(self, text: str) -> None:
        self._print(f"  {text}", "bold")

    def call(self, method: str, url: str, purpose: str = "") -> None:
        self._print(f"  → {method} {url}" + (f"   ({purpose})" if purpose else ""), "cyan")

    def answer(self, text: str) -> None:
        self._print(f"  ← {text}", "green")

    def note(self, text: str) -> None:
        self._print(f"  {text}")

    def plain(self, text: str) -> None:
        self.console.print(Text(self.redact(text)), soft_wrap=True)

    def table(
        self,
        title: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        no_wrap: Sequence[str] = (),
    ) -> None:
        table = Table(
            title=self.redact(title), title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1)
        )
        for column in columns:
            if column in no_wrap:
                table.add_column(column, no_wrap=True, overflow="ellipsis")
            else:
                table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(Text(self.redact(cell)) for cell in row))
        self.console.print(table)


# -- serving an ASGI app on a loopback socket -----------------------------------------------


def _bind_loopback() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit TCP_NODELAY on Linux; without it a response written
    # in two parts waits for the client's delayed ACK (about 40 ms a request).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((LOOPBACK, 0))
    return sock


class _Served:
    """An ASGI app served by uvicorn in a daemon thread on an already bound socket (so
    its URL is known before the app is built: the service's issuer contains its port)."""

    def __init__(self, app: ASGIApp, sock: socket.socket) -> None:
        self._sock = sock
        config = uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ScenarioError("a loopback server did not start")
            time.sleep(0.005)  # waiting for a thread to bind

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=START_TIMEOUT)
        self._sock.close()


def _url(sock: socket.socket) -> str:
    return f"http://{LOOPBACK}:{sock.getsockname()[1]}"


# -- the company IdP --------------------------------------------------------------------------


@dataclass(frozen=True)
class IdpPlan:
    """How the scenario uses one company IdP: its emulator configuration (the vendor's
    documented default plus the company app's redirect URI), Sarah's account, the scopes
    the company app asks for, and the authorizer the admin registers for it (spec 02)."""

    vendor: str
    label: str
    config: dict[str, Any]
    username: str
    password: str = field(repr=False)
    app_client_id: str
    scope: str
    #: Audiences of the access tokens the app obtains (empty for Cognito: no ``aud``).
    audiences: tuple[str, ...]
    #: The custom claim rule ``groups contains "sales"`` in this IdP's own terms.
    group_claim: str
    group_value: str
    group_label: str

    @property
    def authorizer_name(self) -> str:
        return f"company-{self.vendor}"

    def authorizer(self, discovery_url: str) -> dict[str, Any]:
        return {
            "name": self.authorizer_name,
            "discovery_url": discovery_url,
            "idp_profile": self.vendor,
            "allowed_audiences": list(self.audiences),
            "allowed_clients": [self.app_client_id],
            "custom_claims": [
                {
                    "claim": self.group_claim,
                    "operator": "contains",
                    "value": self.group_value,
                    "value_type": "string",
                }
            ],
        }


def _default_config(vendor: str) -> dict[str, Any]:
    config: dict[str, Any] = vendors.profile(vendor).default_config().model_dump(mode="json")
    return config


def _with_redirect(config: dict[str, Any], client_id: str, redirect_uri: str) -> dict[str, Any]:
    """``config`` with ``client_id``'s redirect URIs replaced by ``redirect_uri``."""
    clients = []
    for client in config["clients"]:
        if client["client_id"] == client_id:
            client = {**client, "redirect_uris": [redirect_uri], "name": "Company app"}
        clients.append(client)
    if not any(c["client_id"] == client_id for c in clients):
        raise ValueError(f"{client_id} is not a client of the configuration")
    return {**config, "clients": clients}


def idp_plan(vendor: str, signin_callback: str, *, headless: bool) -> IdpPlan:
    """The plan for ``vendor`` (one of :data:`IDPS`): the company app is the vendor's
    default public SPA client, pointed at ``signin_callback``."""
    if vendor == "okta":
        client_id, username = "0oaproctorspa000app7", "sarah@example.com"
        plan: dict[str, Any] = {
            "label": "Okta",
            "scope": "openid crm.read",
            "audiences": ("api://default",),
            "group_claim": "groups",
            "group_value": "sales",
            "group_label": "sales",
        }
    elif vendor == "entra":
        # The Sales security group's object ID: Entra puts group IDs, not names, in
        # `groups`; the CRM API (app ID e4c1…) accepts v2.0 tokens, so `aud` is its app ID.
        client_id, username = "d3b07384-d9a0-4c9b-8a1e-5f2c6e7a8b90", "sarah@contoso.example"
        plan = {
            "label": "Microsoft Entra ID",
            "scope": "openid profile api://proctor-crm/crm.read",
            "audiences": ("e4c1f5a2-6b7d-4c8e-9f0a-1b2c3d4e5f60",),
            "group_claim": "groups",
            "group_value": "6d3f1a2b-0c4d-4e5f-9a6b-7c8d9e0f1a01",
            "group_label": "sales (security group object ID)",
        }
    elif vendor == "cognito":
        # Cognito access tokens carry no `aud` (the client is `client_id`) and name the
        # user's groups in `cognito:groups`.
        client_id, username = "6proctorspa000client000002", "sarah"
        plan = {
            "label": "Amazon Cognito",
            "scope": "openid email crm-api/notes.read",
            "audiences": (),
            "group_claim": "cognito:groups",
            "group_value": "sales",
            "group_label": "sales",
        }
    else:
        raise ValueError(f"unknown IdP {vendor!r}; expected one of {', '.join(IDPS)}")
    config = _with_redirect(_default_config(vendor), client_id, signin_callback)
    config["headless_user"] = username if headless else None
    password = next(u["password"] for u in config["users"] if u["username"] == username)
    return IdpPlan(
        vendor=vendor,
        config=config,
        username=username,
        password=password,
        app_client_id=client_id,
        **plan,
    )


# -- the tools --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    """A tool of the brief: its mock provider preset, the scope the orchestrator needs,
    and what it is for."""

    name: str
    label: str
    scope: str
    purpose: str


TOOLS: Final = (
    Tool("crm", "CRM", "notes.read", "Sarah's notes on the customer"),
    Tool("finance", "Finance", "spend.read", "the customer's spend this year"),
    Tool("documents", "Documents", "documents.write", "to save the brief"),
)


def _tool_config(name: str, callback: str, *, headless: bool) -> dict[str, Any]:
    """The preset's configuration with the reference's callback as its client's only
    redirect URI (and headless approval as Sarah for ``--headless``)."""
    config = _default_config(name)
    client_id = config["clients"][0]["client_id"]
    config = _with_redirect(config, client_id, callback)
    config["headless_user"] = TOOL_USER if headless else None
    return config


# -- the company app --------------------------------------------------------------------------

_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p id="status" data-outcome="{outcome}">{text}</p></body></html>
"""


def _page(title: str, text: str, outcome: str, status: int = 200) -> HTMLResponse:
    body = _PAGE.format(
        title=html.escape(title), text=html.escape(text), outcome=html.escape(outcome)
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SessionOutcome:
    """What the company app did with a session the browser brought back."""

    session_uri: str
    completed: bool
    detail: str


class CompanyApp:
    """Sarah's company app: her sign-in (a public client with PKCE, RFC 7636) and the
    return URL of the vault's consent sessions, where it completes each session for the
    signed-in user (``POST /v1/sessions/complete``, spec 05 VLT-BIND-001).

    ``/signin/callback`` redeems the IdP's code and keeps Sarah's access token;
    ``/consent/return?session_id=`` completes the session with the orchestrator's
    credentials and her token, and records the outcome.
    """

    def __init__(self, base_url: str, narrator: Narrator) -> None:
        self.base_url = base_url
        self.signin_callback = base_url + "/signin/callback"
        self.return_url = base_url + "/consent/return"
        self._narrator = narrator
        self._lock = threading.Lock()
        self._signed_in = threading.Event()
        self._pending: dict[str, tuple[str, str, str]] = {}  # state: verifier, token URL, client
        self._user_token: str | None = None
        self._signin_error: str | None = None
        self._outcomes: dict[str, SessionOutcome] = {}
        self._reference: tuple[str, str, str] | None = None  # URL, client_id, secret
        self.app = Starlette(
            routes=[
                Route("/", self._home, methods=["GET"]),
                Route("/signin/callback", self._signin_callback, methods=["GET"]),
                Route("/consent/return", self._consent_return, methods=["GET"]),
            ]
        )

    # configuration
    def use_reference(self, url: str, client_id: str, client_secret: str) -> None:
        """The service and the orchestrator's credentials, used to complete sessions."""
        self._narrator.secret(client_secret)
        with self._lock:
            self._reference = (url, client_id, client_secret)

    # sign-in
    def signin_url(
        self, authorization_endpoint: str, token_endpoint: str, client_id: str, scope: str
    ) -> str:
        """A fresh authorization request (RFC 6749 §4.1.1 with RFC 7636 S256)."""
        verifier, challenge = _pkce_pair()
        state = secrets.token_urlsafe(32)
        with self._lock:
            self._pending[state] = (verifier, token_endpoint, client_id)
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": self.signin_callback,
            "scope": scope,
            "state": state,
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return authorization_endpoint + "?" + urlencode(query)

    def wait_signed_in(self, timeout: float) -> str:
        """Sarah's access token, once the sign-in callback has redeemed the code."""
        if not self._signed_in.wait(timeout):
            raise ScenarioError(f"Sarah did not sign in within {timeout:.0f} s")
        with self._lock:
            if self._user_token is None:
                raise ScenarioError(f"the sign-in failed: {self._signin_error}")
            return self._user_token

    @property
    def user_token(self) -> str | None:
        with self._lock:
            return self._user_token

    def outcome(self, session_uri: str) -> SessionOutcome | None:
        with self._lock:
            return self._outcomes.get(session_uri)

    # routes
    async def _home(self, request: Request) -> Response:
        signed_in = self.user_token is not None
        return _page(
            "Company app",
            "Sarah is signed in." if signed_in else "Nobody is signed in yet.",
            "signed_in" if signed_in else "anonymous",
        )

    async def _signin_callback(self, request: Request) -> Response:
        params = request.query_params
        state = params.get("state", "")
        with self._lock:
            pending = self._pending.pop(state, None)
        if pending is None:
            return _page("Sign-in failed", "Unknown or replayed state.", "failed", 400)
        if "code" not in params:
            return self._signin_failed(f"the IdP answered {params.get('error', 'no code')}")
        verifier, token_endpoint, client_id = pending
        form = {
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": self.signin_callback,
            "client_id": client_id,
            "code_verifier": verifier,
        }
        async with httpx.AsyncClient(timeout=10.0) as client:
            answer = await client.post(token_endpoint, data=form)
        try:
            tokens = answer.json() if answer.status_code == 200 else {}
        except ValueError:
            tokens = {}
        token = tokens.get("access_token") if isinstance(tokens, dict) else None
        if not isinstance(token, str):
            return self._signin_failed(f"the token endpoint answered {_problem(answer)}")
        for name in ("access_token", "id_token", "refresh_token"):
            if isinstance(tokens.get(name), str):
                self._narrator.secret(tokens[name])
        with self._lock:
            self._user_token = token
        self._signed_in.set()
        return _page("Signed in", "Welcome, Sarah. Go back to the terminal.", "signed_in")

    def _signin_failed(self, why: str) -> Response:
        with self._lock:
            self._signin_error = why
        self._signed_in.set()
        return _page("Sign-in failed", why, "failed", 400)

    async def _consent_return(self, request: Request) -> Response:
        params = request.query_params
        session_uri = params.get("session_id")
        with self._lock:
            reference, user_token = self._reference, self._user_token
        if not session_uri:
            return _page("Access not granted", "No session came back.", "failed", 400)
        self._narrator.secret(session_uri)
        if "error" in params:
            return self._record(session_uri, False, f"the provider answered {params['error']}")
        if reference is None or user_token is None:
            return self._record(session_uri, False, "nobody is signed in to the company app")
        url, client_id, client_secret = reference
        async with httpx.AsyncClient(timeout=10.0) as client:
            answer = await client.post(
                url + "/v1/sessions/complete",
                json={"session_uri": session_uri, "user_token": user_token},
                auth=(quote_plus(client_id), quote_plus(client_secret)),
            )
        if answer.status_code != 200:
            return self._record(session_uri, False, _problem(answer))
        return self._record(session_uri, True, "completed for the signed-in user")

    def _record(self, session_uri: str, completed: bool, detail: str) -> Response:
        with self._lock:
            self._outcomes[session_uri] = SessionOutcome(session_uri, completed, detail)
        if completed:
            return _page(
                "Access granted",
                "Thank you, Sarah: the agent can now use this tool. You can close this tab.",
                "completed",
            )
        return _page("Access not granted", detail, "failed", 400)


def _problem(response: httpx.Response) -> str:
    """``HTTP 400 validation_failed: detail`` from a native error (which holds no secret,
    spec 09), or just the status."""
    text = f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return text
    if not isinstance(body, dict):
        return text
    code = body.get("code") or body.get("error")  # native (spec 09) or OAuth (RFC 6749)
    detail = body.get("detail") or body.get("error_description")
    parts = [part for part in (code, detail) if isinstance(part, str) and part]
    return text + (" " + ": ".join(parts) if parts else "")


# -- the stack ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """A workload's ``client_id`` and the secret the service showed once."""

    name: str
    client_id: str
    secret: str = field(repr=False)

    @property
    def auth(self) -> tuple[str, str]:
        """``client_secret_basic`` (RFC 6749 §2.3.1: each part form-encoded first)."""
        return quote_plus(self.client_id), quote_plus(self.secret)


@dataclass
class DemoStack:
    """Everything :func:`demo_stack` started and provisioned."""

    plan: IdpPlan
    idp: LiveServer
    tools: dict[str, LiveServer]
    service: Service
    reference_url: str
    company: CompanyApp
    http: httpx.Client
    admin_token: str = field(repr=False)
    data_dir: Path
    orchestrator: Credentials | None = None
    reporter: Credentials | None = None
    discovery_url: str = ""
    resources: dict[str, str] = field(default_factory=dict)

    # HTTP helpers (each failure is a ScenarioError naming the call)
    def call(
        self,
        method: str,
        url: str,
        *,
        expect: int = 200,
        what: str,
        **kwargs: Any,
    ) -> httpx.Response:
        shown = url.split("?", 1)[0]  # no query in a message: it may hold a state
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise ScenarioError(f"{what}: {method} {shown} failed ({type(exc).__name__})") from exc
        if response.status_code != expect:
            raise ScenarioError(f"{what}: {method} {shown} answered {_problem(response)}")
        return response

    def admin(self, method: str, path: str, *, what: str, expect: int = 200, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        response = self.call(
            method, self.reference_url + path, expect=expect, what=what, headers=headers, **kwargs
        )
        return response.json() if response.content else None

    def as_workload(
        self,
        workload: Credentials,
        path: str,
        body: Mapping[str, Any],
        *,
        what: str,
        expect: int = 200,
    ) -> dict[str, Any]:
        response = self.call(
            "POST",
            self.reference_url + path,
            json=dict(body),
            auth=workload.auth,
            what=what,
            expect=expect,
        )
        data: dict[str, Any] = response.json()
        return data

    def tool_url(self, name: str) -> str:
        return self.tools[name].url


def _provision(stack: DemoStack, narrator: Narrator) -> None:
    """The administrator's setup over the control plane (specs 02, 03, 05)."""
    plan = stack.plan
    summary = stack.call("GET", stack.idp.url + "/_mock", what="reading the IdP's endpoints")
    doc = summary.json()
    primary = next(s for s in doc["servers"] if s["id"] == doc["primary_server"])
    stack.discovery_url = primary["endpoints"]["openid_configuration"]

    narrator.section("Setup: the administrator provisions the service (control plane)")
    rows: list[list[str]] = []
    body = plan.authorizer(stack.discovery_url)
    stack.admin("POST", "/v1/authorizers", json=body, expect=201, what="creating the authorizer")
    audiences = ", ".join(plan.audiences) or "(none: the client is checked)"
    rows.append(
        [
            "authorizer",
            plan.authorizer_name,
            f"{plan.label} discovery; audience {audiences}; client {plan.app_client_id}; "
            f'rule {plan.group_claim} contains "{plan.group_value}" ({plan.group_label})',
        ]
    )

    made = stack.admin(
        "POST",
        "/v1/workloads",
        json={
            "name": "orchestrator",
            "authorizer": plan.authorizer_name,
            "allowed_return_urls": [stack.company.return_url],
        },
        expect=201,
        what="registering the orchestrator workload",
    )
    narrator.secret(made["client_secret"])
    stack.orchestrator = Credentials("orchestrator", made["client_id"], made["client_secret"])
    stack.company.use_reference(stack.reference_url, made["client_id"], made["client_secret"])
    rows.append(
        [
            "workload",
            "orchestrator",
            f"client_id {made['client_id']}; return URL {stack.company.return_url}",
        ]
    )

    made = stack.admin(
        "POST",
        "/v1/workloads",
        json={"name": "wednesday-report"},
        expect=201,
        what="registering the scheduled-report workload",
    )
    narrator.secret(made["client_secret"])
    stack.reporter = Credentials("wednesday-report", made["client_id"], made["client_secret"])
    rows.append(["workload", "wednesday-report", f"client_id {made['client_id']}; no user"])

    for tool in TOOLS:
        server = stack.tools[tool.name]
        config = server.engine.config
        client = config.clients[0]
        assert client.client_secret is not None  # the presets' clients are confidential
        narrator.secret(client.client_secret)
        scopes = sorted({s for api in config.apis for s in api.scopes})
        stack.admin(
            "POST",
            "/v1/providers/oauth2",
            json={
                "name": tool.name,
                "vendor": "custom",
                "discovery_url": server.url + "/.well-known/oauth-authorization-server",
                "client_id": client.client_id,
                "client_secret": client.client_secret,
                "client_auth_method": "client_secret_basic",
                "scopes": scopes,
            },
            expect=201,
            what=f"creating the {tool.name} provider",
        )
        # RFC 9728: the resource identifier the tokens must be bound to (RFC 8707).
        metadata = stack.call(
            "GET",
            server.url + "/.well-known/oauth-protected-resource/api",
            what=f"reading the {tool.label} API's protected resource metadata",
        ).json()
        stack.resources[tool.name] = metadata["resource"]
        rows.append(
            [
                "oauth2 provider",
                tool.name,
                f"custom, discovery {server.url}; client {client.client_id} "
                f"(client_secret_basic); scopes {', '.join(scopes)}",
            ]
        )
    narrator.table("Provisioned", ["kind", "name", "what"], rows)
    narrator.note(
        "Client secrets went to the service once (write-only, PRV-CFG-003); "
        "the workloads' secrets were shown once at creation and are kept by the demo."
    )


@contextlib.contextmanager
def demo_stack(
    vendor: str,
    narrator: Narrator,
    *,
    mode: ConsentMode = "headless",
    data_dir: Path | None = None,
) -> Iterator[DemoStack]:
    """Start the company IdP, the company app, the reference service and the three
    tools on free loopback ports, provision the service, and stop everything after."""
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="proctor-demo-"))
            )
        _quiet_logs(stack)
        reference_sock, company_sock = _bind_loopback(), _bind_loopback()
        reference_url, company_url = _url(reference_sock), _url(company_sock)
        headless = mode == "headless"
        company = CompanyApp(company_url, narrator)
        plan = idp_plan(vendor, company.signin_callback, headless=headless)

        idp = _start(stack, LiveServer(plan.vendor, plan.config))
        tools = {
            tool.name: _start(
                stack,
                LiveServer(
                    tool.name,
                    _tool_config(tool.name, reference_url + "/oauth2/callback", headless=headless),
                ),
            )
            for tool in TOOLS
        }
        settings = Settings(
            issuer=reference_url,
            host=LOOPBACK,
            port=reference_sock.getsockname()[1],
            data_dir=data_dir / "reference",
            allow_loopback_http=True,  # development mode: http on loopback (TERM-DEV-001)
        )
        try:
            service = Service.create(settings, env={})
        except ValueError as exc:
            raise ScenarioError(f"the reference service did not start: {exc}") from exc
        stack.callback(service.close)
        admin_token = service.generated_admin_token
        if admin_token is None:
            raise ScenarioError("the reference service did not generate an admin credential")
        narrator.secret(admin_token)
        for app, sock in ((service.asgi_app(), reference_sock), (company.app, company_sock)):
            served = _Served(app, sock)
            served.start()
            stack.callback(served.stop)
        http = stack.enter_context(httpx.Client(timeout=10.0, follow_redirects=False))
        narrator.table(
            "Servers (loopback, free ports)",
            ["role", "URL", "what"],
            [
                ["company IdP", idp.url, f"{plan.label} emulator"],
                ["company app", company_url, "Sarah's app: sign-in, consent return URL"],
                [
                    "proctor",
                    reference_url,
                    "reference service, development mode (http on loopback, TERM-DEV-001); "
                    f"admin credential generated: {narrator.secret(admin_token)}",
                ],
                *[
                    [tool.label, tools[tool.name].url, f"mock provider and API ({tool.purpose})"]
                    for tool in TOOLS
                ],
            ],
            no_wrap=("URL",),
        )
        built = DemoStack(
            plan=plan,
            idp=idp,
            tools=tools,
            service=service,
            reference_url=reference_url,
            company=company,
            http=http,
            admin_token=admin_token,
            data_dir=data_dir,
        )
        _provision(built, narrator)
        yield built


def _start(stack: contextlib.ExitStack, server: LiveServer) -> LiveServer:
    try:
        server.start()
    except RuntimeError as exc:
        raise ScenarioError(str(exc)) from exc
    stack.callback(server.stop)
    return server


def _quiet_logs(stack: contextlib.ExitStack) -> None:
    """The service's JSON logs (never a secret, but noise next to the story) and uvicorn's
    go nowhere while the demo runs, unless the caller configured logging itself."""
    for name in ("proctor", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        if logger.handlers:
            continue
        handler = logging.NullHandler()
        logger.addHandler(handler)
        stack.callback(logger.removeHandler, handler)


# -- the story ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioResult:
    """The counted consent prompts (from the audit log) and the audit chain's verdict."""

    prompts_run1: int
    prompts_run2: int
    audit_valid: bool
    audit_events: int
    metric_prompts: int | None
    duration: float


def summary_line(result: ScenarioResult) -> str:
    """The demo's last line."""
    return f"consent prompts: run1={result.prompts_run1} run2={result.prompts_run2}"


def _decode_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, for display only (the service verifies it)."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _redirect_trail(response: httpx.Response) -> list[tuple[int, str]]:
    """Each redirect of a followed request: (status, target without query)."""
    trail = []
    for hop in response.history:
        location = hop.headers.get("location", "")
        parts = urlsplit(location)
        names = [k for k, _ in parse_qsl(parts.query, keep_blank_values=True)]
        shown = f"{parts.scheme}://{parts.netloc}{parts.path}"
        trail.append((hop.status_code, shown + (f" ({', '.join(names)})" if names else "")))
    return trail


def _shown_authorization_url(url: str) -> str:
    """An authorization URL for the story: endpoint and the parameters that explain it
    (the state and the PKCE challenge are not shown)."""
    parts = urlsplit(url)
    keep = ("client_id", "scope", "resource", "code_challenge_method", "redirect_uri")
    params = [f"{k}={v}" for k, v in parse_qsl(parts.query) if k in keep]
    return f"{parts.scheme}://{parts.netloc}{parts.path}?" + "&".join(params) + "&…"


class Scenario:
    """Steps 1-8 of the story on a started :class:`DemoStack`."""

    def __init__(
        self,
        stack: DemoStack,
        narrator: Narrator,
        *,
        mode: ConsentMode,
        browser_wait: float = BROWSER_WAIT,
    ) -> None:
        if stack.orchestrator is None or stack.reporter is None:
            raise ValueError("the stack is not provisioned")
        self.stack = stack
        self.say = narrator
        self.mode = mode
        self.browser_wait = browser_wait
        self.orchestrator: Credentials = stack.orchestrator
        self.reporter: Credentials = stack.reporter
        self.subject = ""
        self.user_token = ""

    # -- steps --------------------------------------------------------------------------

    def run(self) -> ScenarioResult:
        started = time.monotonic()
        self.sign_in()
        self.decide()
        before = self.prompts()
        wat = self.workload_token()
        tokens = self.resource_tokens(wat)
        self.write_brief(tokens, run=1)
        after_run1 = self.prompts()
        self.say.step(
            "Run 2: Sarah asks for the same brief again",
            "The consents are persisted (CNS-REC-001): the vault reuses the stored tokens "
            "(or refreshes them) and asks nothing (VLT-3LO-001).",
        )
        wat = self.workload_token(step=False)
        again = self.resource_tokens(wat, earlier=tokens, step=False)
        self.write_brief(again, run=2, step=False)
        after_run2 = self.prompts()
        self.scheduled_report()
        valid, events = self.audit_trail()
        return ScenarioResult(
            prompts_run1=after_run1 - before,
            prompts_run2=after_run2 - after_run1,
            audit_valid=valid,
            audit_events=events,
            metric_prompts=self.metric_prompts(),
            duration=time.monotonic() - started,
        )

    def sign_in(self) -> None:
        stack, plan, say = self.stack, self.stack.plan, self.say
        say.step(
            f"Sarah signs in to the company app ({plan.label})",
            "The company app is a public client: authorization code flow with PKCE S256 "
            "(RFC 6749 §4.1, RFC 7636) at the company IdP.",
        )
        discovery = stack.call("GET", stack.discovery_url, what="IdP discovery").json()
        say.call("GET", stack.discovery_url, "OpenID Connect discovery")
        url = stack.company.signin_url(
            discovery["authorization_endpoint"],
            discovery["token_endpoint"],
            plan.app_client_id,
            plan.scope,
        )
        if self.mode == "headless":
            say.call("GET", _shown_authorization_url(url), "the IdP approves as Sarah (headless)")
            response = stack.call("GET", url, what="Sarah's sign-in", follow_redirects=True)
            for status, target in _redirect_trail(response):
                say.answer(f"{status} to {target}")
        else:
            say.plain("")
            say.plain("  Open this URL in a browser and sign in as Sarah:")
            say.plain(f"    {url}")
            say.plain(f"    username {plan.username}   password {plan.password}")
            say.plain("  Waiting for the company app's sign-in callback…")
        token = stack.company.wait_signed_in(self.browser_wait if self.mode == "browser" else 10.0)
        self.user_token = token
        say.note(
            f"company app: POST {discovery['token_endpoint']} (code + code_verifier) → "
            f"Sarah's access token {self.say.secret(token)}"
        )
        claims = _decode_claims(token)
        shown = {k: claims[k] for k in ("iss", "aud", "sub", plan.group_claim) if k in claims}
        say.note("its claims (verified next by the service, not by the demo): " + str(shown))

    def decide(self) -> None:
        stack, plan, say = self.stack, self.stack.plan, self.say
        say.step(
            "The orchestrator asks the authorizer about Sarah's token",
            "Inbound authorization (spec 02): signature from the IdP's JWKS, issuer, "
            f"audience, client, expiry and the rule {plan.group_claim} contains "
            f'"{plan.group_value}".',
        )
        say.call(
            "POST",
            stack.reference_url + "/v1/decisions",
            f"as the orchestrator, authorizer {plan.authorizer_name}",
        )
        body = stack.as_workload(
            self.orchestrator,
            "/v1/decisions",
            {"authorizer": plan.authorizer_name, "token": self.user_token},
            what="the authorizer's decision",
        )
        if body.get("decision") != "allow":
            raise ScenarioError(f"the authorizer denied Sarah's token: {body.get('reason')}")
        identity = body["identity"]
        self.subject = identity["subject"]
        say.answer("allow")
        say.table(
            "Sarah's normalised identity",
            ["member", "value"],
            [
                ["issuer", identity["issuer"]],
                ["subject", identity["subject"]],
                ["user_key", identity["user_key"]],
                ["client_id", identity["client_id"]],
                ["scopes", " ".join(identity["scopes"])],
            ],
        )

    def workload_token(self, *, step: bool = True) -> str:
        stack, say = self.stack, self.say
        title = "The orchestrator obtains a workload access token for (orchestrator, Sarah)"
        if step:
            say.step(
                title,
                "The WAT binds this agent to this user (spec 04); it is the only key to her "
                "entries in the vault.",
            )
        else:
            say.sub(title)
        say.call(
            "POST",
            stack.reference_url + "/v1/workload-access-tokens",
            "client_secret_basic + Sarah's token",
        )
        body = stack.as_workload(
            self.orchestrator,
            "/v1/workload-access-tokens",
            {"user_token": self.user_token},
            what="the workload access token",
        )
        wat: str = body["workload_access_token"]
        say.answer(
            f"workload access token {say.secret(wat)}, expires in {body.get('expires_in')} s"
        )
        return wat

    def resource_tokens(
        self, wat: str, *, earlier: Mapping[str, str] | None = None, step: bool = True
    ) -> dict[str, str]:
        say = self.say
        title = (
            "The orchestrator asks the vault for CRM notes.read, finance spend.read, "
            "documents.write"
        )
        if step:
            say.step(
                title,
                "POST /v1/resource-tokens/oauth2, flow user_federation, one resource per "
                "token (RFC 8707). Without a consent the vault answers with an authorization "
                "URL and a session (spec 05); with one it answers with the token.",
            )
        else:
            say.sub(title)
        tokens: dict[str, str] = {}
        sessions: dict[str, tuple[str, str]] = {}
        for tool in TOOLS:
            answer = self.request_token(wat, tool)
            if "access_token" in answer:
                token = answer["access_token"]
                how = ""
                if earlier is not None:
                    how = ", reused" if earlier.get(tool.name) == token else ", refreshed"
                say.answer(
                    f"{tool.label}: access token {say.secret(token)} "
                    f"(scopes {' '.join(answer['scopes'])}{how}); no consent asked"
                )
                tokens[tool.name] = token
            else:
                session_uri = answer["session_uri"]
                say.answer(
                    f"{tool.label}: consent needed, session {say.secret(session_uri)} "
                    f"({answer['session_status']})"
                )
                say.note(
                    f"authorization URL {_shown_authorization_url(answer['authorization_url'])}"
                )
                sessions[tool.name] = (session_uri, answer["authorization_url"])
        if sessions:
            say.note(
                f"{len(sessions)} consent(s) needed: Sarah consents at each tool's own "
                "authorization server; the company app completes each session for her."
            )
            if self.mode == "headless":
                for tool in TOOLS:
                    if tool.name in sessions:
                        self._consent_headless(tool, *sessions[tool.name])
            else:
                self._consent_in_browser(sessions)
            for tool in TOOLS:
                if tool.name in sessions:
                    answer = self.request_token(wat, tool, session_uri=sessions[tool.name][0])
                    if "access_token" not in answer:
                        raise ScenarioError(f"the {tool.label} session did not yield a token")
                    tokens[tool.name] = answer["access_token"]
                    say.answer(
                        f"{tool.label}: access token {say.secret(answer['access_token'])} "
                        f"(scopes {' '.join(answer['scopes'])})"
                    )
        return tokens

    def request_token(
        self, wat: str, tool: Tool, *, session_uri: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "workload_access_token": wat,
            "provider": tool.name,
            "scopes": [tool.scope],
            "flow": "user_federation",
            "resources": [self.stack.resources[tool.name]],
            "return_url": self.stack.company.return_url,
        }
        if session_uri is not None:
            body["session_uri"] = session_uri
        self.say.call(
            "POST",
            self.stack.reference_url + "/v1/resource-tokens/oauth2",
            f"{tool.name} {tool.scope}" + (", polling the session" if session_uri else ""),
        )
        answer = self.stack.as_workload(
            self.orchestrator, "/v1/resource-tokens/oauth2", body, what=f"the {tool.label} token"
        )
        for name in ("access_token", "session_uri"):
            if isinstance(answer.get(name), str):
                self.say.secret(answer[name])
        return answer

    def _consent_headless(self, tool: Tool, session_uri: str, url: str) -> None:
        stack, say = self.stack, self.say
        say.note(f"{tool.label}: Sarah's browser follows the authorization URL (headless approval)")
        response = stack.call("GET", url, what=f"the {tool.label} consent", follow_redirects=True)
        for status, target in _redirect_trail(response):
            say.answer(f"{status} to {target}")
        outcome = stack.company.outcome(session_uri)
        if outcome is None or not outcome.completed:
            detail = outcome.detail if outcome else "the browser never reached the company app"
            raise ScenarioError(f"the {tool.label} session was not completed: {detail}")
        say.note(
            "company app: POST /v1/sessions/complete with Sarah's token → 200 "
            "(the same user who started the session, VLT-BIND-001)"
        )

    def _consent_in_browser(self, sessions: Mapping[str, tuple[str, str]]) -> None:
        say = self.say
        say.plain("")
        say.plain(
            f"  Open each URL in the browser where Sarah is signed in, sign in to the tool as "
            f"{TOOL_USER} (password {TOOL_PASSWORD}) and allow access:"
        )
        for tool in TOOLS:
            if tool.name in sessions:
                say.plain(f"  {tool.label}: {sessions[tool.name][1]}")
        say.plain("  Waiting: polling each session until it is completed or expires…")
        pending = dict(sessions)
        deadline = time.monotonic() + self.browser_wait
        while pending:
            for name, (session_uri, _) in list(pending.items()):
                outcome = self.stack.company.outcome(session_uri)
                if outcome is not None and not outcome.completed:
                    raise ScenarioError(f"the {name} consent failed: {outcome.detail}")
                if outcome is not None:
                    say.answer(f"{name}: session completed by the company app")
                    del pending[name]
            if pending and time.monotonic() > deadline:
                raise ScenarioError("the consents were not given in time")
            if pending:
                time.sleep(POLL_INTERVAL)  # a person is clicking in a browser

    def write_brief(self, tokens: Mapping[str, str], *, run: int, step: bool = True) -> None:
        stack, say = self.stack, self.say
        title = "The orchestrator calls the three tools and writes the brief"
        if step:
            say.step(
                title,
                "Each resource API checks its own authorization server's token: audience, "
                "scope, expiry (RFC 6750).",
            )
        else:
            say.sub(title)
        crm, finance, documents = (stack.tool_url(t.name) for t in TOOLS)
        url = f"{crm}/api/customers/{CUSTOMER}/notes"
        say.call("GET", url, "notes.read")
        notes = self._bearer("GET", url, tokens["crm"], what="the CRM notes").json()
        say.answer(
            f"{notes['total']} notes on {notes['customer']['name']} "
            f"(owner {notes['customer']['account_owner']})"
        )
        url = f"{finance}/api/spend?customer={CUSTOMER}"
        say.call("GET", url, "spend.read")
        spend = self._bearer("GET", url, tokens["finance"], what="the finance spend").json()
        say.answer(
            f"{spend['currency']} {spend['total']:,.0f} in FY{spend['fiscal_year']}, "
            f"{spend['open_invoices']} open invoices"
        )
        content = "\n".join(
            [
                f"# Client brief: {notes['customer']['name']}",
                "",
                f"Spend FY{spend['fiscal_year']}: {spend['currency']} {spend['total']:,.0f} "
                f"({spend['year_over_year_change_pct']:+.1f}% year over year).",
                "",
                "## Recent notes",
                *[f"- {n['created_at'][:10]} {n['title']}" for n in notes["notes"]],
            ]
        )
        url = f"{documents}/api/documents"
        say.call("POST", url, "documents.write")
        document = self._bearer(
            "POST",
            url,
            tokens["documents"],
            what="saving the brief",
            expect=201,
            json={
                "title": f"Client brief: {notes['customer']['name']} (run {run})",
                "content": content,
                "customer": CUSTOMER,
                "format": "markdown",
            },
        ).json()
        say.answer(
            f"201 document {document['id']} ({document['size']} bytes) by {document['created_by']}"
        )

    def _bearer(
        self, method: str, url: str, token: str, *, what: str, expect: int = 200, **kwargs: Any
    ) -> httpx.Response:
        return self.stack.call(
            method,
            url,
            what=what,
            expect=expect,
            headers={"Authorization": f"Bearer {token}"},
            **kwargs,
        )

    def scheduled_report(self) -> None:
        stack, say = self.stack, self.say
        say.step(
            "Wednesday 8 PM: the scheduled report runs without a user",
            "2-legged: the wednesday-report workload gets a WAT that binds no user and asks "
            "for flow m2m; the vault uses client credentials at the finance provider "
            "(RFC 6749 §4.4). The admin's provider configuration is the pre-approval "
            "(CNS-PRE-001); no consent, no session.",
        )
        say.call("POST", stack.reference_url + "/v1/workload-access-tokens", "no user: {}")
        body = stack.as_workload(
            self.reporter,
            "/v1/workload-access-tokens",
            {},
            what="the report's workload access token",
        )
        wat: str = body["workload_access_token"]
        say.answer(f"workload access token {say.secret(wat)} (no user bound)")
        say.call(
            "POST",
            stack.reference_url + "/v1/resource-tokens/oauth2",
            "finance spend.read, flow m2m",
        )
        answer = stack.as_workload(
            self.reporter,
            "/v1/resource-tokens/oauth2",
            {
                "workload_access_token": wat,
                "provider": "finance",
                "scopes": ["spend.read"],
                "flow": "m2m",
                "resources": [stack.resources["finance"]],
            },
            what="the report's finance token",
        )
        token = answer.get("access_token")
        if not isinstance(token, str):
            raise ScenarioError("the m2m request did not return a token")
        say.answer(f"access token {say.secret(token)} (client credentials, no refresh token)")
        url = f"{stack.tool_url('finance')}/api/spend?customer={CUSTOMER}"
        say.call("GET", url, "spend.read")
        spend = self._bearer("GET", url, token, what="the report's spend data").json()
        by_quarter = ", ".join(f"{q['quarter']} {q['amount']:,.0f}" for q in spend["by_quarter"])
        say.answer(f"report: {spend['customer_name']} {spend['currency']} by quarter: {by_quarter}")

    def audit_trail(self) -> tuple[bool, int]:
        stack, say = self.stack, self.say
        say.step(
            "The audit trail",
            "Every call left an append-only, hash-chained event (spec 08): operation, "
            "workload, user, actor chain, provider, scopes, decision, reason.",
        )
        say.call("GET", stack.reference_url + "/v1/audit/events", "admin credential")
        events = self._events()
        rows = [
            [
                str(e["seq"]),
                e["operation"],
                e["workload"] or "",
                self._user_label((e["user"] or {}).get("subject", "")),
                e["provider"] or "",
                " ".join(e["scopes"]),
                e["decision"] if e["reason"] in (None, "ok") else f"{e['decision']}: {e['reason']}",
            ]
            for e in events
        ]
        say.table(
            f"Audit events ({len(events)})",
            ["seq", "operation", "workload", "user", "provider", "scopes", "decision"],
            rows,
            no_wrap=("seq", "operation", "workload", "user", "provider", "decision"),
        )
        say.note(
            f"user Sarah = subject {self.subject}. The demo's own admin reads (audit.query, "
            "to count the prompts) are audited too."
        )
        say.call("GET", stack.reference_url + "/v1/audit/verify", "recompute the hash chain")
        verdict = stack.admin("GET", "/v1/audit/verify", what="verifying the audit chain")
        if not verdict.get("valid"):
            raise ScenarioError(
                f"the audit chain is broken at seq {verdict.get('first_broken_seq')}: "
                f"{verdict.get('reason')}"
            )
        say.answer(f"valid: {verdict['events']} events, chain intact")
        return True, int(verdict["events"])

    def _user_label(self, subject: str) -> str:
        if subject == self.subject:
            return "Sarah"
        return subject if len(subject) <= 20 else subject[:19] + "…"

    # -- counting -------------------------------------------------------------------------

    def _events(self, **filters: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        next_token: str | None = None
        while True:
            params: dict[str, Any] = {**filters, "limit": 100}
            if next_token:
                params["next_token"] = next_token
            page = self.stack.admin(
                "GET", "/v1/audit/events", params=params, what="reading the audit log"
            )
            events.extend(page["items"])
            next_token = page["next_token"]
            if not next_token:
                return events

    def prompts(self) -> int:
        """Sarah's consent prompts for the orchestrator so far (CNS-FAT-001: one
        ``consent.prompt`` audit event per session the service started)."""
        return len(
            self._events(
                operation="consent.prompt", workload="orchestrator", user_subject=self.subject
            )
        )

    def metric_prompts(self) -> int | None:
        """``proctor_consent_prompts_total`` summed over its labels, as ``/metrics``
        serves it (a cross-check of the audit count)."""
        text = self.stack.call(
            "GET", self.stack.reference_url + "/metrics", what="reading the metrics"
        ).text
        total, seen = 0.0, False
        for line in text.splitlines():
            if line.startswith("proctor_consent_prompts_total{"):
                total += float(line.rsplit(" ", 1)[1])
                seen = True
        return int(total) if seen else None


def write_admin_token(stack: DemoStack) -> Path:
    """``--keep-running``: the admin credential in a 0600 file (never printed)."""
    path = stack.data_dir / "admin-token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(stack.admin_token + "\n")
    return path


def run_scenario(
    vendor: str,
    narrator: Narrator,
    *,
    mode: ConsentMode = "headless",
    keep_running: Callable[[DemoStack, ScenarioResult], None] | None = None,
    browser_wait: float = BROWSER_WAIT,
) -> ScenarioResult:
    """Start, provision, tell the story; ``keep_running`` (if given) is called with the
    stack and the result before everything stops."""
    with demo_stack(vendor, narrator, mode=mode) as stack:
        result = Scenario(stack, narrator, mode=mode, browser_wait=browser_wait).run()
        if keep_running is not None:
            keep_running(stack, result)
    return result
