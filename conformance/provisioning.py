"""Provisioning a ``proctor``-profile target through its control plane, and cleaning up.

The checks of the native API need authorizers that trust the kit's mock IdPs and
workloads that authenticate to the data plane. With the admin credential
(``credentials.admin_token``) the kit creates them itself over HTTP (spec 02 §2.1,
spec 03 §3.1), in its own namespace, and deletes them when the run ends:

- every name starts with ``conf-<run id>-`` (TERM-NAME-001 allows 3 to 64 characters),
  so a run never touches an operator's objects nor another run's;
- **authorizers**, one per IdP scenario (:data:`SCENARIOS`): each is derived from a probe
  token the mock IdP mints for the scenario's user (its audience, client and groups), so
  the configuration matches what the emulator really issues;
- **workloads** (:data:`WORKLOADS`), whose client secrets the service shows once: each is
  registered with :meth:`~proctor.conformance.target.Target.add_secret` at once, so it
  never appears in evidence or reports.

Targets without a control plane (profiles ``agentcore`` and ``rfc8693``) cannot be
provisioned: the checks that need these objects declare the ``control_plane``
capability and are skipped, and ``proctor conform setup`` lists what the kit would have
created (:func:`plan_lines`).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, quote_plus

import httpx

from proctor.conformance.errors import InfrastructureError
from proctor.conformance.identity import scopes_of
from proctor.conformance.idps import IdpServer, Minted, MockIdp
from proctor.conformance.target import Target

__all__ = [
    "SCENARIOS",
    "WORKLOADS",
    "AuthorizerCase",
    "Provisioning",
    "Workload",
    "basic_auth",
    "plan_lines",
    "provision",
]

PREFIX: Final = "conf"
#: Claims every OIDC server adds to user tokens; a scenario's allowed scope is another one.
_OIDC_SCOPES: Final = frozenset({"openid", "profile", "email", "offline_access", "phone"})

#: IdP scenarios: key → what the authorizer tests (one or more per vendor).
SCENARIOS: Final[dict[str, str]] = {
    "okta": "Okta custom authorization server: scp array, cid, uid user key, groups rule",
    "entra-v2": "Entra ID v2.0 tenant: azp, {tid}/{oid} user key, groups rule",
    "entra-v1": "Entra ID v1.0 tenant: explicit issuer on another path, appid, "
    "App ID URI audience with a trailing-slash variant",
    "entra-multi": "Entra ID multi-tenant: {tenantid} issuer template, tenants allowed by a "
    "tid rule",
    "cognito": "Cognito user pool: access tokens without aud, client_id, cognito:groups rule",
}

#: Workloads: suffix → (authorizer: the primary scenario or none, allow_user_id_tokens).
WORKLOADS: Final[dict[str, tuple[bool, bool]]] = {
    "main": (True, False),
    "peer": (True, False),
    "uid": (True, True),
    "noauth": (False, False),
    "audit": (True, False),
}


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 §2.3.1: both parts form-urlencoded, then HTTP Basic."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


@dataclass(frozen=True)
class Workload:
    """A provisioned workload and the secret the service showed once."""

    name: str
    client_id: str
    client_secret: str = field(repr=False)
    authorizer: str | None

    def auth(self) -> dict[str, str]:
        return basic_auth(self.client_id, self.client_secret)


@dataclass
class AuthorizerCase:
    """One IdP scenario: the authorizer provisioned for it and how to mint its tokens.

    ``valid`` is the mint request of a token the authorizer must allow; ``outsider`` one
    for a user the custom claim rule (on ``rule_claim``) refuses; ``others`` further
    valid requests (other tenants). Every request pins the signing key (``key``) the
    kit saw when it provisioned, so a key rotation by one check leaves the others'
    tokens verifiable.
    """

    key: str
    idp: MockIdp
    server: IdpServer
    body: dict[str, Any]
    valid: dict[str, Any]
    profile: str
    outsider: dict[str, Any] | None = None
    rule_claim: str | None = None
    others: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.body["name"])

    @property
    def kid(self) -> str:
        return str(self.valid["key"])

    def request(self, base: Mapping[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
        """``base`` (default: the valid request) with ``changes``; ``claims`` and
        ``header`` are merged, not replaced."""
        merged = dict(self.valid if base is None else base)
        for name in ("claims", "header"):
            if name in changes:
                merged[name] = {**merged.get(name, {}), **changes.pop(name)}
        merged.update(changes)
        if "unknown_kid" in merged.get("presets", ()):
            merged.pop("key", None)
        return merged

    def mint(self, base: Mapping[str, Any] | None = None, **changes: Any) -> Minted:
        return self.idp.mint(**self.request(base, **changes))


class Provisioning:
    """What the kit created on the target for this run; :meth:`close` deletes it."""

    def __init__(self, target: Target, *, run_id: str | None = None) -> None:
        self.target = target
        self.run_id = run_id or secrets.token_hex(4)
        self.prefix = f"{PREFIX}-{self.run_id}-"
        self.cases: dict[str, AuthorizerCase] = {}
        self.workloads: dict[str, Workload] = {}
        self.idps: dict[str, MockIdp] = {}
        self._authorizers: list[str] = []
        self._workloads: list[str] = []

    def name(self, suffix: str) -> str:
        return f"{self.prefix}{suffix}"

    @property
    def primary(self) -> AuthorizerCase:
        """The scenario attacks are aimed at: Okta when available, else the first."""
        if not self.cases:
            raise InfrastructureError("no mock IdP scenario could be provisioned")
        return self.cases.get("okta") or next(iter(self.cases.values()))

    # -- the control plane ----------------------------------------------------------------

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        target = self.target
        try:
            response = target.client.request(
                method, target.url(path), json=body, headers=target.admin_headers()
            )
        except httpx.HTTPError as error:
            raise InfrastructureError(
                f"provisioning: {method} {path} failed: {type(error).__name__}"
            ) from None
        if not response.is_success:
            raise InfrastructureError(
                f"provisioning: {method} {path} answered HTTP {response.status_code}: "
                f"{response.text[:400]}"
            )
        return response.json() if response.content else None

    def create_authorizer(self, body: Mapping[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self._call("POST", "/v1/authorizers", body)
        self._authorizers.append(str(body["name"]))
        return created

    def adopt_authorizer(self, name: str) -> None:
        """Delete ``name`` with the rest (an authorizer a check created itself)."""
        if name not in self._authorizers:
            self._authorizers.append(name)

    def variant(self, suffix: str, case: AuthorizerCase, **changes: Any) -> str:
        """An extra authorizer: ``case``'s configuration with ``changes`` (created once,
        deleted with the rest); returns its name."""
        name = self.name(suffix)
        if name not in self._authorizers:
            self.create_authorizer({**case.body, **changes, "name": name})
        return name

    def delete_authorizer(self, name: str) -> None:
        self._delete(f"/v1/authorizers/{quote(name, safe='')}")
        if name in self._authorizers:
            self._authorizers.remove(name)

    def create_workload(
        self, suffix: str, *, authorizer: str | None, allow_user_id_tokens: bool = False
    ) -> Workload:
        name = self.name(suffix)
        body = {
            "name": name,
            "authorizer": authorizer,
            "allow_user_id_tokens": allow_user_id_tokens,
            "token_endpoint_auth_method": "client_secret_basic",
        }
        created = self._call("POST", "/v1/workloads", body)
        self._workloads.append(name)
        secret = created.get("client_secret") if isinstance(created, dict) else None
        self.target.add_secret(secret if isinstance(secret, str) else None)
        if not isinstance(secret, str) or not isinstance(created.get("client_id"), str):
            raise InfrastructureError(f"workload {name} was created without client_id or secret")
        return Workload(name, created["client_id"], secret, authorizer)

    def delete_workload(self, name: str) -> None:
        self._delete(f"/v1/workloads/{quote(name, safe='')}")
        if name in self._workloads:
            self._workloads.remove(name)

    def _delete(self, path: str) -> None:
        target = self.target
        try:
            response = target.client.delete(target.url(path), headers=target.admin_headers())
        except httpx.HTTPError as error:
            raise InfrastructureError(
                f"cleanup: DELETE {path} failed: {type(error).__name__}"
            ) from None
        if response.status_code not in (204, 404):
            raise InfrastructureError(f"cleanup: DELETE {path} answered {response.status_code}")

    def close(self) -> None:
        """Delete every workload, then every authorizer the run created."""
        problems = []
        for name in list(reversed(self._workloads)):
            try:
                self.delete_workload(name)
            except InfrastructureError as error:
                problems.append(str(error))
        for name in list(reversed(self._authorizers)):
            try:
                self.delete_authorizer(name)
            except InfrastructureError as error:
                problems.append(str(error))
        if problems:
            raise InfrastructureError("; ".join(problems))

    # -- building the scenarios -----------------------------------------------------------

    def setup(self) -> None:
        for idp_name, issuer in sorted(self.target.idp_urls.items()):
            idp = MockIdp(idp_name, issuer, self.target.client)
            self.idps[idp_name] = idp
            for case in _cases_for(idp, self):
                self.create_authorizer(case.body)
                self.cases[case.key] = case
        primary = self.primary.name if self.cases else None
        for suffix, (with_authorizer, user_ids) in WORKLOADS.items():
            self.workloads[suffix] = self.create_workload(
                suffix,
                authorizer=primary if with_authorizer else None,
                allow_user_id_tokens=user_ids,
            )


@contextmanager
def provision(target: Target, *, run_id: str | None = None) -> Iterator[Provisioning]:
    """Create the run's authorizers and workloads; delete them afterwards."""
    provisioning = Provisioning(target, run_id=run_id)
    try:
        provisioning.setup()
        yield provisioning
    finally:
        provisioning.close()


