"""``proctor idp <vendor>``: run an emulated identity provider on 127.0.0.1.

One sub-command per IdP emulator (``okta``, ``entra``, ``cognito``) and per mock
third-party provider (``crm``, ``finance``, ``documents``, ``google``,
``github``: an authorization server with its resource API). This module parses options
and prints; the emulators live in :mod:`proctor.mock_idps`.
"""

# No ``from __future__ import annotations``: typer evaluates the option annotations, which
# refer to the vendor profile in the enclosing function.
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
import yaml
from pydantic import ValidationError

from proctor.mock_idps import providers, tls, vendors
from proctor.mock_idps import server as mock_server
from proctor.mock_idps.app import MockIdpApp, create_app
from proctor.mock_idps.config import IdpConfig, load_config
from proctor.mock_idps.profile import VendorProfile

app = typer.Typer(
    help="Run an emulated identity provider or a mock third-party OAuth provider on "
    "127.0.0.1, for tests and demos.\n\n"
    "IdPs: okta (Okta org and custom authorization servers), entra (Microsoft Entra ID "
    "tenants, v1.0 and v2.0), cognito (an Amazon Cognito user pool). Providers, each with the "
    "resource API its tokens are for: crm, finance, documents (the Sarah scenario's tools), "
    "google, github.\n\n"
    "Each command serves one until interrupted and prints its base URL, issuers, discovery "
    "URLs and demo credentials; the admin API under /_mock mints tokens, rotates keys, "
    "injects faults, moves the clock and shows the request log. --vendor-hosts serves the "
    "vendor's real host names over TLS, for unmodified verifiers. The same emulators are an "
    "ASGI app (proctor.mock_idps.app.create_app) and pytest fixtures (okta_idp, entra_idp, "
    "cognito_idp, crm_provider, ...).",
    no_args_is_help=True,
)


def _tls_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "proctor" / "mock-idps" / "tls"


