"""Hub commands through a real broker to the real agent: orders, typed codes, trust, offline."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import random
import time
from collections.abc import Mapping
from pathlib import Path

from agent.domain.clock import ManualClock
from agent.domain.orders import Order
from agent.store.orders import get_order
from agent.tokens.typed_codes import display_code, new_typed_code
from hub_sync.protocol.commands import CODE_SCHEME
from provisioning.fleet import BUNDLE_VALIDITY_S, DemoFleet
from provisioning.keyfiles import load_descriptor, load_private_key
from provisioning.mint import build_bundle
from tests.agent.conftest import RunningAgent
from tests.integration.conftest import (
    AGENT_ID,
    Broker,
    CommandProbe,
    RunningHub,
    audit_rows,
    command_bytes,
    start_hub,
    start_hub_agent,
    stop_hub,
    wait_for,
)

_RNG = random.Random(11)


def code_material(code: str, typed_code_key: bytes) -> dict[str, str]:
    """What the hub sends for a typed code: HMAC-SHA256(key, normalised code), hex; no code."""
    normalised = code.replace("-", "").upper().encode("ascii")
    digest = hmac.new(typed_code_key, normalised, hashlib.sha256).hexdigest()
    return {"scheme": CODE_SCHEME, "digest": digest}


async def send(
    hub: RunningHub, name: str, args: Mapping[str, object], **kw: object
) -> tuple[str, str | None, dict[str, object]]:
    message_id = await hub.hub.send_command(AGENT_ID, name, dict(args), **kw)  # type: ignore[arg-type]
    outcome = await hub.hub.wait_reply(message_id, 10)
    return outcome.status, outcome.reason, dict(outcome.result)


async def order_of(running: RunningAgent, order_id: str) -> Order | None:
    return await running.agent.db.read(get_order, order_id)


async def connected(running: RunningAgent) -> None:
    sync = running.agent.sync
    assert sync is not None
    await wait_for(lambda: sync.stats().connected, 10, "the agent to connect")


async def load(running: RunningAgent, order_id: str) -> int:
    """A courier puts the parcel in the door the agent picks and shuts it."""
    loading = running.agent.loading
    ticket = await loading.start_load(f"PCL:{order_id}:P1", None, actor="courier-1")
    running.sim.close_door(ticket.door)
    await loading.confirm(ticket.load_id, actor="courier-1")
    return ticket.door


async def test_a_hub_order_with_a_typed_code_is_loaded_extended_and_collected(
    hub_agent: RunningAgent, signing_hub: RunningHub
) -> None:
    await connected(hub_agent)
    code = display_code(new_typed_code(_RNG))
    args = {"order_id": "HUB-A", "size": "M", "hold_s": 48 * 3600, "policy": {},
            "code": code_material(code, hub_agent.agent.typed_code_secret)}  # fmt: skip
    assert await send(signing_hub, "order.upsert", args) == ("ok", None, {"state": "announced"})
    order = await order_of(hub_agent, "HUB-A")
    assert order is not None
    assert order.hold.hold_s == 48 * 3600

    door = await load(hub_agent, "HUB-A")
    extend = {"order_id": "HUB-A", "extend_s": 3600}
    assert await send(signing_hub, "order.extend", extend, transaction_id="tx-extend") == (
        "ok", None, {"state": "loaded"},
    )  # fmt: skip
    # the same business transaction in a new message: the stored result, not a second extension
    assert await send(signing_hub, "order.extend", extend, transaction_id="tx-extend") == (
        "ok", None, {"state": "loaded"},
    )  # fmt: skip
    order = await order_of(hub_agent, "HUB-A")
    assert order is not None
    assert order.hold.hold_s == 49 * 3600
    audit = await hub_agent.agent.db.read(audit_rows)
    applied = [d for a, _, d in audit if a == "hub.command" and d["transaction"] == "tx-extend"]
    assert len(applied) == 1

    pulses_before = list(hub_agent.sim.pulses)
    status, body = await hub_agent.post("/api/v1/pickup/code", {"code": code})
    assert (status, body["result"], body["door"]) == (200, "open", door)
    assert hub_agent.sim.pulses == [*pulses_before, door]


async def test_a_cancelled_hub_order_does_not_open(
    hub_agent: RunningAgent, signing_hub: RunningHub, broker: Broker
) -> None:
    await connected(hub_agent)
    code = display_code(new_typed_code(_RNG))
    args = {"order_id": "HUB-B", "size": "S", "hold_s": 3600, "policy": {},
            "code": code_material(code, hub_agent.agent.typed_code_secret)}  # fmt: skip
    assert (await send(signing_hub, "order.upsert", args))[0] == "ok"
    cancel = {"order_id": "HUB-B", "reason": "sender recalled it"}
    assert await send(signing_hub, "order.cancel", cancel) == ("ok", None, {"state": "cancelled"})
    status, _ = await hub_agent.post("/api/v1/pickup/code", {"code": code})
    assert status != 200
    assert hub_agent.sim.pulses == []
    # an unsigned upsert is refused: new code material is as good as an open door
    unsigned = {**args, "order_id": "HUB-C"}
    async with CommandProbe(broker) as probe:
        payload = command_bytes("order.upsert", unsigned, sent_at=hub_agent.clock.now())
        reply = await probe.send(payload)
    assert (reply.ok, reply.reason) == (False, "SIG_MISSING")
    assert await order_of(hub_agent, "HUB-C") is None


def _bundle(fleet: DemoFleet, version: int, now: float) -> str:
    root = load_private_key(fleet.root_private_paths[0])
    entries = [load_descriptor(fleet.directory / f"{n}.json") for n in ("issuing", "command")]
    data = build_bundle(root, entries, version=version, now=now, valid_s=BUNDLE_VALIDITY_S)
    return base64.b64encode(data).decode("ascii")


async def test_trust_updates_install_and_a_rollback_is_refused(
    hub_agent: RunningAgent, signing_hub: RunningHub, fleet: DemoFleet
) -> None:
    await connected(hub_agent)
    trust = hub_agent.agent.trust
    assert trust is not None
    assert trust.bundle is not None
    assert trust.bundle.version == 1
    now = hub_agent.clock.now()
    v3 = {"bundle": _bundle(fleet, 3, now), "version": 3}
    assert await send(signing_hub, "trust.update", v3) == ("ok", None, {"version": 3})
    assert trust.bundle.version == 3
    v2 = {"bundle": _bundle(fleet, 2, now), "version": 2}
    status, reason, _ = await send(signing_hub, "trust.update", v2)
    assert (status, reason) == ("nack", "TRUSTLIST_STALE")
    assert trust.bundle.version == 3
    # a hub-signed command still verifies against the command key of the new bundle
    assert (await send(signing_hub, "door.open", {"door": 1, "reason": "check"}))[0] == "ok"


async def test_a_command_sent_while_the_agent_is_offline_arrives_on_reconnect(
    tmp_path: Path, broker: Broker, fleet: DemoFleet
) -> None:
    clock = ManualClock(time.time())
    data_dir = tmp_path / "data"
    running = await start_hub_agent(data_dir, broker, fleet, clock)
    hub = await start_hub(broker, tmp_path / "hub.db", sign_key=fleet.command_key, clock=clock.now,
                          agent_data=data_dir)  # fmt: skip
    try:
        await connected(running)  # the broker now keeps the agent's persistent session
        await running.close()
        args = {"order_id": "HUB-OFF", "size": "L", "hold_s": 7200, "policy": {}}
        message_id = await hub.hub.send_command(AGENT_ID, "order.upsert", args)
        await asyncio.sleep(0.3)
        assert await asyncio.to_thread(hub.store.command, message_id) == ("pending", None, {})
        running = await start_hub_agent(data_dir, broker, fleet, clock)
        outcome = await hub.hub.wait_reply(message_id, 15)
        assert (outcome.status, dict(outcome.result)) == ("ok", {"state": "announced"})
        assert await order_of(running, "HUB-OFF") is not None
    finally:
        await running.close()
        await stop_hub(hub)


async def test_metrics_show_the_hub_link(hub_agent: RunningAgent, signing_hub: RunningHub) -> None:
    await connected(hub_agent)
    async with hub_agent.http.get(hub_agent.url + "/metrics") as response:
        assert response.status == 200
        text = await response.text()
    lines = set(text.splitlines())
    assert "locker_hub_connected 1.0" in lines
    assert any(line.startswith("locker_outbox_depth ") for line in lines)
    assert any(line.startswith("locker_outbox_oldest_age_seconds ") for line in lines)
    assert any(line.startswith("locker_outbox_drain_alarm 0") for line in lines)