def plan_lines(prefix: str = f"{PREFIX}-<run id>-") -> list[str]:
    """What the kit creates on a ``proctor`` target, for ``proctor conform setup``."""
    lines = [f"- names start with `{prefix}`; everything is deleted when the run ends"]
    for key, text in SCENARIOS.items():
        lines.append(f"- authorizer `{prefix}{key}` (when that mock IdP is configured): {text}")
    for suffix, (with_authorizer, user_ids) in WORKLOADS.items():
        traits = [
            "authorizer: the primary scenario's, Okta's when configured"
            if with_authorizer
            else "no authorizer"
        ]
        if user_ids:
            traits.append("allow_user_id_tokens")
        lines.append(f"- workload `{prefix}{suffix}` ({', '.join(traits)})")
    return lines


# -- per vendor ----------------------------------------------------------------------------


def _groups(user: Mapping[str, Any]) -> list[str]:
    return [str(g) for g in user.get("groups") or []]


def _rule_users(
    idp: MockIdp, tenant_of: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, Any] | None, str | None]:
    """A user with a group, another user without it, and that group."""
    users = idp.users()
    if not users:
        raise InfrastructureError(f"mock IdP {idp.name!r} has no users")
    for insider in users:
        for group in _groups(insider):
            for outsider in users:
                same_home = tenant_of is None or tenant_of.get(
                    outsider["username"]
                ) == tenant_of.get(insider["username"])
                if outsider is not insider and group not in _groups(outsider) and same_home:
                    return insider, outsider, group
    return users[0], None, None


