"""A hub built from docs/protocol.md delivers a typed code that opens the door (issue 10.6).

The hub is `mini_hub.MiniHub` (no project code); the locker is the real agent on a real SQLite
file; the broker a real Mosquitto; the customer types the code over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.store.orders import get_order
from agent.tokens.typed_codes import code_lookup_key
from hub_sync.errors import WireError
from hub_sync.hub.reference.cli import _command, _parser
from hub_sync.protocol.commands import parse_args
from tests.agent.conftest import RunningAgent
from tests.contract.conftest import AGENT_ID, KEY_FILE
from tests.contract.mini_hub import MiniHub, code_material, read_code_key
from tests.contract.schemas import message_problems

ADMIN = [sys.executable, "-c", "import sys; from provisioning.cli import main; sys.exit(main())"]
CODE = "K7QD-4M2X"  # as the hub shows it to the customer


async def _key(tmp_path: Path) -> bytes:
    return read_code_key(await asyncio.to_thread((tmp_path / "secrets" / KEY_FILE).read_text))


async def _upsert(
    hub: MiniHub, running: RunningAgent, args: dict[str, object]
) -> dict[str, object]:
    message_id = await asyncio.to_thread(
        hub.send, AGENT_ID, "order.upsert", args, now=running.clock.now()
    )
    return await asyncio.to_thread(hub.reply, message_id)


async def _load(running: RunningAgent, order_id: str) -> int:
    """A courier puts the parcel in the door the agent picks and shuts it."""
    ticket = await running.agent.loading.start_load(f"PCL:{order_id}:P1", None, actor="courier-1")
    running.sim.close_door(ticket.door)
    await running.agent.loading.confirm(ticket.load_id, actor="courier-1")
    return ticket.door


async def test_a_doc_built_hub_delivers_a_typed_code_that_opens_the_door(
    linked_agent: RunningAgent, mini_hub: MiniHub, tmp_path: Path
) -> None:
    args = {"order_id": "EXT-1", "size": "M", "hold_s": 86_400, "policy": {},
            "code": code_material(CODE, await _key(tmp_path))}  # fmt: skip
    reply = await _upsert(mini_hub, linked_agent, args)
    assert (reply["ok"], reply["result"]) == (True, {"state": "announced"}), reply
    door = await _load(linked_agent, "EXT-1")
    pulses = list(linked_agent.sim.pulses)  # the courier's opening

    # typed the way people type it: lower case, no hyphen, O for 0 would also do
    status, body = await linked_agent.post("/api/v1/pickup/code", {"code": "k7qd4m2x"})
    assert (status, body["result"], body["door"]) == (200, "open", door)
    assert linked_agent.sim.pulses == [*pulses, door]
    order = await linked_agent.agent.db.read(get_order, "EXT-1")
    assert order is not None
    assert order.state.value == "collected"


async def test_code_material_with_a_salt_or_another_scheme_is_refused_as_malformed(
    linked_agent: RunningAgent, mini_hub: MiniHub, tmp_path: Path
) -> None:
    """The doc has one scheme and two fields: a hub sending anything else learns at once."""
    good = code_material(CODE, await _key(tmp_path))
    for code, detail in (
        ({**good, "salt": ""}, "unknown fields: salt"),
        ({**good, "scheme": "sha256-salted"}, "code.scheme must be hmac-sha256"),
        ({**good, "digest": good["digest"][:-1]}, "64 hex digits"),
        ({**good, "digest": "g" * 64}, "64 hex digits"),
    ):
        args = {"order_id": "EXT-2", "size": "S", "hold_s": 3600, "code": code}
        reply = await _upsert(mini_hub, linked_agent, args)
        assert (reply["ok"], reply["reason"]) == (False, "MALFORMED"), reply
        assert detail in str(reply["detail"])
        assert await asyncio.to_thread(message_problems, "reply", reply) == []
    assert await linked_agent.agent.db.read(get_order, "EXT-2") is None
    # hex in upper case (what some languages print) is the same digest
    upper = {**good, "digest": good["digest"].upper()}
    args = {"order_id": "EXT-3", "size": "S", "hold_s": 3600, "code": upper}
    assert (await _upsert(mini_hub, linked_agent, args))["ok"]
    door = await _load(linked_agent, "EXT-3")
    status, body = await linked_agent.post("/api/v1/pickup/code", {"code": CODE})
    assert (status, body["door"]) == (200, door)


def test_locker_admin_code_digest_prints_exactly_the_code_object(tmp_path: Path) -> None:
    """`locker-admin device code-digest` output is what `args.code` carries, byte for byte."""
    key_file = tmp_path / KEY_FILE
    key_file.write_text("ab" * 32 + "\n")
    argv = [*ADMIN, "device", "code-digest", "--key-file", str(key_file)]
    result = subprocess.run(
        argv, input="k7qd-4m2x\n", capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == code_material(CODE, bytes.fromhex("ab" * 32))
    parse_args("order.upsert", {"order_id": "o", "size": "M", "hold_s": 1, "code": printed})


def test_hub_send_order_builds_the_code_object_the_device_accepts() -> None:
    digest = code_material(CODE, bytes(range(32)))["digest"]
    ns = _parser().parse_args(
        ["send-order", "--broker", "mqtt://h:p@localhost", "--db", "x.db", "--fleet", "f",
         "--device", "d", "--order-id", "o", "--size", "M", "--hold-hours", "1",
         "--code-digest", digest.upper(), "--sign-key", "command.key.pem"]
    )  # fmt: skip
    name, args = _command(ns)
    assert args["code"] == {"scheme": "hmac-sha256", "digest": digest}
    parse_args(name, args)
    with pytest.raises(WireError) as err:
        parse_args(name, {**args, "code": {"scheme": "hmac-sha256", "salt": "", "digest": digest}})
    assert err.value.reason == "MALFORMED"


def test_the_documented_example_digest_is_what_the_agent_computes() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    example = code_material(CODE, bytes.fromhex("ab" * 32))["digest"]
    assert f"digest `{example}`" in doc
    assert code_lookup_key("k7qd-4m2x", bytes.fromhex("ab" * 32)) == example
