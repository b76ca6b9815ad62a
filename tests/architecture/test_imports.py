"""The package layout holds: no import circles, and every import between packages is one that
docs/architecture.md allows (and every one it lists is real)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.architecture.imports import ROOT, cycles, import_graph, unit_graph

DOC = ROOT / "docs" / "architecture.md"
_RULES = re.compile(r"<!-- import-rules -->\s*```text\n(.*?)```", re.DOTALL)


def documented_rules() -> dict[str, set[str]]:
    """The table in docs/architecture.md: `unit   allowed unit ...` (`-`: none)."""
    match = _RULES.search(DOC.read_text(encoding="utf-8"))
    assert match, "docs/architecture.md has no <!-- import-rules --> block"
    rules: dict[str, set[str]] = {}
    for line in match.group(1).splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        unit, *allowed = line.split()
        rules[unit] = {a for a in allowed if a != "-"}
    return rules


def real_units() -> dict[str, set[str]]:
    """The unit graph without the bare top-level packages (docstring-only `__init__`s)."""
    top = {"agent", "hardware", "hub_sync"}
    return {unit: deps for unit, deps in unit_graph().items() if unit not in top or deps}


def test_no_module_imports_itself_through_a_circle() -> None:
    assert cycles(import_graph()) == []


def test_no_package_imports_itself_through_a_circle() -> None:
    assert cycles(unit_graph()) == []


def test_every_import_between_packages_is_allowed_by_the_architecture_doc() -> None:
    rules, real = documented_rules(), real_units()
    undocumented = sorted(set(real) - set(rules))
    assert not undocumented, f"packages missing from docs/architecture.md: {undocumented}"
    forbidden = sorted(
        f"{unit} -> {dep}" for unit, deps in real.items() for dep in deps - rules[unit]
    )
    assert not forbidden, (
        f"imports docs/architecture.md does not allow: {forbidden}; remove the import, or, if the "
        "dependency is right, add it to the import-rules block"
    )


def test_the_architecture_doc_lists_no_import_that_does_not_exist() -> None:
    rules, real = documented_rules(), real_units()
    gone = sorted(set(rules) - set(real))
    assert not gone, f"docs/architecture.md names packages that do not exist: {gone}"
    stale = sorted(f"{unit} -> {dep}" for unit, deps in rules.items() for dep in deps - real[unit])
    assert not stale, f"docs/architecture.md allows imports nobody makes: {stale}"


def test_hardware_and_hub_sync_import_nothing_of_the_agent() -> None:
    for unit, deps in unit_graph().items():
        package = unit.split(".")[0]
        if package in {"hardware", "hub_sync"}:
            assert {d.split(".")[0] for d in deps} <= {package}, (unit, deps)


def test_the_domain_imports_only_the_errors_and_reasons() -> None:
    assert unit_graph()["agent.domain"] <= {"agent.errors", "agent.reasons"}


def test_the_hubs_and_the_device_side_do_not_import_each_other() -> None:
    graph = unit_graph()
    assert "hub_sync.device" not in graph["hub_sync.hub"]
    assert "hub_sync.hub" not in graph["hub_sync.device"]
    assert graph["hub_sync.protocol"] <= {"hub_sync.errors"}


def test_the_agent_package_has_no_loose_modules() -> None:
    loose = {p.name for p in (ROOT / "agent").glob("*.py")}
    assert loose == {"__init__.py", "__main__.py", "errors.py", "reasons.py"}


def test_locker_agent_run_imports_neither_the_demo_nor_provisioning() -> None:
    probe = (
        "import sys, agent.__main__, agent.bootstrap.app;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'provisioning'"
        " or m.startswith(('agent.cli.demo', 'agent.api.demo'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
