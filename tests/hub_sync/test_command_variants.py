"""Hostile variants on the command topic, in process: each one is a nack with its reason and
nothing reaches the agent; a forged message cannot take a hub command's `message_id`; a flood
does not fill the log.

The handler is the real `CommandHandler` with the real verifier, a recording sink and a fixed
clock, so the whole table runs in well under a second (the broker paths are covered by
tests/hub_sync/test_broker_attacker.py and tests/reliability/test_mqtt_fuzz.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from hub_sync.adapters.mqtt import ConnectParams, Inbound, MqttConnection
from hub_sync.adapters.settings import SyncSettings
from hub_sync.device.commands import CommandHandler
from hub_sync.device.outbox import ReferenceDevice
from hub_sync.device.sync import DeviceSync
from hub_sync.protocol.commands import Command, CommandResult
from hub_sync.protocol.refusals import RefusalLog
from hub_sync.protocol.signing import CommandVerifier, sign
from hub_sync.protocol.wire import Topics, new_message_id
from tests.hub_sync.conftest import FLEET, HUB_KEY, reply_key

NOW = 1_800_000_000
DEVICE = "d1"
ROGUE = ed25519.Ed25519PrivateKey.generate()


class RecordingSink:
    """`CommandSink` that applies nothing and remembers what reached it."""

    def __init__(self) -> None:
        self.applied: list[Command] = []

    async def apply(self, command: Command) -> CommandResult:
        self.applied.append(command)
        return CommandResult(ok=True, data={"applied": command.name})


def _handler(sink: RecordingSink) -> CommandHandler:
    return CommandHandler(
        fleet=FLEET,
        device=DEVICE,
        sink=sink,
        verifier=CommandVerifier(lambda: [HUB_KEY.public_key()], lambda: NOW),
        clock=lambda: NOW,
        refusals=RefusalLog(logging.getLogger("test.commands")),
    )


def _envelope(
    name: str = "order.extend",
    args: Mapping[str, Any] | None = None,
    *,
    message_id: str | None = None,
    transaction_id: str | None = None,
) -> dict[str, Any]:
    return {
        "v": 1, "type": "command", "message_id": message_id or new_message_id(), "fleet": FLEET,
        "device": DEVICE, "sent_at": NOW, "transaction_id": transaction_id or new_message_id(),
        "name": name, "args": dict(args if args is not None else {"order_id": "O-1",
                                                                "extend_s": 600}),
    }  # fmt: skip


def _signed(
    env: dict[str, Any],
    *,
    key: ed25519.Ed25519PrivateKey = HUB_KEY,
    device: str = DEVICE,
    exp: int = NOW + 120,
    nonce: str | None = None,
) -> dict[str, Any]:
    tx, args = env["transaction_id"], env["args"]
    sig = sign(key, fleet=FLEET, device=device, name=env["name"], transaction_id=tx, args=args,
               exp=exp, nonce=nonce)  # fmt: skip
    return {**env, "sig": sig}


def _bytes(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj).encode()


async def test_a_forged_message_cannot_squat_a_hub_commands_message_id() -> None:
    """The envelope is not signed: junk under the `message_id` of a hub command (seen on the
    broker, or held back by whoever runs it) was cached, and the hub's own byte-identical
    re-send of that command was answered "duplicate" with the junk's nack, never applied."""
    sink = RecordingSink()
    handler = _handler(sink)
    genuine = _signed(_envelope("door.open", {"door": 2, "reason": "support"}))
    squat = {**genuine, "sig": None, "args": {"door": 3, "reason": "mine"}}
    forged = await handler.handle(_bytes(squat))
    assert (forged.reply.ok, forged.reply.reason) == (False, "SIG_MISSING")
    outcome = await handler.handle(_bytes(genuine))
    assert (outcome.reply.ok, outcome.duplicate) == (True, False)
    assert [c.args for c in sink.applied] == [sink.applied[0].args]
    assert sink.applied[0].name == "door.open"
    # a transport duplicate of the genuine one (the same bytes) is still answered from the cache
    again = await handler.handle(_bytes(genuine))
    assert (again.reply.ok, again.duplicate) == (True, True)
    assert again.reply.header.message_id == outcome.reply.header.message_id
    assert len(sink.applied) == 1


