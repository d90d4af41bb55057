"""The mutation property of the authorizer suite draws changes that all stay in effect:
otherwise it predicts a reason for a change that a later one undid (INB-ORDER-001)."""

from __future__ import annotations

from proctor.conformance import forge
from proctor.conformance.suites.authorizer import (
    _flip,
    _header_change,
    _kind,
    _Mutation,
    _TokenMutation,
)

TOKEN = forge.assemble({"alg": "ES256", "kid": "k1"}, {"sub": "sarah"}, bytes(range(64)))


def test_two_flips_of_one_bit_cancel_so_signature_flips_are_one_kind() -> None:
    # Positions 0 and 512 name the same bit of a 64-byte (ES256) signature.
    assert _flip(512)(_flip(0)(TOKEN)) == TOKEN
    flips = [_TokenMutation(f"signature bit {i}", "bad_signature", _flip(i)) for i in (0, 512)]
    assert _kind(flips[0]) == _kind(flips[1])


def test_a_later_change_of_a_header_member_overrides_so_each_member_is_one_kind() -> None:
    first, second = _header_change(alg="none"), _header_change(alg="ES256")
    assert forge.split(second(first(TOKEN)))[0]["alg"] == "ES256"
    labels = [("alg none", "alg ES256"), ("typ JWT", "typ x"), ("kid a", "kid b")]
    for one, other in labels:
        assert _kind(_Mutation(one, "r")) == _kind(_Mutation(other, "r"))


def test_other_mutations_are_told_apart() -> None:
    kinds = {
        _kind(_Mutation(label, "r"))
        for label in ("aud x", "aud y", "iss x", "encoding pad", "encoding segments", "alg none")
    }
    assert len(kinds) == 6
