"""The OpenAPI document stays complete: every `/api/v1` route of the app is in it."""

import re
from pathlib import Path

from aiohttp import web

import agent.api
from agent.api.openapi import openapi_document
from tests.agent.supervision.conftest import Locker

API_SOURCES = Path(agent.api.__file__).parent


def api_routes(app: web.Application) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/api/v1/") and route.method != "HEAD":
            found.add((route.method.lower(), path))
    return found


def documented() -> set[tuple[str, str]]:
    paths = openapi_document()["paths"]
    assert isinstance(paths, dict)
    return {(method, path) for path, ops in paths.items() for method in ops}


async def test_every_route_of_the_running_apps_is_documented(locker: Locker) -> None:
    runner = locker.running.agent._runner
    assert runner is not None
    routes = api_routes(runner.app) | api_routes(locker.runner.app)
    assert ("post", "/api/v1/staff/doors/{door}/open") in routes
    missing = sorted(routes - documented())
    assert missing == [], f"add these routes to agent/api/openapi.py: {missing}"


def test_every_route_registered_in_the_api_sources_is_documented() -> None:
    # Routes of areas the test apps do not wire (demo, counter mode) are caught here.
    registered = set()
    pattern = re.compile(r"add_(get|post|put|patch|delete)\(\s*f?\"(/api/v1/[^\"]+)\"")
    for source in API_SOURCES.glob("*.py"):
        for method, path in pattern.findall(source.read_text(encoding="utf-8")):
            registered.add((method, path))
    assert len(registered) > 10
    missing = sorted(registered - documented())
    assert missing == [], f"add these routes to agent/api/openapi.py: {missing}"


def resolve(document: dict[str, object], ref: str) -> object:
    node: object = document
    for part in ref.removeprefix("#/").split("/"):
        assert isinstance(node, dict), ref
        node = node[part]
    return node


def refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


async def test_the_document_is_served_and_well_formed(locker: Locker) -> None:
    status, document = await locker.get("/api/v1/openapi.json")
    assert status == 200
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"] == locker.running.agent.version
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert method in {"get", "post", "put", "patch", "delete"}
            assert "200" in operation["responses"], (method, path)
            params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert params == set(re.findall(r"{(\w+)}", path)), (method, path)
            if "Requires a session" in operation.get("description", ""):
                assert "401" in operation["responses"]
    for ref in refs(document):
        assert resolve(document, ref) is not None