def _load(vendor: str, path: Path | None, headless: str | None) -> IdpConfig:
    profile = vendors.profile(vendor)
    try:
        config = load_config(path) if path is not None else profile.default_config()
        if headless is not None:
            data = config.model_dump()
            data["headless_user"] = headless
            config = IdpConfig.model_validate(data)
        profile.validate_config(config)
    except (ValidationError, ValueError, yaml.YAMLError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--config") from exc
    return config


def banner(app_: MockIdpApp, listen: str, *, hosts_line: str | None = None) -> str:
    """What the command prints before serving: URLs and demo credentials."""
    engine = app_.engine
    lines = [f"{engine.profile.title} emulator (proctor mock IdP)", f"  listening on  {listen}"]
    if engine.base_url != listen:
        lines.append(f"  issuer base   {engine.base_url}")
    lines.append(f"  admin API     {listen}/_mock")
    lines.append("")
    lines.append("Authorization servers:")
    for server in engine.servers.values():
        marker = "  (default)" if server.id == engine.primary else ""
        lines.append(f"  {server.id}{marker}")
        lines.append(f"    issuer      {server.issuer}")
        lines.append(f"    discovery   {server.url('openid_configuration')}")
    config = engine.config
    if config.users:
        lines.append("")
        lines.append("Users (demo credentials):")
        for user in config.users:
            groups = ", ".join(user.groups) or "-"
            lines.append(
                f"  {user.username}  password: {user.password}  groups: [{groups}]"
                f"  id: {engine.user_id(user)}"
            )
    if config.clients:
        lines.append("")
        lines.append("Clients:")
        for client in config.clients:
            kind = "public" if client.public else f"secret: {client.client_secret}"
            lines.append(f"  {client.client_id}  ({client.name or 'unnamed'}; {kind})")
            for uri in client.redirect_uris:
                lines.append(f"    redirect    {uri}")
    if config.headless_user:
        lines.append("")
        lines.append(f"Headless: every authorization is approved as {config.headless_user}.")
    if hosts_line:
        lines.append("")
        lines.append(hosts_line)
    return "\n".join(lines)


def provider_banner(app_: MockIdpApp, listen: str, *, hosts_line: str | None = None) -> str:
    """What a third-party provider prints: its endpoints, resource API and client."""
    info = providers.summary(app_.engine)
    api = info["resource_api"]
    lines = [f"{info['title']} provider (proctor mock OAuth provider)", f"  listening on  {listen}"]
    if info["base_url"] != listen:
        lines.append(f"  base URL      {info['base_url']}")
    lines.append(f"  issuer        {info['issuer']}")
    lines.append(f"  metadata      {info['metadata_url'] or '(none: the vendor publishes none)'}")
    for kind, url in info["endpoints"].items():
        if kind not in ("oauth_authorization_server", "openid_configuration"):
            lines.append(f"  {kind:<13} {url}")
    lines.append(f"  admin API     {listen}/_mock  (provider: /_mock/provider, /_mock/resource)")
    lines.append(
        f"  access tokens {info['token_format']}; grants: {', '.join(info['grant_types'])}"
    )
    lines.append("")
    lines.append(f"Resource API: {api['title']}  audience {api['audience']}")
    for op in api["operations"]:
        scopes = " or ".join(op["scopes"]) or "any valid token"
        lines.append(f"  {op['method']:<5} {op['url']}  ({scopes})")
    if api["metadata_url"]:
        lines.append(f"  metadata      {api['metadata_url']}")
    lines.append("")
    lines.append("Clients (demo credentials):")
    for client in info["clients"]:
        secret = client["client_secret"]
        kind = "public" if secret is None else f"secret: {secret}"
        lines.append(f"  {client['client_id']}  ({kind})")
        for uri in client["redirect_uris"]:
            lines.append(f"    redirect    {uri}")
    lines.append("")
    lines.append("Users (demo credentials):")
    for user in info["users"]:
        lines.append(f"  {user['username']}  password: {user['password']}")
    if info["headless_user"]:
        lines.append("")
        lines.append(f"Headless: every authorization is approved as {info['headless_user']}.")
    if hosts_line:
        lines.append("")
        lines.append(hosts_line)
    return "\n".join(lines)


def _hosts_line(hosts: list[str], port: int, ca_cert: Path) -> str:
    forward = "" if port == 443 else f" and forward 127.0.0.1:443 to port {port}"
    return (
        f"Vendor hosts: add '127.0.0.1 {' '.join(hosts)}' to /etc/hosts{forward}; trust the "
        f"CA {ca_cert} (e.g. SSL_CERT_FILE, REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS)."
    )


def _default_hosts(profile: VendorProfile) -> str:
    """The hosts ``--vendor-hosts`` maps with the default configuration (for the help)."""
    try:
        hosts = profile.hosts(profile.default_config(), f"https://{profile.default_host}")
    except ValueError:
        hosts = [profile.default_host]
    return ", ".join(hosts)


def _help(profile: VendorProfile) -> str:
    url = f"http://127.0.0.1:{profile.default_port}"
    if isinstance(profile, providers.ProviderProfile):
        what = (
            f"Mock {profile.title} OAuth provider: its authorization server (sign-in and "
            "consent pages, token endpoint) and the resource API its tokens are for."
        )
    else:
        what = (
            f"Emulate {profile.title}: discovery, JWKS, sign-in and consent pages and the "
            "OAuth endpoints, with the vendor's issuers, token claims, lifetimes and errors."
        )
    return (
        f"{what}\n\nServes {url} (or --port) until interrupted and prints the base URL, each "
        "issuer and discovery URL, and the demo users and clients with their credentials. "
        f"Test controls (tokens, keys, faults, clock, request log) are under {url}/_mock."
    )


def _command(vendor: str) -> Callable[..., None]:
    profile = vendors.profile(vendor)

    def run(
        port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = profile.default_port,
        config: Annotated[
            Path | None,
            typer.Option(
                help="A YAML configuration (users, clients, apis, vendor settings) instead of "
                "the default; see --print-config.",
                exists=True,
                dir_okay=False,
            ),
        ] = None,
        vendor_hosts: Annotated[
            bool,
            typer.Option(
                "--vendor-hosts",
                help=f"Use https://{profile.default_host} (or --host-name) as the issuer base "
                "and serve TLS with a certificate from a local CA for every host the vendor's "
                f"URLs use ({_default_hosts(profile)}). Map them to 127.0.0.1 yourself; the "
                "command prints how.",
            ),
        ] = False,
        host_name: Annotated[
            str, typer.Option(help="The issuer host for --vendor-hosts.")
        ] = profile.default_host,
        tls_dir: Annotated[
            Path | None,
            typer.Option(
                help="Where --vendor-hosts keeps its CA and certificate "
                "(default: ~/.cache/proctor/mock-idps/tls)."
            ),
        ] = None,
        headless: Annotated[
            str | None,
            typer.Option(help="Approve every authorization as this user, without pages."),
        ] = None,
        print_config: Annotated[
            bool,
            typer.Option("--print-config", help="Print the configuration in use as YAML and exit."),
        ] = False,
    ) -> None:
        loaded = _load(vendor, config, headless)
        if print_config:
            typer.echo(yaml.safe_dump(loaded.model_dump(mode="json"), sort_keys=False), nl=False)
            return
        files = None
        hosts_line = None
        if vendor_hosts:
            issuer_base = f"https://{host_name}"
            listen = f"https://127.0.0.1:{port}"
        else:
            issuer_base = listen = f"http://127.0.0.1:{port}"
        try:
            hosts = profile.hosts(loaded, issuer_base)
            mock = create_app(vendor, loaded, base_url=issuer_base)
        except ValueError as exc:
            hint = "--host-name" if vendor_hosts else "--config"
            raise typer.BadParameter(str(exc), param_hint=hint) from exc
        if vendor_hosts:
            files = tls.issue_certificate(hosts, tls_dir or _tls_dir())
            hosts_line = _hosts_line(hosts, port, files.ca_cert)
        if isinstance(profile, providers.ProviderProfile):
            typer.echo(provider_banner(mock, listen, hosts_line=hosts_line))
        else:
            typer.echo(banner(mock, listen, hosts_line=hosts_line))
        mock_server.serve(mock, port=port, tls=files)

    run.__doc__ = _help(profile)
    return run


for _vendor in vendors.available():
    app.command(_vendor)(_command(_vendor))
