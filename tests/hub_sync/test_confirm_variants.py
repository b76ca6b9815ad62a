"""Confirm variants against the real `Publisher`, in process: only a hub-signed confirm of a message
sent in this connection session, for no more than it sent, deletes anything from the outbox.

A fake connection records what the publisher sends (and acks it at once); a fake outbox records
what is confirmed. Runs in well under a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from hub_sync.adapters.settings import SyncSettings
from hub_sync.device.publisher import Publisher
from hub_sync.errors import WireError
from hub_sync.protocol.signing import sign_confirm
from hub_sync.protocol.wire import OutboxEvent, OutboxStats, Topics, new_message_id
from tests.hub_sync.conftest import FLEET, HUB_KEY, reply_key

DEVICE = "d1"
ROGUE = ed25519.Ed25519PrivateKey.generate()


class FakeOutbox:
    """Ten events; remembers what was confirmed."""

    def __init__(self) -> None:
        self.events = [OutboxEvent(s, "test.event", f"tx-{s}", {"i": s}, 1.0) for s in range(1, 11)]
        self.confirmed: list[int] = []

    async def pending(self, after_seq: int, limit: int) -> Sequence[OutboxEvent]:
        return [e for e in self.events if e.seq > after_seq][:limit]

    async def confirm_through(self, seq: int) -> None:
        self.confirmed.append(seq)
        self.events = [e for e in self.events if e.seq > seq]

    async def stats(self) -> OutboxStats:
        return OutboxStats(len(self.events), 1.0 if self.events else None)


class NoState:
    async def snapshot(self) -> dict[str, object]:
        return {}


class FakeConnection:
    """Records publishes; every PUBACK arrives at once."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.sent = asyncio.Event()

    def publish_future(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[None]:
        if topic.endswith("/evt"):
            self.events.append(json.loads(payload))
            self.sent.set()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        await self.publish_future(topic, payload, qos, retain)


async def _session(pub: Publisher) -> tuple[asyncio.Task[None], FakeConnection]:
    conn = FakeConnection()
    task = asyncio.create_task(pub.run(conn))  # type: ignore[arg-type]
    async with asyncio.timeout(5):
        await conn.sent.wait()
    return task, conn


async def _end(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _confirm(
    in_reply_to: str, through: object, *, key: ed25519.Ed25519PrivateKey | None = HUB_KEY,
    device: str = DEVICE, signed_through: int | None = None,
) -> bytes:  # fmt: skip
    body: dict[str, Any] = {
        "v": 1, "type": "confirm", "message_id": new_message_id(), "fleet": FLEET,
        "device": device, "sent_at": 1.0, "through_seq": through, "in_reply_to": in_reply_to,
    }  # fmt: skip
    if key is not None:
        seq = signed_through if signed_through is not None else through
        assert isinstance(seq, int)
        body["sig"] = sign_confirm(key, fleet=FLEET, device=DEVICE, through_seq=seq,
                                   in_reply_to=in_reply_to)  # fmt: skip
    return json.dumps(body).encode()


@pytest.fixture
def publisher() -> tuple[Publisher, FakeOutbox]:
    settings = SyncSettings(host="127.0.0.1", port=1, device_id=DEVICE, fleet_id=FLEET,
                            batch_size=5, inflight_window=1)  # fmt: skip
    outbox = FakeOutbox()
    pub = Publisher(settings, Topics(FLEET, DEVICE), outbox, NoState(), clock=lambda: 1.0,
                    command_keys=lambda: [HUB_KEY.public_key()],
                    device_key=reply_key(DEVICE))  # fmt: skip
    return pub, outbox


Forge = Callable[[str], bytes]
VARIANTS: list[Any] = [
    pytest.param(lambda mid: _confirm(mid, 5, key=None), "SIG_MISSING", id="unsigned"),
    pytest.param(lambda mid: _confirm(mid, 5, key=ROGUE), "BAD_SIGNATURE", id="unknown-key"),
    pytest.param(lambda mid: _confirm(mid, 5, signed_through=4), "BAD_SIGNATURE", id="seq-changed"),
    pytest.param(lambda mid: _confirm(new_message_id(), 5), "STALE", id="never-sent"),
    pytest.param(lambda mid: _confirm(mid, 6), "BEYOND_SENT", id="beyond-sent"),
    pytest.param(lambda mid: _confirm(mid, 10**9), "BEYOND_SENT", id="10^9"),
    pytest.param(lambda mid: _confirm(mid, 2**63 - 1), "BEYOND_SENT", id="int64-max"),
    pytest.param(lambda mid: _confirm(mid, 5, device="d2"), "WRONG_DEVICE", id="other-device"),
    pytest.param(lambda mid: _confirm(mid, 5.0, key=None), "MALFORMED", id="float"),
    pytest.param(lambda mid: _confirm(mid, 1e308, key=None), "MALFORMED", id="1e308"),
    pytest.param(lambda mid: _confirm(mid, True, key=None), "MALFORMED", id="true"),
    pytest.param(lambda mid: _confirm(mid, -1, key=None), "MALFORMED", id="negative"),
    pytest.param(
        lambda mid: _confirm(mid, 5, key=None).replace(b'"through_seq": 5', b'"through_seq": NaN'),
        "MALFORMED",
        id="nan",
    ),
]


@pytest.mark.parametrize(("forge", "reason"), VARIANTS)
async def test_a_confirm_that_is_not_the_hubs_for_this_session_deletes_nothing(
    publisher: tuple[Publisher, FakeOutbox], forge: Forge, reason: str
) -> None:
    pub, outbox = publisher
    task, conn = await _session(pub)
    try:
        sent = conn.events[0]
        assert [e["seq"] for e in sent["events"]] == [1, 2, 3, 4, 5]
        with pytest.raises(WireError) as refused:
            await pub.on_confirm(forge(sent["message_id"]))
        assert refused.value.reason == reason
        assert outbox.confirmed == []
        # and the hub's own confirm still works afterwards
        await pub.on_confirm(_confirm(sent["message_id"], 5))
        assert outbox.confirmed == [5]
    finally:
        await _end(task)


async def test_a_genuine_confirm_from_a_previous_session_is_stale(
    publisher: tuple[Publisher, FakeOutbox],
) -> None:
    pub, outbox = publisher
    task, first = await _session(pub)
    await _end(task)  # the connection dropped before the hub's confirm came
    task, second = await _session(pub)
    try:
        old = _confirm(first.events[0]["message_id"], 5)
        with pytest.raises(WireError, match="STALE"):
            await pub.on_confirm(old)
        assert outbox.confirmed == []
        await pub.on_confirm(_confirm(second.events[0]["message_id"], 5))
        assert outbox.confirmed == [5]
    finally:
        await _end(task)


def _hub_online(i: int) -> bytes:
    return json.dumps({"v": 1, "type": "hub_status", "message_id": f"h{i}", "fleet": FLEET,
                       "device": "*", "sent_at": 1.0, "online": True}).encode()  # fmt: skip


async def test_a_flood_of_hub_online_statuses_causes_one_resend_not_one_each(
    publisher: tuple[Publisher, FakeOutbox],
) -> None:
    """The hub status is unsigned and fleet-wide: 100 forged "online" made every locker resend
    its whole unconfirmed window 100 times, at the hub all at once."""
    pub, outbox = publisher
    task, conn = await _session(pub)
    try:
        for i in range(100):
            pub.on_hub_status(_hub_online(i))
            for _ in range(5):  # as the inbound loop does: the publisher runs in between
                await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        assert len(conn.events) == 2  # the first send, and one resend for the first "online"
        assert {m["events"][0]["seq"] for m in conn.events} == {1}
        # the hub's confirm still moves things on
        await pub.on_confirm(_confirm(conn.events[-1]["message_id"], 5))
        assert outbox.confirmed == [5]
    finally:
        await _end(task)
