"""The chain file: one delegation chain, described in YAML.

A chain starts with a user's token from an IdP and passes it from agent to agent through
an RFC 8693 token endpoint; each **hop** is one token exchange by one agent::

    name: sarah-brief
    user:
      name: Sarah
      token: {source: mock_idp_mint, idp: okta, user: sarah@example.com,
              scopes: [crm.read, finance.read, docs.write]}
    agents:
      orchestrator: {}
      subagent: {}
    hops:
      - agent: orchestrator           # the client that asks (its own token is the actor)
        to: subagent                  # audience = that agent's client_id
        scope: crm.read finance.read
      - agent: subagent
        resource: [https://crm.example/mcp]
        scope: crm.read
        expect: success               # or an error code, or {error: ..., cause: ...}

Every mapping is closed (``extra="forbid"``): a misspelt key is an error, never a silently
different experiment. ``${NAME}`` in any string is replaced by the environment variable
``NAME`` when the file is loaded, so secrets stay out of the file.

What a chain file says about *provisioning* (``agents.<name>.policy``) is used only when
the lab provisions the target itself (the embedded reference); against any other target
it documents what the target is expected to enforce, and ``policy.max_depth`` is the
limit the depth invariant checks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from proctor.conformance.errors import ConfigError

__all__ = [
    "AGENT_NAME",
    "DEFAULT_MAX_DEPTH",
    "Agent",
    "AgentPolicy",
    "Chain",
    "ChainFileError",
    "CommandToken",
    "Expect",
    "Hop",
    "Idp",
    "IdpClientCredentialsToken",
    "LiteralToken",
    "MintToken",
    "SubjectTokenSource",
    "TargetSpec",
    "User",
    "dump_chain",
    "load_chain",
    "parse_chain",
]

#: Agent names are workload names (3 to 64 characters), so the embedded reference can
#: register each agent under its own name.
AGENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,63}")
#: The exchange policy's default ``max_depth`` (spec 07, TX-DLG-003).
DEFAULT_MAX_DEPTH = 5
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]*")

AgentName = Annotated[str, Field(pattern=f"^{AGENT_NAME.pattern}$")]
ScopeValue = Annotated[str, Field(min_length=1, pattern=r"^[^\s]+$")]


class ChainFileError(ConfigError):
    """A chain file cannot be read, is not YAML, or does not describe a valid chain."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _scope_list(value: Any) -> Any:
    """``"a b"`` and ``["a", "b"]`` are the same scope (RFC 6749 §3.3: space-separated)."""
    if isinstance(value, str):
        return [token for token in value.split(" ") if token]
    return value


#: A scope set: ``"a b"`` or ``[a, b]`` in YAML.
ScopeList = Annotated[list[ScopeValue], BeforeValidator(_scope_list)]


def _http_url(value: str, what: str) -> str:
    if not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", value):
        raise ValueError(f"{what} must be an http(s) URL without query or fragment")
    return value


# -- where the user's token comes from -------------------------------------------------


class MintToken(_Model):
    """Mint the user's token at a mock IdP's admin API (``POST {url}/_mock/tokens``).

    ``may_act`` names an agent: the token then carries ``may_act`` =
    ``{"sub": <that agent's client_id>, "iss": <the token endpoint's issuer>}`` (RFC 8693
    §4.4), which is how a user says which agent may act for her.
    """

    source: Literal["mock_idp_mint"]
    idp: str = Field(default="okta", min_length=1, description="a key of the chain's idps")
    user: str | None = Field(default=None, description="username (the IdP's first user if unset)")
    app: bool = Field(default=False, description="an app token (no user)")
    client_id: str | None = None
    server: str | None = Field(default=None, description="authorization server id")
    scopes: ScopeList | None = None
    lifetime: int | None = Field(default=None, ge=1, le=86_400)
    claims: dict[str, Any] = Field(default_factory=dict, description="claims to override")
    may_act: AgentName | None = None


class IdpClientCredentialsToken(_Model):
    """Ask a mock IdP's token endpoint with ``client_credentials`` (an app token)."""

    source: Literal["mock_idp_token"]
    idp: str = Field(default="okta", min_length=1)
    server: str | None = None
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    scope: str | None = None


class LiteralToken(_Model):
    """A token pasted into the file (use ``${NAME}`` to take it from the environment)."""

    source: Literal["literal"]
    token: SecretStr


class CommandToken(_Model):
    """Run a command that prints the token on stdout (nothing else)."""

    source: Literal["command"]
    command: list[str] = Field(min_length=1)
    timeout: float = Field(default=30.0, gt=0, le=600)


SubjectTokenSource = Annotated[
    MintToken | IdpClientCredentialsToken | LiteralToken | CommandToken,
    Field(discriminator="source"),
]


class User(_Model):
    """The party the chain acts for, and how to obtain her token (the first subject)."""

    name: str = Field(default="user", min_length=1, max_length=64, description="for diagrams")
    token: SubjectTokenSource


