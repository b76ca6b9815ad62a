"""Device signatures on command replies: Ed25519 by the device key over canonical JSON.

Whoever can publish on the broker could otherwise answer a hub command for the device (`ok:false`,
or `ok:true` for something never applied) and the hub would stop re-sending it. So the device
signs every reply with its device key (the one that signs audit checkpoints, which the hub holds
per device with its rotation history), binding it to the fleet, the device, the command's
`message_id` and `transaction_id`, and the answer. The exact bytes are in docs/protocol.md
("Replies are signed").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from cryptography.hazmat.primitives.asymmetric import ed25519

from hub_sync.protocol.signing import (
    PrivateKey,
    PublicKey,
    sign_detached,
    verify_detached,
)
from hub_sync.protocol.strict_json import canonical_json
from hub_sync.protocol.wire import Reply

REPLY_CONTEXT: Final = "lk-reply/v1"
#: what signs a device's replies and events now (its device key; it changes when the key is
#: rotated)
DeviceKey = Callable[[], PrivateKey]
ReplyKey = DeviceKey


def reply_bytes(reply: Reply) -> bytes:
    """The exact bytes a device signs in a reply (`detail` as sent: cut to 200 characters)."""
    return canonical_json(
        {
            "ctx": REPLY_CONTEXT,
            "fleet": reply.header.fleet,
            "device": reply.header.device,
            "command_message_id": reply.command_message_id,
            "transaction_id": reply.transaction_id,
            "ok": reply.ok,
            "reason": reply.reason,
            "detail": reply.detail[:200],
            "result": dict(reply.result),
        }
    )


def sign_reply(key: PrivateKey, reply: Reply) -> dict[str, object]:
    """The `sig` object of a reply: `{alg, kid, value}`, as on confirms (the device key is
    Ed25519, so `alg` is "EdDSA"; hubs refuse any other)."""
    return sign_detached(key, reply_bytes(reply))


def verify_reply(keys: Sequence[PublicKey], reply: Reply) -> None:
    """Raises `SignatureError` unless one of `keys` (every key the device has had) signed it."""
    # the device key is Ed25519: hubs refuse any other algorithm
    verify_detached(keys, reply.sig, reply_bytes(reply), "reply", algs=("EdDSA",))


def raw_ed25519_keys(raws: Sequence[bytes]) -> list[PublicKey]:
    """Raw 32-byte Ed25519 public keys (as the hubs store device keys); bad ones are skipped."""
    keys: list[PublicKey] = []
    for raw in raws:
        try:
            keys.append(ed25519.Ed25519PublicKey.from_public_bytes(bytes(raw)))
        except ValueError:
            continue
    return keys
