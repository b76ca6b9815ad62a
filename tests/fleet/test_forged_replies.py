"""Forged command replies do not answer a command: the fleet hub over the real cluster.

Whoever can publish on the broker publishes replies on `lk/v1/F/d1/reply` before the locker
answers: unsigned, signed by another locker's key, signed by d1 for another transaction, and d1's
genuine answer to an earlier command moved onto this one. The hub drops and counts each; the
command stays pending, is re-sent when the locker comes online, and holds the locker's answer.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import asyncpg
from cryptography.hazmat.primitives import serialization

from agent.store.audit import DeviceKey, load_or_create_device_key
from hub_sync.adapters.mqtt import MQTT_V311, ConnectParams, MqttConnection
from hub_sync.hub import store
from hub_sync.hub.audit import enroll_device_key, verify_checkpoints
from hub_sync.hub.cluster import NatsCluster
from hub_sync.hub.db import connect_pool
from hub_sync.hub.leader import Leader, LeaderSettings
from hub_sync.hub.worker import FleetWorker, WorkerSettings
from hub_sync.protocol.commands import CommandEnvelope, encode_command
from hub_sync.protocol.reply_sig import sign_reply
from hub_sync.protocol.signing import sign
from hub_sync.protocol.wire import Header, Reply, Topics, encode_reply, new_message_id
from tests.fleet.conftest import FLEET, HUB_KEY, fleet_device, stop_devices, stop_hub_tasks
from tests.fleet.test_audit import rotation
from tests.hub_sync.conftest import device_key, device_key_pem, wait_for

TOPICS = Topics(FLEET, "d1")


def _signed_open(door: int, tx: str) -> tuple[str, bytes]:
    args = {"door": door, "reason": "support call"}
    header = Header("command", new_message_id(), FLEET, "d1", time.time())
    sig = sign(HUB_KEY, fleet=FLEET, device="d1", name="door.open", transaction_id=tx,
               args=args, exp=int(time.time()) + 120)  # fmt: skip
    payload = encode_command(CommandEnvelope(header, tx, "door.open", args, sig))
    return header.message_id, payload


def _reply(mid: str, tx: str, result: dict[str, object]) -> Reply:
    header = Header("reply", new_message_id(), FLEET, "d1", time.time())
    return Reply(header, tx, mid, True, None, "", result)


async def test_forged_replies_are_dropped_and_the_command_is_still_applied(
    cluster: NatsCluster, dsn: str, tmp_path: Path
) -> None:
    pool = await connect_pool(dsn)
    now = time.time()
    earlier_mid, earlier_payload = _signed_open(1, "tx-earlier")
    mid, payload = _signed_open(2, "tx-open-2")
    async with pool.acquire() as conn:
        for name in ("d1", "d2"):
            await enroll_device_key(conn, FLEET, name, device_key_pem(name), 1.0)
        for m, tx, p in ((earlier_mid, "tx-earlier", earlier_payload), (mid, "tx-open-2", payload)):
            await store.add_command(
                conn, message_id=m, fleet=FLEET, device="d1", transaction_id=tx,
                name="door.open", payload=p, now=now,
            )  # fmt: skip
    mqtt = [("127.0.0.1", n.mqtt_port) for n in cluster.nodes]
    worker = FleetWorker(WorkerSettings(FLEET, cluster.urls, mqtt, dsn, ack_wait_s=3), HUB_KEY)
    leader = Leader(worker, LeaderSettings(poll_s=0.2))
    tasks = [asyncio.create_task(worker.run(pool)), asyncio.create_task(leader.run())]
    params = ConnectParams("127.0.0.1", cluster.nodes[1].mqtt_port, "mallory", protocol=MQTT_V311)
    mallory = MqttConnection(params, lambda _m: None)
    d1 = fleet_device(tmp_path, "d1", cluster.nodes[0].mqtt_port)
    try:
        await asyncio.wait_for(worker.consuming.wait(), 30)
        await mallory.connect()
        forged = _reply(mid, "tx-open-2", {"door": 9})
        other_tx = replace(forged, transaction_id="tx-other")
        earlier = _reply(earlier_mid, "tx-earlier", {"door": 1})
        earlier = replace(earlier, sig=sign_reply(device_key("d1"), earlier))  # d1's own answer
        for fake in (
            forged,  # unsigned
            replace(forged, sig=sign_reply(device_key("d2"), forged)),  # another locker's key
            replace(other_tx, sig=sign_reply(device_key("d1"), other_tx)),  # another transaction
            replace(earlier, command_message_id=mid, transaction_id="tx-open-2"),  # moved
        ):
            await mallory.publish(TOPICS.reply, encode_reply(fake))
        await wait_for(lambda: worker.stats.refused_replies == 4, 20, "four refused replies")
        async with pool.acquire() as conn:
            pending = await store.command_outcome(conn, mid)
        assert pending is not None
        assert pending["status"] == "pending"

        d1.start()  # the locker comes online: the hub re-sends, the locker applies and answers

        async def answered() -> bool:
            async with pool.acquire() as conn:
                row = await store.command_outcome(conn, mid)
            return row is not None and row["status"] != "pending"

        await wait_for(answered, 30, "the locker's answer")
        async with pool.acquire() as conn:
            row = await store.command_outcome(conn, mid)
        assert row is not None
        assert (row["status"], row["reason"]) == ("ok", None)
        assert "9" not in str(row["result"])
        assert ("tx-open-2", 2) in await asyncio.to_thread(d1.device.door_opens)
        assert worker.stats.refused_replies == 4
    finally:
        await mallory.disconnect()
        await stop_devices([d1])
        await stop_hub_tasks(tasks, pool)


async def test_after_a_rotation_replies_of_the_old_and_the_new_key_are_taken(
    dsn: str, tmp_path: Path
) -> None:
    first = load_or_create_device_key(tmp_path / "first.pem")
    second = load_or_create_device_key(tmp_path / "second.pem")
    conn = await asyncpg.connect(dsn)
    try:
        await enroll_device_key(conn, FLEET, "d1", device_key_pem_of(first), 1.0)
        mids = {}
        for tx in ("tx-a", "tx-b", "tx-c"):
            mids[tx], payload = _signed_open(2, tx)
            await store.add_command(
                conn, message_id=mids[tx], fleet=FLEET, device="d1", transaction_id=tx,
                name="door.open", payload=payload, now=1.0,
            )  # fmt: skip

        def signed(tx: str, key: DeviceKey) -> Reply:
            reply = _reply(mids[tx], tx, {"door": 2})
            return replace(reply, sig=sign_reply(key.private, reply))

        assert await store.record_replies(conn, [signed("tx-a", second)], 2.0) == ["BAD_SIGNATURE"]
        assert await verify_checkpoints(conn, [rotation(first, second, 12)], 3.0) == 1
        taken = [signed("tx-b", second), signed("tx-c", first)]  # new key; just before rotating
        assert await store.record_replies(conn, taken, 4.0) == []
        statuses = {r["transaction_id"]: r["status"] for r in await conn.fetch(
            "SELECT transaction_id, status FROM commands WHERE device = 'd1'")}  # fmt: skip
        assert statuses == {"tx-a": "pending", "tx-b": "ok", "tx-c": "ok"}
    finally:
        await conn.close()


def device_key_pem_of(key: DeviceKey) -> bytes:
    return key.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