def _first(value: Any) -> str:
    if isinstance(value, list):
        return str(value[0])
    return str(value)


def _contains(claim: str, value: str) -> dict[str, Any]:
    return {"claim": claim, "operator": "contains", "value": value, "value_type": "string"}


def _cases_for(idp: MockIdp, run: Provisioning) -> list[AuthorizerCase]:
    vendor = idp.vendor
    if vendor == "okta":
        return [_okta(idp, run)]
    if vendor == "entra":
        return _entra(idp, run)
    if vendor == "cognito":
        return [_cognito(idp, run)]
    return [_generic(idp, run)]


def _okta(idp: MockIdp, run: Provisioning) -> AuthorizerCase:
    servers = idp.servers()
    server = next((s for s in servers if s.kind == "custom"), idp.server())
    insider, outsider, group = _rule_users(idp)
    probe = idp.mint(server=server.id, user=insider["username"])
    claims = probe.claims
    scope = next((s for s in scopes_of(claims) if s not in _OIDC_SCOPES), None)
    valid = {
        "server": server.id,
        "user": insider["username"],
        "client_id": claims["cid"],
        "key": probe.header["kid"],
    }
    if scope is not None:
        valid["scopes"] = [scope]
    if group is not None and group not in (claims.get("groups") or []):
        group = None
    body: dict[str, Any] = {
        "name": run.name("okta"),
        "discovery_url": server.discovery_url,
        "idp_profile": "okta",
        "allowed_audiences": [_first(claims["aud"])],
        "allowed_clients": [claims["cid"]],
        "allowed_scopes": [scope] if scope else [],
        "custom_claims": [_contains("groups", group)] if group else [],
    }
    return AuthorizerCase(
        key="okta",
        idp=idp,
        server=server,
        body=body,
        valid=valid,
        profile="okta",
        outsider={**valid, "user": outsider["username"]} if outsider and group else None,
        rule_claim="groups" if group else None,
    )


