"""The device side of enrollment and credential rotation (docs/protocol.md, "Enrollment").

First boot: the device makes its own P-256 key (the private key never leaves `dir`, mode 0600),
connects anonymously with its nonce as client id, publishes a CSR with the one-time code and its
Ed25519 device key (with a proof of possession: the hub registers it) and waits for the answer
on its own reply topic; only an answer signed by the CA pinned in the invite counts. A restart
while waiting re-uses the key and nonce (the code is single use).

Rotation (`CredentialKeeper`): on a signed `cred.rotate`, make a new key, send a CSR signed with
the current key, install the signed answer's credential, let the sync reconnect with it, then
report `cred.active` signed with the new key so the hub revokes the old one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from hub_sync.adapters.mqtt import MQTT_V311, ConnectParams, Inbound, MqttConnection, TlsSettings
from hub_sync.errors import EnrollmentError, EnrollmentRefused, MqttError
from hub_sync.protocol import enrollment as wire
from hub_sync.protocol.refusals import RefusalLog
from hub_sync.protocol.strict_json import canonical_json

_LOG = logging.getLogger(__name__)
KEY_FILE, CERT_FILE, CA_FILE, PASSWORD_FILE = "device.key.pem", "device.crt", "ca.pem", "mqtt.pw"
USER_FILE = "mqtt.user"
_STATE_FILE = "enroll.json"


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` readable by the owner only (0600), fsynced, by rename."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """`key` as unencrypted PKCS#8 PEM (the file itself is kept 0600)."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())  # fmt: skip


def load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The device's P-256 private key from its PEM file; `EnrollmentError` (BAD_KEY) otherwise."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise EnrollmentError("BAD_KEY", f"{path} is not a P-256 key")
    return key


@dataclass(frozen=True, slots=True)
class Enrolled:
    """What first boot produced: files in `dir` and the signed answer's config."""

    device: str
    dir: Path
    broker_url: str
    protocol: str
    username: str
    has_password: bool
    config: Mapping[str, Any]
    roots_pem: tuple[str, ...]
    bundle: bytes | None


async def _exchange(
    params: ConnectParams,
    topic: str,
    reply: str,
    payload: bytes,
    accept: Callable[[bytes], bool],
    *,
    resend_s: float,
) -> None:
    """Publish `payload` and wait (forever; cancel to stop) until `accept` takes an answer.

    The request is published again every `resend_s` while no answer came: a hub that was down or
    not yet subscribed gets it then (the same nonce again is a no-op for the hub)."""
    got: asyncio.Queue[Inbound] = asyncio.Queue(100)
    while True:
        conn = MqttConnection(params, lambda m: got.put_nowait(m) if not got.full() else None)
        try:
            await conn.connect()
            await conn.subscribe([(reply, 1)])
            await conn.publish(topic, payload)
            while True:
                closed: asyncio.Future[None] = asyncio.ensure_future(conn.closed)
                nxt: asyncio.Future[Inbound] = asyncio.ensure_future(got.get())
                waiting: set[asyncio.Future[Any]] = {closed, nxt}
                await asyncio.wait(waiting, timeout=resend_s, return_when=asyncio.FIRST_COMPLETED)
                if not nxt.done():
                    nxt.cancel()
                    if closed.done():
                        break
                    await conn.publish(topic, payload)
                    continue
                closed.cancel()
                if accept(nxt.result().payload):
                    return
        except MqttError as err:
            _LOG.warning("enrollment: broker: %s", err)
        finally:
            await conn.disconnect()
        await asyncio.sleep(1.0)


