"""Device signatures on command replies: Ed25519 by the device key over canonical JSON.

Whoever can publish on the broker could otherwise answer a hub command for the device (`ok:false`,
or `ok:true` for something never applied) and the hub would stop re-sending it. So the device
signs every reply with its device key (the one that signs audit checkpoints, which the hub holds
per device with its rotation history), binding it to the fleet, the device, the command's
`message_id` and `transaction_id`, and the answer. The exact bytes are in docs/protocol.md
("Replies are signed").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ed25519

from hub_sync.errors import SignatureError, WireError
from hub_sync.protocol.signing import (
    PrivateKey,
    PublicKey,
    _b64,
    _raw_sign,
    _unb64,
    _verify_one,
    key_id,
)
from hub_sync.protocol.strict_json import canonical_json, get
from hub_sync.protocol.wire import Reply

REPLY_CONTEXT: Final = "lk-reply/v1"
#: what signs a device's replies now (its device key; it changes when the key is rotated)
ReplyKey = Callable[[], PrivateKey]


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
    alg, value = _raw_sign(key, reply_bytes(reply))
    return {"alg": alg, "kid": key_id(key.public_key()), "value": _b64(value)}


def verify_reply(keys: Sequence[PublicKey], reply: Reply) -> None:
    """Raises `SignatureError` unless one of `keys` (every key the device has had) signed it."""
    sig: Mapping[str, Any] | None = reply.sig
    if sig is None:
        raise SignatureError("SIG_MISSING", "reply")
    try:
        alg: str = get(sig, "alg", str)
        value = _unb64(get(sig, "value", str))
    except WireError as err:
        raise SignatureError("SIG_MALFORMED", err.detail) from err
    if alg != "EdDSA":  # the device key is Ed25519
        raise SignatureError("ALG_NOT_ALLOWED", "reply")
    data = reply_bytes(reply)
    if not any(_verify_one(k, alg, value, data) for k in keys):
        raise SignatureError("BAD_SIGNATURE", "reply")


def raw_ed25519_keys(raws: Sequence[bytes]) -> list[PublicKey]:
    """Raw 32-byte Ed25519 public keys (as the hubs store device keys); bad ones are skipped."""
    keys: list[PublicKey] = []
    for raw in raws:
        try:
            keys.append(ed25519.Ed25519PublicKey.from_public_bytes(bytes(raw)))
        except ValueError:
            continue
    return keys
