"""The admin API reference in ``docs/mock-idps/index.md`` lists exactly the endpoints the
emulators serve under ``/_mock`` (methods and paths), so the docs cannot drift from
:mod:`proctor.mock_idps.admin` and the providers' resource endpoints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.routing import Route

from proctor.mock_idps import admin
from proctor.mock_idps.app import create_app

DOCS = Path(__file__).parents[2] / "docs" / "mock-idps" / "index.md"
KEY_ACTIONS = ("publish-next", "switch", "retire", "rotate")
PROVIDER_PREFIXES = ("/_mock/provider", "/_mock/resource")
Endpoint = tuple[str, str]


def _normal(path: str) -> str:
    path = re.sub(r"\{[^}]+\}", "{}", path)
    return re.sub(r"/keys/(?:" + "|".join(KEY_ACTIONS) + r")$", "/keys/{}", path)


def documented() -> set[Endpoint]:
    text = DOCS.read_text("utf-8")
    section = text[text.index("## Admin API") : text.index("### Minting tokens")]
    found: set[Endpoint] = set()
    for line in section.splitlines():
        cell = line.split("|")[1] if line.startswith("| `") else ""
        path = re.search(r"/_mock[^\s`?]*", cell)
        if path is not None:
            for method in re.findall(r"\b(GET|POST|PUT|DELETE)\b", cell):
                found.add((method, _normal(path.group())))
    return found


def served(vendor: str) -> set[Endpoint]:
    engine = create_app(vendor).engine
    routes = [*admin.routes(engine), *engine.profile.routes(engine)]
    found: set[Endpoint] = set()
    for route in routes:
        if not isinstance(route, Route) or not route.path.startswith("/_mock"):
            continue
        if route.path in ("/_mock/", "/_mock/{rest:path}"):  # an alias and the 404 catch-all
            continue
        found.update((m, _normal(route.path)) for m in route.methods or () if m != "HEAD")
    return found


@pytest.mark.parametrize("vendor", ["okta", "entra", "cognito"])
def test_every_idp_admin_endpoint_is_documented_and_nothing_else(vendor: str) -> None:
    provider_only = {e for e in documented() if e[1].startswith(PROVIDER_PREFIXES)}
    assert served(vendor) == documented() - provider_only


@pytest.mark.parametrize("vendor", ["crm", "google", "github"])
def test_a_providers_admin_endpoints_are_documented(vendor: str) -> None:
    assert served(vendor) == documented()


def test_every_key_action_is_documented() -> None:
    text = DOCS.read_text("utf-8")
    for action in KEY_ACTIONS:
        assert f"`POST /_mock/keys/{action}`" in text
