"""A simulated wallet speaking the 18013-5 BLE framing in-process (mdoc peripheral server mode).

`SimulatedBleAir` is the `GattCentral` of the tests and the demo: a `SimulatedWallet` that
`advertise`s appears as a peripheral with the service UUID of its engagement; a connection
gets a GATT server with the State / Client2Server / Server2Client characteristics. The server
reassembles Client2Server chunks itself (its own code, not `ble.Reassembler`), answers each
message through the wallet's real holder implementation, and notifies the answer in chunks of
the negotiated MTU. It records what the central did (`log`) and checks the protocol: a write
before the start signal, or data before subscribing, is a protocol error the test sees.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import cbor2

from agent.identity.errors import WalletUnreachable
from agent.identity.simulated_wallet import SimulatedWallet

STATE = uuid.UUID("00000001-a123-48ce-896b-4c76973373e6")
CLIENT2SERVER = uuid.UUID("00000002-a123-48ce-896b-4c76973373e6")
SERVER2CLIENT = uuid.UUID("00000003-a123-48ce-896b-4c76973373e6")


def service_of(wallet: SimulatedWallet) -> uuid.UUID:
    """The peripheral server mode service UUID in the wallet's engagement."""
    engagement = cbor2.loads(wallet.engagement_bytes)
    for kind, _version, options in engagement[2]:
        if kind == 2 and options.get(0):
            return uuid.UUID(bytes=options[10])
    raise ValueError("the wallet offers no peripheral server mode")


@dataclass
class SimulatedPeripheral:
    """The wallet's GATT server for one connection (our `GattClient`, seen from the central)."""

    wallet: SimulatedWallet
    mtu: int = 185
    end_after_request: bool = False  # the wallet writes 0x02 to State instead of answering
    log: list[str] = field(default_factory=list)
    protocol_errors: list[str] = field(default_factory=list)
    _subscribers: dict[uuid.UUID, Callable[[bytes], None]] = field(default_factory=dict)
    _started: bool = False
    _incoming: bytearray = field(default_factory=bytearray)
    connected: bool = True

    async def subscribe(self, characteristic: uuid.UUID, on_value: Callable[[bytes], None]) -> None:
        self._require_connected()
        if characteristic not in (STATE, SERVER2CLIENT):
            self.protocol_errors.append(f"subscribe to {characteristic}")
        self._subscribers[characteristic] = on_value
        self.log.append(f"subscribe {_name(characteristic)}")

    async def write(self, characteristic: uuid.UUID, value: bytes) -> None:
        self._require_connected()
        if len(value) > self.mtu - 3:
            self.protocol_errors.append(f"a {len(value)}-byte write over MTU {self.mtu}")
        if characteristic == STATE:
            self.log.append(f"state {value.hex()}")
            if value == b"\x01":
                if set(self._subscribers) != {STATE, SERVER2CLIENT}:
                    self.protocol_errors.append("start before subscribing")
                self._started = True
            return
        if characteristic != CLIENT2SERVER:
            self.protocol_errors.append(f"write to {characteristic}")
            return
        if not self._started:
            self.protocol_errors.append("data before the start signal")
        self.log.append(f"c2s {value[0]:02x}+{len(value) - 1}")
        self._incoming += value[1:]
        if value[0] == 0x00:
            message, self._incoming = bytes(self._incoming), bytearray()
            await self._answer(message)  # notifications are queued by the central's callback

    async def disconnect(self) -> None:
        self.connected = False
        self.log.append("disconnect")

    async def _answer(self, message: bytes) -> None:
        decoded = cbor2.loads(message)
        if "eReaderKey" not in decoded:  # SessionData: the reader ends the session
            await self.wallet.close(message)
            return
        if self.end_after_request:
            self._notify(STATE, b"\x02")
            return
        answer = await self.wallet.exchange(message)
        size = self.mtu - 4
        parts = [answer[i : i + size] for i in range(0, len(answer), size)]
        for n, part in enumerate(parts):
            self._notify(SERVER2CLIENT, bytes([1 if n < len(parts) - 1 else 0]) + part)

    def _notify(self, characteristic: uuid.UUID, value: bytes) -> None:
        self.log.append(f"notify {_name(characteristic)} {value[0]:02x}+{len(value) - 1}")
        self._subscribers[characteristic](value)

    def _require_connected(self) -> None:
        if not self.connected:
            raise WalletUnreachable("simulated peripheral: not connected")


class SimulatedBleAir:
    """The `GattCentral` of simulated phones: a wallet is found once it `advertise`s."""

    def __init__(self, *, mtu: int = 185) -> None:
        self._advertising: dict[uuid.UUID, SimulatedPeripheral] = {}
        self._mtu = mtu
        self.connections: list[SimulatedPeripheral] = []

    def advertise(
        self, wallet: SimulatedWallet, *, end_after_request: bool = False
    ) -> SimulatedPeripheral:
        """The phone shows its QR and advertises the service; returns its GATT server."""
        peripheral = SimulatedPeripheral(wallet, mtu=self._mtu, end_after_request=end_after_request)
        self._advertising[service_of(wallet)] = peripheral
        return peripheral

    async def connect(self, service: uuid.UUID, timeout_s: float) -> SimulatedPeripheral:
        del timeout_s
        peripheral = self._advertising.pop(service, None)
        if peripheral is None:
            raise WalletUnreachable("no wallet advertises the engagement's service")
        self.connections.append(peripheral)
        return peripheral


def _name(characteristic: uuid.UUID) -> str:
    names = {STATE: "state", CLIENT2SERVER: "c2s", SERVER2CLIENT: "s2c"}
    return names.get(characteristic, str(characteristic))
