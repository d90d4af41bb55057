"""What the vault and consent suites provision on a ``proctor`` target, and clean up.

On top of the run's authorizers (:mod:`~proctor.conformance.provisioning`, reused: the
primary scenario's IdP mints the users' tokens), the suites create through the control
plane, in the run's namespace (``conf-<run id>-``):

- an authorizer variant of the primary scenario without its custom claim rule, so that
  two users of the mock IdP are both accepted (user A and user B);
- workloads with that authorizer whose only allowed return URL is the kit's own
  (:class:`~proctor.conformance.vault_flows.ReturnListener`);
- credential providers pointing at the kit's mock providers (spec 05 PRV-CFG-001), a fresh
  one per check when a check needs a clean vault partition (entries, sessions and consents
  are keyed by provider name, VLT-PART-001); and API-key providers.

Everything is deleted when the suite's session ends (providers first, so their vault
entries, sessions and consents go with them, PRV-CFG-004).

The suites' options (``suite_options`` in the target config; the consent suite reads the
vault suite's too):

- ``vault.providers``: base URLs of the kit's mock providers (``proctor idp crm`` ...);
  with capability ``mock_providers``;
- ``vault.return_url``: an ``https`` return URL to register instead of the kit's loopback
  listener (for targets that refuse loopback ``http``); the kit then reads the redirect
  without following it;
- ``vault.clock_url``: with capability ``test_clock``, where the kit advances the target's
  clock (``POST {"advance": <seconds>}``); the mock IdPs' and providers' clocks are
  advanced by the same amount.
"""

from __future__ import annotations

import functools
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

import httpx

from proctor.conformance.errors import InfrastructureError
from proctor.conformance.provisioning import AuthorizerCase, Provisioning, Workload
from proctor.conformance.target import Target
from proctor.conformance.vault_flows import MockProvider, ReturnListener, VaultFlows, VaultUser

__all__ = [
    "KitClock",
    "ProviderRef",
    "VaultWorld",
    "suite_options",
    "vault_world",
]

#: The suites whose ``suite_options`` the vault and consent suites read.
OPTION_SUITES: Final = ("vault", "consent")


def suite_options(target: Target) -> dict[str, Any]:
    """The vault suite's options, overridden by the consent suite's."""
    merged: dict[str, Any] = {}
    for name in OPTION_SUITES:
        merged.update(target.config.suite_options.get(name, {}))
    return merged


def _string_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) and item for item in items):
        raise InfrastructureError(f"suite option {what} must be a URL or a list of URLs")
    return [str(item) for item in items]


class KitClock:
    """Advances the target's test clock and every mock's clock together."""

    def __init__(self, target: Target, url: str, mocks: list[str]) -> None:
        self._target = target
        self._url = target.url(url)
        self._mocks = mocks
        self.advanced = 0.0

    def advance(self, seconds: int) -> None:
        if seconds <= 0:
            raise ValueError("the clock only moves forward")
        client = self._target.client
        try:
            response = client.post(self._url, json={"advance": seconds})
            answers = [response] + [
                client.post(f"{origin}/_mock/clock", json={"advance": seconds})
                for origin in self._mocks
            ]
        except httpx.HTTPError as error:
            raise InfrastructureError(
                f"advancing the clock failed: {type(error).__name__}"
            ) from None
        failed = [r for r in answers if not r.is_success]
        if failed:
            raise InfrastructureError(
                f"advancing the clock failed: {failed[0].request.url} answered "
                f"HTTP {failed[0].status_code}"
            )
        self.advanced += seconds


@dataclass(frozen=True)
class ProviderRef:
    """A credential provider the kit created on the target, and the mock behind it."""

    name: str
    mock: MockProvider
    body: dict[str, Any] = field(repr=False)

    @property
    def scopes(self) -> list[str]:
        return [str(s) for s in self.body.get("scopes") or []]


