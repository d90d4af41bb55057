"""pytest fixtures for the emulated IdPs and mock providers (the ``proctor_mock_idps``
plugin, registered through the ``pytest11`` entry point).

Fixtures (function-scoped; each test gets a fresh emulator with the vendor's documented
default configuration and stops it at teardown)
---------------------------------------------------------------------------------------
``okta_idp``, ``entra_idp``, ``cognito_idp``
    An Okta, Microsoft Entra ID or Amazon Cognito emulator as a :class:`MockIdp`. By
    default it is reached in-process: ``idp.transport`` is an ``httpx.ASGITransport`` and
    ``idp.base_url`` the vendor's real-looking issuer base (``https://example.okta.com``,
    ``https://login.microsoftonline.com``, ``https://cognito-idp.us-east-1.amazonaws.com``);
    no socket is opened. Live, it is served by uvicorn on a free ``127.0.0.1`` port in a
    background thread, and ``idp.base_url`` (then also the issuer base) is
    ``http://127.0.0.1:<port>``.
``crm_provider``, ``finance_provider``, ``documents_provider``, ``google_provider``,
``github_provider``
    A mock third-party OAuth provider with its resource API
    (:mod:`proctor.mock_idps.providers`) as a :class:`MockProvider`, in-process or live
    likewise.
``mock_idp_factory``
    ``mock_idp_factory(vendor, *, live=False, config=None, headless_user=None,
    frozen_at=None, base_url=None) -> MockIdp`` (a :class:`MockProvider` for a provider):
    several emulators in one test, or one with options computed in the test; all stop at
    teardown.

Marker and option
-----------------
``mock_idp`` marker: ``@pytest.mark.mock_idp(live=False, config=None, headless_user=None,
frozen_at=None, base_url=None)``
    The options of the fixtures above in one test: ``live`` serves on a loopback port,
    ``config`` replaces the default configuration (an ``IdpConfig``, a mapping, YAML text
    or a path), ``headless_user`` approves every authorization as that user,
    ``frozen_at`` freezes the clock at that time, ``base_url`` sets the issuer base.
``--mock-idp-live``
    Makes every fixture above live (the whole run on real loopback sockets).

A new vendor in :data:`proctor.mock_idps.vendors.VENDORS` gets its fixture with one line
here: ``acme_idp = idp_fixture("acme")``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from joserfc.jwk import ECKey, RSAKey

from proctor.mock_idps import providers, vendors
from proctor.mock_idps.app import MockIdpApp, create_app
from proctor.mock_idps.clock import Clock
from proctor.mock_idps.config import IdpConfig
from proctor.mock_idps.engine import Engine
from proctor.mock_idps.faults import Fault, FaultSpec
from proctor.mock_idps.keys import KeyRing, generate_key
from proctor.mock_idps.minting import MintedToken, MintRequest, mint
from proctor.mock_idps.profile import Endpoint
from proctor.mock_idps.request_log import LoggedRequest
from proctor.mock_idps.resources import ResourceApi, ResourceRequest
from proctor.mock_idps.server import LiveServer
from proctor.mock_idps.transports import SyncASGITransport

__all__ = [
    "MockIdp",
    "MockProvider",
    "cognito_idp",
    "crm_provider",
    "documents_provider",
    "entra_idp",
    "finance_provider",
    "github_provider",
    "google_provider",
    "idp_fixture",
    "mock_idp_factory",
    "okta_idp",
    "pytest_addoption",
    "pytest_configure",
    "start_idp",
]

_KEYS: dict[str, RSAKey | ECKey] = {}


def cached_key_factory(alg: str, slot: str) -> RSAKey | ECKey:
    """Initial keys reused across tests in one process (RSA generation is the slow part
    of starting an emulator); rotations always generate fresh keys."""
    cache_key = f"{alg}:{slot}"
    if cache_key not in _KEYS:
        _KEYS[cache_key] = generate_key("ES256" if alg == "ES256" else "RS256")
    return _KEYS[cache_key]


class MockIdp:
    """One running emulator and the handles a test needs."""

    def __init__(self, app: MockIdpApp, *, base_url: str, live: LiveServer | None) -> None:
        self.app = app
        self.base_url = base_url
        """Where to send requests (the issuer base in-process; the loopback URL live)."""
        self._live = live
        self._closers: list[Callable[[], None]] = []
        self._portal: contextlib.ExitStack | None = None
        self._blocking: BlockingPortal | None = None

    # -- what it serves ----------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        return self.app.engine

    @property
    def vendor(self) -> str:
        return self.engine.profile.name

    @property
    def live(self) -> bool:
        return self._live is not None

    @property
    def clock(self) -> Clock:
        return self.engine.clock

    @property
    def config(self) -> IdpConfig:
        return self.engine.config

    def issuer(self, server: str | None = None) -> str:
        return self.engine.server(server).issuer

    def url(self, endpoint: Endpoint, server: str | None = None) -> str:
        """An endpoint's URL as published in discovery (``url("token", "org")``)."""
        return self.engine.server(server).url(endpoint)

    def discovery_url(self, server: str | None = None) -> str:
        return self.url("openid_configuration", server)

    def jwks_uri(self, server: str | None = None) -> str:
        return self.url("jwks", server)

    # -- HTTP --------------------------------------------------------------------------
    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        """An async transport reaching the emulator (give it to the code under test)."""
        if self._live is not None:
            return httpx.AsyncHTTPTransport()
        return httpx.ASGITransport(app=self.app)

    def sync_transport(self) -> httpx.BaseTransport:
        """A sync transport reaching the emulator; closed at teardown."""
        if self._live is not None:
            transport: httpx.BaseTransport = httpx.HTTPTransport()
        else:
            if self._blocking is None:
                self._portal = contextlib.ExitStack()
                self._blocking = self._portal.enter_context(start_blocking_portal())
            transport = SyncASGITransport(self.app, self._blocking)
        self._closers.append(transport.close)
        return transport

    def client(self, **kwargs: Any) -> httpx.Client:
        """A sync client with ``base_url`` set; closed at teardown."""
        client = httpx.Client(base_url=self.base_url, transport=self.sync_transport(), **kwargs)
        self._closers.append(client.close)
        return client

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An async client with ``base_url`` set (use it in ``async with``)."""
        return httpx.AsyncClient(base_url=self.base_url, transport=self.transport, **kwargs)

    # -- the admin API, called directly ------------------------------------------------
    def mint(self, **request: Any) -> str:
        """A token from the admin minting API (``presets=["expired"]``, ``claims={}``...)."""
        return self.mint_token(**request).token

    def mint_token(self, **request: Any) -> MintedToken:
        return mint(self.engine, MintRequest.model_validate(request))

    def tokens(
        self,
        *,
        user: str | None = None,
        client_id: str | None = None,
        scopes: str | None = None,
        server: str | None = None,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        """A token response as if ``user`` had signed in to ``client_id`` (default: the
        first user and the first confidential client), without the pages. ``scopes`` is
        space-separated; by default the vendor's typical sign-in scopes
        (:meth:`~proctor.mock_idps.profile.VendorProfile.demo_scopes`: Okta
        ``openid profile email offline_access``, Entra those and the first API's scopes,
        Cognito every scope of the app client, a provider its resource's default scopes)."""
        engine = self.engine
        srv = engine.server(server)
        config = engine.config
        if client_id is None:
            client_id = next(c.client_id for c in config.clients if not c.public)
        client = engine.client(client_id)
        who = engine.user(user) if user is not None else config.users[0]
        if client is None or who is None:
            raise LookupError("unknown client or user")
        if scopes is None:
            granted = engine.profile.demo_scopes(srv, client)
        else:
            granted = tuple(scopes.split())
        now = engine.clock()
        family = engine.new_family(srv, client, who.username, granted, now)
        return engine.issue(
            srv,
            client,
            who,
            granted,
            "authorization_code",
            family_id=family.id,
            nonce=nonce,
            auth_time=now,
        )

    def keys(self, server: str | None = None) -> KeyRing:
        return self.engine.keyring(server)

    def rotate_keys(self, server: str | None = None, purpose: str = "default") -> str:
        """An unannounced rotation; returns the new active ``kid``."""
        return self.keys(server).rotate(purpose).kid

    def fault(
        self,
        endpoint: str,
        *,
        status: int | None = None,
        delay: float = 0.0,
        malformed: bool = False,
        count: int | None = None,
        server: str | None = None,
    ) -> Fault:
        spec = FaultSpec.model_validate(
            {
                "endpoint": endpoint,
                "status": status,
                "delay": delay,
                "malformed": malformed,
                "count": count,
                "server": server,
            }
        )
        return self.engine.faults.add(spec)

    def clear_faults(self) -> None:
        self.engine.faults.clear()

    def requests(
        self, endpoint: str | None = None, server: str | None = None
    ) -> list[LoggedRequest]:
        return self.engine.requests.entries(endpoint=endpoint, server=server)

    def clear_requests(self) -> None:
        self.engine.requests.clear()

    def headless(self, user: str | None) -> None:
        """Approve every authorization as ``user`` without pages (``None``: pages again)."""
        data = self.engine.config.model_dump()
        data["headless_user"] = user
        self.engine.configure(IdpConfig.model_validate(data))

    def configure(self, config: IdpConfig | Mapping[str, Any]) -> None:
        self.engine.configure(
            config if isinstance(config, IdpConfig) else IdpConfig.model_validate(dict(config))
        )

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()
        self._closers.clear()
        if self._portal is not None:
            self._portal.close()
            self._portal = self._blocking = None
        if self._live is not None:
            self._live.stop()


class MockProvider(MockIdp):
    """A mock third-party provider: the :class:`MockIdp` handles plus its resource API."""

    @property
    def resource(self) -> ResourceApi:
        """The resource API: its data (``resource.documents``), ``reset()`` and ``log``."""
        return providers.resource_api(self.engine)

    @property
    def audience(self) -> str:
        """The resource's identifier: the audience (RFC 8707 ``resource``) of its tokens."""
        return self.engine.server().audience or ""

    def resource_url(self, path: str = "") -> str:
        """A resource API URL (``resource_url("/api/customers/acme/notes")``)."""
        return self.engine.base_url + path

    def metadata_url(self) -> str | None:
        """The authorization server metadata (RFC 8414 or OIDC discovery), if published."""
        found: str | None = providers.summary(self.engine)["metadata_url"]
        return found

    @property
    def client_id(self) -> str:
        """The first configured client (the reference service's)."""
        return self.engine.config.clients[0].client_id

    @property
    def client_secret(self) -> str:
        return self.engine.config.clients[0].client_secret or ""

    def resource_requests(self, operation: str | None = None) -> list[ResourceRequest]:
        """What the resource API served, oldest first."""
        return self.resource.log.entries(operation)

    def trust(self, idp: MockIdp, server: str | None = None, audience: str | None = None) -> None:
        """Accept ``idp``'s JWTs (its current keys) as RFC 8693 subject tokens."""
        providers.trust_issuer(
            self.engine, idp.issuer(server), lambda: idp.keys(server).jwks(), audience=audience
        )


@contextlib.contextmanager
def start_idp(
    vendor: str,
    *,
    live: bool = False,
    config: IdpConfig | Mapping[str, Any] | str | Path | None = None,
    headless_user: str | None = None,
    frozen_at: float | None = None,
    base_url: str | None = None,
) -> Iterator[MockIdp]:
    """Start an emulator (in-process or live) and stop it afterwards."""
    clock = Clock(frozen_at=frozen_at)
    live_server: LiveServer | None = None
    if live:
        live_server = LiveServer(
            vendor, config, clock=clock, issuer_base=base_url, key_factory=cached_key_factory
        ).start()
        handle = _handle_class(live_server.app)
        idp = handle(live_server.app, base_url=live_server.url, live=live_server)
    else:
        app = create_app(
            vendor, config, clock=clock, base_url=base_url, key_factory=cached_key_factory
        )
        idp = _handle_class(app)(app, base_url=app.engine.base_url, live=None)
    try:
        if headless_user is not None:
            idp.headless(headless_user)
        yield idp
    finally:
        idp.close()


def _handle_class(app: MockIdpApp) -> type[MockIdp]:
    return MockProvider if isinstance(app.engine.profile, providers.ProviderProfile) else MockIdp


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("mock_idp")
    options = dict(marker.kwargs) if marker is not None else {}
    if request.config.getoption("mock_idp_live", default=False):
        options["live"] = True
    return options


def idp_fixture(vendor: str, name: str | None = None) -> Any:
    """A function-scoped fixture named ``name`` (default ``{vendor}_idp``) for one vendor."""

    @pytest.fixture(name=name or f"{vendor}_idp")
    def fixture(request: pytest.FixtureRequest) -> Iterator[MockIdp]:
        if vendor not in vendors.available():
            pytest.fail(f"no {vendor} emulator is installed")
        with start_idp(vendor, **_options(request)) as idp:
            yield idp

    return fixture


okta_idp = idp_fixture("okta")
cognito_idp = idp_fixture("cognito")
entra_idp = idp_fixture("entra")
crm_provider = idp_fixture("crm", "crm_provider")
finance_provider = idp_fixture("finance", "finance_provider")
documents_provider = idp_fixture("documents", "documents_provider")
google_provider = idp_fixture("google", "google_provider")
github_provider = idp_fixture("github", "github_provider")


@pytest.fixture
def mock_idp_factory() -> Iterator[Callable[..., MockIdp]]:
    """``factory(vendor, **options)`` starts emulators that stop at teardown."""
    with contextlib.ExitStack() as stack:

        def factory(vendor: str, **options: Any) -> MockIdp:
            return stack.enter_context(start_idp(vendor, **options))

        yield factory


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("proctor-mock-idps")
    group.addoption(
        "--mock-idp-live",
        action="store_true",
        dest="mock_idp_live",
        help="Serve the *_idp fixtures on loopback ports instead of in-process.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "mock_idp(live=False, config=None, headless_user=None, frozen_at=None, base_url=None):"
        " options of the proctor *_idp fixtures",
    )
