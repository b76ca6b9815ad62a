"""Poison payloads: strict decoding refuses them with a `WireError`, never a library exception."""

from __future__ import annotations

import logging

import pytest

from hub_sync.errors import WireError
from hub_sync.protocol.commands import decode_command
from hub_sync.protocol.refusals import RefusalLog
from hub_sync.protocol.strict_json import loads_strict
from hub_sync.protocol.wire import decode_confirm, decode_events

BIG_INT = b"1" * 5000
POISONS: list[bytes] = [
    b'{"v":1,"type":"confirm","through_seq":' + BIG_INT + b"}",
    b'{"v":1,"type":"command","transaction_id":"\\ud800","name":"door.open"}',
    b'{"v":1,"type":"confirm","message_id":"\\udfff\\ud800"}',
    b'{"\\ud800":1}',
    b'{"a":' * 900 + b"1" + b"}" * 900,
    b'{"a":' * 40 + b"1" + b"}" * 40,
    b'{"v":1,"sent_at":1e400}',
    b'{"v":1,"sent_at":' + b"9" * 400 + b"}",
    b'{"v":1,"through_seq":99999999999999999999}',
    b'"just a string"',
    b"null",
    b"[]",
    b"",
]


@pytest.mark.parametrize("payload", POISONS)
def test_poison_is_a_wire_error(payload: bytes) -> None:
    with pytest.raises(WireError):
        loads_strict(payload)
    for decoder in (decode_command, decode_confirm, decode_events):
        with pytest.raises(WireError):
            decoder(payload)


def test_wrong_types_in_the_envelope_are_wire_errors() -> None:
    for payload in (
        b'{"v":1,"type":"confirm","message_id":"m","fleet":"f","device":"d","sent_at":"x",'
        b'"through_seq":1,"in_reply_to":"m"}',
        b'{"v":"1","type":"confirm"}',
        b'{"v":1,"type":"confirm","message_id":"m","fleet":"f","device":"d","sent_at":1,'
        b'"through_seq":true,"in_reply_to":"m"}',
        b'{"v":1,"type":"confirm","message_id":"m","fleet":"f","device":"d","sent_at":1,'
        b'"through_seq":-5,"in_reply_to":"m"}',
    ):
        with pytest.raises(WireError):
            decode_confirm(payload)


def test_ordinary_nesting_and_unicode_still_decode() -> None:
    obj = loads_strict('{"a":{"b":[{"c":"é ✓ 𝄞"}]},"n":-9223372036854775808}'.encode())
    assert obj["a"]["b"][0]["c"] == "é ✓ 𝄞"


def test_refusals_are_logged_once_per_kind_on_one_printable_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = RefusalLog(logging.getLogger("test.refusals"))
    caplog.set_level(logging.DEBUG, logger="test.refusals")
    for _ in range(1000):
        log.refused("cmd", "UNKNOWN_COMMAND", "door.open\nFAKE LOG LINE\x1b[31m")
    log.refused("cmd", "MALFORMED")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["cmd refused: UNKNOWN_COMMAND door.open?FAKE LOG LINE?[31m",
                        "cmd refused: MALFORMED "]  # fmt: skip
    assert log.total == 1001
