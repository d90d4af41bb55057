"""``proctor chain``: a lab for delegation chains.

A researcher describes a chain (a user, agents, and the token exchanges between them) in
YAML, runs it against any RFC 8693 token endpoint over HTTP, and sees each hop's token
and every invariant the endpoint broke. Black-box: nothing here imports the reference.

- :mod:`~proctor.conformance.chains.model`: the chain file (``Chain``, ``load_chain``).
- :mod:`~proctor.conformance.chains.invariants`: what every issued token must satisfy
  (``check_hop`` on decoded claims; ``INVARIANTS``).
- :mod:`~proctor.conformance.chains.runner`: ``ChainRunner`` / ``run_chain`` over an
  injectable :class:`httpx.Client`.
- :mod:`~proctor.conformance.chains.render`: text, Mermaid, DOT and JSON renderings.
- :mod:`~proctor.conformance.chains.strategies`: public hypothesis strategies for
  delegation chains, with the profile's predicted outcome of each hop (imported on its
  own, since it needs hypothesis).
"""

from __future__ import annotations

from proctor.conformance.chains.invariants import (
    INVARIANTS,
    HopObservation,
    Invariant,
    Violation,
    check_hop,
    decode_jwt,
)
from proctor.conformance.chains.model import (
    Agent,
    AgentPolicy,
    Chain,
    ChainFileError,
    Expect,
    Hop,
    dump_chain,
    load_chain,
    parse_chain,
)
from proctor.conformance.chains.runner import (
    AgentCredentials,
    ChainResult,
    ChainRunError,
    ChainRunner,
    HopRecord,
    run_chain,
)

__all__ = [
    "INVARIANTS",
    "Agent",
    "AgentCredentials",
    "AgentPolicy",
    "Chain",
    "ChainFileError",
    "ChainResult",
    "ChainRunError",
    "ChainRunner",
    "Expect",
    "Hop",
    "HopObservation",
    "HopRecord",
    "Invariant",
    "Violation",
    "check_hop",
    "decode_jwt",
    "dump_chain",
    "load_chain",
    "parse_chain",
    "run_chain",
]
