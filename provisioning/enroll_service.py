"""The hub's enrollment service: first-boot requests, approvals, credentials, revocation, rotation.

One process per fleet next to the hub (`locker-hub enroll-service`). It reads requests over MQTT
with the hub's credentials, keeps the registry in the hub's PostgreSQL, signs every answer with
the fleet device CA key, and owns the broker's device credentials (`provisioning.brokers`). The
admin's CLI only writes the registry and sends `NOTIFY lk_registry`; the service reconciles at
once (and every `reconcile_s` anyway), so a revocation reaches the broker in well under a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from hub_sync.adapters.mqtt import ConnectParams, Inbound, MqttConnection
from hub_sync.errors import EnrollmentError, MqttError, WireError
from hub_sync.hub.audit import enroll_device_key
from hub_sync.hub.db import Conn
from hub_sync.protocol import enrollment as wire
from hub_sync.protocol.strict_json import loads_strict
from provisioning import registry, rotation
from provisioning.brokers import BrokerAdmin, hash_secret
from provisioning.credentials import (
    DeviceProfile,
    answer,
    credential_fields,
    issue_client_cert,
    new_password,
    serial_hex,
)
from provisioning.device_ca import DeviceCa
from provisioning.errors import ProvisioningError, RegistryRefusal

_LOG = logging.getLogger(__name__)
NOTIFY_CHANNEL = "lk_registry"


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """What the service needs besides its collaborators: the fleet, the invite secret, what
    devices are told, the hub's MQTT connection, how often to reconcile, certificate lifetime."""

    fleet: str
    invite_secret: bytes
    profile: DeviceProfile
    connect: ConnectParams
    reconcile_s: float = 5.0
    cert_days: float = 397.0


