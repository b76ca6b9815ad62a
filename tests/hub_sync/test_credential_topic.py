"""Junk on the retained credential topic (`lk/v1/F/D/cred`): refused once, the link stays up.

The credential keeper dropped its connection on every refused message and made it again half a
second later; the topic is retained, so it fetched the same message again: a reconnect and a
WARNING line every half second, for as long as the junk stayed there. Each kind of refusal is
now counted and logged once, and the connection stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path

import pytest

from hub_sync.adapters.mqtt import ConnectParams, MqttConnection
from hub_sync.device.enroll import CredentialKeeper, Rotated
from tests.hub_sync.conftest import FLEET, HUB_PASSWORD, HUB_USER, Broker

CRED_TOPIC = f"lk/v1/{FLEET}/d1/cred"
JUNK = [
    b" ",  # (an empty retained payload would clear the topic, not poison it)
    b"[]",
    b'{"ca_pem": 5}',
    json.dumps({"type": "cred.issued", "ca_pem": "-----BEGIN CERTIFICATE-----\nAAAA\n"}).encode(),
]


async def test_junk_on_the_retained_credential_topic_is_refused_once_and_the_link_stays(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub_sync.device.enroll")
    hub = MqttConnection(
        ConnectParams("127.0.0.1", broker.port, "mallory", username=HUB_USER,
                      password=HUB_PASSWORD, clean_start=True),
        lambda _m: None,
    )  # fmt: skip
    await hub.connect()
    await hub.publish(CRED_TOPIC, JUNK[0], retain=True)

    async def rotated(_r: Rotated) -> None:
        raise AssertionError("nothing was rotated")

    keeper = CredentialKeeper(
        fleet=FLEET, device="d1", dir=tmp_path, pin="not-the-pin",
        # the keeper's own ACL line is the deployment's; the hub user may read the topic too
        connect=lambda cid: ConnectParams("127.0.0.1", broker.port, cid, username=HUB_USER,
                                          password=HUB_PASSWORD, clean_start=True),
        on_rotated=rotated,
    )  # fmt: skip
    task = asyncio.create_task(keeper.run())
    try:
        for payload in JUNK[1:]:
            await asyncio.sleep(0.3)
            await hub.publish(CRED_TOPIC, payload, retain=True)
        await asyncio.sleep(2.0)  # four reconnect periods of the old keeper
        assert not task.done()
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert warnings == ["cred refused: MALFORMED "], warnings
        assert not [r for r in caplog.records if r.exc_info]
        assert keeper.refused == len(JUNK)  # each message once: no reconnect fetched it again
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await hub.publish(CRED_TOPIC, b"", retain=True)
        await hub.disconnect()