def _entra(idp: MockIdp, run: Provisioning) -> list[AuthorizerCase]:
    users = idp.users()
    tenant_of = {
        str(u["username"]): str((u.get("vendor") or {}).get("tenant") or "home") for u in users
    }
    insider, outsider, group = _rule_users(idp, tenant_of)
    home = idp.server()
    probe = idp.mint(server=home.id, user=insider["username"])
    claims = probe.claims
    kid = probe.header["kid"]
    valid = {"server": home.id, "user": insider["username"], "key": kid}
    if group is not None and group not in (claims.get("groups") or []):
        group = None
    rules = [_contains("groups", group)] if group else []
    cases = [
        AuthorizerCase(
            key="entra-v2",
            idp=idp,
            server=home,
            body={
                "name": run.name("entra-v2"),
                "discovery_url": home.discovery_url,
                "idp_profile": "entra",
                "allowed_audiences": [_first(claims["aud"])],
                "allowed_clients": [claims["azp"]],
                "custom_claims": rules,
            },
            valid=valid,
            profile="entra",
            outsider={**valid, "user": outsider["username"]} if outsider and group else None,
            rule_claim="groups" if group else None,
        )
    ]
    # v1.0: a legacy API (accessTokenAcceptedVersion null or 1) gets v1.0 tokens.
    legacy = next(
        (
            api
            for api in idp.config().get("apis") or []
            if (api.get("vendor") or {}).get("access_token_accepted_version") in (None, 1)
            and api.get("scopes")
        ),
        None,
    )
    if legacy is not None:
        scope = f"{legacy['audience']}/{legacy['scopes'][0]}"
        v1 = idp.mint(server=home.id, user=insider["username"], scopes=[scope])
        v1_server = next(
            (s for s in idp.servers() if s.issuer == v1.claims["iss"] and s.kind == "v1"),
            None,
        )
        if v1_server is not None:
            aud = _first(v1.claims["aud"])
            variant = aud[:-1] if aud.endswith("/") else aud + "/"  # INB-ENTRA-003
            v1_valid = {**valid, "scopes": [scope], "key": v1.header["kid"]}
            v1_group = group if group in (v1.claims.get("groups") or []) else None
            cases.append(
                AuthorizerCase(
                    key="entra-v1",
                    idp=idp,
                    server=v1_server,
                    body={
                        "name": run.name("entra-v1"),
                        "discovery_url": v1_server.discovery_url,
                        "issuer": v1.claims["iss"],
                        "idp_profile": "entra",
                        "allowed_audiences": [variant],
                        "allowed_clients": [v1.claims["appid"]],
                        "custom_claims": [_contains("groups", v1_group)] if v1_group else [],
                    },
                    valid=v1_valid,
                    profile="entra",
                    outsider={**v1_valid, "user": outsider["username"]}
                    if outsider and v1_group
                    else None,
                    rule_claim="groups" if v1_group else None,
                )
            )
    multi = next((s for s in idp.servers() if "{tenantid}" in s.issuer and s.kind == "v2"), None)
    foreign = next((u for u in users if tenant_of[str(u["username"])] != "home"), None)
    if multi is not None:
        others = []
        tenants = [str(claims["tid"])]
        if foreign is not None:
            other = idp.mint(user=foreign["username"], key=kid)
            tenants.append(str(other.claims["tid"]))
            others.append({"user": foreign["username"], "key": kid})
        cases.append(
            AuthorizerCase(
                key="entra-multi",
                idp=idp,
                server=multi,
                body={
                    "name": run.name("entra-multi"),
                    "discovery_url": multi.discovery_url,
                    "issuer": multi.issuer,
                    "idp_profile": "entra",
                    "allowed_audiences": [_first(claims["aud"])],
                    "allowed_clients": [claims["azp"]],
                    "custom_claims": [
                        {
                            "claim": "tid",
                            "operator": "contains_any",
                            "value": tenants,
                            "value_type": "string_list",
                        }
                    ],
                },
                valid=valid,
                profile="entra",
                rule_claim="tid",
                others=others,
            )
        )
    return cases