class Idp(_Model):
    """A mock IdP by base URL (its admin API is ``{url}/_mock``)."""

    url: str
    server: str | None = Field(default=None, description="authorization server id")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value, "idps.<name>.url").rstrip("/")


class TargetSpec(_Model):
    """The token endpoint under test. ``--target`` on the command line overrides it; with
    neither, ``proctor chain run`` uses the embedded reference."""

    issuer: str | None = Field(default=None, description="the issuer identifier, exactly")
    token_endpoint: str | None = Field(
        default=None, description="default: from the issuer's RFC 8414 metadata"
    )

    @field_validator("issuer", "token_endpoint")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value, "target URLs")


# -- the agents ------------------------------------------------------------------------


class AgentPolicy(_Model):
    """The agent's exchange policy (spec 07 §Exchange policy), as the embedded reference is
    provisioned with it. Unset members are derived from the hops (see
    :meth:`Chain.policy_document`)."""

    scopes: ScopeList | None = None
    max_depth: int = Field(default=DEFAULT_MAX_DEPTH, ge=1, le=16)
    allow_impersonation: bool = False
    actor: Literal["client", "any_registered_workload"] = "client"
    subject_issuers: list[str] | None = Field(
        default=None, description="default: the user's IdP issuer and self"
    )


class Agent(_Model):
    """One agent (a workload / OAuth client of the token endpoint).

    ``client_id`` and ``client_secret`` are needed against a target the lab does not
    provision; the embedded reference registers the agent and fills them in.
    """

    client_id: str | None = Field(default=None, min_length=1)
    client_secret: SecretStr | None = None
    auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"
    label: str | None = Field(default=None, max_length=64, description="for diagrams")
    policy: AgentPolicy = Field(default_factory=AgentPolicy)


# -- the hops --------------------------------------------------------------------------