async def first_boot(
    invite: wire.Invite,
    *,
    host: str,
    port: int,
    ca_file: Path | None,
    dir: Path,
    device_key: ed25519.Ed25519PrivateKey,
    protocol: int = MQTT_V311,
    resend_s: float = 30.0,
) -> Enrolled:
    """Enroll with `invite` through the broker's enrollment listener; writes `dir`'s files.

    `device_key` is the device's Ed25519 key (the agent's `device_key.pem`, which signs its audit
    checkpoints and command replies): its public half goes with the request, with a proof of
    possession, and the hub registers it when it issues the credential."""
    key, nonce = await asyncio.to_thread(_key_and_nonce, dir)
    request = canonical_json({"v": 1, "type": "enroll.request", "nonce": nonce,
                              "code": invite.code, "csr": wire.csr_pem(key),
                              "device_key": wire.device_key_proof(device_key, invite.fleet, nonce)
                              })  # fmt: skip
    tls = TlsSettings(ca=str(ca_file) if ca_file else None) if ca_file is not None else None
    params = ConnectParams(host, port, wire.enroll_client_id(nonce), tls=tls, protocol=protocol,
                           clean_start=True, connect_timeout_s=10)  # fmt: skip
    result: dict[str, Any] = {}

    def accept(payload: bytes) -> bool:
        try:
            message, ca = wire.verify_hub_message(payload, invite.pin)
        except EnrollmentError as err:
            _LOG.warning("enrollment: ignored an answer: %s", err.reason)
            return False
        if message.get("nonce") != nonce:
            return False
        if message.get("type") == "enroll.refused":
            raise EnrollmentRefused(str(message.get("reason")), "the hub refused the code")
        result["message"], result["ca"] = message, ca
        return message.get("type") == "enroll.issued"

    reply = wire.reply_topic(invite.fleet, nonce)
    await _exchange(
        params, wire.request_topic(invite.fleet), reply, request, accept, resend_s=resend_s
    )
    message, ca = result["message"], result["ca"]
    device = str(message.get("device"))
    broker = await asyncio.to_thread(_install, dir, key, message, ca, device)
    trust = message.get("trust") or {}
    bundle_b64 = trust.get("bundle_b64")
    await asyncio.to_thread((dir / _STATE_FILE).unlink, missing_ok=True)
    return Enrolled(
        device=device, dir=dir, broker_url=str(broker.get("url")),
        protocol=str(broker.get("protocol", "3.1.1")), username=str(broker.get("username")),
        has_password=broker.get("password_sealed") is not None,
        config=message.get("config") or {}, roots_pem=tuple(trust.get("roots_pem") or ()),
        bundle=base64.b64decode(bundle_b64) if isinstance(bundle_b64, str) else None,
    )  # fmt: skip


def _key_and_nonce(dir: Path) -> tuple[ec.EllipticCurvePrivateKey, str]:
    """Our key pair and request nonce: new, or those of a restart while waiting for approval."""
    dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path, state_path = dir / KEY_FILE, dir / _STATE_FILE
    if key_path.exists() and state_path.exists():
        return load_key(key_path), str(json.loads(state_path.read_text())["nonce"])
    key, nonce = ec.generate_private_key(ec.SECP256R1()), wire.new_nonce()
    write_private(key_path, key_pem(key))
    state_path.write_text(json.dumps({"nonce": nonce}))
    return key, nonce


def _install(
    dir: Path,
    key: ec.EllipticCurvePrivateKey,
    message: Mapping[str, Any],
    ca: x509.Certificate,
    device: str,
    *,
    suffix: str = "",
) -> Mapping[str, Any]:
    """Check the issued credential against our key and write it (files with `suffix`)."""
    cert = wire.load_cert(message.get("cert_pem"))
    wire.check_issued_cert(cert, ca, key, device)
    broker = message.get("broker")
    if not isinstance(broker, Mapping):
        raise EnrollmentError("MALFORMED", "no broker section")
    sealed = broker.get("password_sealed")
    if sealed is not None:
        secret = wire.unseal(key, sealed, str(message.get("nonce")).encode())
        write_private(dir / (PASSWORD_FILE + suffix), secret)
        (dir / (USER_FILE + suffix)).write_text(str(broker.get("username")))
    (dir / (CERT_FILE + suffix)).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if isinstance(broker.get("ca_pem"), str):
        (dir / CA_FILE).write_text(str(broker["ca_pem"]))
    return broker


@dataclass(frozen=True, slots=True)
class Rotated:
    """A credential rotation that took effect: the broker user and, if one was sealed, password."""

    username: str
    password: str | None


