"""The JSON Schemas of docs/asyncapi.yaml as validators; the event kinds the agent's code emits."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

ROOT = Path(__file__).parents[2]
ASYNCAPI = ROOT / "docs" / "asyncapi.yaml"
PROTOCOL = ROOT / "docs" / "protocol.md"
_KIND = re.compile(r"^[a-z]+\.[a-z_]+$")


@cache
def document() -> Mapping[str, Any]:
    loaded: Mapping[str, Any] = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    return loaded


@cache
def validator(pointer: str) -> Draft202012Validator:
    """A validator for the schema at `pointer` ("#/components/..."), its `$ref`s resolved in the
    whole document."""
    root = {key: value for key, value in document().items() if key == "components"}
    return Draft202012Validator({**root, "$ref": pointer})


def problems(pointer: str, instance: object) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator(pointer).iter_errors(instance)]


MESSAGES = {"evt": "events", "reply": "reply", "state": "state", "status": "status"}


def message_problems(leaf: str, body: object) -> list[str]:
    """What is wrong with a message the device published on topic leaf `leaf`."""
    return problems(f"#/components/messages/{MESSAGES[leaf]}/payload", body)


def schema_event_kinds() -> set[str]:
    names = document()["components"]["schemas"]
    return {name.removeprefix("event.") for name in names if name.startswith("event.")}


def documented_event_kinds() -> set[str]:
    """The kinds listed in the "Event catalogue" section of docs/protocol.md (first column)."""
    section = PROTOCOL.read_text(encoding="utf-8").split("## Event catalogue", 1)[1]
    first_cells = re.findall(r"^\| ([^|]+) \|", section.split("\n## ", 1)[0], re.MULTILINE)
    return {kind for cell in first_cells for kind in re.findall(r"`([a-z]+\.[a-z_]+)`", cell)}


def emitted_event_kinds() -> set[str]:
    """Every kind passed to `journal.record` / `append_outbox` in `agent/` (literals, or the
    literals assigned to the variable passed)."""
    kinds: set[str] = set()
    for path in (ROOT / "agent").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef | ast.Module):
                kinds |= set(_kinds_in(func))
    return kinds


def _kinds_in(func: ast.AST) -> Iterator[str]:
    for call in ast.walk(func):
        if not isinstance(call, ast.Call) or not _is_outbox_call(call):
            continue
        # journal.record(conn, kind, ...), append_outbox(conn, kind, ...), and
        # Database.run(journal.record, kind, ...): the kind is the second argument of all three
        kind = call.args[1] if len(call.args) > 1 else None
        if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
            yield kind.value
        elif isinstance(kind, ast.Name):
            yield from _assigned(func, kind.id)


def _is_outbox_call(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name in {"record", "append_outbox"}:
        return True
    first = call.args[0] if call.args else None
    return name == "run" and isinstance(first, ast.Attribute) and first.attr == "record"


def _assigned(func: ast.AST, name: str) -> Iterator[str]:
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and any(
            name in {n.id for n in ast.walk(t) if isinstance(n, ast.Name)} for t in node.targets
        ):
            for const in ast.walk(node.value):
                if isinstance(const, ast.Constant) and _KIND.match(str(const.value)):
                    yield str(const.value)
