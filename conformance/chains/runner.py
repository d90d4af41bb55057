"""Running a chain against any RFC 8693 token endpoint, over HTTP only.

:class:`ChainRunner` takes a :class:`~proctor.conformance.chains.model.Chain` and an
:class:`httpx.Client` (inject one with a transport to reach an in-process app), then:

1. obtains the user's token (the first subject) from the configured source: a mock IdP's
   admin minting API, a mock IdP's token endpoint (``client_credentials``), a literal, or
   a command;
2. for each hop, obtains the agent's own token with ``client_credentials`` (RFC 6749
   §4.4) when the hop sends an actor token, then asks the token endpoint to exchange the
   subject token (RFC 8693 §2.1), authenticated as the agent (RFC 6749 §2.3.1);
3. decodes, **without trusting**, the subject, actor and issued tokens, and judges the
   hop with :func:`~proctor.conformance.chains.invariants.check_hop`;
4. passes the issued token on as the next hop's subject.

The result (:class:`ChainResult`) keeps decoded claims for rendering and the raw tokens
only in fields that are never printed; every secret the runner sees is registered with
its :class:`~proctor.conformance.evidence.Redactor`, so renderers can scrub any text.

Problems that stop the lab from exercising the chain at all (the endpoint unreachable,
no user token, an agent that cannot obtain its own token) raise :class:`ChainRunError`;
missing credentials in the chain file raise
:class:`~proctor.conformance.chains.model.ChainFileError`. A token endpoint that refuses
an exchange is not an error: it is the hop's outcome, compared with the file's ``expect``.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote_plus

import httpx

from proctor.conformance.chains.invariants import (
    HopObservation,
    Violation,
    check_hop,
    decode_jwt,
)
from proctor.conformance.chains.model import (
    Chain,
    ChainFileError,
    CommandToken,
    Hop,
    IdpClientCredentialsToken,
    LiteralToken,
    MintToken,
)
from proctor.conformance.evidence import Redactor
from proctor.conformance.target import metadata_url

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "TOKEN_EXCHANGE",
    "AgentCredentials",
    "ChainResult",
    "ChainRunError",
    "ChainRunner",
    "HopRecord",
    "run_chain",
]

#: RFC 8693 §2.1 and §3.
TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105


class ChainRunError(Exception):
    """The lab could not exercise the chain (nothing was judged)."""


@dataclass(frozen=True)
class AgentCredentials:
    """How one agent authenticates at the token endpoint."""

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    auth_method: str = "client_secret_basic"

    def auth(self) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """Headers and form fields (RFC 6749 §2.3.1: both parts form-encoded first)."""
        secret = self.client_secret or ""
        if self.auth_method == "client_secret_post":
            return {}, [("client_id", self.client_id), ("client_secret", secret)]
        pair = f"{quote_plus(self.client_id)}:{quote_plus(secret)}"
        return {"Authorization": f"Basic {base64.b64encode(pair.encode()).decode()}"}, []


@dataclass
class HopRecord:
    """One hop as it ran. ``outcome`` is ``success``, the OAuth ``error`` code (or
    ``http_<status>`` when the answer carried none), or ``skipped``."""

    number: int
    hop: Hop
    agent: str
    client_id: str
    targets: list[str]
    request: dict[str, Any]
    outcome: str
    status: int | None = None
    error_description: str | None = None
    subject_claims: dict[str, Any] | None = None
    actor_claims: dict[str, Any] | None = None
    issued_header: dict[str, Any] | None = None
    issued_claims: dict[str, Any] | None = None
    issued_fingerprint: str | None = None
    skipped_reason: str | None = None
    violations: list[Violation] = field(default_factory=list)
    issued_token: str | None = field(default=None, repr=False)

    @property
    def succeeded(self) -> bool:
        return self.outcome == "success"


@dataclass
class ChainResult:
    """A chain after it ran: the hops, in order, with every broken invariant."""

    chain: Chain
    token_endpoint: str
    issuer: str | None
    client_ids: dict[str, str]
    user_claims: dict[str, Any] | None
    hops: list[HopRecord]
    redactor: Redactor = field(repr=False, default_factory=Redactor)

    @property
    def violations(self) -> list[Violation]:
        return [v for hop in self.hops for v in hop.violations]

    @property
    def ok(self) -> bool:
        return not self.violations

    def agent_of(self, client_id: str) -> str | None:
        """The agent name behind a ``client_id`` (``None`` if it is no agent's)."""
        for name, known in self.client_ids.items():
            if known == client_id:
                return name
        return None


def _claims(token: str | None) -> dict[str, Any] | None:
    decoded = decode_jwt(token) if token else None
    return decoded[1] if decoded else None


class ChainRunner:
    """Runs one chain. See the module docstring.

    ``credentials`` overrides (or completes) the agents' credentials from the file, by
    agent name; ``idp_urls`` overrides the file's ``idps`` URLs by IdP name;
    ``token_endpoint``/``issuer`` override ``target``. When the token endpoint is not
    given it is read from the issuer's RFC 8414 metadata.
    """

    def __init__(
        self,
        chain: Chain,
        *,
        client: httpx.Client,
        token_endpoint: str | None = None,
        issuer: str | None = None,
        credentials: Mapping[str, AgentCredentials] | None = None,
        idp_urls: Mapping[str, str] | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.chain = chain
        self.client = client
        self.issuer = issuer or chain.target.issuer
        self._token_endpoint = token_endpoint or chain.target.token_endpoint
        self.redactor = redactor or Redactor()
        self.idp_urls = {name: idp.url for name, idp in chain.idps.items()}
        self.idp_urls.update({k: v.rstrip("/") for k, v in (idp_urls or {}).items()})
        self.credentials = self._credentials(credentials or {})
        self.client_ids = {name: c.client_id for name, c in self.credentials.items()}

    # -- set-up ------------------------------------------------------------------------

    def _credentials(self, given: Mapping[str, AgentCredentials]) -> dict[str, AgentCredentials]:
        found: dict[str, AgentCredentials] = {}
        missing_id, missing_secret = [], []
        acting = set(self.chain.acting_agents())
        for name, agent in self.chain.agents.items():
            if name in given:
                found[name] = given[name]
            elif agent.client_id is not None:
                secret = agent.client_secret.get_secret_value() if agent.client_secret else None
                found[name] = AgentCredentials(agent.client_id, secret, agent.auth_method)
            else:
                missing_id.append(name)
                continue
            if name in acting and not found[name].client_secret:
                missing_secret.append(name)
            self.redactor.add_secret(found[name].client_secret)
        if missing_id or missing_secret:
            parts = []
            if missing_id:
                parts.append(f"no client_id for {', '.join(missing_id)}")
            if missing_secret:
                parts.append(f"no client_secret for {', '.join(missing_secret)}")
            raise ChainFileError(
                f"chain {self.chain.name!r}: {'; '.join(parts)} (set them under agents, or "
                "with --client-id/--client-secret)"
            )
        return found

    @property
    def token_endpoint(self) -> str:
        if self._token_endpoint is None:
            self._token_endpoint = self._discover_token_endpoint()
        return self._token_endpoint

    def _discover_token_endpoint(self) -> str:
        if self.issuer is None:
            raise ChainFileError(
                "no token endpoint: set target.issuer or target.token_endpoint, or --target"
            )
        url = metadata_url(self.issuer)
        response = self._send("GET", url)
        document = _json(response)
        endpoint = document.get("token_endpoint") if document else None
        if response.status_code != 200 or not isinstance(endpoint, str):
            raise ChainRunError(f"no token_endpoint in the metadata at {url}")
        return endpoint

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise ChainRunError(
                self.redactor.text(f"{method} {url} failed: {type(error).__name__}: {error}")
            ) from None

    # -- tokens ------------------------------------------------------------------------

    def user_token(self) -> str:
        """The first subject token, from the configured source."""
        source = self.chain.user.token
        if isinstance(source, LiteralToken):
            token = source.token.get_secret_value()
        elif isinstance(source, CommandToken):
            token = self._command_token(source)
        elif isinstance(source, MintToken):
            token = self._minted_token(source)
        else:
            token = self._idp_client_credentials(source)
        self.redactor.add_secret(token)
        return token

    def _idp_url(self, name: str) -> str:
        url = self.idp_urls.get(name)
        if url is None:
            raise ChainFileError(f"no URL for IdP {name!r}: set idps.{name}.url or --idp")
        return url

    def _minted_token(self, source: MintToken) -> str:
        body: dict[str, Any] = {"claims": dict(source.claims)}
        for name in ("user", "client_id", "scopes", "lifetime"):
            value = getattr(source, name)
            if value is not None:
                body[name] = value
        idp = self.chain.idps.get(source.idp)
        server = source.server or (idp.server if idp is not None else None)
        if server is not None:
            body["server"] = server
        if source.app:
            body["app"] = True
        if source.may_act is not None:
            if self.issuer is None:
                raise ChainFileError("may_act needs the token endpoint's issuer: set --target")
            body["claims"]["may_act"] = {
                "sub": self.client_ids[source.may_act],
                "iss": self.issuer,
            }
        url = f"{self._idp_url(source.idp)}/_mock/tokens"
        response = self._send("POST", url, json=body)
        document = _json(response)
        token = document.get("token") if document else None
        if not response.is_success or not isinstance(token, str):
            raise ChainRunError(
                f"minting the user's token at {url} answered HTTP {response.status_code}"
            )
        return token

    def _idp_client_credentials(self, source: IdpClientCredentialsToken) -> str:
        base = self._idp_url(source.idp)
        summary = _json(self._send("GET", f"{base}/_mock")) or {}
        wanted = source.server or summary.get("primary_server")
        endpoint = None
        for server in summary.get("servers") or []:
            if isinstance(server, dict) and server.get("id") == wanted:
                endpoint = (server.get("endpoints") or {}).get("token")
        if not isinstance(endpoint, str):
            raise ChainRunError(f"IdP {source.idp!r} has no token endpoint for server {wanted!r}")
        secret = source.client_secret.get_secret_value() if source.client_secret else None
        self.redactor.add_secret(secret)
        creds = AgentCredentials(source.client_id, secret, "client_secret_basic")
        headers, form = creds.auth()
        form.append(("grant_type", "client_credentials"))
        if source.scope:
            form.append(("scope", source.scope))
        response = self._send("POST", endpoint, data=dict(form), headers=headers)
        document = _json(response)
        token = document.get("access_token") if document else None
        if response.status_code != 200 or not isinstance(token, str):
            raise ChainRunError(
                f"client_credentials at {endpoint} answered HTTP {response.status_code}"
            )
        return token

    def _command_token(self, source: CommandToken) -> str:
        try:
            done = subprocess.run(  # noqa: S603 - the researcher's own configured command
                source.command,
                capture_output=True,
                text=True,
                timeout=source.timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ChainRunError(f"the user token command failed: {error}") from None
        token = done.stdout.strip()
        if done.returncode != 0 or not token:
            raise ChainRunError(
                f"the user token command exited {done.returncode} and printed "
                f"{'nothing' if not token else 'a token'}"
            )
        return token

    def actor_token(self, agent: str) -> str:
        """The agent's own token (``client_credentials``, no target: RFC 6749 §4.4)."""
        creds = self.credentials[agent]
        headers, form = creds.auth()
        form.append(("grant_type", "client_credentials"))
        response = self._send("POST", self.token_endpoint, data=_form(form), headers=headers)
        document = _json(response)
        token = document.get("access_token") if document else None
        if response.status_code != 200 or not isinstance(token, str):
            error = document.get("error") if document else None
            raise ChainRunError(
                f"agent {agent!r} could not obtain its own token: HTTP {response.status_code}"
                + (f" {error}" if isinstance(error, str) else "")
            )
        self.redactor.add_secret(token)
        if self.issuer is None:
            claims = _claims(token)
            iss = claims.get("iss") if claims else None
            self.issuer = iss if isinstance(iss, str) else None
        return token

    # -- the chain ---------------------------------------------------------------------

    def run(self) -> ChainResult:
        user_token = self.user_token()
        user_claims = _claims(user_token)
        endpoint = self.token_endpoint
        records: list[HopRecord] = []
        previous: HopRecord | None = None
        for number, hop in enumerate(self.chain.hops, 1):
            if hop.subject == "user" or previous is None:
                record = self._hop(number, hop, user_token, "user token")
            elif previous.issued_token is None:
                record = self._skipped(number, hop, f"hop {previous.number} issued no token")
            else:
                record = self._hop(number, hop, previous.issued_token, f"T{previous.number}")
            records.append(record)
            previous = record
        return ChainResult(
            chain=self.chain,
            token_endpoint=endpoint,
            issuer=self.issuer,
            client_ids=dict(self.client_ids),
            user_claims=user_claims,
            hops=records,
            redactor=self.redactor,
        )

    def _skipped(self, number: int, hop: Hop, reason: str) -> HopRecord:
        return HopRecord(
            number=number,
            hop=hop,
            agent=hop.agent,
            client_id=self.client_ids[hop.agent],
            targets=hop.targets(self.client_ids),
            request={},
            outcome="skipped",
            skipped_reason=reason,
        )

    def _hop(self, number: int, hop: Hop, subject: str, source: str) -> HopRecord:
        creds = self.credentials[hop.agent]
        targets = hop.targets(self.client_ids)
        actor = self.actor_token(hop.agent) if hop.actor == "self" else None
        headers, form = creds.auth()
        form += [
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
        ]
        if actor is not None:
            form += [("actor_token", actor), ("actor_token_type", ACCESS_TOKEN_TYPE)]
        form += [("audience", a) for a in hop.audiences(self.client_ids)]
        form += [("resource", r) for r in hop.resource]
        if hop.scope is not None:
            form.append(("scope", " ".join(hop.scope)))
        # what was sent, for display: never the tokens themselves
        shown: dict[str, Any] = {
            "subject": source,
            "actor": f"{hop.agent}'s own token" if actor is not None else None,
            "audience": hop.audiences(self.client_ids),
            "resource": list(hop.resource),
            "scope": " ".join(hop.scope) if hop.scope is not None else None,
        }
        response = self._send("POST", self.token_endpoint, data=_form(form), headers=headers)
        document = _json(response) or {}
        issued = document.get("access_token")
        succeeded = response.status_code == 200 and isinstance(issued, str) and bool(issued)
        error = document.get("error")
        description = document.get("error_description")
        record = HopRecord(
            number=number,
            hop=hop,
            agent=hop.agent,
            client_id=creds.client_id,
            targets=targets,
            request=shown,
            outcome="success"
            if succeeded
            else (error if isinstance(error, str) else f"http_{response.status_code}"),
            status=response.status_code,
            error_description=self.redactor.text(description)
            if isinstance(description, str)
            else None,
            subject_claims=_claims(subject),
            actor_claims=_claims(actor),
        )
        decoded = None
        if succeeded and isinstance(issued, str):
            self.redactor.add_secret(issued)
            record.issued_token = issued
            record.issued_fingerprint = self.redactor.text(issued)
            decoded = decode_jwt(issued)
            if decoded is not None:
                record.issued_header, record.issued_claims = decoded
        may_act = hop.may_act
        observation = HopObservation(
            hop=number,
            targets=tuple(targets),
            requested_scope=tuple(hop.scope) if hop.scope is not None else None,
            subject=record.subject_claims,
            actor=record.actor_claims,
            actor_sent=actor is not None,
            actor_client_id=creds.client_id if actor is not None else None,
            succeeded=succeeded,
            issued=record.issued_claims,
            issued_raw_is_jwt=decoded is not None,
            error=error if isinstance(error, str) else None,
            error_description=description if isinstance(description, str) else None,
            expect=hop.expect,
            max_depth=self.chain.max_depth(hop.agent),
            issuer=self.issuer,
            may_act_expected=may_act if may_act in (None, "none") else self.client_ids[may_act],
        )
        record.violations = check_hop(observation)
        return record


def _form(pairs: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    """httpx form data that keeps repeated names (``audience``, ``resource``)."""
    data: dict[str, str | list[str]] = {}
    for name, value in pairs:
        if name in data:
            current = data[name]
            data[name] = [*current, value] if isinstance(current, list) else [current, value]
        else:
            data[name] = value
    return data


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        document = response.json()
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def run_chain(
    chain: Chain,
    *,
    client: httpx.Client,
    token_endpoint: str | None = None,
    issuer: str | None = None,
    credentials: Mapping[str, AgentCredentials] | None = None,
    idp_urls: Mapping[str, str] | None = None,
    redactor: Redactor | None = None,
) -> ChainResult:
    """Run ``chain`` once (see :class:`ChainRunner`)."""
    return ChainRunner(
        chain,
        client=client,
        token_endpoint=token_endpoint,
        issuer=issuer,
        credentials=credentials,
        idp_urls=idp_urls,
        redactor=redactor,
    ).run()
