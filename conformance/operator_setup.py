"""What an operator must configure on a target before a run, derived from its config.

``proctor conform setup --config target.yaml`` prints it. Everything here comes from the
target config (:class:`~proctor.conformance.config.TargetConfig`); nothing is invented:
where the config leaves something open, the text says so instead of guessing.
"""

from __future__ import annotations

import shlex

from proctor.conformance.capabilities import CAPABILITIES
from proctor.conformance.config import (
    ClientCredentialsSubjectToken,
    CommandSubjectToken,
    MockIdpSubjectToken,
    TargetConfig,
)
from proctor.conformance.exchange import setup_lines as exchange_setup_lines
from proctor.conformance.provisioning import plan_lines
from proctor.conformance.target import metadata_url

__all__ = ["setup_instructions"]

_PLANE = {
    "proctor": (
        "The proctor profile has a control plane: suites that need configuration provision "
        "it through the native API (`/v1/...`) with `credentials.admin_token`. Configure by "
        "hand only what is listed below."
    ),
    "agentcore": (
        "The kit drives both AgentCore planes with boto3 and provisions through the control "
        "plane; see the AgentCore section below."
    ),
    "rfc8693": (
        "An RFC 8693 token endpoint has no control plane the kit knows: apply everything "
        "below by hand in your authorization server's configuration."
    ),
}


def _subject_token(config: TargetConfig) -> list[str]:
    source = config.subject_token
    if source is None:
        needed = "token_exchange" in config.capabilities
        return [
            "- none configured (`subject_token`)"
            + (": token-exchange checks will end in ERROR" if needed else "")
        ]
    if isinstance(source, MockIdpSubjectToken):
        issuer = config.mock_idps.issuers.get(source.idp, "(not in mock_idps.issuers!)")
        return [
            f"- from mock IdP `{source.idp}` ({issuer}) with the client_credentials grant, "
            f"client `{source.client_id}`" + (f", scope `{source.scope}`" if source.scope else ""),
            "- the target must accept that IdP's tokens as subject tokens",
        ]
    if isinstance(source, ClientCredentialsSubjectToken):
        return [
            f"- the target's own access tokens, issued to client `{source.client}` with the "
            "client_credentials grant: that client must be allowed to use that grant"
        ]
    assert isinstance(source, CommandSubjectToken)
    return [f"- printed by `{shlex.join(source.command)}` (timeout {source.timeout:g} s)"]


def setup_instructions(config: TargetConfig) -> str:
    """The operator's checklist for ``config``, as Markdown."""
    url = config.url or "(no url: pass --target or set url)"
    lines = [
        f"# Setting up {url} for proctor conform (profile {config.profile})",
        "",
        _PLANE[config.profile],
        "",
        "## Issuer",
        "",
        f"- issuer identifier: `{url}` (checked character for character, RFC 8414 §3.3)",
    ]
    if config.url:
        where = config.endpoints.metadata or metadata_url(config.url)
        lines.append(f"- metadata fetched from: `{where}`")
    for name in ("jwks", "token", "introspection", "revocation"):
        value = getattr(config.endpoints, name)
        lines.append(f"- {name} endpoint: `{value}`" if value else f"- {name}: from the metadata")

    lines += ["", "## Identity providers to trust", ""]
    if config.mock_idps.issuers:
        for name, issuer in config.mock_idps.issuers.items():
            lines.append(
                f"- `{name}`: issuer `{issuer}`, discovery "
                f"`{issuer.rstrip('/')}/.well-known/openid-configuration`"
            )
        audience = config.mock_idps.audience
        lines.append(
            f"- audience of the users' tokens: `{audience}`"
            if audience
            else "- audience: not set (`mock_idps.audience`)"
        )
        lines.append("- the target must reach these URLs over the network to fetch their keys")
    else:
        lines.append(
            "- none configured (`mock_idps.issuers` is empty): checks that present user "
            "tokens have no IdP the target trusts"
        )

    lines += ["", "## Clients to register", ""]
    if config.credentials.clients:
        for name, client in config.credentials.clients.items():
            secret = "secret as in the config" if client.client_secret else "no secret"
            lines.append(
                f"- `{name}`: client_id `{client.client_id}`, {client.auth_method} ({secret})"
            )
    else:
        lines.append("- none configured (`credentials.clients`)")
    if config.profile == "proctor":
        state = "set" if config.credentials.admin_token else "MISSING"
        lines.append(f"- control-plane admin token (`credentials.admin_token`): {state}")

    lines += ["", "## What the kit provisions", ""]
    if config.profile == "proctor" and "control_plane" in config.capabilities:
        lines.append(
            "The kit creates these objects itself through the control plane, from the mock "
            "IdPs configured above; configure none of them by hand:"
        )
        lines += ["", *plan_lines()]
    elif config.profile == "proctor":
        lines.append(
            "`control_plane` is not declared: the checks of the native API that need these "
            "objects are skipped. Declare it to let the kit create them:"
        )
        lines += ["", *plan_lines()]
    else:
        lines.append(
            "Nothing: the checks that provision authorizers and workloads apply to the "
            "`proctor` profile only."
        )

    lines += ["", "## Audiences the clients may request", ""]
    lines += [f"- `{a}`" for a in config.audiences] or ["- none configured (`audiences`)"]

    lines += ["", "## Subject tokens (token exchange)", "", *_subject_token(config)]
    lines += ["", "## Token exchange (suites token_exchange, authorization_server)", ""]
    lines += exchange_setup_lines(config)

    declared = [c for c in CAPABILITIES if c in config.capabilities]
    undeclared = [c for c in CAPABILITIES if c not in config.capabilities]
    lines += ["", "## Capabilities", ""]
    lines += [f"- declared `{c}`: {CAPABILITIES[c]}" for c in declared] or ["- none declared"]
    if undeclared:
        lines.append(
            f"- not declared (their checks are SKIPPED): {', '.join(f'`{c}`' for c in undeclared)}"
        )
    return "\n".join(lines) + "\n"
