"""spec/openapi.yaml: a valid OpenAPI 3.1 document that specifies the whole HTTP surface.

The document is checked against the OpenAPI 3.1 meta-schema, against the HTTP surface
table of spec/index.md (both directions), against the native API's conventions (problem
details with stable codes, status codes, pagination, closed request objects, write-only
secrets), against the OAuth endpoints' RFCs (form bodies, RFC 6749 §5.2 errors), and
every example in it is validated against its own schema. A set of hand-written
instances pins the rules the schemas encode (one-of bodies, exclusive members, patterns).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SPEC = Path(__file__).resolve().parents[2] / "spec"
DOCUMENT = SPEC / "openapi.yaml"
INDEX = SPEC / "index.md"

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
TAGS = {"control-plane", "data-plane", "oauth", "discovery", "operations"}
NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$"
BASE_URI = "urn:proctor:openapi"
PROBLEM = "application/problem+json"
FORM = "application/x-www-form-urlencoded"

# The stable machine codes of the native API with their HTTP status and title
# (the code table of spec/09-errors.md, ERR-CODE-001).
CODE_TABLE = {
    "invalid_request_body": (400, "Invalid request body"),
    "validation_failed": (400, "Validation failed"),
    "return_url_not_allowed": (400, "Return URL not registered"),
    "scope_not_allowed": (400, "Scope not allowed"),
    "session_expired": (400, "Session expired"),
    "session_failed": (400, "Session failed"),
    "unauthenticated": (401, "Authentication required"),
    "token_invalid": (401, "Invalid workload access token"),
    "user_token_rejected": (401, "User token rejected"),
    "forbidden": (403, "Forbidden"),
    "session_user_mismatch": (403, "Session belongs to another user"),
    "not_found": (404, "Not found"),
    "provider_not_found": (404, "Provider not found"),
    "session_not_found": (404, "Session not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "conflict": (409, "Conflict"),
    "payload_too_large": (413, "Payload too large"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "rate_limited": (429, "Too many requests"),
    "internal_error": (500, "Internal error"),
    "upstream_error": (502, "Upstream provider failed"),
}
# Answered for any path with a method it does not support, so listed per operation nowhere.
NOT_PER_OPERATION = {"method_not_allowed"}

# Responses that deliberately disclose a secret, once, to the party it belongs to:
# (schema component, member) -> the only operation whose success response carries it.
ONE_TIME_SECRETS = {
    ("WorkloadCreated", "client_secret"): "createWorkload",
    ("SecretRotated", "client_secret"): "rotateWorkloadSecret",
    ("ApiKeyResponse", "api_key"): "getResourceApiKey",
    ("WorkloadAccessTokenResponse", "workload_access_token"): "requestWorkloadAccessToken",
}

# Liveness, readiness and metrics have no client error to report.
PROBES = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}

# Objects that RFC 7517 §4 keeps open (unknown JWK members are ignored, not refused).
OPEN_BY_STANDARD = {"JWK"}

Schema = dict[str, Any]


@functools.cache
def document() -> dict[str, Any]:
    loaded = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield (METHOD, path, operation) for every operation in the document."""
    for path, item in document()["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def operation_ids() -> list[str]:
    return [op["operationId"] for _, _, op in operations()]


def operation(operation_id: str) -> tuple[str, str, dict[str, Any]]:
    for method, path, op in operations():
        if op.get("operationId") == operation_id:
            return method, path, op
    raise KeyError(operation_id)


def unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def resolve_pointer(pointer: str) -> Any:
    """Resolve a local reference such as `#/components/schemas/Name`."""
    if not pointer.startswith("#/"):
        raise KeyError(f"not a local reference: {pointer}")
    node: Any = document()
    for token in pointer[2:].split("/"):
        key = unescape(token)
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def deref(node: Any) -> Any:
    """Follow `$ref` until a node without one is reached."""
    seen: set[str] = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref not in seen, f"reference cycle at {ref}"
        seen.add(ref)
        node = resolve_pointer(ref)
    return node


def all_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from all_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from all_refs(value)


def component_name(ref: str) -> str | None:
    match = re.fullmatch(r"#/components/schemas/([^/]+)", ref)
    return match.group(1) if match else None


CONDITIONS = ("if", "then", "else", "not")


def subschemas(schema: Schema, conditions: bool = True) -> Iterator[Any]:
    """The subschemas JSON Schema applies to an instance or its members.

    With `conditions=False` the branches of `if`/`then`/`else`/`not` are left out: they
    constrain an object defined elsewhere rather than define one.
    """
    for key in ("properties", "patternProperties", "dependentSchemas"):
        yield from schema.get(key, {}).values()
    for key in ("items", "additionalProperties", "contains", *CONDITIONS):
        if isinstance(schema.get(key), dict) and (conditions or key not in CONDITIONS):
            yield schema[key]
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        yield from schema.get(key, [])


def walk_schema(
    schema: Any,
    component: str | None = None,
    seen: frozenset[str] = frozenset(),
    conditions: bool = True,
) -> Iterator[tuple[str | None, Schema]]:
    """Yield (owning component, schema) for every schema reachable, following refs."""
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        ref = schema["$ref"]
        if ref in seen:
            return
        target = resolve_pointer(ref)
        owner = component_name(ref) or component
        yield from walk_schema(target, owner, seen | {ref}, conditions)
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        if rest:
            yield from walk_schema(rest, component, seen | {ref}, conditions)
        return
    yield component, schema
    for sub in subschemas(schema, conditions):
        yield from walk_schema(sub, component, seen, conditions)


def is_object_schema(schema: Schema) -> bool:
    kind = schema.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind)