class CredentialKeeper:
    """Runs beside the sync on its own connection (client id `D-cred`) and rotates on request.

    `connect` builds the connection parameters from the files in `dir` as they are now;
    `on_rotated` is called once the new credential is installed (the agent reconnects its sync)."""

    def __init__(
        self,
        *,
        fleet: str,
        device: str,
        dir: Path,
        pin: str,
        connect: Callable[[str], ConnectParams],
        on_rotated: Callable[[Rotated], Awaitable[None]],
    ) -> None:
        self._fleet, self._device, self._dir, self._pin = fleet, device, dir, pin
        self._connect = connect
        self._on_rotated = on_rotated
        self._inbox: asyncio.Queue[Inbound] = asyncio.Queue(100)
        self.rotations = 0
        self._active: bytes | None = None
        self._refusals = RefusalLog(_LOG)

    @property
    def refused(self) -> int:
        """How many credential messages were refused (each kind is logged once)."""
        return self._refusals.total

    async def run(self) -> None:
        """Keep the credential connection up until cancelled, answering the hub's rotation messages.

        A lost connection is logged and the connection made again from the files as they are
        then (after a rotation: the new credential). A refused message is counted and logged
        once per kind, and the connection stays: the topic is retained, so reconnecting for it
        only fetched it again (a reconnect and a warning every half second, for good)."""
        while True:
            params = self._connect(self._device + "-cred")
            conn = MqttConnection(params, lambda m: self._inbox.put_nowait(m)
                                  if not self._inbox.full() else None)  # fmt: skip
            try:
                await conn.connect()
                await conn.subscribe([(wire.cred_topic(self._fleet, self._device), 1)])
                if self._active is not None:
                    await conn.publish(wire.credreq_topic(self._fleet, self._device), self._active)
                    self._active = None
                while not conn.closed.done():
                    with contextlib.suppress(TimeoutError):
                        msg = await asyncio.wait_for(self._inbox.get(), 1.0)
                        if await self._handled(conn, msg.payload):
                            break  # new credential: reconnect with it
            except MqttError as err:
                _LOG.info("credential link: %s", err)
            finally:
                await conn.disconnect()
            await asyncio.sleep(0.5)

    async def _handled(self, conn: MqttConnection, payload: bytes) -> bool:
        """`_handle`, with a refusal counted instead of raised: nothing in one message can end
        the task (it runs in the agent's task group, so that would stop the agent)."""
        try:
            return await self._handle(conn, payload)
        except MqttError:
            raise
        except EnrollmentError as err:
            self._refusals.refused("cred", err.reason)
        except Exception as err:  # a defect of ours: logged without the payload, go on
            self._refusals.refused("cred", "INTERNAL", type(err).__name__)
        return False

    def _serial(self, suffix: str = "") -> str:
        cert = x509.load_pem_x509_certificate((self._dir / (CERT_FILE + suffix)).read_bytes())
        return format(cert.serial_number, "x")

    async def _handle(self, conn: MqttConnection, payload: bytes) -> bool:
        """One signed hub message; True once a new credential is installed (reconnect)."""
        message, ca = wire.verify_hub_message(payload, self._pin)
        if message.get("device") != self._device:
            return False
        kind, current = message.get("type"), await asyncio.to_thread(self._serial)
        _LOG.info("credential message %s (ours: %s)", kind, current)
        if kind == "cred.rotate" and message.get("serial") == current:
            request = await asyncio.to_thread(self._new_request, current, message.get("nonce"))
            await conn.publish(wire.credreq_topic(self._fleet, self._device), request)
            return False
        if kind != "cred.issued":
            return False
        installed = await asyncio.to_thread(self._install_new, message, ca)
        if installed is None:
            return False
        rotated, self._active = installed  # `cred.active` goes first on the next connection
        self.rotations += 1
        await self._on_rotated(rotated)
        return True

    def _new_request(self, serial: str, nonce: object) -> bytes:
        """A new key (kept as `.new` until its certificate comes) and the CSR, signed with the
        current key. File work: runs in a thread."""
        new_key = ec.generate_private_key(ec.SECP256R1())
        write_private(self._dir / (KEY_FILE + ".new"), key_pem(new_key))
        req = {"v": 1, "type": "cred.request", "device": self._device, "serial": serial,
               "nonce": nonce, "csr": wire.csr_pem(new_key, self._device)}  # fmt: skip
        return wire.sign_device_request(load_key(self._dir / KEY_FILE), req)

    def _install_new(
        self, message: Mapping[str, Any], ca: x509.Certificate
    ) -> tuple[Rotated, bytes] | None:
        """Install the issued credential for our `.new` key; (what changed, signed cred.active)."""
        new_key_path = self._dir / (KEY_FILE + ".new")
        if not new_key_path.exists():
            return None
        new_key = load_key(new_key_path)
        broker = _install(self._dir, new_key, message, ca, self._device, suffix=".new")
        for name in (USER_FILE, PASSWORD_FILE, CERT_FILE, KEY_FILE):  # the key last: "done"
            new = self._dir / (name + ".new")
            if new.exists():
                new.replace(self._dir / name)
        pw_path = self._dir / PASSWORD_FILE
        password = pw_path.read_text().strip() if broker.get("password_sealed") else None
        active = {"v": 1, "type": "cred.active", "device": self._device, "serial": self._serial()}
        signed = wire.sign_device_request(new_key, active)
        return Rotated(str(broker.get("username")), password), signed
