"""Strict decoding, command validation and hub signatures (no broker needed)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from hub_sync.errors import SignatureError, WireError
from hub_sync.protocol.commands import (
    CommandEnvelope,
    OrderUpsert,
    RemoteOpen,
    ReturnDecision,
    decode_command,
    encode_command,
    parse_args,
)
from hub_sync.protocol.signing import (
    CommandVerifier,
    NonceCache,
    PublicKey,
    key_id,
    sign,
    signed_bytes,
)
from hub_sync.protocol.strict_json import canonical_json, loads_strict
from hub_sync.protocol.wire import Header, OutboxEvent, decode_events, encode_events

NOW = 1_800_000_000.0


def _header(kind: str = "command", device: str = "d1") -> Header:
    return Header(kind, "m" * 32, "f1", device, NOW)


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert (
        canonical_json({"b": 1, "a": ["é", True, None]}) == '{"a":["é",true,null],"b":1}'.encode()
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff", "MALFORMED"),
        (b"[1]", "MALFORMED"),
        (b'{"a":1,"a":2}', "MALFORMED"),
        (b'{"a":NaN}', "MALFORMED"),
        (b"{" * 100_000, "MALFORMED"),
        (b" " * 1_048_577, "TOO_LARGE"),
    ],
)
def test_strict_json_refuses_ambiguous_input(payload: bytes, reason: str) -> None:
    with pytest.raises(WireError) as info:
        loads_strict(payload)
    assert info.value.reason == reason


def test_event_batch_round_trip_and_gap_refused() -> None:
    events = [OutboxEvent(s, "k", f"t{s}", {"n": s}, NOW) for s in (4, 5, 6)]
    batch = decode_events(encode_events(_header("events"), 3, events))
    assert batch.base == 3
    assert [e.seq for e in batch.events] == [4, 5, 6]
    gappy = encode_events(_header("events"), 3, [events[0], events[2]])
    with pytest.raises(WireError):
        decode_events(gappy)
    with pytest.raises(WireError) as info:
        decode_events(encode_events(_header("events"), 3, events).replace(b'"v":1', b'"v":2'))
    assert info.value.reason == "UNSUPPORTED_VERSION"


def test_command_args_validation() -> None:
    order = parse_args("order.upsert", {"order_id": "o", "size": "M", "hold_s": 3600,
                                        "policy": {"age": False}})  # fmt: skip
    assert isinstance(order, OrderUpsert)
    assert order.code is None
    assert isinstance(parse_args("door.open", {"door": 2, "reason": "r"}), RemoteOpen)
    keep = parse_args("order.return_decision", {"order_id": "o", "decision": "keep", "hold_s": 60})
    assert isinstance(keep, ReturnDecision)
    bad: list[tuple[str, dict[str, object]]] = [
        ("door.open", {"door": True, "reason": "r"}),
        ("door.open", {"door": 0, "reason": "r"}),
        ("order.upsert", {"order_id": "o", "size": "M", "hold_s": -1}),
        ("order.upsert", {"order_id": "o", "size": "M", "hold_s": 1, "policy": {"x": [1]}}),
        ("order.upsert", {"order_id": "o", "size": "M", "hold_s": 1, "policy": {"x": 1.5}}),
        ("order.return_decision", {"order_id": "o", "decision": "keep"}),
        ("trust.revoke", {"ctis": [1]}),
        ("config.set", {"changes": {"a": {"b": 1}}}),
    ]
    for name, args in bad:
        with pytest.raises(WireError):
            parse_args(name, args)
    with pytest.raises(WireError) as info:
        parse_args("door.explode", {})
    assert info.value.reason == "UNKNOWN_COMMAND"


def _signed_env(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey, *, exp: int,
                device: str = "d1", nonce: str | None = None) -> CommandEnvelope:  # fmt: skip
    args = {"door": 1, "reason": "r"}
    sig = sign(key, fleet="f1", device=device, name="door.open", transaction_id="tx",
               args=args, exp=exp, nonce=nonce)  # fmt: skip
    env = CommandEnvelope(_header(device=device), "tx", "door.open", args, sig)
    return decode_command(encode_command(env))


def _verifier(*keys: PublicKey, now: float = NOW) -> CommandVerifier:
    return CommandVerifier(lambda: list(keys), lambda: now)


@pytest.mark.parametrize("curve", ["ed25519", "p256"])
def test_signatures_verify_and_bind_everything(curve: str) -> None:
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey = (
        ed25519.Ed25519PrivateKey.generate() if curve == "ed25519"
        else ec.generate_private_key(ec.SECP256R1())
    )  # fmt: skip
    verifier = _verifier(key.public_key())
    env = _signed_env(key, exp=int(NOW) + 60)
    verifier.verify(env, fleet="f1", device="d1")
    assert env.sig is not None
    assert env.sig["kid"] == key_id(key.public_key())
    # the same signed command for another device, or with changed args, does not verify
    with pytest.raises(SignatureError):
        _verifier(key.public_key()).verify(env, fleet="f1", device="d2")
    tampered = CommandEnvelope(env.header, env.transaction_id, env.name,
                               {"door": 2, "reason": "r"}, env.sig)  # fmt: skip
    with pytest.raises(SignatureError) as info:
        _verifier(key.public_key()).verify(tampered, fleet="f1", device="d1")
    assert info.value.reason == "BAD_SIGNATURE"


def test_signature_time_and_replay_rules() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    rogue = ed25519.Ed25519PrivateKey.generate()
    cases = [
        (_signed_env(key, exp=int(NOW)), "EXPIRED"),
        (_signed_env(key, exp=int(NOW) + 3600), "TTL_TOO_LONG"),
        (_signed_env(rogue, exp=int(NOW) + 60), "BAD_SIGNATURE"),
        (CommandEnvelope(_header(), "tx", "door.open", {"door": 1, "reason": "r"}, None),
         "SIG_MISSING"),
        (_signed_env(key, exp=int(NOW) + 60, nonce="short"), "SIG_MALFORMED"),
    ]  # fmt: skip
    for env, reason in cases:
        with pytest.raises(SignatureError) as info:
            _verifier(key.public_key()).verify(env, fleet="f1", device="d1")
        assert info.value.reason == reason
    verifier = _verifier(key.public_key())
    env = _signed_env(key, exp=int(NOW) + 60)
    verifier.verify(env, fleet="f1", device="d1")
    with pytest.raises(SignatureError) as info:
        verifier.verify(env, fleet="f1", device="d1")
    assert info.value.reason == "REPLAYED"


def test_signed_bytes_are_the_documented_canonical_json() -> None:
    args = {"reason": "r", "door": 1}
    data = signed_bytes(fleet="f1", device="d1", name="door.open", transaction_id="tx",
                        args=args, exp=1800000060, nonce="n" * 16)  # fmt: skip
    assert data == (
        b'{"args":{"door":1,"reason":"r"},"ctx":"lk-cmd/v1","device":"d1","exp":1800000060,'
        b'"fleet":"f1","name":"door.open","nonce":"nnnnnnnnnnnnnnnn","transaction_id":"tx"}'
    )


def test_nonce_cache_is_bounded_and_evicts_expired_first() -> None:
    cache = NonceCache(max_entries=3)
    assert cache.check_and_add("a", 10, 0)
    assert cache.check_and_add("b", 100, 0)
    assert cache.check_and_add("c", 100, 0)
    assert not cache.check_and_add("a", 10, 0)
    assert cache.check_and_add("d", 100, 50)  # "a" expired at 10 and made room
    assert not cache.check_and_add("b", 100, 50)