def media_types(
    op: dict[str, Any],
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield (where, media type, media object) for the request and every response."""
    body = deref(op.get("requestBody", {}))
    for media, obj in body.get("content", {}).items():
        yield "request", media, obj
    for status, response in op.get("responses", {}).items():
        for media, obj in deref(response).get("content", {}).items():
            yield status, media, obj


def example_values(media: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    if "example" in media:
        yield "example", media["example"]
    for name, example in media.get("examples", {}).items():
        yield name, deref(example)["value"]


@functools.cache
def registry() -> Registry[Any]:
    resource = DRAFT202012.create_resource(document())
    loaded: Registry[Any] = Registry().with_resource(BASE_URI, resource)
    return loaded


def validator_for(pointer: str) -> Any:
    """A validator for the schema at a local pointer, resolving the document's refs."""
    return OAS31Validator(
        {"$ref": f"{BASE_URI}{pointer}"},
        registry=registry(),
        format_checker=OAS31Validator.FORMAT_CHECKER,
    )


def is_valid(component: str, instance: Any) -> bool:
    return bool(validator_for(f"#/components/schemas/{component}").is_valid(instance))


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


# --- the HTTP surface table of spec/index.md ------------------------------------------

CRUD_COLLECTION = ("GET", "POST")
CRUD_ITEM = ("GET", "PUT", "DELETE")


def surface_from_table(markdown: str) -> set[tuple[str, str]]:
    """The (METHOD, path) pairs named in the first column of the HTTP surface table.

    A cell holds backticked `METHOD /path` items; a bare `/path[/{name}]` stands for the
    CRUD operations of a collection (GET, POST) and of its items (GET, PUT, DELETE).
    """
    section = markdown.split("## The HTTP surface at a glance", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    surface: set[tuple[str, str]] = set()
    for row in rows[2:]:  # skip the header and the separator
        first_cell = row.split("|")[1]
        for item in re.findall(r"`([^`]+)`", first_cell):
            match = re.fullmatch(r"(?:([A-Z]+) )?(/\S*)", item.strip())
            if match is None:
                raise ValueError(f"not a `METHOD /path` item: {item!r}")
            method, path = match.groups()
            if "[/{name}]" in path:
                if method is not None:
                    raise ValueError(f"a method with an optional item path: {item!r}")
                base = path.replace("[/{name}]", "")
                surface |= {(m, base) for m in CRUD_COLLECTION}
                surface |= {(m, base + "/{name}") for m in CRUD_ITEM}
            elif method is None:
                raise ValueError(f"a path without a method: {item!r}")
            else:
                surface.add((method, path))
    return surface


def test_table_parser_expands_crud_and_lists() -> None:
    markdown = (
        "## The HTTP surface at a glance\n\n| Method and path | Plane |\n|---|---|\n"
        "| `GET /a`, `DELETE /a/{id}` | x |\n| `/v1/things[/{name}]` | `CP` |\n\n## Next\n"
        "| `GET /not-in-the-table` | x |\n"
    )
    assert surface_from_table(markdown) == {
        ("GET", "/a"),
        ("DELETE", "/a/{id}"),
        ("GET", "/v1/things"),
        ("POST", "/v1/things"),
        ("GET", "/v1/things/{name}"),
        ("PUT", "/v1/things/{name}"),
        ("DELETE", "/v1/things/{name}"),
    }
    with pytest.raises(ValueError, match="without a method"):
        surface_from_table("## The HTTP surface at a glance\n| a |\n|-|\n| `/x` |\n")


def test_every_table_entry_is_in_the_document_and_nothing_else() -> None:
    table = surface_from_table(INDEX.read_text(encoding="utf-8"))
    assert len(table) >= 40, "the table parser found too little; has the table moved?"
    documented = {(method, path) for method, path, _ in operations()}
    assert table - documented == set(), "in spec/index.md but not in openapi.yaml"
    assert documented - table == set(), "in openapi.yaml but not in spec/index.md"


# --- the document as a whole ----------------------------------------------------------


def test_document_is_valid_openapi_3_1() -> None:
    assert str(document()["openapi"]).startswith("3.1.")
    validate(document(), cls=OpenAPIV31SpecValidator)


def test_yaml_is_plain_without_anchors_tags_or_tabs() -> None:
    text = DOCUMENT.read_text(encoding="utf-8")
    for event in yaml.parse(text):
        assert not isinstance(event, yaml.AliasEvent), "aliases are not allowed"
        assert getattr(event, "anchor", None) is None, "anchors are not allowed"
        assert getattr(event, "tag", None) is None, "explicit tags are not allowed"
    for number, line in enumerate(text.splitlines(), start=1):
        assert "\t" not in line, f"line {number}: tab"
        indent = len(line) - len(line.lstrip(" "))
        if line.strip() and not line.lstrip().startswith(("#",)):
            assert indent % 2 == 0, f"line {number}: indentation is not a multiple of 2"


def test_info_servers_and_description() -> None:
    info = document()["info"]
    assert info["title"] == "proctor native API"
    assert info["version"] == "1.0.0"
    assert document()["servers"] == [
        {"url": "http://127.0.0.1:8700", "description": document()["servers"][0]["description"]}
    ]
    assert "index.md" in info["description"]
    for plane in ("Control plane", "Data plane", "OAuth"):
        assert plane in info["description"]
    assert {tag["name"] for tag in document()["tags"]} == TAGS


def test_every_reference_resolves() -> None:
    refs = set(all_refs(document()))
    assert refs, "the document uses no references at all"
    for ref in refs:
        assert ref.startswith("#/"), f"external reference: {ref}"
        try:
            resolve_pointer(ref)
        except (KeyError, IndexError, ValueError) as error:
            pytest.fail(f"{ref} does not resolve: {error!r}")


def test_every_component_is_used() -> None:
    refs = set(all_refs(document()))
    for kind, components in document()["components"].items():
        if kind == "securitySchemes":
            used = {
                name
                for _, _, op in operations()
                for requirement in op.get("security", [])
                for name in requirement
            }
            assert set(components) == used
            continue
        for name in components:
            assert f"#/components/{kind}/{name}" in refs, f"unused component {kind}/{name}"


# --- operations -----------------------------------------------------------------------


def test_operations_have_camel_case_unique_ids_summaries_and_one_tag() -> None:
    ids = operation_ids()
    assert len(ids) == len(set(ids)), "duplicate operationId"
    for method, path, op in operations():
        where = f"{method} {path}"
        assert re.fullmatch(r"[a-z][a-zA-Z0-9]*", op.get("operationId", "")), where
        assert op.get("summary", "").strip(), f"{where}: no summary"
        assert len(op.get("tags", [])) == 1, f"{where}: exactly one tag"
        assert op["tags"][0] in TAGS, where


DATA_PLANE_PREFIXES = (
    "/v1/decisions",
    "/v1/workload-access-tokens",
    "/v1/resource-tokens/",
    "/v1/sessions/",
    "/v1/me/",
)


def test_tags_match_the_planes() -> None:
    for method, path, op in operations():
        tag = op["tags"][0]
        if path.startswith(DATA_PLANE_PREFIXES):
            assert tag == "data-plane", path
        elif path.startswith("/v1/"):
            assert tag == "control-plane", path
        elif path.startswith("/oauth2/") and path != "/oauth2/jwks":
            assert tag == "oauth", path
        elif (method, path) in PROBES:
            assert tag == "operations", path
        else:
            assert tag == "discovery", path


def test_security_of_each_plane() -> None:
    workload: list[dict[str, list[str]]] = [{"workloadBasic": []}, {"workloadBearer": []}]
    client: list[dict[str, list[str]]] = [{"clientSecretBasic": []}, {}]
    for method, path, op in operations():
        security = op.get("security")
        assert security is not None, f"{method} {path}: security must be explicit"
        tag = op["tags"][0]
        if tag == "control-plane":
            assert security == [{"adminBearer": []}], path
        elif path.startswith("/v1/me/"):
            assert security == [{"userBearer": []}], path
        elif tag == "data-plane":
            assert security == workload, path
        elif path in ("/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"):
            assert security == client, path
        else:
            assert security == [], f"{path} is public"
    schemes = document()["components"]["securitySchemes"]
    assert schemes["adminBearer"] == {**schemes["adminBearer"], "type": "http", "scheme": "bearer"}
    assert schemes["workloadBasic"]["scheme"] == "basic"
    assert schemes["workloadBearer"]["scheme"] == "bearer"
    assert schemes["userBearer"]["scheme"] == "bearer"
    assert schemes["clientSecretBasic"]["scheme"] == "basic"
    for method_name in ("client_secret_post", "private_key_jwt"):
        assert method_name in schemes["clientSecretBasic"]["description"]


def test_every_operation_lists_a_client_error() -> None:
    for method, path, op in operations():
        statuses = {str(status) for status in op["responses"]}
        if (method, path) in PROBES:
            continue
        assert any(s.startswith("4") for s in statuses), f"{method} {path}: no 4xx response"
    assert "503" in operation("getReadiness")[2]["responses"]


def success_statuses(op: dict[str, Any]) -> set[str]:
    return {str(s) for s in op["responses"] if str(s).startswith(("2", "3"))}


def test_create_201_delete_204_otherwise_200() -> None:
    for method, path, op in operations():
        statuses = success_statuses(op)
        if op["operationId"].startswith("create"):
            assert (method, statuses) == ("POST", {"201"}), path
            assert op["tags"] == ["control-plane"], path
        elif method == "DELETE":
            assert statuses == {"204"}, path
            assert "content" not in op["responses"]["204"], f"{path}: 204 has no body"
        elif op["operationId"] == "handleOAuthCallback":
            assert statuses == {"303"}
        else:
            assert statuses == {"200"}, f"{method} {path}: {statuses}"
    creates = [i for i in operation_ids() if i.startswith("create")]
    assert len(creates) == 5


def test_list_operations_are_paginated() -> None:
    limit = document()["components"]["parameters"]["Limit"]
    assert limit["in"] == "query"
    assert limit["name"] == "limit"
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}
    assert document()["components"]["parameters"]["NextToken"]["name"] == "next_token"
    page = document()["components"]["schemas"]["Page"]
    assert set(page["required"]) == {"items", "next_token"}
    assert page["properties"]["next_token"]["type"] == ["string", "null"]
    lists = 0
    for method, path, op in operations():
        response = op["responses"].get("200", {})
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        params = {p.get("$ref") for p in op.get("parameters", [])}
        is_page = str(schema.get("$ref", "")).endswith("Page")
        has_paging = {
            "#/components/parameters/Limit",
            "#/components/parameters/NextToken",
        } <= params
        assert is_page == has_paging, f"{method} {path}: a page iff limit and next_token"
        if is_page:
            lists += 1
            target = deref(schema)
            assert target["allOf"][0] == {"$ref": "#/components/schemas/Page"}, path
    assert lists == 8


def test_names_have_the_pattern() -> None:
    name = document()["components"]["schemas"]["Name"]
    assert name["pattern"] == NAME_PATTERN
    assert document()["components"]["parameters"]["Name"]["schema"] == {
        "$ref": "#/components/schemas/Name"
    }
    for good in ("crm", "company-okta", "orchestrator-to-subagents", "a" * 64, "9.x_y"):
        assert is_valid("Name", good), good
    for bad in ("ab", "-crm", ".crm", "a" * 65, "has space", "crm/x", ""):
        assert not is_valid("Name", bad), bad
    for schema_name, schema in document()["components"]["schemas"].items():
        prop = schema.get("properties", {}).get("name")
        if prop is not None:
            assert deref(prop) == name, schema_name
    for path in document()["paths"]:
        if "{name}" in path:
            params = document()["paths"][path]["parameters"]
            assert {"$ref": "#/components/parameters/Name"} in params, path


# --- the native API's errors ----------------------------------------------------------


def native_operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for method, path, op in operations():
        if path.startswith("/v1/"):
            yield method, path, op


def test_problem_codes_are_the_stable_set() -> None:
    schemas = document()["components"]["schemas"]
    assert schemas["ProblemCode"]["enum"] == list(CODE_TABLE)
    description = " ".join(schemas["ProblemCode"]["description"].split())
    for code, (status, _) in CODE_TABLE.items():
        assert f"`{code}` {status}" in description, code
    problem = schemas["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "code", "request_id"}
    assert set(problem["properties"]) == {
        "type",
        "title",
        "status",
        "detail",
        "code",
        "request_id",
        "errors",
        "reason",
    }
    assert problem["additionalProperties"] is False


def test_native_errors_are_problem_details_with_matching_codes() -> None:
    seen_codes: set[str] = set()
    for method, path, op in native_operations():
        for status, raw in op["responses"].items():
            if int(status) < 400:
                continue
            where = f"{method} {path} {status}"
            response = deref(raw)
            assert list(response["content"]) == [PROBLEM], where
            cache = deref(response["headers"]["Cache-Control"])
            assert cache["schema"]["const"] == "no-store", f"{where}: ERR-SHAPE-001"
            media = response["content"][PROBLEM]
            assert media["schema"] == {"$ref": "#/components/schemas/Problem"}, where
            examples = list(example_values(media))
            assert examples, f"{where}: no example"
            for _, value in examples:
                code = value["code"]
                assert CODE_TABLE[code] == (int(status), value["title"]), where
                assert value["status"] == int(status), where
                assert value["type"] == f"https://proctor.dev/errors/{code}", where
                assert f"`{code}`" in response["description"], f"{where}: {code} undescribed"
                seen_codes.add(code)
    assert seen_codes == set(CODE_TABLE) - NOT_PER_OPERATION, "every code has an example"


def test_native_operations_list_the_applicable_errors() -> None:
    forbidding = set()
    for method, path, op in native_operations():
        statuses = {str(s) for s in op["responses"]}
        where = f"{method} {path}"
        assert {"401", "429", "500"} <= statuses, where
        if "application/json" in op.get("requestBody", {}).get("content", {}):
            assert {"400", "413", "415"} <= statuses, where
        if re.search(r"\{(name|id)\}", path):
            assert "404" in statuses, where
        if op["operationId"].startswith("create"):
            assert "409" in statuses, where
        if "403" in statuses:
            forbidding.add(op["operationId"])
    # WID-ADMIN-001, WID-AUTH-002: a wrong or disabled credential is 401, never 403.
    assert forbidding == {
        "requestWorkloadAccessToken",
        "getResourceOauth2Token",
        "completeSession",
    }
    assert "409" in operation("deleteAuthorizer")[2]["responses"]
    assert {"400", "401", "403", "404", "502"} <= set(
        operation("getResourceOauth2Token")[2]["responses"]
    )
    assert {"400", "401", "403", "404", "409"} <= set(operation("completeSession")[2]["responses"])


def codes_of(operation_id: str, status: str) -> set[str]:
    response = deref(operation(operation_id)[2]["responses"][status])
    return {value["code"] for _, value in example_values(response["content"][PROBLEM])}


def test_data_plane_specific_codes_are_where_they_belong() -> None:
    assert codes_of("getResourceOauth2Token", "400") >= {
        "return_url_not_allowed",
        "scope_not_allowed",
        "session_expired",
        "session_failed",
    }
    assert codes_of("getResourceOauth2Token", "401") == {
        "unauthenticated",
        "token_invalid",
        "user_token_rejected",
    }
    assert codes_of("getResourceOauth2Token", "404") == {"provider_not_found", "session_not_found"}
    assert codes_of("completeSession", "400") >= {"session_expired", "session_failed"}
    assert codes_of("completeSession", "403") == {"session_user_mismatch"}
    assert codes_of("completeSession", "409") == {"conflict"}
    assert codes_of("completeSession", "401") == {"unauthenticated", "user_token_rejected"}
    assert codes_of("requestWorkloadAccessToken", "401") == {
        "unauthenticated",
        "user_token_rejected",
    }
    assert codes_of("getResourceApiKey", "404") == {"provider_not_found"}
    assert codes_of("listMyConsents", "401") == {"unauthenticated", "user_token_rejected"}


def test_unauthenticated_responses_carry_a_challenge() -> None:
    for method, path, op in native_operations():
        response = deref(op["responses"]["401"])
        assert "WWW-Authenticate" in response.get("headers", {}), f"{method} {path}"


# --- request bodies -------------------------------------------------------------------


def json_request_schemas() -> Iterator[tuple[str, Any]]:
    for method, path, op in operations():
        body = deref(op.get("requestBody", {}))
        for media, obj in body.get("content", {}).items():
            if media == "application/json":
                yield f"{method} {path}", obj["schema"]


def test_json_request_bodies_are_closed_objects() -> None:
    bodies = list(json_request_schemas())
    assert len(bodies) == 15
    for where, schema in bodies:
        objects = 0
        for component, node in walk_schema(schema, conditions=False):
            if not is_object_schema(node) or component in OPEN_BY_STANDARD:
                continue
            objects += 1
            if "properties" not in node and isinstance(node.get("additionalProperties"), dict):
                continue  # a map of values, such as custom_parameters
            assert node.get("additionalProperties") is False, f"{where}: {component} is open"
        assert objects, f"{where}: no object schema found"


def test_form_bodies_ignore_unknown_parameters() -> None:
    """RFC 6749 §3.2: unrecognized request parameters are ignored, not refused."""
    for operation_id in ("requestToken", "introspectToken", "revokeToken"):
        _, _, op = operation(operation_id)
        content = op["requestBody"]["content"]
        assert list(content) == [FORM], operation_id
        for _, node in walk_schema(content[FORM]["schema"]):
            assert node.get("additionalProperties") is not False, operation_id


# --- OAuth endpoints ------------------------------------------------------------------


def test_token_endpoint_parameters() -> None:
    _, _, op = operation("requestToken")
    media = op["requestBody"]["content"][FORM]
    for name in ("audience", "resource"):
        assert media["encoding"][name] == {"style": "form", "explode": True}
    schemas = document()["components"]["schemas"]
    exchange = schemas["TokenExchangeTokenRequest"]["allOf"][1]
    assert set(exchange["required"]) == {"grant_type", "subject_token", "subject_token_type"}
    assert exchange["properties"]["grant_type"]["const"] == (
        "urn:ietf:params:oauth:grant-type:token-exchange"
    )
    assert set(exchange["properties"]) >= {
        "actor_token",
        "actor_token_type",
        "requested_token_type",
        "audience",
        "resource",
        "scope",
    }
    assert exchange["dependentRequired"] == {
        "actor_token": ["actor_token_type"],
        "actor_token_type": ["actor_token"],
    }
    for grant in ("TokenExchangeTokenRequest", "ClientCredentialsTokenRequest"):
        props = schemas[grant]["allOf"][1]["properties"]
        assert props["audience"]["type"] == "array", grant
        assert props["resource"]["type"] == "array", grant
        assert props["resource"]["items"]["format"] == "uri", grant
        assert schemas[grant]["allOf"][0] == {"$ref": "#/components/schemas/ClientAuthentication"}
    auth = schemas["ClientAuthentication"]["properties"]
    assert set(auth) == {"client_id", "client_secret", "client_assertion_type", "client_assertion"}
    assert auth["client_assertion_type"]["const"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    for name in ("IntrospectionRequest", "RevocationRequest"):
        props = schemas[name]["allOf"][1]["properties"]
        assert set(props) == {"token", "token_type_hint"}, name
        assert schemas[name]["allOf"][1]["required"] == ["token"], name


def test_token_response_members() -> None:
    token = document()["components"]["schemas"]["TokenResponse"]
    assert set(token["properties"]) == {
        "access_token",
        "issued_token_type",
        "token_type",
        "expires_in",
        "scope",
    }
    assert token["properties"]["token_type"]["enum"] == ["Bearer", "N_A"]
    _, _, op = operation("requestToken")
    headers = op["responses"]["200"]["headers"]
    assert deref(headers["Cache-Control"])["schema"]["const"] == "no-store"


OAUTH_ENDPOINTS = ("requestToken", "introspectToken", "revokeToken")


def oauth_error_codes(operation_id: str, status: str) -> set[str]:
    response = deref(operation(operation_id)[2]["responses"][status])
    return {v["error"] for _, v in example_values(response["content"]["application/json"])}


def test_oauth_errors_follow_rfc_6749_section_5_2() -> None:
    error = document()["components"]["schemas"]["OAuthError"]
    assert error["additionalProperties"] is False
    codes = set(error["properties"]["error"]["enum"])
    assert "invalid_grant" not in codes, "RFC 8693 §2.2.2: bad subject tokens are invalid_request"
    for operation_id in OAUTH_ENDPOINTS:
        _, _, op = operation(operation_id)
        assert set(op["responses"]) == {"200", "400", "401", "413", "429", "500"}, operation_id
        for status, raw in op["responses"].items():
            response = deref(raw)
            for header in ("Cache-Control", "Pragma"):  # ERR-OAUTH-003, on every answer
                assert header in response["headers"], f"{operation_id} {status}: {header}"
            if status == "200":
                continue
            assert list(response["content"]) == ["application/json"], operation_id
            media = response["content"]["application/json"]
            assert media["schema"] == {"$ref": "#/components/schemas/OAuthError"}
            found = oauth_error_codes(operation_id, status)
            assert found <= codes, operation_id
            expected = {
                "401": {"invalid_client"},
                "413": {"invalid_request"},
                "429": {"temporarily_unavailable"},
                "500": {"server_error"},
            }
            if status in expected:
                assert found == expected[status], f"{operation_id} {status}"
            else:
                assert "invalid_client" not in found, operation_id
        assert "WWW-Authenticate" in deref(op["responses"]["401"])["headers"], operation_id
        assert "Retry-After" in deref(op["responses"]["429"])["headers"], operation_id
        for _, value in example_values(
            deref(op["responses"]["500"])["content"]["application/json"]
        ):
            assert "error_description" not in value
    # ERR-OAUTH-004: the codes each endpoint may use.
    assert oauth_error_codes("requestToken", "400") == {
        "invalid_request",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_target",
    }
    assert oauth_error_codes("introspectToken", "400") == {"invalid_request"}
    assert oauth_error_codes("revokeToken", "400") == {"invalid_request", "unauthorized_client"}


def test_callback_is_a_browser_redirect() -> None:
    method, path, op = operation("handleOAuthCallback")
    assert (method, path) == ("GET", "/oauth2/callback")
    names = {p["name"]: p for p in op["parameters"]}
    assert names["state"]["required"] is True
    assert {"code", "error", "error_description", "iss"} <= set(names)
    assert set(op["responses"]) == {"303", "400"}
    redirect = op["responses"]["303"]
    assert "Location" in redirect["headers"]
    assert "session_id=" in redirect["headers"]["Location"]["example"]
    assert "content" not in redirect
    assert list(op["responses"]["400"]["content"]) == ["text/html; charset=utf-8"]
    for status, response in op["responses"].items():  # VLT-CB-006
        headers = response["headers"]
        assert deref(headers["Cache-Control"])["schema"]["const"] == "no-store", status
        assert deref(headers["Referrer-Policy"])["schema"]["const"] == "no-referrer", status


def test_public_documents() -> None:
    metadata = operation("getAuthorizationServerMetadata")
    assert metadata[:2] == ("GET", "/.well-known/oauth-authorization-server")
    required = set(document()["components"]["schemas"]["AuthorizationServerMetadata"]["required"])
    assert {"issuer", "token_endpoint", "jwks_uri"} <= required
    jwks = operation("getJwks")[2]["responses"]["200"]["content"]["application/json"]
    assert jwks["schema"] == {"$ref": "#/components/schemas/JWKS"}
    metrics = operation("getMetrics")[2]["responses"]["200"]["content"]
    assert all(media.startswith("text/plain") for media in metrics)
    readiness = operation("getReadiness")[2]["responses"]
    assert set(readiness) == {"200", "503"}


def test_descriptions_cite_their_rfc_or_chapter() -> None:
    for method, path, op in operations():
        text = op.get("description", "")
        if op["tags"][0] in ("oauth", "discovery"):
            assert re.search(r"RFC \d{4} §\d", text), f"{method} {path}: cite the RFC section"
        if op["tags"][0] == "data-plane":
            assert re.search(r"\]\(\d\d-[a-z-]+\.md\)", text), f"{method} {path}: link a chapter"


# --- secrets --------------------------------------------------------------------------


def is_write_only(prop: Any) -> bool:
    return bool(prop.get("writeOnly")) or bool(deref(prop).get("writeOnly"))


def write_only_names() -> set[str]:
    names: set[str] = set()
    for component, schema in document()["components"]["schemas"].items():
        for _, node in walk_schema(schema, component):
            for name, prop in node.get("properties", {}).items():
                if is_write_only(prop):
                    names.add(name)
    return names


def response_schemas() -> Iterator[tuple[str, str, Any]]:
    for _, _, op in operations():
        for where, _, media in media_types(op):
            if where != "request" and "schema" in media:
                yield op["operationId"], where, media["schema"]


def test_stored_secrets_are_write_only_with_read_only_refs() -> None:
    schemas = document()["components"]["schemas"]
    provider = schemas["OAuth2Provider"]["properties"]
    assert provider["client_secret"]["writeOnly"] is True
    assert provider["client_secret"]["format"] == "password"
    assert provider["client_secret_ref"]["readOnly"] is True
    api_key = schemas["ApiKeyProvider"]["properties"]
    assert api_key["api_key"]["writeOnly"] is True
    assert api_key["api_key"]["format"] == "password"
    assert api_key["api_key_ref"]["readOnly"] is True
    assert re.fullmatch(
        provider["client_secret_ref"]["pattern"], "secret://providers/crm/client_secret"
    )
    assert re.fullmatch(api_key["api_key_ref"]["pattern"], "secret://api-key-providers/wx1/api_key")
    assert "client_secret" not in schemas["Workload"]["properties"]
    assert {"client_secret", "api_key", "client_assertion", "user_token"} <= write_only_names()


def test_write_only_members_never_appear_in_responses_without_write_only() -> None:
    names = write_only_names()
    disclosures: dict[tuple[str, str], set[str]] = {}
    for operation_id, status, schema in response_schemas():
        for component, node in walk_schema(schema):
            for name, prop in node.get("properties", {}).items():
                if name not in names or is_write_only(prop):
                    continue
                key = (component or "?", name)
                assert key in ONE_TIME_SECRETS, f"{operation_id} {status}: {key} leaks a secret"
                disclosures.setdefault(key, set()).add(operation_id)
    assert disclosures == {key: {op} for key, op in ONE_TIME_SECRETS.items()}


def test_one_time_secrets_are_not_cached() -> None:
    for operation_id in set(ONE_TIME_SECRETS.values()):
        _, _, op = operation(operation_id)
        (status,) = success_statuses(op)
        header = deref(op["responses"][status]["headers"]["Cache-Control"])
        assert header["schema"]["const"] == "no-store", operation_id


def top_level_flags(schema: Any, flag: str) -> set[str]:
    names: set[str] = set()
    target = deref(schema)
    for key in ("oneOf", "anyOf", "allOf"):
        for sub in target.get(key, []):
            names |= top_level_flags(sub, flag)
    for name, prop in target.get("properties", {}).items():
        if prop.get(flag) or deref(prop).get(flag):
            names.add(name)
    return names


def test_examples_respect_read_only_and_write_only() -> None:
    checked = 0
    for _, _, op in operations():
        for where, _, media in media_types(op):
            if "schema" not in media:
                continue
            forbidden = top_level_flags(
                media["schema"], "readOnly" if where == "request" else "writeOnly"
            )
            for name, value in example_values(media):
                if isinstance(value, dict):
                    checked += 1
                    leaked = forbidden & set(value)
                    assert not leaked, f"{op['operationId']} {where} {name}: {leaked}"
    assert checked > 50


# --- examples and the rules the schemas encode ----------------------------------------


def example_cases() -> Iterator[tuple[str, str, Any]]:
    for method, path, op in operations():
        for where, media_type, media in media_types(op):
            if "schema" not in media:
                continue
            if where == "request":
                base = f"/paths/{escape(path)}/{method.lower()}/requestBody"
                body = op["requestBody"]
                assert "$ref" not in body
            else:
                response = op["responses"][where]
                if "$ref" in response:
                    base = response["$ref"][1:]
                else:
                    base = f"/paths/{escape(path)}/{method.lower()}/responses/{where}"
            pointer = f"#{base}/content/{escape(media_type)}/schema"
            for name, value in example_values(media):
                yield f"{op['operationId']} {where} {name}", pointer, value


def test_every_example_validates_against_its_schema() -> None:
    cases = list(example_cases())
    assert len(cases) > 100
    for where, pointer, value in cases:
        errors = [e.message for e in validator_for(pointer).iter_errors(value)]
        assert errors == [], f"{where}: {errors}"


JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzYXJhaCJ9.c2ln"
SESSION = "urn:ietf:params:oauth:request_uri:Zk3vQ9b2xK7mP4sT1vN8cR5wE3hL6jY0aD2fGh7Jk1L"
ISSUER = "https://company.okta.com/oauth2/default"
DISCOVERY = ISSUER + "/.well-known/openid-configuration"
ENDPOINTS = {
    "issuer": "https://auth.crm.example",
    "authorization_endpoint": "https://auth.crm.example/authorize",
    "token_endpoint": "https://auth.crm.example/token",
}
PUBLIC_EC = {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2", "y": "x_FEzRu9"}
AUTHORIZER = {"name": "okta", "discovery_url": DISCOVERY, "allowed_audiences": ["api://default"]}
COGNITO = {
    "name": "pool",
    "discovery_url": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab12"
    "/.well-known/openid-configuration",
    "idp_profile": "cognito",
    "allowed_clients": ["4f1k2"],
}
CRM = {"name": "crm", "vendor": "custom", "client_id": "c", "discovery_url": DISCOVERY}
POLICY = {"name": "p-1", "client": "orchestrator", "subject_issuers": ["self"]}
EXCHANGE = {
    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
    "subject_token": JWT,
    "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
    "audience": ["wl_Sb9c2Xq4Lm7Tz1Kd5Rw8Hy"],
}
RESOURCE_REQUEST = {
    "workload_access_token": "wat_x",
    "provider": "crm",
    "scopes": [],
    "flow": "user_federation",
}
ACTIVE = {
    "active": True,
    "iss": "https://proctor.example",
    "sub": "sarah@company.example",
    "aud": "wl_Sb9c2Xq4Lm7Tz1Kd5Rw8Hy",
    "client_id": "wl_6pQk2v0rX3bH9sTf1aYc8w",
    "exp": 2,
    "iat": 1,
    "jti": "j",
    "token_type": "Bearer",
}
PROBLEM_BODY = {
    "type": "https://proctor.dev/errors/validation_failed",
    "title": "Validation failed",
    "status": 400,
    "detail": "d",
    "code": "validation_failed",
    "request_id": "req_1",
}
INTERNAL = {
    **PROBLEM_BODY,
    "type": "https://proctor.dev/errors/internal_error",
    "title": "Internal error",
    "status": 500,
    "code": "internal_error",
}
del INTERNAL["detail"]
SARAH = {"issuer": ISSUER, "subject": "sarah@company.example", "user_key": "00u1p2"}


def without(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


@pytest.mark.parametrize(
    ("component", "instance", "valid"),
    [
        # decisions (INB-DEC-003 to INB-DEC-005)
        ("DenyReason", "expired", True),
        ("DenyReason", "claim_rule_failed:cognito:groups", True),
        ("DenyReason", "claim_rule_failed:", False),
        ("DenyReason", "banana", False),
        ("Decision", {"decision": "deny", "reason": "wrong_audience"}, True),
        ("Decision", {"decision": "allow", "reason": "ok"}, False),
        ("Decision", {"decision": "deny", "reason": "ok"}, False),
        ("DecisionRequest", {"authorizer": "okta", "token": ""}, True),
        ("DecisionRequest", {"authorizer": "okta", "token": "x", "token_kind": "jwt"}, False),
        # authorizers (Table 2.1, Table 2.3)
        ("Authorizer", AUTHORIZER, True),
        ("Authorizer", without(AUTHORIZER, "allowed_audiences"), False),
        ("Authorizer", {**AUTHORIZER, "allowed_audiences": []}, False),
        ("Authorizer", {**AUTHORIZER, "allowed_audience": ["api://default"]}, False),
        ("Authorizer", {**AUTHORIZER, "algorithms": ["HS256"]}, False),
        ("Authorizer", {**AUTHORIZER, "algorithms": ["none"]}, False),
        ("Authorizer", {**AUTHORIZER, "discovery_url": "https://idp.example/config"}, False),
        ("Authorizer", {**AUTHORIZER, "discovery_url": DISCOVERY + "?x=1"}, False),
        ("Authorizer", {**AUTHORIZER, "created_at": 5}, True),
        ("Authorizer", COGNITO, True),
        ("Authorizer", without(COGNITO, "allowed_clients"), False),
        ("Authorizer", {**COGNITO, "allowed_audiences": ["x"]}, False),
        (
            "CustomClaimRule",
            {"claim": "g", "operator": "contains", "value": "s", "value_type": "string"},
            True,
        ),
        (
            "CustomClaimRule",
            {
                "claim": "g",
                "operator": "contains_any",
                "value": ["s", "o"],
                "value_type": "string_list",
            },
            True,
        ),
        (
            "CustomClaimRule",
            {"claim": "g", "operator": "equals", "value": ["s"], "value_type": "string_list"},
            True,
        ),
        (
            "CustomClaimRule",
            {"claim": "g", "operator": "contains_any", "value": "s", "value_type": "string"},
            False,
        ),
        (
            "CustomClaimRule",
            {"claim": "g", "operator": "contains_any", "value": [], "value_type": "string_list"},
            False,
        ),
        (
            "CustomClaimRule",
            {"claim": "n", "operator": "contains", "value": 3, "value_type": "number"},
            False,
        ),
        (
            "CustomClaimRule",
            {"claim": "n", "operator": "equals", "value": "3", "value_type": "number"},
            False,
        ),
        # workloads (Table 3.1)
        ("Workload", {"name": "orchestrator"}, True),
        ("Workload", {"name": "orchestrator", "jwks": None}, True),
        (
            "Workload",
            {"name": "orchestrator", "token_endpoint_auth_method": "private_key_jwt"},
            False,
        ),
        (
            "Workload",
            {"name": "wl1", "token_endpoint_auth_method": "private_key_jwt", "jwks": None},
            False,
        ),
        (
            "Workload",
            {
                "name": "orchestrator",
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [PUBLIC_EC]},
            },
            True,
        ),
        ("Workload", {"name": "orchestrator", "jwks": {"keys": [{**PUBLIC_EC, "d": "x"}]}}, False),
        ("Workload", {"name": "orchestrator", "jwks": {"keys": [{"kty": "oct", "k": "x"}]}}, False),
        ("Workload", {"name": "orchestrator", "client_secret": "s"}, False),
        ("Workload", {"name": "wl1", "allowed_return_urls": ["https://app.example/r#f"]}, False),
        ("SecretRotated", {"client_secret": "x" * 43}, True),
        ("SecretRotated", {"client_secret": "x" * 43, "name": "orchestrator"}, False),
        # workload access tokens (WAT-REQ-001, WAT-RESP-001)
        ("WorkloadAccessTokenRequest", {}, True),
        ("WorkloadAccessTokenRequest", {"user_token": JWT}, True),
        ("WorkloadAccessTokenRequest", {"user_id": "sarah"}, True),
        ("WorkloadAccessTokenRequest", {"user_id": "sa\nrah"}, False),
        ("WorkloadAccessTokenRequest", {"user_token": JWT, "user_id": "sarah"}, False),
        ("WorkloadAccessTokenRequest", {"user": "sarah"}, False),
        (
            "WorkloadAccessTokenResponse",
            {"workload_access_token": "wat_" + "a" * 43, "expires_in": 900, "user": SARAH},
            True,
        ),
        (
            "WorkloadAccessTokenResponse",
            {
                "workload_access_token": "wat_" + "a" * 43,
                "expires_in": 900,
                "user": without(SARAH, "user_key"),
            },
            False,
        ),
        # credential providers (PRV-CFG-001, PRV-VEND-001/002, PRV-KEY-001)
        ("OAuth2Provider", CRM, True),
        (
            "OAuth2Provider",
            {**without(CRM, "discovery_url"), "authorization_server_metadata": ENDPOINTS},
            True,
        ),
        ("OAuth2Provider", {**CRM, "authorization_server_metadata": ENDPOINTS}, False),
        ("OAuth2Provider", without(CRM, "discovery_url"), False),
        (
            "OAuth2Provider",
            {
                **without(CRM, "discovery_url"),
                "authorization_server_metadata": without(ENDPOINTS, "authorization_endpoint"),
            },
            False,
        ),
        ("OAuth2Provider", {**CRM, "discovery_url": "https://crm.example/config"}, False),
        ("OAuth2Provider", {"name": "github", "vendor": "github", "client_id": "c"}, True),
        (
            "OAuth2Provider",
            {"name": "github", "vendor": "github", "client_id": "c", "tenant": "t"},
            False,
        ),
        (
            "OAuth2Provider",
            {**CRM, "vendor": "github", "authorization_server_metadata": ENDPOINTS},
            False,
        ),
        ("OAuth2Provider", {"name": "entra", "vendor": "microsoft", "client_id": "c"}, False),
        (
            "OAuth2Provider",
            {"name": "entra", "vendor": "microsoft", "client_id": "c", "tenant": "common"},
            True,
        ),
        ("OAuth2Provider", {**CRM, "vendor": "microsoft"}, True),
        (
            "OAuth2Provider",
            {**CRM, "client_auth_method": "private_key_jwt", "client_secret": "s"},
            False,
        ),
        ("OAuth2Provider", {**CRM, "on_behalf_of": {"grant": "password"}}, False),
        (
            "OAuth2Provider",
            {**CRM, "client_secret_ref": "secret://providers/crm/client_secret"},
            True,
        ),
        ("ApiKeyProvider", {"name": "weather", "api_key": "k", "allowed_workloads": []}, True),
        ("ApiKeyProvider", {"name": "weather", "api_key": ""}, False),
        # exchange policies (TX-POL-001)
        ("ExchangePolicy", {**POLICY, "audiences": ["wl_sub"]}, True),
        ("ExchangePolicy", {**POLICY, "resources": ["https://crm.example/mcp"]}, True),
        ("ExchangePolicy", POLICY, False),
        ("ExchangePolicy", {**POLICY, "audiences": [], "resources": []}, False),
        ("ExchangePolicy", {**POLICY, "audiences": ["a"], "subject_issuers": []}, False),
        ("ExchangePolicy", {**POLICY, "audiences": ["a"], "subject_issuers": ["okta"]}, False),
        ("ExchangePolicy", {**POLICY, "audiences": ["a"], "max_depth": 17}, False),
        ("ExchangePolicy", {**POLICY, "audiences": ["a"], "actor": "anyone"}, False),
        # resource tokens and sessions (VLT-REQ-003, VLT-SESS-005, CNS-TASK-001)
        ("ResourceOauth2TokenRequest", RESOURCE_REQUEST, True),
        (
            "ResourceOauth2TokenRequest",
            {**RESOURCE_REQUEST, "task": "brief:7", "consent_ttl": 60},
            True,
        ),
        ("ResourceOauth2TokenRequest", {**RESOURCE_REQUEST, "consent_ttl": 59}, False),
        ("ResourceOauth2TokenRequest", {**RESOURCE_REQUEST, "task": "has space"}, False),
        (
            "ResourceOauth2TokenRequest",
            {**RESOURCE_REQUEST, "custom_parameters": {"a b": "x"}},
            False,
        ),
        (
            "ResourceOauth2TokenRequest",
            {**RESOURCE_REQUEST, "custom_parameters": {"prompt": ""}},
            False,
        ),
        ("ResourceOauth2TokenRequest", {**RESOURCE_REQUEST, "flow": "authorization_code"}, False),
        ("ResourceOauth2TokenRequest", without(RESOURCE_REQUEST, "flow"), False),
        (
            "ResourceOauth2TokenResponse",
            {"access_token": "a", "expires_at": None, "scopes": []},
            True,
        ),
        (
            "ResourceOauth2TokenResponse",
            {
                "authorization_url": "https://auth.crm.example/authorize",
                "session_uri": SESSION,
                "session_status": "in_progress",
            },
            True,
        ),
        (
            "ResourceOauth2TokenResponse",
            {
                "authorization_url": "https://auth.crm.example/authorize",
                "session_uri": SESSION,
                "session_status": "failed",
            },
            False,
        ),
        (
            "ResourceOauth2TokenResponse",
            {"access_token": "a", "expires_at": 1, "scopes": [], "refresh_token": "r"},
            False,
        ),
        ("SessionCompleteRequest", {"session_uri": SESSION, "user_token": JWT}, True),
        ("SessionCompleteRequest", {"session_uri": SESSION, "user_id": "sarah"}, True),
        ("SessionCompleteRequest", {"session_uri": SESSION}, False),
        ("SessionCompleteRequest", {"user_id": "sarah"}, False),
        (
            "SessionCompleteRequest",
            {"session_uri": SESSION, "user_token": JWT, "user_id": "s"},
            False,
        ),
        ("SessionCompleteRequest", {"session_uri": "https://x", "user_id": "sarah"}, False),
        # consents and audit (CNS-REC-001, AUD-EVT-002, AUD-VER-001)
        (
            "Consent",
            {
                "id": "cns_1",
                "user": SARAH,
                "workload": "orchestrator",
                "provider": "crm",
                "scopes": ["notes.read"],
                "granted_at": 1,
                "expires_at": None,
                "task": None,
            },
            True,
        ),
        (
            "Consent",
            {
                "id": "cns_1",
                "user": SARAH,
                "workload": "orchestrator",
                "provider": "crm",
                "scopes": ["notes.read"],
                "granted_at": 1,
                "expires_at": None,
            },
            False,
        ),
        ("AuditOperation", "consent.prompt", True),
        ("AuditOperation", "consent.invented", False),
        ("AuditVerification", {"valid": True, "events": 3, "checkpoint": None}, True),
        (
            "AuditVerification",
            {
                "valid": False,
                "first_broken_seq": 3,
                "reason": "gap",
                "events": 2,
                "checkpoint": {"seq": 10, "hash": "0" * 64, "time": 5, "pruned": 10},
            },
            True,
        ),
        ("AuditVerification", {"valid": True, "events": 3}, False),
        (
            "AuditVerification",
            {
                "valid": True,
                "first_broken_seq": 3,
                "reason": "gap",
                "events": 2,
                "checkpoint": None,
            },
            False,
        ),
        # the OAuth endpoints (TX-REQ-001 to TX-REQ-008, TX-CAUTH-003)
        (
            "TokenRequest",
            {**EXCHANGE, "resource": ["https://crm.example/mcp"], "x": "ignored"},
            True,
        ),
        ("TokenRequest", without(EXCHANGE, "audience"), False),
        ("TokenRequest", {**EXCHANGE, "actor_token": JWT}, False),
        ("TokenRequest", {**EXCHANGE, "actor_token_type": EXCHANGE["subject_token_type"]}, False),
        (
            "TokenRequest",
            {**EXCHANGE, "subject_token_type": "urn:ietf:params:oauth:token-type:saml2"},
            False,
        ),
        (
            "TokenRequest",
            {
                **EXCHANGE,
                "actor_token": JWT,
                "actor_token_type": "urn:ietf:params:oauth:token-type:id_token",
            },
            False,
        ),
        (
            "TokenRequest",
            {**EXCHANGE, "requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
            False,
        ),
        ("TokenRequest", without(EXCHANGE, "subject_token"), False),
        ("TokenRequest", {"grant_type": "password"}, False),
        (
            "TokenRequest",
            {"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"},
            True,
        ),
        ("TokenRequest", {"grant_type": "client_credentials", "client_secret": "s"}, False),
        (
            "TokenRequest",
            {
                "grant_type": "client_credentials",
                "client_id": "c",
                "client_secret": "s",
                "client_assertion": JWT,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            },
            False,
        ),
        ("TokenResponse", {"access_token": "t", "token_type": "Bearer", "expires_in": 60}, True),
        ("TokenResponse", {"access_token": "t", "token_type": "mac", "expires_in": 60}, False),
        (
            "TokenResponse",
            {"access_token": "t", "token_type": "Bearer", "expires_in": 60, "refresh_token": "r"},
            False,
        ),
        ("IntrospectionResponse", {"active": False}, True),
        ("IntrospectionResponse", {"active": False, "sub": "00u1sarah"}, False),
        ("IntrospectionResponse", {**ACTIVE, "act": {"sub": "wl_b", "act": {"sub": "wl_a"}}}, True),
        ("IntrospectionResponse", without(ACTIVE, "token_type"), False),
        ("IntrospectionResponse", {**ACTIVE, "nbf": 1}, False),
        ("Actor", {"sub": "wl_a", "iss": "https://proctor.example", "email": "a@b"}, True),
        ("Actor", {"sub": "wl_a", "act": {"sub": "wl_b", "exp": 5}}, False),
        ("OAuthError", {"error": "invalid_grant"}, False),
        ("OAuthError", {"error": "invalid_request", "error_description": 'quote " here'}, False),
        ("OAuthError", {"error": "invalid_request", "state": "x"}, False),
        # problem details (ERR-SHAPE-001, ERR-SHAPE-002)
        ("Problem", PROBLEM_BODY, True),
        ("Problem", INTERNAL, True),
        ("Problem", {**INTERNAL, "detail": "stack trace"}, False),
        ("Problem", without(PROBLEM_BODY, "detail"), False),
        ("Problem", {**PROBLEM_BODY, "trace": "x"}, False),
        ("Problem", {**PROBLEM_BODY, "errors": []}, False),
        ("Problem", {**PROBLEM_BODY, "errors": [{"field": "/max_depth", "message": "m"}]}, True),
        ("Problem", {**PROBLEM_BODY, "type": "about:blank"}, False),
        ("Problem", {**PROBLEM_BODY, "code": "teapot"}, False),
        ("JWKS", {"keys": [{**PUBLIC_EC, "kid": "k", "use": "sig", "alg": "ES256"}]}, True),
        ("JWKS", {"keys": [{**PUBLIC_EC, "d": "private"}]}, False),
        ("AuthorizationServerMetadata", {"issuer": "https://proctor.example"}, False),
    ],
)
def test_schema_rules(component: str, instance: Any, valid: bool) -> None:
    assert is_valid(component, instance) is valid
