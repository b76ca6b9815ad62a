"""Remote opens: only the hub's command key opens a door, once; the broker's users cannot."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from agent.domain.clock import ManualClock
from agent.tokens.keys import key_id
from hub_sync.adapters.mqtt import ConnectParams, Inbound, MqttConnection
from hub_sync.errors import MqttError
from hub_sync.protocol.wire import Topics
from provisioning.fleet import DemoFleet
from provisioning.keyfiles import load_descriptor, load_private_key
from provisioning.mint import build_bundle
from tests.agent.conftest import RunningAgent
from tests.integration.conftest import (
    AGENT_ID,
    FLEET,
    OTHER_DEVICE,
    Broker,
    CommandProbe,
    RunningHub,
    audit_rows,
    command_bytes,
    command_payload,
    hub_events,
    resent_as_new_message,
    start_hub,
    start_hub_agent,
    stop_hub,
    wait_for,
)

OPEN = {"door": 2, "reason": "support call 1234"}


async def _refusals(running: RunningAgent, broker: Broker, fleet: DemoFleet) -> list[str]:
    """Every way to ask for door 2 without a valid, fresh hub signature; their nack reasons."""
    now = int(running.clock.now())
    forger = ec.generate_private_key(ec.SECP256R1())
    attempts = [
        command_bytes("door.open", OPEN, sent_at=now),  # unsigned
        command_bytes("door.open", OPEN, sent_at=now, key=forger, exp=now + 60),
        # a key the bundle trusts, but for tokens, not commands
        command_bytes("door.open", OPEN, sent_at=now, key=fleet.issuing_key, exp=now + 60),
        command_bytes("door.open", OPEN, sent_at=now, key=fleet.command_key, exp=now - 1),
        command_bytes("door.open", OPEN, sent_at=now, key=fleet.command_key, exp=now + 3600),
    ]
    async with CommandProbe(broker) as probe:
        replies = [await probe.send(payload) for payload in attempts]
    assert not any(r.ok for r in replies)
    return [str(r.reason) for r in replies]


async def test_a_remote_open_needs_the_hubs_signature_and_opens_once(
    hub_agent: RunningAgent, signing_hub: RunningHub, broker: Broker, fleet: DemoFleet,
    tmp_path: Path,
) -> None:  # fmt: skip
    sync = hub_agent.agent.sync
    assert sync is not None
    await wait_for(lambda: sync.stats().connected, 10, "the agent to connect")
    reasons = await _refusals(hub_agent, broker, fleet)
    assert reasons == ["SIG_MISSING", "BAD_SIGNATURE", "BAD_SIGNATURE", "EXPIRED", "TTL_TOO_LONG"]
    assert hub_agent.sim.pulses == []

    hub = signing_hub.hub
    message_id = await hub.send_command(AGENT_ID, "door.open", OPEN, transaction_id="tx-open")
    outcome = await hub.wait_reply(message_id, 10)
    assert (outcome.status, dict(outcome.result)) == ("ok", {"door": 2})
    assert hub_agent.sim.pulses == [2]

    # the same business transaction, freshly signed: the stored result, no second pulse
    again = await hub.send_command(AGENT_ID, "door.open", OPEN, transaction_id="tx-open")
    assert (await hub.wait_reply(again, 10)).status == "ok"
    # the recorded signed bytes replayed under a new message id: refused by the nonce cache
    replay = resent_as_new_message(
        command_payload(tmp_path / "hub.db", message_id), hub_agent.clock.now()
    )
    async with CommandProbe(broker) as probe:
        reply = await probe.send(replay)
    assert (reply.ok, reply.reason) == (False, "REPLAYED")
    assert hub_agent.sim.pulses == [2]

    audit = await hub_agent.agent.db.read(audit_rows)
    opens = [(a, actor, d.get("door")) for a, actor, d in audit if a.startswith("staff.open")]
    assert opens == [("staff.open_door", "hub", 2)]
    assert ("door.opened", "hub", {}) in audit

    async def told_the_hub() -> bool:
        stored = await asyncio.to_thread(hub_events, tmp_path / "hub.db")
        return any(e.kind == "staff.open_door" and e.body["door"] == 2 for e in stored)

    await wait_for(told_the_hub, 10, "the opening to reach the hub")


async def test_the_agents_credentials_cannot_reach_another_devices_topics(
    hub_agent: RunningAgent, signing_hub: RunningHub, broker: Broker, tmp_path: Path
) -> None:
    """The agent's own user name and password file, used by someone who took them off the box."""
    config = hub_agent.agent.config.hub
    assert config.password_file is not None
    got: list[Inbound] = []
    params = ConnectParams(
        host="127.0.0.1", port=broker.port, client_id="stolen", username=config.username,
        password=config.password_file.read_text().strip(), clean_start=True,
    )  # fmt: skip
    conn = MqttConnection(params, got.append)
    await conn.connect()
    other = Topics(FLEET, OTHER_DEVICE)
    for pattern in (other.command, other.confirm, f"lk/v1/{FLEET}/#"):
        await conn.subscribe([(pattern, 1)])
    hub = signing_hub.hub
    await hub.send_command(OTHER_DEVICE, "door.open", OPEN)
    with pytest.raises(MqttError, match="Not authorized"):
        await conn.publish(other.events, b"{}")
    await asyncio.sleep(0.3)
    # the wildcard brought only what the agent may read anyway, nothing of the other device's
    assert not [m.topic for m in got if m.topic.startswith(f"lk/v1/{FLEET}/{OTHER_DEVICE}/")]
    assert {m.topic for m in got} >= {Topics(FLEET, AGENT_ID).hub}
    await conn.disconnect()
    assert await asyncio.to_thread(hub_events, tmp_path / "hub.db", OTHER_DEVICE) == []


