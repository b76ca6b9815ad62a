"""One error hierarchy per package, as docs/architecture.md says: each package's public
exceptions derive from its base and live in an `errors.py`; recurring refusals use their named
class instead of a bare `AgentError(reason=...)`."""

from __future__ import annotations

import ast
import importlib
import inspect
import re

from agent import errors as agent_errors
from agent.reasons import Reason
from tests.architecture.imports import ROOT, modules

DOC = ROOT / "docs" / "architecture.md"
BASES = {
    "agent": "AgentError",
    "hardware": "HardwareError",
    "hub_sync": "SyncError",
    "provisioning": "ProvisioningError",
}


def _public_exceptions() -> list[tuple[str, type[BaseException]]]:
    found = []
    for name in modules():
        if name.endswith("__main__"):
            continue
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
                and not attr.startswith("_")
            ):
                found.append((name, value))
    return found


def test_the_doc_names_each_package_base_and_each_errors_module_defines_it() -> None:
    section = DOC.read_text(encoding="utf-8").split("## Errors", 1)[1].split("\n## ", 1)[0]
    section = " ".join(section.split())
    for package, base in BASES.items():
        assert f"`{base}` (`{package}/errors.py`)" in section, (package, base)
        defined = importlib.import_module(f"{package}.errors")
        assert issubclass(getattr(defined, base), Exception)


def test_every_public_exception_derives_from_its_package_base() -> None:
    stray = []
    for module, cls in _public_exceptions():
        package = module.split(".")[0]
        base = getattr(importlib.import_module(f"{package}.errors"), BASES[package])
        if not issubclass(cls, base):
            stray.append(f"{module}.{cls.__name__}")
    assert stray == []


def test_public_exceptions_live_in_errors_modules() -> None:
    elsewhere = [
        f"{module}.{cls.__name__}"
        for module, cls in _public_exceptions()
        if module.rsplit(".", 1)[-1] != "errors"
    ]
    assert elsewhere == []


def _named_reasons() -> dict[Reason, str]:
    """Reasons that have their own AgentError subclass (set as the class attribute)."""
    named: dict[Reason, str] = {}
    for name, value in vars(agent_errors).items():
        if inspect.isclass(value) and issubclass(value, agent_errors.AgentError):
            reason = value.__dict__.get("reason")
            if isinstance(reason, Reason) and reason is not Reason.INTERNAL:
                named[reason] = name
    return named


def test_recurring_refusals_use_their_named_class() -> None:
    named = _named_reasons()
    assert Reason.CODE_UNKNOWN in named  # the check below is not vacuous
    bare = []
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "AgentError"
            ):
                continue
            for keyword in node.keywords:
                source = ast.unparse(keyword.value)
                match = re.fullmatch(r"Reason\.([A-Z_]+)", source)
                if keyword.arg == "reason" and match and Reason[match[1]] in named:
                    bare.append(f"{module}:{node.lineno} -> {named[Reason[match[1]]]}")
    assert bare == []