class Expect(_Model):
    """What a hop should end in: success (``error`` unset), or an OAuth ``error`` code and
    optionally the TX-ERR-002 ``cause`` its ``error_description`` begins with.

    In YAML: ``success``, an error code (``invalid_request``), or a mapping.
    """

    error: str | None = None
    cause: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {} if value == "success" else {"error": value}
        return value

    @field_validator("error", "cause")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        if value is not None and not _ERROR_CODE.fullmatch(value):
            raise ValueError(f"{value!r} is not an error code (lower case, digits, _)")
        return value

    @model_validator(mode="after")
    def _cause_needs_error(self) -> Expect:
        if self.cause is not None and self.error is None:
            raise ValueError("a cause is only expected together with an error")
        return self

    @property
    def success(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        if self.error is None:
            return "success"
        return f"{self.error} ({self.cause})" if self.cause else self.error


class Hop(_Model):
    """One token exchange: ``agent`` authenticates and exchanges the subject token.

    - ``to`` names an agent: its ``client_id`` is requested as ``audience`` (first);
      ``audience`` and ``resource`` add literal targets (RFC 8693 §2.1, RFC 8707).
    - ``scope``: the requested scope (absent: the request carries none).
    - ``actor``: ``self`` sends the agent's own ``client_credentials`` token as
      ``actor_token`` (a delegation); ``none`` sends no actor token (impersonation, or a
      laundering attempt when the subject token already carries ``act``/``may_act``).
    - ``subject``: ``previous`` is the token the hop before issued (the user's token for
      the first hop); ``user`` restarts from the user's token.
    - ``may_act``: an expectation about the subject token: it names this agent in
      ``may_act`` (an agent name), or carries none (``none``). Unset: not checked.
    """

    agent: AgentName
    to: AgentName | None = None
    audience: list[str] = Field(default_factory=list)
    resource: list[str] = Field(default_factory=list)
    scope: ScopeList | None = None
    actor: Literal["self", "none"] = "self"
    subject: Literal["previous", "user"] = "previous"
    may_act: str | None = None
    expect: Expect = Field(default_factory=Expect)
    note: str | None = Field(default=None, max_length=200, description="shown in diagrams")

    @field_validator("audience", "resource")
    @classmethod
    def _targets(cls, values: list[str]) -> list[str]:
        for value in values:
            if not value or value != value.strip():
                raise ValueError("a target is a non-empty string without surrounding spaces")
        return values

    @field_validator("may_act")
    @classmethod
    def _may_act(cls, value: str | None) -> str | None:
        if value is not None and value != "none" and not AGENT_NAME.fullmatch(value):
            raise ValueError("may_act is an agent name or 'none'")
        return value

    @field_validator("expect", mode="before")
    @classmethod
    def _expect(cls, value: Any) -> Any:
        return Expect.model_validate(value) if isinstance(value, str) else value

    def targets(self, client_ids: Mapping[str, str]) -> list[str]:
        """The requested targets in request order, without repeats (TX-TGT-002)."""
        first = [client_ids[self.to]] if self.to is not None else []
        return list(dict.fromkeys([*first, *self.audience, *self.resource]))

    def audiences(self, client_ids: Mapping[str, str]) -> list[str]:
        first = [client_ids[self.to]] if self.to is not None else []
        return list(dict.fromkeys([*first, *self.audience]))


class Chain(_Model):
    """A whole chain file."""

    name: str = Field(min_length=1, max_length=100)
    description: str | None = None
    user: User
    idps: dict[str, Idp] = Field(default_factory=dict)
    target: TargetSpec = Field(default_factory=TargetSpec)
    agents: dict[str, Agent] = Field(min_length=1)
    hops: list[Hop] = Field(min_length=1, max_length=64)

    @field_validator("agents")
    @classmethod
    def _agent_names(cls, agents: dict[str, Agent]) -> dict[str, Agent]:
        for name in agents:
            if not AGENT_NAME.fullmatch(name):
                raise ValueError(
                    f"agent name {name!r}: 3-64 characters [A-Za-z0-9_.-], starting with a "
                    "letter or digit"
                )
        return agents

    @model_validator(mode="after")
    def _references(self) -> Chain:
        known = set(self.agents)
        token = self.user.token
        if isinstance(token, MintToken) and token.may_act and token.may_act not in known:
            raise ValueError(f"user.token.may_act names no agent: {token.may_act!r}")
        for number, hop in enumerate(self.hops, 1):
            for what, name in (("agent", hop.agent), ("to", hop.to)):
                if name is not None and name not in known:
                    raise ValueError(f"hops[{number}].{what} names no agent: {name!r}")
            if hop.may_act not in (None, "none") and hop.may_act not in known:
                raise ValueError(f"hops[{number}].may_act names no agent: {hop.may_act!r}")
            previous = self.hops[number - 2] if number > 1 else None
            if hop.subject == "previous" and previous is not None and not previous.expect.success:
                raise ValueError(
                    f"hops[{number}] exchanges the previous hop's token, but hop {number - 1} "
                    "is expected to fail: use subject: user, or end the chain there"
                )
        return self

    # -- derived facts -------------------------------------------------------------------

    def label(self, agent: str) -> str:
        return self.agents[agent].label or agent

    def max_depth(self, agent: str) -> int:
        return self.agents[agent].policy.max_depth

    def acting_agents(self) -> list[str]:
        """Agents that make at least one exchange, in order of first appearance."""
        return list(dict.fromkeys(hop.agent for hop in self.hops))

    def policy_document(
        self, agent: str, client_ids: Mapping[str, str], idp_issuers: list[str]
    ) -> dict[str, Any] | None:
        """The ``/v1/exchange-policies`` document that lets ``agent`` make its hops.

        Targets are every target its hops request; scopes default to every scope they
        request (else the user's minted scopes); ``subject_issuers`` default to the IdP
        issuers and ``self``. ``None`` when the agent requests no target (it then has no
        policy, and an exchange by it is ``unauthorized_client``).
        """
        hops = [hop for hop in self.hops if hop.agent == agent]
        audiences = list(dict.fromkeys(a for hop in hops for a in hop.audiences(client_ids)))
        resources = list(dict.fromkeys(r for hop in hops for r in hop.resource))
        if not audiences and not resources:
            return None
        policy = self.agents[agent].policy
        scopes = policy.scopes
        if scopes is None:
            scopes = list(dict.fromkeys(s for hop in hops for s in hop.scope or ()))
            token = self.user.token
            if not scopes and isinstance(token, MintToken) and token.scopes:
                scopes = list(token.scopes)
        return {
            "name": agent,
            "client": agent,
            "subject_issuers": policy.subject_issuers or [*idp_issuers, "self"],
            "audiences": audiences,
            "resources": resources,
            "scopes": list(scopes),
            "max_depth": policy.max_depth,
            "allow_impersonation": policy.allow_impersonation,
            "actor": policy.actor,
        }


# -- reading and writing ---------------------------------------------------------------


def _interpolate(value: Any, environ: Mapping[str, str]) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ChainFileError(f"environment variable {name} is not set")
            return environ[name]

        return _ENV_REFERENCE.sub(replace, value)
    if isinstance(value, list):
        return [_interpolate(item, environ) for item in value]
    if isinstance(value, dict):
        return {key: _interpolate(item, environ) for key, item in value.items()}
    return value


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


def parse_chain(
    data: object, *, source: str = "chain file", environ: Mapping[str, str] | None = None
) -> Chain:
    """Validate an already-parsed document (``${NAME}`` interpolated first)."""
    if not isinstance(data, dict):
        raise ChainFileError(f"{source}: expected a mapping at the top level")
    data = _interpolate(data, os.environ if environ is None else environ)
    try:
        return Chain.model_validate(data)
    except ValidationError as error:
        raise ChainFileError(f"{source} is invalid:\n{_describe(error)}") from None


def load_chain(path: Path, *, environ: Mapping[str, str] | None = None) -> Chain:
    """Read and validate a chain file; every problem is a :class:`ChainFileError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ChainFileError(f"cannot read chain file {path}: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ChainFileError(f"{path} is not valid YAML: {error}") from None
    return parse_chain(data, source=str(path), environ=environ)


def dump_chain(chain: Chain) -> str:
    """The chain as YAML, defaults left out (secrets are written as ``**********``)."""
    data = chain.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
