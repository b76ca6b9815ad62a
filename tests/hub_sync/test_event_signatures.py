"""Events signatures: the bytes signed, what breaks them, and a key rotation inside the stream."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from agent.store.audit import rotation_message
from hub_sync.errors import SignatureError
from hub_sync.hub.reference.store import HubStore
from hub_sync.protocol.event_sig import (
    events_bytes,
    keys_with_rotations,
    sign_events,
    verify_events,
)
from hub_sync.protocol.signing import key_id, sign_detached
from hub_sync.protocol.wire import EventBatch, Header, OutboxEvent, decode_events, encode_events

FLEET, DEVICE = "f1", "d1"
Key = ed25519.Ed25519PrivateKey


def _raw(key: Key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _header(mid: str = "m1", device: str = DEVICE) -> Header:
    return Header("events", mid, FLEET, device, 1800000000.0)


def _events(first: int = 1, n: int = 2) -> tuple[OutboxEvent, ...]:
    return tuple(
        OutboxEvent(seq, "order.collected", f"tx-{seq}", {"order_id": f"o{seq}"}, 1800000000.5)
        for seq in range(first, first + n)
    )


def _signed(key: Key, header: Header, base: int, events: tuple[OutboxEvent, ...]) -> EventBatch:
    """A batch as a hub decodes it from what the device sent."""
    return decode_events(
        encode_events(header, base, events, sign_events(key, header, base, events))
    )


def test_events_signed_bytes_are_pinned() -> None:
    event = OutboxEvent(1, "order.collected", "tx", {"order_id": "o1"}, 1800000000)
    assert events_bytes(_header(), 0, [event]) == (
        b'{"base":0,"ctx":"lk-events/v1","device":"d1","events":[{"body":{"order_id":"o1"},'
        b'"created_at":1800000000.0,"kind":"order.collected","seq":1,"transaction_id":"tx"}],'
        b'"fleet":"f1","message_id":"m1"}'
    )


def test_a_signed_batch_survives_the_wire_and_any_change_breaks_it() -> None:
    key = Key.generate()
    batch = _signed(key, _header(), 0, _events())
    assert batch.sig is not None
    assert batch.sig["kid"] == key_id(key.public_key())
    verify_events([_raw(key)], batch)
    evs = batch.events
    for changed in (
        replace(batch, base=1),
        replace(batch, header=replace(batch.header, device="d2")),
        replace(batch, header=replace(batch.header, fleet="f2")),
        replace(batch, header=replace(batch.header, message_id="m2")),
        replace(batch, events=(evs[0], replace(evs[1], body={"order_id": "o9"}))),
        replace(batch, events=(evs[0], replace(evs[1], kind="order.expired"))),
        replace(batch, events=evs[:1]),  # a genuine batch cut short
    ):
        with pytest.raises(SignatureError) as err:
            verify_events([_raw(key)], changed)
        assert err.value.reason == "BAD_SIGNATURE"
    for keys, unsigned, reason in (
        ([_raw(key)], replace(batch, sig=None), "SIG_MISSING"),
        ([], batch, "BAD_SIGNATURE"),  # a device without a registered key
        ([_raw(Key.generate())], batch, "BAD_SIGNATURE"),
    ):
        with pytest.raises(SignatureError) as err:
            verify_events(keys, unsigned)
        assert err.value.reason == reason


def test_only_eddsa_is_taken() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    header, events = _header(), _events()
    sig = sign_detached(p256, events_bytes(header, 0, events))
    with pytest.raises(SignatureError) as err:
        verify_events([_raw(Key.generate())], EventBatch(header, 0, events, sig))
    assert err.value.reason == "ALG_NOT_ALLOWED"


def _rotation_event(seq: int, old: Key, new: Key, signer: Key | None = None) -> OutboxEvent:
    old_kid = key_id(old.public_key())
    message = rotation_message(old_kid, _raw(new))  # the agent's exact bytes
    signature = (signer or old).sign(message).hex()
    body = {"old_kid": old_kid, "new_kid": key_id(new.public_key()), "alg": "Ed25519",
            "public_key": _raw(new).hex(), "signature": signature}  # fmt: skip
    return OutboxEvent(seq, "audit.key_rotated", f"rot-{seq}", body, 1800000000.0)


def test_a_batch_signed_by_the_key_it_hands_over_to_verifies() -> None:
    old, new, newer, mallory = Key.generate(), Key.generate(), Key.generate(), Key.generate()
    chain = (_rotation_event(1, old, new), _rotation_event(2, new, newer))
    assert keys_with_rotations([_raw(old)], chain) == [_raw(old), _raw(new), _raw(newer)]
    verify_events([_raw(old)], _signed(newer, _header(), 0, chain))
    # a rotation not signed by a held key hands over nothing: the batch its key signed is refused
    forged = (_rotation_event(1, old, mallory, signer=mallory),)
    assert keys_with_rotations([_raw(old)], forged) == [_raw(old)]
    with pytest.raises(SignatureError):
        verify_events([_raw(old)], _signed(mallory, _header(), 0, forged))


def test_the_reference_hub_takes_batches_of_the_new_key_after_a_rotation(tmp_path: Path) -> None:
    old, new = Key.generate(), Key.generate()
    store = HubStore(tmp_path / "hub.db")
    try:
        store.add_device_key(FLEET, DEVICE, _raw(old), 0.0)
        rotation = _signed(new, _header("m1"), 0, (_rotation_event(1, old, new),))
        after = _signed(new, _header("m2"), 0, _events(2, 3))  # the same drain, the new key
        stranger = _signed(Key.generate(), _header("m3"), 0, _events(5, 1))
        applied = store.apply_events([rotation, after, stranger], 1.0)
        assert (applied.applied, applied.refused) == (4, ["BAD_SIGNATURE"])
        assert applied.in_reply_to == {(FLEET, DEVICE): "m2"}  # never the refused message
        assert store.event_seqs(FLEET, DEVICE) == [1, 2, 3, 4]
        later = store.apply_events([_signed(new, _header("m4"), 0, _events(5, 1))], 2.0)
        assert later.applied == 1  # the key was learnt
    finally:
        store.close()