async def test_a_revoked_command_key_opens_nothing(
    hub_agent: RunningAgent, signing_hub: RunningHub, fleet: DemoFleet
) -> None:
    """The hub revokes its own (leaked) command key: commands it signs no longer verify."""
    sync = hub_agent.agent.sync
    assert sync is not None
    await wait_for(lambda: sync.stats().connected, 10, "the agent to connect")
    hub = signing_hub.hub
    kid = key_id(fleet.command_key.public_key()).hex()
    revoked = await hub.send_command(AGENT_ID, "trust.revoke", {"ctis": [], "kids": [kid]})
    assert (await hub.wait_reply(revoked, 10)).status == "ok"
    message_id = await hub.send_command(AGENT_ID, "door.open", OPEN)
    outcome = await hub.wait_reply(message_id, 10)
    assert (outcome.status, outcome.reason) == ("nack", "BAD_SIGNATURE")
    assert hub_agent.sim.pulses == []


async def test_a_command_key_past_its_validity_opens_nothing(
    hub_agent: RunningAgent, signing_hub: RunningHub, fleet: DemoFleet
) -> None:
    """A newer bundle that ends the command key's validity: the agent stops trusting it."""
    sync = hub_agent.agent.sync
    assert sync is not None
    await wait_for(lambda: sync.stats().connected, 10, "the agent to connect")
    now = hub_agent.clock.now()
    root = load_private_key(fleet.root_private_paths[0])
    issuing, command = (
        load_descriptor(fleet.directory / f"{n}.json") for n in ("issuing", "command")
    )
    ended = replace(command, not_after=int(now) - 60)
    bundle = build_bundle(root, [issuing, ended], version=2, now=now, valid_s=86_400)
    trust = hub_agent.agent.trust
    assert trust is not None
    await trust.install(bundle, source="test")
    message_id = await signing_hub.hub.send_command(AGENT_ID, "door.open", OPEN)
    outcome = await signing_hub.hub.wait_reply(message_id, 10)
    assert (outcome.status, outcome.reason) == ("nack", "BAD_SIGNATURE")
    assert hub_agent.sim.pulses == []


async def test_a_replay_after_a_restart_gets_the_stored_result_and_no_second_opening(
    tmp_path: Path, broker: Broker, fleet: DemoFleet
) -> None:
    """A reboot empties the nonce cache; the inbox still knows the transaction."""
    clock = ManualClock(time.time())
    data_dir = tmp_path / "data"
    running = await start_hub_agent(data_dir, broker, fleet, clock)
    hub = await start_hub(broker, tmp_path / "hub.db", sign_key=fleet.command_key, clock=clock.now,
                          agent_data=data_dir)  # fmt: skip
    try:
        sync = running.agent.sync
        assert sync is not None
        await wait_for(lambda: sync.stats().connected, 10, "the agent to connect")
        message_id = await hub.hub.send_command(AGENT_ID, "door.open", OPEN)
        assert (await hub.hub.wait_reply(message_id, 10)).status == "ok"
        assert running.sim.pulses == [2]
        await running.close()

        running = await start_hub_agent(data_dir, broker, fleet, clock)
        sync = running.agent.sync
        assert sync is not None
        await wait_for(lambda: sync.stats().connected, 10, "the agent to reconnect")
        replay = resent_as_new_message(
            command_payload(tmp_path / "hub.db", message_id), clock.now()
        )
        async with CommandProbe(broker) as probe:
            reply = await probe.send(replay)
        assert (reply.ok, dict(reply.result)) == (True, {"door": 2})
        assert running.sim.pulses == []
        audit = await running.agent.db.read(audit_rows)
        assert [a for a, _, _ in audit].count("staff.open_door") == 1
    finally:
        await running.close()
        await stop_hub(hub)