def _cognito(idp: MockIdp, run: Provisioning) -> AuthorizerCase:
    server = idp.server()
    insider, outsider, group = _rule_users(idp)
    probe = idp.mint(server=server.id, user=insider["username"])
    claims = probe.claims
    valid = {"server": server.id, "user": insider["username"], "key": probe.header["kid"]}
    if isinstance(claims.get("client_id"), str):
        valid["client_id"] = claims["client_id"]
    if group is not None and group not in (claims.get("cognito:groups") or []):
        group = None
    return AuthorizerCase(
        key="cognito",
        idp=idp,
        server=server,
        body={
            "name": run.name("cognito"),
            "discovery_url": server.discovery_url,
            "idp_profile": "cognito",
            "allowed_audiences": [],
            "allowed_clients": [claims["client_id"]],
            "custom_claims": [_contains("cognito:groups", group)] if group else [],
        },
        valid=valid,
        profile="cognito",
        outsider={**valid, "user": outsider["username"]} if outsider and group else None,
        rule_claim="cognito:groups" if group else None,
    )


def _generic(idp: MockIdp, run: Provisioning) -> AuthorizerCase:
    server = idp.server()
    users = idp.users()
    user = users[0]["username"] if users else None
    probe = idp.mint(server=server.id, user=user, app=user is None)
    claims = probe.claims
    client = next(
        (claims[n] for n in ("client_id", "azp", "appid", "cid") if isinstance(claims.get(n), str)),
        None,
    )
    key = f"{idp.name}"
    return AuthorizerCase(
        key=key,
        idp=idp,
        server=server,
        body={
            "name": run.name(key),
            "discovery_url": server.discovery_url,
            "idp_profile": "generic",
            "allowed_audiences": [_first(claims["aud"])],
            "allowed_clients": [client] if client else [],
            "token_kinds": [{"kind": "access_token", "typ": [probe.header.get("typ")]}],
        },
        valid={"server": server.id, "user": user, "key": probe.header["kid"]},
        profile="generic",
    )
