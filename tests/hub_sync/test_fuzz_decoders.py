"""Every parse path of the device refuses arbitrary input with a `WireError`, never another error.

Hypothesis builds envelopes with hostile values (huge integers, lone surrogates, deep nesting,
wrong types) in every field; what decodes must also encode again (a reply can always be sent).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub_sync.errors import WireError
from hub_sync.protocol.commands import COMMAND_NAMES, args_digest, decode_command, parse_args
from hub_sync.protocol.strict_json import canonical_json
from hub_sync.protocol.wire import Header, Reply, decode, decode_confirm, encode_reply

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["\ud800", "x\udfff", "door.open", "f1", "d1", "", "1" * 300]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_FIELDS = ["v", "type", "message_id", "fleet", "device", "sent_at", "transaction_id", "name",
           "args", "sig", "through_seq", "in_reply_to", "bundle", "version", "online"]  # fmt: skip


def _raw(obj: Any) -> bytes:
    # ensure_ascii keeps lone surrogates as \\ud800 escapes, as a hostile sender would write them
    return json.dumps(obj, ensure_ascii=True).encode()


@st.composite
def envelopes(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["command", "confirm", "trust", "hub_status", "x"]))
    obj: dict[str, Any] = {"v": 1, "type": kind, "message_id": "m", "fleet": "f1",
                           "device": "d1", "sent_at": 1.0, "transaction_id": "t",
                           "name": draw(st.sampled_from(sorted(COMMAND_NAMES))),
                           "args": {}, "through_seq": 1, "in_reply_to": "m"}  # fmt: skip
    for key in draw(st.lists(st.sampled_from(_FIELDS), max_size=4)):
        obj[key] = draw(_VALUES)
    if draw(st.booleans()):
        obj["args"] = draw(st.dictionaries(st.sampled_from(
            ["door", "reason", "order_id", "size", "hold_s", "extend_s", "code", "policy",
             "decision", "ctis", "kids", "changes", "bundle", "version", "order_ref"]),
            _VALUES, max_size=6))  # fmt: skip
    nest = draw(st.integers(min_value=0, max_value=3))
    raw = _raw(obj)
    if nest == 3:
        raw = b'{"a":' * 2000 + raw + b"}" * 2000
    return raw


def _encodable(header: Header, tx: str) -> None:
    reply = Reply(header, tx, header.message_id, ok=False, reason="X", detail="")
    encode_reply(reply)


@settings(max_examples=400, deadline=None)
@given(envelopes())
def test_command_and_confirm_decoding_only_raise_wire_errors(payload: bytes) -> None:
    try:
        env = decode_command(payload)
    except WireError:
        pass
    else:
        _encodable(env.header, env.transaction_id)
        canonical_json(dict(env.args))
        with contextlib.suppress(WireError):
            parse_args(env.name, env.args)
        args_digest(env.name, env.args)
    try:
        confirm = decode_confirm(payload)
    except WireError:
        pass
    else:
        assert 0 <= confirm.through_seq < 2**63
        _encodable(confirm.header, confirm.in_reply_to)
    for kind in ("trust", "hub_status"):
        try:
            header, _ = decode(payload, kind)
        except WireError:
            continue
        _encodable(header, "")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_raise_wire_errors(payload: bytes) -> None:
    for decoder in (decode_command, decode_confirm):
        with contextlib.suppress(WireError):
            decoder(payload)
