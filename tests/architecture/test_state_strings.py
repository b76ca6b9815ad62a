"""Lifecycle states are spelt only in the domain and the store's row mapping.

A service that wrote `'pending'` or `state = 'opening'` itself would be deciding a lifecycle
outside `agent/domain`; this test reads every service module and fails on any string constant
that is an order, load or return state, alone or quoted inside SQL. Dict keys are exempt: they
are field names on the wire (`{"collected": ...}` in a KPI body), not states."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from agent.domain.loads import LoadState
from agent.domain.orders import OrderState
from agent.domain.returns import ReturnState
from tests.architecture.imports import ROOT

SERVICES = ROOT / "agent" / "services"
STATES = frozenset(s.value for enum in (OrderState, LoadState, ReturnState) for s in enum)
_QUOTED = re.compile(r"'([a-z_]+)'")


def _dict_keys(tree: ast.AST) -> set[int]:
    return {
        id(key)
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        for key in node.keys
        if key is not None
    }


def state_strings(path: Path) -> list[str]:
    """`file:line 'state'` for every state spelt out in the module at `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    keys = _dict_keys(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        if id(node) in keys:
            continue
        named = ({node.value} | set(_QUOTED.findall(node.value))) & STATES
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        found += [f"{where}:{node.lineno} {s!r}" for s in sorted(named)]
    return found


def test_no_service_spells_out_a_lifecycle_state() -> None:
    found = [hit for path in sorted(SERVICES.glob("*.py")) for hit in state_strings(path)]
    assert found == [], "use the domain's enums (agent/domain) instead:\n" + "\n".join(found)


def test_the_check_sees_states_alone_and_inside_sql(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        'A = "pending"\n'
        "B = \"SELECT 1 FROM returns WHERE state = 'opening'\"\n"
        'C = {"collected": 1}\n'
        'D = "order.loaded"\n',
        encoding="utf-8",
    )
    hits = state_strings(probe)
    assert [h.split(" ", 1)[1] for h in hits] == ["'pending'", "'opening'"]


# Steps of a unit of work that several services share live below the services (in
# agent/store or agent/domain), never in one service module that the others import.
SHARED_STEPS = frozenset(
    {
        "start_hold",
        "pause_door_holds",
        "resume_door_holds",
        "door_fault",
        "door_opened",
        "support_ref",
        "ID_PATTERN",
        "parse_label",
        "withdrawal_of",
        "require_door",
    }
)


def test_services_do_not_import_shared_steps_from_each_other() -> None:
    found = []
    for path in sorted(SERVICES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.module is None:
                continue
            if node.module.startswith("agent.services."):
                found += [
                    f"{path.relative_to(ROOT)}:{node.lineno} {alias.name} from {node.module}"
                    for alias in node.names
                    if alias.name in SHARED_STEPS
                ]
    assert found == [], "\n".join(found)


# SQL stays in the store: a service runs statements only through agent/store's repositories.
SQL_CALLS = frozenset({"execute", "executemany", "executescript"})


def sql_calls(path: Path) -> list[str]:
    """`file:line .method(` for every `.execute(`-like call in the module at `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return [
        f"{where}:{node.lineno} .{node.func.attr}("
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in SQL_CALLS
    ]


def test_no_service_runs_sql_itself() -> None:
    found = [hit for path in sorted(SERVICES.rglob("*.py")) for hit in sql_calls(path)]
    assert found == [], "move the statement into a repository in agent/store:\n" + "\n".join(found)


def test_the_sql_check_sees_every_execute_call(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        'conn.execute("SELECT 1")\n'
        "conn.executemany(sql, rows)\n"
        'db.connection().executescript("")\n'
        "execute(x)\n"
        "conn.run(fn)\n",
        encoding="utf-8",
    )
    assert [h.split(" ", 1)[1] for h in sql_calls(probe)] == [
        ".execute(",
        ".executemany(",
        ".executescript(",
    ]