class EnrollmentService:
    """Answers enrollment and credential requests and keeps the broker in step with the registry.

    Requests arrive over MQTT; the registry (PostgreSQL) is the truth; `NOTIFY lk_registry` (or
    every `reconcile_s`) makes the broker's credentials match it."""

    def __init__(
        self,
        settings: ServiceSettings,
        ca: DeviceCa,
        broker: BrokerAdmin,
        pool: asyncpg.Pool,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.s = settings
        self._ca = ca
        self._broker = broker
        self._pool = pool
        self._clock = clock
        self._inbox: asyncio.Queue[Inbound] = asyncio.Queue(10_000)
        self._wake = asyncio.Event()
        self._conn: MqttConnection | None = None
        self._known_revoked: set[str] | None = None
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Serve until cancelled."""
        listener = await self._pool.acquire()
        await listener.add_listener(NOTIFY_CHANNEL, self._notified)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._mqtt_forever(), name="enroll-mqtt")
                group.create_task(self._reconcile_forever(), name="enroll-reconcile")
        finally:
            with contextlib.suppress(Exception):
                await listener.remove_listener(NOTIFY_CHANNEL, self._notified)
            await asyncio.shield(self._pool.release(listener))

    def _notified(self, *_args: object) -> None:
        self._wake.set()

    async def _mqtt_forever(self) -> None:
        f = self.s.fleet
        while True:
            conn = MqttConnection(self.s.connect, self._inbox.put_nowait)
            try:
                await conn.connect()
                await conn.subscribe([(wire.request_topic(f), 1), (f"lk/v1/{f}/+/credreq", 1)])
                self._conn = conn
                self._wake.set()
                self.ready.set()
                reader = asyncio.create_task(self._read(conn))
                await asyncio.wait([reader, asyncio.ensure_future(conn.closed)],
                                   return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                reader.cancel()
            except MqttError as err:
                _LOG.warning("enrollment service: broker: %s", err)
            finally:
                self._conn = None
                await conn.disconnect()
            await asyncio.sleep(0.5)

    async def _read(self, conn: MqttConnection) -> None:
        del conn
        while True:
            msg = await self._inbox.get()
            try:
                await self._handle(msg)
            except (EnrollmentError, ProvisioningError) as err:
                _LOG.warning("enrollment message on %s refused: %s", msg.topic[:80], err)
            self._wake.set()

    async def _handle(self, msg: Inbound) -> None:
        if msg.topic == wire.request_topic(self.s.fleet):
            await self._on_request(msg.payload)
        elif msg.topic.endswith("/credreq"):
            await self._on_credreq(msg.topic.split("/")[3], msg.payload)

    async def _on_request(self, payload: bytes) -> None:
        try:
            req = loads_strict(payload)
        except WireError as err:
            raise EnrollmentError("MALFORMED", err.detail) from err
        nonce, code, csr = req.get("nonce"), req.get("code"), req.get("csr")
        if req.get("type") != "enroll.request" or not isinstance(nonce, str) \
                or not wire.NONCE_RE.match(nonce) or not isinstance(code, str):  # fmt: skip
            raise EnrollmentError("MALFORMED", "not an enroll.request")
        now = self._clock()
        try:
            wire.load_csr_key(csr)
            # checked before the invite is used: a request without a valid proof spends no code
            proof = req.get("device_key")
            wire.verify_device_key(proof, self.s.fleet, nonce)
            async with self._pool.acquire() as conn:
                claim = await registry.claim_invite(
                    conn, fleet=self.s.fleet, digest=wire.code_digest(self.s.invite_secret, code),
                    nonce=nonce, csr=str(csr), now=now, device_key_proof=proof,
                )  # fmt: skip
                if claim.auto_approve:
                    await registry.approve(conn, fleet=self.s.fleet, device=claim.device, now=now)
            _LOG.info("enrollment request for %s (%s)", claim.device,
                      "auto-approved" if claim.auto_approve else "waits for approval")  # fmt: skip
        except RegistryRefusal as err:
            if err.reason != "DUPLICATE":
                await self._refuse(nonce, err.reason)
        except EnrollmentError as err:
            await self._refuse(nonce, err.reason)

    async def _refuse(self, nonce: str, reason: str) -> None:
        _LOG.warning("enrollment refused: %s", reason)
        payload = answer(self._ca, kind="enroll.refused", nonce=nonce, device=None,
                         now=self._clock(), fields={"reason": reason})  # fmt: skip
        await self._publish(wire.reply_topic(self.s.fleet, nonce), payload)

    async def _publish(self, topic: str, payload: bytes) -> None:
        conn = self._conn
        if conn is None:
            raise MqttError("enrollment service is not connected")
        await conn.publish(topic, payload, retain=True)

    async def _reconcile_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.s.reconcile_s)
            self._wake.clear()
            if self._conn is None:
                continue
            try:
                await self.reconcile()
            except (MqttError, OSError, asyncpg.PostgresError) as err:
                _LOG.warning("enrollment reconcile: %s", err)
                self._wake.set()
                await asyncio.sleep(0.5)

    async def reconcile(self) -> None:
        """Answer approved requests, apply credentials and revocations, drive rotations."""
        async with self._pool.acquire() as conn:
            for item in await registry.approved_unanswered(conn, self.s.fleet):
                try:
                    await self._issue(conn, item)
                except EnrollmentError as err:  # no valid device-key proof: refused, code spent
                    await registry.refuse_approved(conn, item.invite_id, self._clock())
                    await self._refuse(item.nonce, err.reason)
            await self._apply_broker(conn)
            for rot in await rotation.open_rotations(conn, self.s.fleet):
                if rot.nonce is None:
                    await self._ask_rotation(conn, rot)

    async def _apply_broker(self, conn: Conn) -> None:
        live = await registry.live_credentials(conn, self.s.fleet)
        revoked = await registry.revoked_credentials(conn, self.s.fleet)
        serials = {c.serial for c in revoked}
        new = serials - (self._known_revoked or set())
        kick: list[str] = []
        if new:
            rows = await conn.fetch(
                "SELECT DISTINCT device FROM device_credentials WHERE fleet=$1"
                " AND serial = ANY($2::text[])", self.s.fleet, sorted(new),
            )  # fmt: skip
            live_devices = {c.device for c in live}
            kick = [str(r["device"]) for r in rows if r["device"] not in live_devices]
        await self._broker.apply(live, revoked, kick)
        if kick:
            _LOG.warning("revoked and disconnected: %s", kick)
        self._known_revoked = serials

    async def _issue(self, conn: Conn, item: registry.Approved) -> None:
        """Issue the credential of an approved request and register its device key with it
        (one transaction: the hub verifies the locker's replies from its first connection)."""
        now = self._clock()
        key = wire.load_csr_key(item.csr)
        device_key = wire.verify_device_key(item.device_key_proof, self.s.fleet, item.nonce)
        cert = issue_client_cert(self._ca, item.device, key, now=now, valid_days=self.s.cert_days)
        username, password, secret_hash = await self._broker_secret(conn, item.device)
        async with conn.transaction():
            await enroll_device_key(conn, self.s.fleet, item.device, raw_public_pem(device_key),
                                    now)  # fmt: skip
            await registry.record_credential(
                conn, fleet=self.s.fleet, device=item.device, serial=serial_hex(cert),
                cert_pem=wire_pem(cert), broker_user=username, secret_hash=secret_hash, now=now,
                not_after=cert.not_valid_after_utc.timestamp(), invite_id=item.invite_id,
            )  # fmt: skip
        await self._apply_broker(conn)
        p = self.s.profile
        fields: dict[str, Any] = credential_fields(p, cert, key, username=username,
                                                   password=password, nonce=item.nonce)  # fmt: skip
        fields["config"] = {"fleet": p.fleet, "site": item.site, "layout": dict(item.layout)}
        fields["trust"] = {"roots_pem": list(p.roots_pem), "bundle_b64": p.bundle_b64}
        payload = answer(self._ca, kind="enroll.issued", nonce=item.nonce, device=item.device,
                         now=now, fields=fields)  # fmt: skip
        await self._publish(wire.reply_topic(self.s.fleet, item.nonce), payload)
        _LOG.info("enrolled %s (certificate %s)", item.device, serial_hex(cert))

    async def _broker_secret(self, conn: Conn, device: str) -> tuple[str, str | None, str | None]:
        if not self._broker.uses_passwords:
            return device, None, None
        n = await conn.fetchval(
            "SELECT count(*) FROM device_credentials WHERE fleet=$1 AND device=$2",
            self.s.fleet, device,
        )  # fmt: skip
        password = new_password()
        secret_hash = await asyncio.to_thread(hash_secret, password)
        return f"{device}~{int(n) + 1}", password, secret_hash

    # -- rotation -------------------------------------------------------------------------

    async def _ask_rotation(self, conn: Conn, rot: rotation.Rotation) -> None:
        nonce = wire.new_nonce()
        payload = answer(self._ca, kind="cred.rotate", nonce=nonce, device=rot.device,
                         now=self._clock(), fields={"serial": rot.old_serial})  # fmt: skip
        await rotation.mark(conn, self.s.fleet, rot, nonce=nonce)  # before: the answer is quick
        try:
            await self._publish(wire.cred_topic(self.s.fleet, rot.device), payload)
        except MqttError:
            await rotation.unmark(conn, self.s.fleet, rot)  # asked again on the next reconcile
            raise
        _LOG.info("asked %s to rotate certificate %s", rot.device, rot.old_serial)

    async def _on_credreq(self, device: str, payload: bytes) -> None:
        try:
            req = loads_strict(payload)
        except WireError as err:
            raise EnrollmentError("MALFORMED", err.detail) from err
        if req.get("device") != device:
            raise EnrollmentError("WRONG_DEVICE", "request names another device")
        async with self._pool.acquire() as conn:
            live = {c.serial: c for c in await registry.live_credentials(conn, self.s.fleet)
                    if c.device == device}  # fmt: skip
            cred = live.get(str(req.get("serial")))
            if cred is None:
                raise EnrollmentError("UNKNOWN_SERIAL", "not a live credential")
            cert_key = wire.load_cert(cred.cert_pem).public_key()
            if not isinstance(cert_key, ec.EllipticCurvePublicKey):
                raise EnrollmentError("BAD_CERT", "not a P-256 certificate")
            wire.verify_with(cert_key, req)  # signed with the key of that live credential
            _LOG.info("credential message %s from %s", req.get("type"), device)
            if req.get("type") == "cred.request":
                await self._rotate(conn, device, cred.serial, req)
            elif req.get("type") == "cred.active":
                old = await rotation.finish(conn, self.s.fleet, device, cred.serial,
                                            self._clock())  # fmt: skip
                if old is not None:
                    await registry.revoke_serials(conn, fleet=self.s.fleet, serials=[old],
                                                  now=self._clock())  # fmt: skip
                    await self._apply_broker(conn)
                    _LOG.info("rotation of %s done; old certificate %s revoked", device, old)

    async def _rotate(self, conn: Conn, device: str, serial: str, req: Mapping[str, Any]) -> None:
        rots = [r for r in await rotation.open_rotations(conn, self.s.fleet)
                if r.device == device and r.old_serial == serial]  # fmt: skip
        nonce = req.get("nonce")
        if not rots or rots[0].nonce != nonce or rots[0].new_serial is not None:
            raise EnrollmentError("NO_ROTATION", "no rotation asked with this nonce")
        now = self._clock()
        key = wire.load_csr_key(req.get("csr"))
        cert = issue_client_cert(self._ca, device, key, now=now, valid_days=self.s.cert_days)
        username, password, secret_hash = await self._broker_secret(conn, device)
        await registry.record_credential(
            conn, fleet=self.s.fleet, device=device, serial=serial_hex(cert),
            cert_pem=wire_pem(cert), broker_user=username, secret_hash=secret_hash, now=now,
            not_after=cert.not_valid_after_utc.timestamp(),
        )  # fmt: skip
        await rotation.mark(conn, self.s.fleet, rots[0], new_serial=serial_hex(cert))
        await self._apply_broker(conn)  # the new credential works before the device gets it
        fields = credential_fields(self.s.profile, cert, key, username=username,
                                   password=password, nonce=str(nonce))  # fmt: skip
        payload = answer(self._ca, kind="cred.issued", nonce=str(nonce), device=device,
                         now=now, fields=fields)  # fmt: skip
        await self._publish(wire.cred_topic(self.s.fleet, device), payload)


def raw_public_pem(raw: bytes) -> bytes:
    """A raw Ed25519 public key as PEM (SubjectPublicKeyInfo), as `enroll_device_key` takes it."""
    return ed25519.Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def wire_pem(cert: Any) -> str:
    """The certificate as PEM text, as the registry stores it."""
    from provisioning.credentials import pem

    return pem(cert)
