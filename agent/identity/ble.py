"""ISO/IEC 18013-5 BLE data retrieval with the locker as GATT central (client), clause 8.3.3.1.1.

The locker can only be a BLE central with `bleak` (bleak has no peripheral role), so of the two
BLE modes of 18013-5 it implements the one where the wallet is the GATT server: in the
standard's naming the **mdoc peripheral server mode** (the mode is named after the mdoc's role;
the reader is its central client). The wallet's DeviceEngagement names the service UUID
(`BleOptions` key 10) it advertises. Then:

1. connect to the peripheral advertising that service (the `GattCentral` adapter: bleak on
   BlueZ in `ble_bleak.py`, or the in-process simulated peripheral);
2. subscribe to the State and Server2Client characteristics, write 0x01 (start) to State;
3. each message (SessionEstablishment, SessionData) is written to Client2Server in chunks of at
   most ATT_MTU - 3 bytes, whose first byte is 0x01 when more chunks follow and 0x00 on the last;
   the wallet's answer arrives the same way in Server2Client notifications;
4. to end: the SessionData with status 20, then 0x02 (end) written to State, then disconnect.

This module holds the framing and the state machine; it does no BLE I/O itself (`GattClient`).
Not implemented: the mdoc central client mode (the locker as GATT server), L2CAP, reading the
Ident characteristic.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from enum import Enum
from typing import Any, Protocol

from agent.identity.errors import MdocError, WalletUnreachable
from agent.identity.proximity import MdocTransport
from agent.identity.transcript import parse_device_engagement

STATE = uuid.UUID("00000001-a123-48ce-896b-4c76973373e6")
CLIENT2SERVER = uuid.UUID("00000002-a123-48ce-896b-4c76973373e6")
SERVER2CLIENT = uuid.UUID("00000003-a123-48ce-896b-4c76973373e6")
STATE_START, STATE_END = b"\x01", b"\x02"
MORE, LAST = 0x01, 0x00
ATT_HEADER = 3
MIN_MTU, MAX_MTU = 23, 517  # the ATT minimum; 512-byte attribute values + 3
MAX_MESSAGE = 513 * 1024  # as the session layer's cap
BLE_METHOD, BLE_VERSION = 2, 1
KEY_PERIPHERAL_SERVER, KEY_PERIPHERAL_SERVER_UUID = 0, 10
UUID_BYTES = 16


class BleFramingError(OSError):
    """A chunk or message that breaks the 18013-5 BLE framing: the link is not usable."""


class GattClient(Protocol):
    """One GATT connection to the wallet (the peripheral). `mtu` is the negotiated ATT_MTU;
    `subscribe` delivers each notification's value to `on_value` on the event loop; `write` is a
    write without response; `disconnect` must not raise."""

    @property
    def mtu(self) -> int: ...

    async def subscribe(
        self, characteristic: uuid.UUID, on_value: Callable[[bytes], None]
    ) -> None: ...

    async def write(self, characteristic: uuid.UUID, value: bytes) -> None: ...

    async def disconnect(self) -> None: ...


class GattCentral(Protocol):
    """Finds and connects to the peripheral advertising `service` within `timeout_s`; raises
    `WalletUnreachable` when it cannot (no adapter, nobody advertising, connection lost)."""

    async def connect(self, service: uuid.UUID, timeout_s: float) -> GattClient: ...


def peripheral_service(device_engagement: bytes) -> uuid.UUID:
    """The service UUID of the engagement's BLE mdoc peripheral server mode option;
    `WalletUnreachable` when the wallet offers none (e.g. only the central client mode)."""
    try:
        methods = parse_device_engagement(device_engagement).retrieval_methods
    except MdocError as err:
        raise WalletUnreachable(f"the engagement is not usable ({err})") from None
    for method in methods:
        if not (isinstance(method, list) and len(method) == 3):
            continue
        kind, version, options = method
        if kind != BLE_METHOD or version != BLE_VERSION or not isinstance(options, dict):
            continue
        service = options.get(KEY_PERIPHERAL_SERVER_UUID)
        offered = options.get(KEY_PERIPHERAL_SERVER) is True
        if offered and isinstance(service, bytes) and len(service) == UUID_BYTES:
            return uuid.UUID(bytes=service)
    raise WalletUnreachable("the wallet offers no BLE mdoc peripheral server mode")


def chunks(message: bytes, mtu: int) -> list[bytes]:
    """`message` as characteristic values for an ATT_MTU of `mtu`: at most mtu - 3 bytes each,
    the first byte 0x01 (more follow) or 0x00 (last)."""
    if not MIN_MTU <= mtu <= MAX_MTU:
        raise BleFramingError(f"ATT_MTU {mtu} outside {MIN_MTU}..{MAX_MTU}")
    if not message:
        raise BleFramingError("an empty message cannot be sent")
    size = mtu - ATT_HEADER - 1
    parts = [message[i : i + size] for i in range(0, len(message), size)]
    return [bytes([MORE if n < len(parts) - 1 else LAST]) + p for n, p in enumerate(parts)]


class Reassembler:
    """Joins the chunks of one direction into messages; `BleFramingError` on a bad chunk."""

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self._max = max_message

    def feed(self, value: bytes) -> bytes | None:
        """The complete message once its last chunk arrived, else None."""
        if len(value) < 2 or value[0] not in (MORE, LAST):
            raise BleFramingError("a chunk without a 0x00/0x01 flag and data")
        self._size += len(value) - 1
        if self._size > self._max:
            raise BleFramingError("message over the size cap")
        self._parts.append(value[1:])
        if value[0] == MORE:
            return None
        message = b"".join(self._parts)
        self._parts, self._size = [], 0
        return message


class LinkState(Enum):
    CONNECTED = "connected"  # GATT connected, not started
    STARTED = "started"  # subscribed, 0x01 written to State
    ENDED = "ended"  # ended by either side, or broken


class BleTransport(MdocTransport):
    """One session over one GATT connection (the `MdocTransport` of section 4.1)."""

    def __init__(self, client: GattClient, device_engagement: bytes) -> None:
        self._client = client
        self._engagement = device_engagement
        self._inbox: asyncio.Queue[bytes | BaseException] = asyncio.Queue()
        self._reassembler = Reassembler()
        self.state = LinkState.CONNECTED

    async def start(self) -> None:
        """Subscribe to State and Server2Client, then signal start (0x01 to State)."""
        await self._client.subscribe(STATE, self._on_state)
        await self._client.subscribe(SERVER2CLIENT, self._on_server2client)
        await self._client.write(STATE, STATE_START)
        self.state = LinkState.STARTED

    async def engagement(self) -> tuple[bytes, Any]:
        return self._engagement, None  # QR engagement: the Handover is null

    async def exchange(self, message: bytes) -> bytes:
        if self.state is not LinkState.STARTED:
            raise WalletUnreachable(f"the BLE link is {self.state.value}")
        await self._send(message)
        answer = await self._inbox.get()
        if isinstance(answer, BaseException):
            self.state = LinkState.ENDED
            raise answer
        return answer

    async def close(self, message: bytes) -> None:
        """Send the termination, signal end (0x02 to State) and disconnect; never raises."""
        try:
            if self.state is LinkState.STARTED:
                await self._send(message)
                await self._client.write(STATE, STATE_END)
        except (OSError, WalletUnreachable):
            pass  # the link is going away either way
        finally:
            self.state = LinkState.ENDED
            await self._client.disconnect()

    async def _send(self, message: bytes) -> None:
        for value in chunks(message, self._client.mtu):
            await self._client.write(CLIENT2SERVER, value)

    def _on_state(self, value: bytes) -> None:
        if value == STATE_END:
            self._inbox.put_nowait(WalletUnreachable("the wallet ended the BLE session"))

    def _on_server2client(self, value: bytes) -> None:
        try:
            message = self._reassembler.feed(value)
        except BleFramingError as err:
            self._inbox.put_nowait(err)
            return
        if message is not None:
            self._inbox.put_nowait(message)


class BleWalletLink:
    """The `WalletLink` over BLE: the engagement's peripheral server service, then a session."""

    def __init__(self, central: GattCentral, *, connect_timeout_s: float = 10.0) -> None:
        self._central = central
        self._timeout_s = connect_timeout_s

    async def connect(self, device_engagement: bytes) -> MdocTransport:
        service = peripheral_service(device_engagement)
        client = await self._central.connect(service, self._timeout_s)
        transport = BleTransport(client, device_engagement)
        try:
            await transport.start()
        except OSError as err:
            await client.disconnect()
            raise WalletUnreachable(f"the BLE session did not start ({err})") from None
        return transport
