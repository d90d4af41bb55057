"""Renderings of a chain that ran: text, Mermaid, DOT and JSON.

- :func:`render_text`: each hop's request, outcome and decoded token (header and claims,
  pretty-printed), then every broken invariant. Tokens appear only as fingerprints
  (``sha256:1a2b3c4d…``); signatures are never shown; every string passes through the
  run's :class:`~proctor.conformance.evidence.Redactor`.
- :func:`render_mermaid`: a Mermaid ``sequenceDiagram`` of the chain (user, agents, the
  token endpoint, the final targets), with refusals as crossed arrows and broken
  invariants as notes.
- :func:`render_dot`: the same chain as a Graphviz ``digraph`` (``proctor chain run
  --format dot | dot -Tsvg``).
- :func:`render_json`: everything above as one JSON document, for scripts.

Agents are named by their label in the chain file, not by ``client_id`` (which the
embedded reference generates afresh each run), so diagrams of the same chain compare
equal across runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from proctor.conformance.chains.invariants import act_chain, cause_of, scope_set
from proctor.conformance.chains.runner import ChainResult, HopRecord

__all__ = ["FORMATS", "render", "render_dot", "render_json", "render_mermaid", "render_text"]

#: The formats ``proctor chain`` offers.
FORMATS: Final = ("text", "mermaid", "dot", "json")


# -- shared helpers -----------------------------------------------------------------------


def _actor_names(result: ChainResult, act: Any) -> list[str]:
    """The act chain with client_ids replaced by agent labels, current actor first."""
    names = []
    for client_id in act_chain(act):
        agent = result.agent_of(client_id)
        names.append(result.chain.label(agent) if agent is not None else client_id)
    return names


def _target_label(result: ChainResult, target: str) -> str:
    agent = result.agent_of(target)
    return result.chain.label(agent) if agent is not None else target


def _scope_text(claims: Mapping[str, Any] | None) -> str:
    """The token's scope values in the token's own order (``scope`` or ``scp``)."""
    if claims is None:
        return ""
    value = claims.get("scope", claims.get("scp"))
    values = value.split(" ") if isinstance(value, str) else value
    if not isinstance(values, list) or not scope_set(claims):
        return "no scope"
    return " ".join(str(v) for v in dict.fromkeys(values) if v)


def _outcome_text(hop: HopRecord) -> str:
    if hop.outcome == "skipped":
        return f"skipped ({hop.skipped_reason})"
    if hop.succeeded:
        return "success"
    cause = cause_of(hop.error_description)
    return f"{hop.outcome} ({cause})" if cause else hop.outcome


def _hop_title(result: ChainResult, hop: HopRecord) -> str:
    targets = ", ".join(_target_label(result, t) for t in hop.targets) or "no target"
    scope = f"  scope {' '.join(hop.hop.scope)}" if hop.hop.scope is not None else ""
    return f"hop {hop.number}  {result.chain.label(hop.agent)} → {targets}{scope}"


# -- text ---------------------------------------------------------------------------------


def _block(result: ChainResult, title: str, value: Any) -> list[str]:
    text = json.dumps(result.redactor.json_value(value), indent=2, ensure_ascii=False)
    return [f"  {title}:", *(f"    {line}" for line in text.splitlines())]


def render_text(result: ChainResult) -> str:
    """A readable report of the run (see the module docstring)."""
    chain = result.chain
    lines = [f"chain {chain.name}" + (f": {chain.description}" if chain.description else "")]
    lines.append(f"token endpoint: {result.token_endpoint}")
    if result.user_claims is not None:
        lines.append("")
        lines.append(f"{chain.user.name}'s token (the first subject)")
        lines += _block(result, "claims", result.user_claims)
    for hop in result.hops:
        lines.append("")
        lines.append(_hop_title(result, hop))
        if hop.hop.note:
            lines.append(f"  note: {hop.hop.note}")
        if hop.request:
            shown = {k: v for k, v in hop.request.items() if v not in (None, [])}
            lines.append("  request: " + ", ".join(f"{k}={_flat(v)}" for k, v in shown.items()))
        expected = hop.hop.expect.describe()
        if hop.outcome == "skipped" or not any(
            v.invariant == "expected_outcome" for v in hop.violations
        ):
            matched = ", as expected" if hop.outcome not in ("success", "skipped") else ""
            lines.append(f"  outcome: {_outcome_text(hop)}{matched}")
        else:
            lines.append(f"  outcome: {_outcome_text(hop)}, expected {expected}")
        if hop.error_description and not hop.succeeded:
            lines.append(f"  error_description: {hop.error_description}")
        if hop.succeeded:
            lines.append(f"  token: {hop.issued_fingerprint} (signature not shown)")
            if hop.issued_header is not None:
                lines += _block(result, "header", hop.issued_header)
            if hop.issued_claims is not None:
                lines += _block(result, "claims", hop.issued_claims)
                actors = _actor_names(result, hop.issued_claims.get("act"))
                lines.append(f"  actors (current first): {' ← '.join(actors) or 'none'}")
        if hop.violations:
            lines += [f"  ✗ {result.redactor.text(v.describe())}" for v in hop.violations]
        elif hop.outcome != "skipped":
            lines.append("  ✓ every invariant holds")
    lines.append("")
    broken = result.violations
    if broken:
        names = ", ".join(dict.fromkeys(v.invariant for v in broken))
        lines.append(f"FAILED: {len(broken)} broken ({names})")
    else:
        lines.append(f"OK: {len(result.hops)} hops, every invariant holds")
    return "\n".join(lines) + "\n"


def _flat(value: Any) -> str:
    return " ".join(value) if isinstance(value, list) else str(value)


# -- mermaid ------------------------------------------------------------------------------


def _mermaid_text(text: str) -> str:
    """Message text Mermaid parses as text (``;`` and ``#`` have meanings there)."""
    return text.replace(";", ",").replace("#", "").replace("\n", " ")


class _Participants:
    """Stable participant IDs: U (user), A1.. (agents), STS, R1.. (other targets)."""

    def __init__(self, result: ChainResult) -> None:
        self.result = result
        self.agents: dict[str, str] = {}
        self.targets: dict[str, str] = {}
        for hop in result.hops:
            self.agent(hop.agent)
            if hop.hop.to is not None:
                self.agent(hop.hop.to)
        for hop in result.hops:
            for target in hop.targets:
                agent = result.agent_of(target)
                if agent is not None:
                    self.agent(agent)
                else:
                    self.targets.setdefault(target, f"R{len(self.targets) + 1}")

    def agent(self, name: str) -> str:
        return self.agents.setdefault(name, f"A{len(self.agents) + 1}")

    def of_target(self, target: str) -> str:
        agent = self.result.agent_of(target)
        return self.agents[agent] if agent is not None else self.targets[target]


def render_mermaid(result: ChainResult) -> str:
    """A Mermaid sequence diagram of the run."""
    chain = result.chain
    ids = _Participants(result)
    lines = ["sequenceDiagram"]
    lines.append(f"    actor U as {_mermaid_text(chain.user.name)}")
    for name, pid in ids.agents.items():
        lines.append(f"    participant {pid} as {_mermaid_text(chain.label(name))}")
    lines.append("    participant STS as token endpoint")
    for target, pid in ids.targets.items():
        lines.append(f"    participant {pid} as {_mermaid_text(target)}")
    given_user_token: set[str] = set()
    for hop in result.hops:
        agent = ids.agents[hop.agent]
        if hop.outcome == "skipped":
            lines.append(f"    Note over {agent}: hop {hop.number} skipped")
            continue
        subject = hop.request.get("subject", "")
        if subject == "user token" and agent not in given_user_token:
            given_user_token.add(agent)
            scope = _scope_text(result.user_claims)
            lines.append(f"    U->>{agent}: {_mermaid_text(f'user token ({scope})')}")
        parts = [f"hop {hop.number}: exchange {subject}"]
        parts.append("with own actor token" if hop.hop.actor == "self" else "without actor token")
        targets = ", ".join(_target_label(result, t) for t in hop.targets)
        if targets:
            parts.append(f"for {targets}")
        if hop.hop.scope is not None:
            parts.append(f"scope {' '.join(hop.hop.scope)}")
        lines.append(f"    {agent}->>STS: {_mermaid_text(' '.join(parts))}")
        if hop.succeeded:
            claims = hop.issued_claims
            actors = _actor_names(result, claims.get("act")) if claims else []
            answer = f"T{hop.number}"
            if actors:
                answer += f", act: {' ← '.join(actors)}"
            if claims is not None:
                answer += f", scope: {_scope_text(claims)}"
            lines.append(f"    STS-->>{agent}: {_mermaid_text(answer)}")
        else:
            lines.append(f"    STS--x{agent}: {_mermaid_text(_outcome_text(hop))}")
        for violation in hop.violations:
            note = f"✗ {violation.invariant}: {result.redactor.text(violation.message)}"
            lines.append(f"    Note over STS,{agent}: {_mermaid_text(note)}")
        if hop.succeeded and hop.targets:
            receiver = ids.of_target(hop.targets[0])
            lines.append(f"    {agent}->>{receiver}: T{hop.number}")
    return "\n".join(lines) + "\n"


# -- dot ----------------------------------------------------------------------------------


def _dot_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render_dot(result: ChainResult) -> str:
    """A Graphviz digraph of the run: who passed which token to whom."""
    chain = result.chain
    ids = _Participants(result)
    lines = [f"digraph {_dot_string(chain.name)} {{", "    rankdir=LR;"]
    lines.append('    node [shape=box, fontname="Helvetica"];')
    lines.append('    edge [fontname="Helvetica", fontsize=10];')
    lines.append(f"    U [label={_dot_string(chain.user.name)}, shape=ellipse];")
    for name, pid in ids.agents.items():
        lines.append(f"    {pid} [label={_dot_string(chain.label(name))}];")
    for target, pid in ids.targets.items():
        lines.append(f"    {pid} [label={_dot_string(target)}, shape=component];")
    user_edges: set[str] = set()
    for hop in result.hops:
        agent = ids.agents[hop.agent]
        if hop.request.get("subject") == "user token" and agent not in user_edges:
            user_edges.add(agent)
            label = f"user token\n{_scope_text(result.user_claims)}"
            lines.append(f"    U -> {agent} [label={_dot_string(label)}];")
        receiver = ids.of_target(hop.targets[0]) if hop.targets else agent
        if hop.succeeded:
            label = f"hop {hop.number}: T{hop.number}\n{_scope_text(hop.issued_claims)}"
            actors = _actor_names(result, (hop.issued_claims or {}).get("act"))
            if actors:
                label += f"\nact: {' ← '.join(actors)}"
            style = ', color="red"' if hop.violations else ""
        else:
            label = f"hop {hop.number}: {_outcome_text(hop)}"
            style = ', style="dashed", color="gray40"'
            if hop.violations:
                style = ', style="dashed", color="red"'
        for violation in hop.violations:
            label += f"\n✗ {violation.invariant}"
        lines.append(f"    {agent} -> {receiver} [label={_dot_string(label)}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- json ---------------------------------------------------------------------------------


def result_document(result: ChainResult) -> dict[str, Any]:
    """The run as plain JSON-able data, redacted."""
    hops = []
    for hop in result.hops:
        entry: dict[str, Any] = {
            "number": hop.number,
            "agent": hop.agent,
            "client_id": hop.client_id,
            "targets": hop.targets,
            "request": hop.request,
            "expected": hop.hop.expect.describe(),
            "outcome": hop.outcome,
            "status": hop.status,
            "error_description": hop.error_description,
            "cause": cause_of(hop.error_description),
            "issued": None,
            "violations": [
                {
                    "invariant": v.invariant,
                    "requirements": list(v.requirements),
                    "message": v.message,
                }
                for v in hop.violations
            ],
        }
        if hop.skipped_reason is not None:
            entry["skipped_reason"] = hop.skipped_reason
        if hop.succeeded:
            entry["issued"] = {
                "fingerprint": hop.issued_fingerprint,
                "header": hop.issued_header,
                "claims": hop.issued_claims,
            }
        hops.append(entry)
    document = {
        "chain": result.chain.name,
        "token_endpoint": result.token_endpoint,
        "issuer": result.issuer,
        "ok": result.ok,
        "user_claims": result.user_claims,
        "hops": hops,
        "violations": [v.describe() for v in result.violations],
    }
    return {key: result.redactor.json_value(value) for key, value in document.items()}


def render_json(result: ChainResult) -> str:
    return json.dumps(result_document(result), indent=2, ensure_ascii=False) + "\n"


def render(result: ChainResult, fmt: str) -> str:
    """Render in one of :data:`FORMATS`."""
    renderers = {
        "text": render_text,
        "mermaid": render_mermaid,
        "dot": render_dot,
        "json": render_json,
    }
    if fmt not in renderers:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return renderers[fmt](result)
