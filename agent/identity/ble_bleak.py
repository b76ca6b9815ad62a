"""The BLE driver of the wallet link: `bleak` on BlueZ (Linux), the locker as GATT central.

`BleakCentral.connect(service)` scans for the wallet advertising the service UUID of its
DeviceEngagement (18013-5 mdoc peripheral server mode), connects, and returns a `GattClient`
for `ble.BleTransport`. Every bleak or D-Bus failure (no adapter, no BlueZ, nobody advertising,
a lost connection) becomes `WalletUnreachable`: the pickup answers 503 ID_CHECK_UNAVAILABLE.

Tested here only as far as a machine without a BLE adapter allows (docs/identity.md 9.2): the
framing and state machine run against the in-process simulated peripheral; this adapter's
scan fails cleanly without BlueZ.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError

from agent.identity.ble import MAX_MTU, MIN_MTU, GattClient
from agent.identity.errors import WalletUnreachable

_LOG = logging.getLogger(__name__)
_FAILURES = (BleakError, OSError, TimeoutError, EOFError)


class BleakGattClient:
    """A connected `BleakClient` as our `GattClient`."""

    def __init__(self, client: BleakClient) -> None:
        self._client = client

    @property
    def mtu(self) -> int:
        return max(MIN_MTU, min(MAX_MTU, int(self._client.mtu_size)))

    async def subscribe(self, characteristic: uuid.UUID, on_value: Callable[[bytes], None]) -> None:
        def deliver(_: Any, data: bytearray) -> None:
            on_value(bytes(data))

        try:
            await self._client.start_notify(str(characteristic), deliver)
        except _FAILURES as err:
            raise WalletUnreachable(f"BLE subscribe failed: {type(err).__name__}") from None

    async def write(self, characteristic: uuid.UUID, value: bytes) -> None:
        try:
            await self._client.write_gatt_char(str(characteristic), value, response=False)
        except _FAILURES as err:
            raise WalletUnreachable(f"BLE write failed: {type(err).__name__}") from None

    async def disconnect(self) -> None:
        try:
            await self._client.disconnect()
        except _FAILURES as err:
            _LOG.info("BLE disconnect failed: %s", type(err).__name__)


class BleakCentral:
    """Finds the wallet by its advertised service UUID and connects (the locker's adapter)."""

    def __init__(self, adapter: str | None = None) -> None:
        self._adapter = adapter  # e.g. "hci0"; None: BlueZ's default adapter

    async def connect(self, service: uuid.UUID, timeout_s: float) -> GattClient:
        wanted = str(service).lower()
        extra: dict[str, Any] = {} if self._adapter is None else {"adapter": self._adapter}
        try:
            async with asyncio.timeout(timeout_s):
                device = await BleakScanner.find_device_by_filter(
                    lambda _d, adv: wanted in (u.lower() for u in adv.service_uuids),
                    timeout=timeout_s,
                    service_uuids=[wanted],
                    **extra,
                )
                if device is None:
                    raise WalletUnreachable("no wallet advertises the engagement's service")
                client = BleakClient(device, services=[wanted], timeout=timeout_s)
                await client.connect()
        except _FAILURES as err:
            raise WalletUnreachable(f"BLE connection failed: {type(err).__name__}") from None
        return BleakGattClient(client)
