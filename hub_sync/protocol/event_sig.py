"""Device signatures on events messages: Ed25519 by the device key over canonical JSON.

Whoever can publish on the broker could otherwise put events in a locker's name (a forged
`order.collected`) and the hub would store them as the locker's own. So the device signs every
events message with its device key (the one that signs its replies and audit checkpoints),
binding the fleet, the device, the message id, `base` and every event. Hubs store a batch only
when a key the device has had signed it. The exact bytes are in docs/protocol.md ("Events are
signed").

A rotation hands over from the old key to the new one inside the event stream
(`audit.key_rotated`, signed by the old key): a batch signed by the new key that carries that
hand-over verifies (`keys_with_rotations`), so the batch that announces the key can be signed by
it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from hub_sync.errors import SignatureError
from hub_sync.protocol.reply_sig import raw_ed25519_keys
from hub_sync.protocol.signing import PrivateKey, key_id, sign_detached, verify_detached
from hub_sync.protocol.strict_json import canonical_json
from hub_sync.protocol.wire import EventBatch, Header, OutboxEvent

EVENTS_CONTEXT: Final = "lk-events/v1"
ROTATED_KIND: Final = "audit.key_rotated"
_ROTATION_CONTEXT: Final = b"locker-agent audit key rotation v1\x00"


def events_bytes(header: Header, base: int, events: Sequence[OutboxEvent]) -> bytes:
    """The exact bytes a device signs in an events message."""
    return canonical_json(
        {
            "ctx": EVENTS_CONTEXT,
            "fleet": header.fleet,
            "device": header.device,
            "message_id": header.message_id,
            "base": base,
            # created_at as a float, as a hub decodes it (an int would print without ".0")
            "events": [{**e.as_dict(), "created_at": float(e.created_at)} for e in events],
        }
    )


def sign_events(
    key: PrivateKey, header: Header, base: int, events: Sequence[OutboxEvent]
) -> dict[str, object]:
    """The `sig` object of an events message: `{alg, kid, value}` (Ed25519: `alg` "EdDSA")."""
    return sign_detached(key, events_bytes(header, base, events))


def verify_events(raw_keys: Sequence[bytes], batch: EventBatch) -> None:
    """Raises `SignatureError` unless one of `raw_keys` (every raw Ed25519 key the device has
    had) or a key one of them handed over to inside this batch signed it. EdDSA only."""
    keys = raw_ed25519_keys(keys_with_rotations(raw_keys, batch.events))
    data = events_bytes(batch.header, batch.base, batch.events)
    verify_detached(keys, batch.sig, data, "events", algs=("EdDSA",))


def split_signed(
    batches: Sequence[EventBatch], keys_of: Callable[[str, str], list[bytes]]
) -> tuple[list[EventBatch], list[tuple[EventBatch, str]]]:
    """The batches signed by a key their device has had (`keys_of(fleet, device)`, asked once
    per device) or one it handed over to in that batch or an earlier one; and the others, each
    with the reason it was refused. Both hubs decide with this."""
    keys: dict[tuple[str, str], list[bytes]] = {}
    signed: list[EventBatch] = []
    refused: list[tuple[EventBatch, str]] = []
    for b in batches:
        who = (b.header.fleet, b.header.device)
        if who not in keys:
            keys[who] = keys_of(*who)
        try:
            verify_events(keys[who], b)
        except SignatureError as err:
            refused.append((b, err.reason))
            continue
        signed.append(b)
        # a key it handed over to signs its next batches
        keys[who] = keys_with_rotations(keys[who], b.events)
    return signed, refused


def keys_with_rotations(raw_keys: Iterable[bytes], events: Iterable[OutboxEvent]) -> list[bytes]:
    """`raw_keys` and, in order, each new key an `audit.key_rotated` among `events` hands over
    to, signed by a key already in the list (a forged or malformed rotation adds nothing)."""
    held = {_kid(raw): raw for raw in raw_keys if _kid(raw)}
    for ev in events:
        if ev.kind != ROTATED_KIND:
            continue
        new = handed_over(held, ev.body)
        if new is not None:
            held.setdefault(_kid(new), new)
    return list(held.values())


def rotation_message(old_kid: str, new_public: bytes) -> bytes:
    """The bytes the old key signs in `audit.key_rotated`: context, old key id, new raw key."""
    return _ROTATION_CONTEXT + old_kid.encode("ascii") + b"\x00" + new_public


def handed_over(held: Mapping[str, bytes], body: object) -> bytes | None:
    """The new raw key an `audit.key_rotated` body hands over to, when one of `held` (raw keys
    by key id) signed it; None for a forged or malformed rotation."""
    if not isinstance(body, dict):
        return None
    try:
        old_kid, raw = str(body["old_kid"]), bytes.fromhex(body["public_key"])
        signature = bytes.fromhex(body["signature"])
        old = held.get(old_kid)
        if old is None or not _kid(raw):
            return None
        ed25519.Ed25519PublicKey.from_public_bytes(old).verify(
            signature, rotation_message(old_kid, raw)
        )
    except (KeyError, TypeError, ValueError, InvalidSignature):
        return None
    return raw


def _kid(raw: bytes) -> str:
    """The key id of a raw Ed25519 key, or "" when it is not one."""
    try:
        return key_id(ed25519.Ed25519PublicKey.from_public_bytes(bytes(raw)))
    except ValueError:
        return ""
