"""Every hub command is declared once (hub_sync.protocol.commands.COMMANDS: args type, parser,
signing policy), has the agent's handler, and is in the two protocol documents."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from agent.services.hub_link import HubCommands
from hub_sync.protocol.commands import COMMANDS
from hub_sync.protocol.signing import CommandVerifier
from tests.contract import command_table

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_command_has_a_handler_in_the_agent() -> None:
    handled = HubCommands.HANDLERS
    for name, spec in COMMANDS.items():
        assert spec.args_type in handled, f"{name}: no handler in HubCommands.HANDLERS"
        assert callable(getattr(HubCommands, handled[spec.args_type])), name
    assert len(handled) == len(COMMANDS)


def test_every_command_is_in_the_asyncapi_document() -> None:
    spec: dict[str, Any] = yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))
    schemas = spec["components"]["schemas"]
    assert {k.removeprefix("args.") for k in schemas if k.startswith("args.")} == set(COMMANDS)
    text = (DOCS / "asyncapi.yaml").read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"{{name: {{const: {name}}}" in text, f"{name}: not in the command's oneOf"


def test_the_protocol_doc_lists_every_command_with_its_signature_lifetime() -> None:
    """The table in docs/protocol.md is the generated one (registry + AsyncAPI descriptions)."""
    text = (DOCS / "protocol.md").read_text(encoding="utf-8")
    assert command_table.in_doc(text) == command_table.table(), (
        "docs/protocol.md's command table is out of date: "
        "run `python -m tests.contract.command_table --write`"
    )
    rows = dict(re.findall(r"^\| `([a-z_.]+)` \| .* \| ([0-9]+ (?:s|days)) \|$", text, re.M))
    for name, spec in COMMANDS.items():
        amount, unit = rows[name].split()
        assert int(amount) * (86_400 if unit == "days" else 1) == spec.max_ttl_s, name
    schemas = yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))
    for name in COMMANDS:  # every command's args are described where the table reads them
        assert schemas["components"]["schemas"][f"args.{name}"].get("description"), name


def test_the_signing_policy_comes_from_the_registry() -> None:
    verifier = CommandVerifier(list, lambda: 0.0)
    assert verifier._max_ttl == {name: spec.max_ttl_s for name, spec in COMMANDS.items()}
