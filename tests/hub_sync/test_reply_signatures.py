"""Reply signatures: the bytes signed, and the reference hub's device keys across a rotation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from agent.store.audit import rotation_message
from hub_sync.errors import SignatureError
from hub_sync.hub.reference.store import HubStore
from hub_sync.protocol.event_sig import sign_events
from hub_sync.protocol.reply_sig import reply_bytes, sign_reply, verify_reply
from hub_sync.protocol.signing import key_id
from hub_sync.protocol.wire import (
    EventBatch,
    Header,
    OutboxEvent,
    Reply,
    decode_reply,
    encode_reply,
)

FLEET, DEVICE = "f1", "d1"


def _reply(mid: str = "m1", tx: str = "tx", **kw: object) -> Reply:
    header = Header("reply", "r1", FLEET, DEVICE, 1800000000.0)
    fields: dict[str, object] = {"ok": True, "reason": None, "detail": "", "result": {"door": 1}}
    fields.update(kw)
    return Reply(header, tx, mid, **fields)  # type: ignore[arg-type]


def _raw(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_reply_signed_bytes_are_pinned() -> None:
    assert reply_bytes(_reply()) == (
        b'{"command_message_id":"m1","ctx":"lk-reply/v1","detail":"","device":"d1",'
        b'"fleet":"f1","ok":true,"reason":null,"result":{"door":1},"transaction_id":"tx"}'
    )


def test_a_signed_reply_survives_the_wire_and_any_change_breaks_it() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    signed = replace(_reply(), sig=sign_reply(key, _reply()))
    assert signed.sig is not None
    assert signed.sig["kid"] == key_id(key.public_key())
    back = decode_reply(encode_reply(signed))
    verify_reply([key.public_key()], back)
    for changed in (
        replace(back, ok=False),
        replace(back, result={"door": 2}),
        replace(back, command_message_id="m2"),
        replace(back, transaction_id="tx2"),
        replace(back, header=replace(back.header, device="d2")),
    ):
        with pytest.raises(SignatureError) as err:
            verify_reply([key.public_key()], changed)
        assert err.value.reason == "BAD_SIGNATURE"
    with pytest.raises(SignatureError) as err:
        verify_reply([key.public_key()], _reply())
    assert err.value.reason == "SIG_MISSING"


def _rotation(
    old: ed25519.Ed25519PrivateKey,
    new: ed25519.Ed25519PrivateKey,
    signer: ed25519.Ed25519PrivateKey | None = None,
) -> EventBatch:
    """The rotation event from `old` to `new`, in a batch signed as the device signs it after
    the rotation (by `new`) unless `signer` is given."""
    old_kid = key_id(old.public_key())
    message = rotation_message(old_kid, _raw(new))  # the agent's exact bytes
    body = {"old_kid": old_kid, "new_kid": key_id(new.public_key()), "alg": "Ed25519",
            "public_key": _raw(new).hex(), "signature": old.sign(message).hex()}  # fmt: skip
    event = OutboxEvent(seq=1, kind="audit.key_rotated", transaction_id="rot", body=body,
                        created_at=1.0)  # fmt: skip
    header = Header("events", "e1", FLEET, DEVICE, 1.0)
    sig = sign_events(signer or new, header, 0, (event,))
    return EventBatch(header, base=0, events=(event,), sig=sig)


def _take(store: HubStore, key: ed25519.Ed25519PrivateKey, mid: str) -> list[str]:
    store.add_command(message_id=mid, fleet=FLEET, device=DEVICE, transaction_id=f"tx-{mid}",
                      name="door.open", payload=b"{}", now=1.0)  # fmt: skip
    reply = _reply(mid, f"tx-{mid}")
    recorded = store.record_replies([replace(reply, sig=sign_reply(key, reply))], 2.0)
    return recorded.refused


def test_after_a_rotation_replies_of_the_old_and_the_new_key_verify(tmp_path: Path) -> None:
    old, new = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    store = HubStore(tmp_path / "hub.db")
    try:
        store.add_device_key(FLEET, DEVICE, _raw(old), 0.0)
        assert _take(store, new, "m0") == ["BAD_SIGNATURE"]  # not learnt yet
        store.apply_events([_rotation(old, new)], 1.0)
        assert _take(store, new, "m1") == []
        assert _take(store, old, "m2") == []  # a reply signed just before the rotation
        assert store.command("m1") == ("ok", None, {"door": 1})
    finally:
        store.close()


def test_a_rotation_not_signed_by_a_held_key_is_not_learnt(tmp_path: Path) -> None:
    held, mallory, new = (ed25519.Ed25519PrivateKey.generate() for _ in range(3))
    store = HubStore(tmp_path / "hub.db")
    try:
        store.add_device_key(FLEET, DEVICE, _raw(held), 0.0)
        # the batch itself is the device's (signed by its held key): only the rotation is forged
        store.apply_events([_rotation(mallory, new, signer=held)], 1.0)
        assert _take(store, new, "m1") == ["BAD_SIGNATURE"]
        assert store.command("m1") == ("pending", None, {})
    finally:
        store.close()