HOSTILE_PAYLOADS = [
    pytest.param(b"", "MALFORMED", id="empty"),
    pytest.param(b"null", "MALFORMED", id="null"),
    pytest.param(b'"door.open"', "MALFORMED", id="string"),
    pytest.param(b"[1, 2]", "MALFORMED", id="list"),
    pytest.param(b"\xef\xbb\xbf" + _bytes(_envelope()), "MALFORMED", id="utf8-bom"),
    pytest.param(b'{"v": 1, "name": "\xff\xfe"}', "MALFORMED", id="invalid-utf8"),
    pytest.param(b"[" * 10_000 + b"]" * 10_000, "MALFORMED", id="nested-10000"),
    pytest.param(b'{"a": "' + b"x" * 2_000_000 + b'"}', "TOO_LARGE", id="2MB"),
    pytest.param(
        _bytes(_envelope()).replace(b'"sent_at": %d' % NOW, b'"sent_at": NaN'),
        "MALFORMED",
        id="NaN",
    ),
    pytest.param(
        _bytes(_envelope()).replace(b'"sent_at": %d' % NOW, b'"sent_at": Infinity'),
        "MALFORMED",
        id="Infinity",
    ),
    pytest.param(
        _bytes(_envelope()).replace(b'"sent_at": %d' % NOW, b'"sent_at": -Infinity'),
        "MALFORMED",
        id="-Infinity",
    ),
    pytest.param(
        _bytes(_envelope()).replace(b'"v": 1', b'"v": 1, "v": 1'), "MALFORMED", id="dup-key"
    ),
    pytest.param(
        _bytes(_envelope()).replace(b'"name": ', b'"name": "door.open", "name": '),
        "MALFORMED",
        id="dup-name",
    ),
    pytest.param(_bytes({**_envelope(), "v": 1.0}), "MALFORMED", id="v-float"),
    pytest.param(_bytes({**_envelope(), "v": True}), "MALFORMED", id="v-true"),
]


@pytest.mark.parametrize(("payload", "reason"), HOSTILE_PAYLOADS)
async def test_hostile_payloads_are_nacked_and_reach_nothing(payload: bytes, reason: str) -> None:
    sink = RecordingSink()
    outcome = await _handler(sink).handle(payload)
    assert (outcome.reply.ok, outcome.reply.reason) == (False, reason)
    assert sink.applied == []


@pytest.mark.parametrize(
    "extend_s",
    [1e308, 600.0, True, -600, 0, 10**9, 2**63 - 1, "600", None, [600]],
    ids=repr,
)
async def test_extend_s_must_be_a_positive_bounded_integer(extend_s: object) -> None:
    """Checked before the signature: even a hub-signed extension is refused, never clamped."""
    sink = RecordingSink()
    env = _envelope(args={"order_id": "O-1", "extend_s": extend_s})
    for payload in (env, _signed(env)):
        outcome = await _handler(sink).handle(_bytes(payload))
        assert (outcome.reply.ok, outcome.reply.reason) == (False, "MALFORMED")
    assert sink.applied == []


SIGNATURE_VARIANTS = [
    pytest.param(lambda env: _signed(env, key=ROGUE), "BAD_SIGNATURE", id="unknown-key"),
    pytest.param(lambda env: _signed(env, device="d2"), "BAD_SIGNATURE", id="other-device"),
    pytest.param(lambda env: _signed(env, exp=NOW - 1), "EXPIRED", id="expired"),
    pytest.param(lambda env: _signed(env, exp=NOW), "EXPIRED", id="expires-now"),
    pytest.param(lambda env: _signed(env, exp=NOW + 10**8), "TTL_TOO_LONG", id="far-future"),
    pytest.param(lambda env: _signed(env, exp=2**63 - 1), "TTL_TOO_LONG", id="int64-max"),
    pytest.param(lambda env: {**_signed(env), "fleet": "f2"}, "WRONG_DEVICE", id="other-fleet"),
    pytest.param(lambda env: {**_signed(env), "device": "d2"}, "WRONG_DEVICE", id="to-d2"),
    pytest.param(
        lambda env: {**_signed(env), "args": {"order_id": "O-1", "extend_s": 6000}},
        "BAD_SIGNATURE",
        id="args-changed",
    ),
    pytest.param(
        lambda env: {**_signed(env), "transaction_id": "tx-other"},
        "BAD_SIGNATURE",
        id="transaction-changed",
    ),
    pytest.param(
        lambda env: {**_signed(env), "name": "order.cancel"}, "MALFORMED", id="name-changed"
    ),
    pytest.param(lambda env: _with_sig(env, alg="none"), "ALG_NOT_ALLOWED", id="alg-none"),
    pytest.param(lambda env: _with_sig(env, alg="HS256"), "ALG_NOT_ALLOWED", id="alg-hs256"),
    pytest.param(lambda env: _with_sig(env, exp=1e308), "SIG_MALFORMED", id="exp-float"),
    pytest.param(lambda env: _with_sig(env, exp=True), "SIG_MALFORMED", id="exp-true"),
    pytest.param(lambda env: _with_sig(env, nonce="short"), "SIG_MALFORMED", id="short-nonce"),
    pytest.param(lambda env: _with_sig(env, value="!!"), "BAD_SIGNATURE", id="not-base64"),
    pytest.param(lambda env: {**env, "sig": {}}, "SIG_MALFORMED", id="empty-sig"),
    pytest.param(lambda env: {**env, "sig": []}, "MALFORMED", id="sig-list"),
]


