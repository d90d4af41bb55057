"""``proctor chain``: run delegation chains and check their invariants.

- ``proctor chain run FILE``: run a chain file against ``--target`` (any RFC 8693 token
  endpoint) or, without one, against the embedded reference service with the mock Okta,
  provisioned for the chain;
- ``proctor chain random --depth N --seed S [--count K]``: generate chains with the lab's
  strategies (the same seed gives the same chains) and run them on the embedded
  reference, or print them (``--dry-run``) or save them (``--save DIR``) as chain files.

Exit codes: 0 every invariant held and every hop ended as expected; 1 an invariant was
broken (each is named on stderr); 2 usage or chain-file error; 3 the chain could not be
run (target unreachable, no user token, embedded reference failed).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import httpx
import typer

from proctor.cli.embedded import (
    OKTA_AUTHORIZER,
    ControlPlaneClient,
    EmbeddedReference,
    ProvisionedWorkload,
    ProvisioningError,
    WorkloadSpec,
    embedded_reference,
    provision,
)
from proctor.conformance.chains import (
    AgentCredentials,
    Chain,
    ChainFileError,
    ChainResult,
    ChainRunError,
    ChainRunner,
    dump_chain,
    load_chain,
)
from proctor.conformance.chains.render import FORMATS, render, result_document
from proctor.conformance.chains.strategies import MAX_HOPS

__all__ = ["app", "chain_workloads", "provision_chain"]

app = typer.Typer(
    help="A lab for delegation chains: run RFC 8693 token exchanges hop by hop and check "
    "the invariants of every issued token.",
    no_args_is_help=True,
    add_completion=False,
)

EXIT_OK, EXIT_BROKEN, EXIT_USAGE, EXIT_RUN = 0, 1, 2, 3


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"proctor chain: {message}", err=True)
    return typer.Exit(code)


def _pairs(values: Sequence[str], option: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise _fail(f"{option} takes NAME=VALUE, got {value.split('=')[0]!r}=…", EXIT_USAGE)
        found[name] = rest
    return found


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise _fail(f"--format must be one of {', '.join(FORMATS)}", EXIT_USAGE)


# -- provisioning the embedded reference for chains ------------------------------------------


def chain_workloads(chain: Chain) -> list[WorkloadSpec]:
    """One workload per agent, each validating user tokens with the Okta authorizer."""
    return [
        WorkloadSpec(name, authorizer=OKTA_AUTHORIZER, auth_method=agent.auth_method)
        for name, agent in chain.agents.items()
    ]


def provision_chain(
    control: ControlPlaneClient,
    chain: Chain,
    idp_issuers: list[str],
    existing: Mapping[str, ProvisionedWorkload],
) -> dict[str, AgentCredentials]:
    """Register the chain's agents (those not in ``existing``) and the exchange policy
    each acting agent needs (:meth:`Chain.policy_document`); the agents' credentials."""

    def policies(made: Mapping[str, ProvisionedWorkload]) -> list[dict[str, object]]:
        client_ids = {name: w.client_id for name, w in made.items()}
        documents = [chain.policy_document(n, client_ids, idp_issuers) for n in chain.agents]
        return [d for d in documents if d is not None]

    made = provision(
        control, workloads=chain_workloads(chain), policies=policies, existing=existing
    )
    return {
        name: AgentCredentials(w.client_id, w.client_secret, w.auth_method)
        for name, w in made.items()
        if name in chain.agents
    }


@dataclass
class _Embedded:
    """The embedded reference for one command: agents are registered once, and each
    chain's policies replace the previous chain's."""

    reference: EmbeddedReference
    client: httpx.Client
    workloads: dict[str, ProvisionedWorkload] = field(default_factory=dict)
    authorizer_ready: bool = False

    def run(self, chain: Chain) -> ChainResult:
        control = self.reference.control_plane(self.client)
        if not self.authorizer_ready:
            control.create_authorizer(self.reference.okta_authorizer())
            self.authorizer_ready = True
        credentials = provision_chain(control, chain, [self.reference.okta_issuer], self.workloads)
        for name, creds in credentials.items():
            self.workloads.setdefault(
                name,
                ProvisionedWorkload(
                    name, creds.client_id, creds.client_secret or "", creds.auth_method
                ),
            )
        # the embedded reference serves one IdP, the Okta emulator, under the name okta
        idp_urls = {"okta": self.reference.okta_url}
        return ChainRunner(
            chain,
            client=self.client,
            issuer=self.reference.issuer,
            credentials=credentials,
            idp_urls=idp_urls,
        ).run()


@contextlib.contextmanager
def _embedded() -> Iterator[_Embedded]:
    stack = contextlib.ExitStack()
    try:
        reference = stack.enter_context(embedded_reference())
        client = stack.enter_context(reference.client())
    except (OSError, ValueError) as error:
        stack.close()
        raise _fail(f"the embedded reference did not start: {error}", EXIT_RUN) from None
    with stack:
        try:
            yield _Embedded(reference, client)
        except ProvisioningError as error:
            raise _fail(f"the embedded reference refused the set-up: {error}", EXIT_RUN) from None


# -- output ---------------------------------------------------------------------------