class VaultWorld:
    """The suite's provisioned objects and the flows that use them."""

    def __init__(self, target: Target, provisioning: Provisioning, suite: str) -> None:
        self.target = target
        self.provisioning = provisioning
        self.suite = suite
        options = suite_options(target)
        external = options.get("return_url")
        if external is not None and not isinstance(external, str):
            raise InfrastructureError("suite option return_url must be a URL")
        self.listener = ReturnListener(target, external)
        self.flows = VaultFlows(target, self.listener)
        self.mocks: dict[str, MockProvider] = {}
        if target.has("mock_providers"):
            for url in _string_list(options.get("providers"), "providers"):
                mock = MockProvider(url, target)
                self.mocks.setdefault(mock.preset, mock)
            if not self.mocks:
                raise InfrastructureError(
                    "the target declares mock_providers but suite_options.vault.providers "
                    "names none"
                )
        #: Each mock's headless user before the suite, restored at the end.
        self._headless = {p: m.summary.get("headless_user") for p, m in self.mocks.items()}
        self.clock: KitClock | None = None
        clock_url = options.get("clock_url")
        if target.has("test_clock"):
            if not isinstance(clock_url, str):
                raise InfrastructureError(
                    "the target declares test_clock but suite_options.vault.clock_url is unset"
                )
            origins = [idp.origin for idp in provisioning.idps.values()]
            origins += [mock.base_url for mock in self.mocks.values()]
            self.clock = KitClock(target, clock_url, origins)
        self.users: list[VaultUser] = []
        self.workloads: dict[str, Workload] = {}
        self.authorizer = ""
        self._counter = 0
        self._lock = threading.Lock()
        self._identities: dict[str, dict[str, Any]] = {}
        self._oauth2: list[str] = []
        self._api_keys: list[str] = []
        self._workloads: list[str] = []

    # -- names -------------------------------------------------------------------------------

    def name(self, suffix: str) -> str:
        return self.provisioning.name(f"{self.suite[:3]}-{suffix}")

    def fresh(self, stem: str) -> str:
        with self._lock:
            self._counter += 1
            return self.name(f"{stem}{self._counter}")

    # -- control plane -------------------------------------------------------------------------

    def admin(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        target = self.target
        try:
            return target.client.request(
                method, target.url(path), json=body, headers=target.admin_headers()
            )
        except httpx.HTTPError as error:
            raise InfrastructureError(f"{method} {path} failed: {type(error).__name__}") from None

    def _created(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code != 201:
            raise InfrastructureError(
                f"creating {what} answered HTTP {response.status_code}: {response.text[:400]}"
            )
        body: dict[str, Any] = response.json()
        return body

    def setup(self) -> None:
        case = self.provisioning.primary
        self.authorizer = self.provisioning.variant(
            f"{self.suite[:3]}-users", case, custom_claims=[]
        )
        usernames = [str(u["username"]) for u in case.idp.users()]
        if len(usernames) < 2:
            raise InfrastructureError(f"mock IdP {case.idp.name!r} needs two users for the vault")
        for index, username in enumerate(usernames[:2]):
            self.users.append(
                VaultUser(
                    name=username,
                    index=index,
                    mint=functools.partial(_mint, case, username),
                )
            )
        for suffix in ("x", "y"):
            self.workloads[suffix] = self.workload(suffix)

    def identity(self, user: VaultUser) -> dict[str, Any]:
        """The user a WAT for ``user`` binds (issuer, subject, user_key: WAT-BIND-001)."""
        with self._lock:
            known = self._identities.get(user.name)
        if known is not None:
            return known
        response = self.flows.issue_wat(self.workloads["x"], user=user)
        found = response.json().get("user") if response.is_success else None
        if not isinstance(found, dict):
            raise InfrastructureError(f"no WAT with a user for {user.name}: {response.status_code}")
        with self._lock:
            self._identities[user.name] = found
        return found

    def workload(
        self,
        suffix: str,
        *,
        authorizer: str | None = "",
        return_urls: list[str] | None = None,
        allow_user_id_tokens: bool = True,
    ) -> Workload:
        """A workload of this suite (``authorizer`` ``""``: the users' authorizer)."""
        name = self.name(suffix)
        chosen = self.authorizer if authorizer == "" else authorizer
        body = {
            "name": name,
            "authorizer": chosen,
            "allowed_return_urls": [self.listener.url] if return_urls is None else return_urls,
            "allow_user_id_tokens": allow_user_id_tokens,
            "token_endpoint_auth_method": "client_secret_basic",
        }
        created = self._created(self.admin("POST", "/v1/workloads", body), f"workload {name}")
        self._workloads.append(name)
        secret = created.get("client_secret")
        client_id = created.get("client_id")
        if not isinstance(secret, str) or not isinstance(client_id, str):
            raise InfrastructureError(f"workload {name} was created without client_id or secret")
        self.target.add_secret(secret)
        return Workload(name, client_id, secret, chosen)

    def mock(self, preset: str | None = None) -> MockProvider:
        """A mock provider (``None``: the first configured)."""
        if not self.mocks:
            raise InfrastructureError("no mock providers are configured")
        if preset is None:
            return next(iter(self.mocks.values()))
        found = self.mocks.get(preset)
        if found is None:
            raise InfrastructureError(f"no mock provider {preset!r} is configured")
        return found

    def second_mock(self) -> MockProvider:
        """Another mock provider than :meth:`mock`'s default, or the same one."""
        mocks = list(self.mocks.values())
        return mocks[1] if len(mocks) > 1 else mocks[0]

    def provider_body(self, mock: MockProvider, name: str, **changes: Any) -> dict[str, Any]:
        """A provider for ``mock`` (its discovery URL unless ``changes`` name endpoints);
        members set to ``None`` in ``changes`` are left out."""
        body: dict[str, Any] = {
            "name": name,
            "vendor": "custom",
            "client_id": mock.client_id,
            "client_secret": mock.client_secret,
            "client_auth_method": "client_secret_basic",
            "scopes": mock.scopes,
        }
        if "discovery_url" not in changes and "authorization_server_metadata" not in changes:
            body["discovery_url"] = mock.metadata_url
        body.update(changes)
        return {key: value for key, value in body.items() if value is not None}

    def provider(self, mock: MockProvider | None = None, **changes: Any) -> ProviderRef:
        """A fresh OAuth 2.0 provider on the target for ``mock``: a clean vault partition."""
        mock = mock or self.mock()
        name = self.fresh(mock.preset[:8])
        body = self.provider_body(mock, name, **changes)
        self._created(self.admin("POST", "/v1/providers/oauth2", body), f"provider {name}")
        self._oauth2.append(name)
        return ProviderRef(name, mock, body)

    def adopt_provider(self, name: str) -> None:
        if name not in self._oauth2:
            self._oauth2.append(name)

    def adopt_api_key(self, name: str) -> None:
        if name not in self._api_keys:
            self._api_keys.append(name)

    def api_key_provider(self, allowed: list[str], api_key: str | None = None) -> tuple[str, str]:
        """A fresh API-key provider: its name and its key."""
        name = self.fresh("key")
        key = api_key or "kit-api-key-" + secrets.token_urlsafe(24)
        self.target.add_secret(key)
        body = {"name": name, "api_key": key, "allowed_workloads": allowed}
        self._created(self.admin("POST", "/v1/providers/api-key", body), f"API key {name}")
        self._api_keys.append(name)
        return name, key

    def close(self) -> None:
        problems = []
        for kind, names in (("oauth2", self._oauth2), ("api-key", self._api_keys)):
            for name in reversed(names):
                response = self.admin("DELETE", f"/v1/providers/{kind}/{quote(name, safe='')}")
                if response.status_code not in (204, 404):
                    problems.append(f"provider {name}: HTTP {response.status_code}")
        for name in reversed(self._workloads):
            response = self.admin("DELETE", f"/v1/workloads/{quote(name, safe='')}")
            if response.status_code not in (204, 404):
                problems.append(f"workload {name}: HTTP {response.status_code}")
        for preset, mock in self.mocks.items():
            mock.headless(self._headless.get(preset))
        self.listener.close()
        if problems:
            raise InfrastructureError("cleanup failed: " + "; ".join(problems))


def _mint(case: AuthorizerCase, username: str) -> str:
    """A fresh user token of ``username`` from the scenario's mock IdP."""
    return case.mint(user=username).token


@contextmanager
def vault_world(target: Target, provisioning: Provisioning, suite: str) -> Iterator[VaultWorld]:
    """The suite's world, provisioned, then cleaned up."""
    world = VaultWorld(target, provisioning, suite)
    try:
        world.setup()
        yield world
    finally:
        world.close()