def _with_sig(env: dict[str, Any], **changes: object) -> dict[str, Any]:
    signed = _signed(env)
    return {**signed, "sig": {**signed["sig"], **changes}}


@pytest.mark.parametrize(("forge", "reason"), SIGNATURE_VARIANTS)
async def test_signature_variants_are_nacked_with_their_reason(forge: Any, reason: str) -> None:
    sink = RecordingSink()
    outcome = await _handler(sink).handle(_bytes(forge(_envelope())))
    assert (outcome.reply.ok, outcome.reply.reason) == (False, reason)
    assert sink.applied == []


async def test_a_recorded_signed_command_replayed_under_new_message_ids_is_refused() -> None:
    sink = RecordingSink()
    handler = _handler(sink)
    signed = _signed(_envelope())
    assert (await handler.handle(_bytes(signed))).reply.ok
    for _ in range(3):
        replay = {**signed, "message_id": new_message_id(), "sent_at": NOW + 5}
        outcome = await handler.handle(_bytes(replay))
        assert (outcome.reply.ok, outcome.reply.reason) == (False, "REPLAYED")
    # the same nonce under a new transaction is a new signature that nobody made
    other = {**signed, "message_id": new_message_id(), "transaction_id": "tx-new"}
    assert (await handler.handle(_bytes(other))).reply.reason == "BAD_SIGNATURE"
    assert len(sink.applied) == 1


async def test_a_flood_that_fills_the_inbox_is_logged_once_not_per_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each message dropped from a full inbox wrote its own WARNING line: a broker publisher
    filled the log at the broker's rate. Dropped messages are counted as refusals, logged once."""
    caplog.set_level(logging.WARNING, logger="hub_sync")
    device = await asyncio.to_thread(ReferenceDevice, tmp_path / "d1.db")
    try:
        settings = SyncSettings(host="127.0.0.1", port=1, device_id=DEVICE, fleet_id=FLEET)
        keys = [HUB_KEY.public_key()]
        sync = DeviceSync(
            settings,
            device,
            device,
            device,
            command_keys=lambda: keys,
            clock=lambda: NOW,
            device_key=reply_key(DEVICE),
        )
        topic = Topics(FLEET, DEVICE).command
        for i in range(1050):  # nothing drains the inbox (1,000): the session is not running
            sync._enqueue(Inbound(topic=topic, payload=b"junk", retain=False))
            if i % 100 == 0:
                await asyncio.sleep(0)
    finally:
        await asyncio.to_thread(device.close)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings[:3]]
    assert "inbox refused: FULL" in warnings[0].getMessage()
    assert sync.stats().refused == 50


async def test_a_topic_that_is_not_utf8_is_dropped_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Whoever runs the broker can forward any topic bytes; paho decodes `msg.topic` lazily, so
    an invalid one raised in our callback and again in its error log, out into paho's loop."""
    received: list[Inbound] = []
    conn = MqttConnection(ConnectParams(host="127.0.0.1", port=1, client_id="t"), received.append)
    callback = conn._client.on_message
    assert callback is not None
    topic = Topics(FLEET, DEVICE).command.encode()
    for bad in (b"lk/v1/\xff\xfe/cmd", topic + b"\xc3"):
        for _ in range(3):
            message = paho.MQTTMessage(topic=bad)
            message.payload = b"{}"
            callback(conn._client, None, message)  # as paho's read loop calls it
    good = paho.MQTTMessage(topic=topic)
    good.payload = b"{}"
    callback(conn._client, None, good)
    assert [m.topic for m in received] == [topic.decode()]
    assert conn.bad_topics == 6
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "dropped a message whose topic is not UTF-8"
    ]
    assert not [r for r in caplog.records if r.exc_info]