def _emit(results: list[ChainResult], fmt: str) -> None:
    if fmt == "json":
        documents = [result_document(r) for r in results]
        payload = documents[0] if len(documents) == 1 else documents
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        for index, result in enumerate(results):
            if len(results) > 1 and fmt == "mermaid":
                typer.echo(f"%% chain {result.chain.name}")
            if index and fmt == "text":
                typer.echo("")
            typer.echo(render(result, fmt), nl=False)
    broken = [(r, v) for r in results for v in r.violations]
    for result, violation in broken:
        text = result.redactor.text(violation.describe())
        typer.echo(f"proctor chain: {result.chain.name}: broken: {text}", err=True)
    if broken:
        raise typer.Exit(EXIT_BROKEN)


# -- commands -------------------------------------------------------------------------


@app.command("run")
def run_command(
    file: Annotated[Path, typer.Argument(help="The chain file (YAML).")],
    target: Annotated[
        str | None,
        typer.Option(help="The token endpoint's issuer (a URL). Default: the embedded one."),
    ] = None,
    token_endpoint: Annotated[
        str | None, typer.Option(help="The token endpoint URL (default: from the metadata).")
    ] = None,
    client_id: Annotated[
        list[str] | None, typer.Option("--client-id", help="AGENT=CLIENT_ID (repeatable).")
    ] = None,
    client_secret: Annotated[
        list[str] | None,
        typer.Option(
            "--client-secret",
            help="AGENT=SECRET (repeatable; prefer ${VAR} in the chain file).",
        ),
    ] = None,
    idp: Annotated[
        list[str] | None, typer.Option("--idp", help="NAME=URL of a mock IdP (repeatable).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="text, mermaid, dot or json.")] = "text",
) -> None:
    """Run a chain file and check every hop's invariants."""
    _check_format(fmt)
    ids = _pairs(client_id or [], "--client-id")
    secrets_ = _pairs(client_secret or [], "--client-secret")
    idp_urls = _pairs(idp or [], "--idp")
    try:
        chain = load_chain(file)
    except ChainFileError as error:
        raise _fail(str(error), EXIT_USAGE) from None
    unknown = sorted((set(ids) | set(secrets_)) - set(chain.agents))
    if unknown:
        raise _fail(f"no agent named {', '.join(unknown)} in {file}", EXIT_USAGE)
    embedded = target is None and token_endpoint is None and chain.target.issuer is None
    embedded = embedded and chain.target.token_endpoint is None
    try:
        if embedded:
            if ids or secrets_:
                raise _fail("--client-id/--client-secret need --target", EXIT_USAGE)
            with _embedded() as lab:
                result = lab.run(chain)
        else:
            credentials = _overrides(chain, ids, secrets_)
            with httpx.Client(timeout=30.0, follow_redirects=False) as client:
                result = ChainRunner(
                    chain,
                    client=client,
                    token_endpoint=token_endpoint,
                    issuer=target,
                    credentials=credentials,
                    idp_urls=idp_urls,
                ).run()
    except ChainFileError as error:
        raise _fail(str(error), EXIT_USAGE) from None
    except ChainRunError as error:
        raise _fail(str(error), EXIT_RUN) from None
    _emit([result], fmt)


def _overrides(
    chain: Chain, ids: Mapping[str, str], secrets_: Mapping[str, str]
) -> dict[str, AgentCredentials]:
    found: dict[str, AgentCredentials] = {}
    for name in set(ids) | set(secrets_):
        agent = chain.agents[name]
        client = ids.get(name, agent.client_id)
        if client is None:
            raise ChainFileError(f"--client-secret {name}=… needs a client_id for {name}")
        secret = secrets_.get(name)
        if secret is None and agent.client_secret is not None:
            secret = agent.client_secret.get_secret_value()
        found[name] = AgentCredentials(client, secret, agent.auth_method)
    return found


@app.command("random")
def random_command(
    depth: Annotated[
        int, typer.Option(help=f"Hops per chain (1-{MAX_HOPS}): the deepest act nesting.")
    ],
    seed: Annotated[int, typer.Option(help="The seed: the same seed gives the same chains.")],
    count: Annotated[int, typer.Option(help="How many chains.")] = 1,
    faults: Annotated[
        bool, typer.Option(help="Let hops carry deliberate faults the endpoint must refuse.")
    ] = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the chains as YAML; run nothing.")
    ] = False,
    save: Annotated[
        Path | None, typer.Option(help="Also write each chain to DIR/<name>.yaml.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="text, mermaid, dot or json.")] = "text",
) -> None:
    """Generate random delegation chains and run them on the embedded reference."""
    _check_format(fmt)
    if not 1 <= depth <= MAX_HOPS:
        raise _fail(f"--depth must be 1-{MAX_HOPS}", EXIT_USAGE)
    if not 1 <= count <= 1000:
        raise _fail("--count must be 1-1000", EXIT_USAGE)
    from proctor.conformance.chains.strategies import random_chains

    chains = list(random_chains(seed, count, min_hops=depth, max_hops=depth, faults=faults))
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        for chain in chains:
            (save / f"{chain.name}.yaml").write_text(dump_chain(chain), encoding="utf-8")
    if dry_run:
        typer.echo("\n---\n".join(dump_chain(chain) for chain in chains), nl=False)
        return
    try:
        with _embedded() as lab:
            results = [lab.run(chain) for chain in chains]
    except ChainFileError as error:
        raise _fail(str(error), EXIT_USAGE) from None
    except ChainRunError as error:
        raise _fail(str(error), EXIT_RUN) from None
    _emit(results, fmt)
