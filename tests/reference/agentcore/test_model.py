"""The transcribed request shapes equal the model botocore ships (so a drift is caught),
and every identity operation is mounted on its modeled method, path and status."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from proctor.reference.agentcore.model import INPUTS, SHAPES
from proctor.reference.agentcore.routes import AgentCoreApi
from proctor.reference.agentcore.validation import (
    Boolean,
    Integer,
    ListOf,
    MapOf,
    String,
    Structure,
)
from proctor.reference.service import Service

SESSION = botocore.session.get_session()
DATA_PLANE = SESSION.get_service_model("bedrock-agentcore")
CONTROL_PLANE = SESSION.get_service_model("bedrock-agentcore-control")


def model_of(operation: str) -> Any:
    for model in (DATA_PLANE, CONTROL_PLANE):
        if operation in model.operation_names:
            return model.operation_model(operation)
    raise AssertionError(f"{operation} is in neither model")


def compare(shape: Any, name: str, seen: set[str]) -> None:
    assert shape.name == name
    if name in seen:
        return
    seen.add(name)
    ours = SHAPES[name]
    meta = shape.metadata
    if shape.type_name == "string":
        assert isinstance(ours, String), name
        assert (ours.min, ours.max, ours.pattern) == (
            meta.get("min"),
            meta.get("max"),
            meta.get("pattern"),
        ), name
        assert ours.enum == (tuple(shape.enum) if shape.enum else None), name
    elif shape.type_name in ("integer", "long"):
        assert isinstance(ours, Integer), name
        assert (ours.min, ours.max) == (meta.get("min"), meta.get("max")), name
    elif shape.type_name == "boolean":
        assert isinstance(ours, Boolean), name
    elif shape.type_name == "list":
        assert isinstance(ours, ListOf), name
        assert (ours.min, ours.max) == (meta.get("min"), meta.get("max")), name
        compare(shape.member, ours.member, seen)
    elif shape.type_name == "map":
        assert isinstance(ours, MapOf), name
        assert (ours.min, ours.max) == (meta.get("min"), meta.get("max")), name
        compare(shape.key, ours.key, seen)
        compare(shape.value, ours.value, seen)
    else:
        assert shape.type_name == "structure", name
        assert isinstance(ours, Structure), name
        body = {k: v for k, v in shape.members.items() if not v.serialization.get("location")}
        assert list(ours.members) == list(body), name
        assert set(ours.required) == {r for r in shape.required_members if r in body}, name
        assert ours.union == bool(meta.get("union")), name
        for member, member_shape in body.items():
            compare(member_shape, ours.members[member], seen)


@pytest.mark.parametrize("operation", sorted(INPUTS))
def test_input_shapes_match_the_model(operation: str) -> None:
    compare(model_of(operation).input_shape, INPUTS[operation], set())


def test_every_identity_operation_is_mounted(service: Service) -> None:
    api = AgentCoreApi(service)
    mounted = {(op.name, op.method, op.path, op.status) for op in api.operations}
    expected = set()
    for model in (DATA_PLANE, CONTROL_PLANE):
        for name in model.operation_names:
            http = model.operation_model(name).http
            uri = http["requestUri"]
            if not (uri.startswith("/identities/") or uri.startswith("/tags/")):
                continue
            if "Payment" in name or "ConsentPortal" in name:
                continue  # not identity operations of this issue
            path = uri.replace("{resourceArn}", "{arn:path}")
            expected.add((name, http["method"], path, http.get("responseCode", 200)))
    assert mounted == expected
