"""The enrollment service registers a request's device key when it issues the credential.

Against the hub's PostgreSQL, with the service's broker and MQTT connection replaced by fakes
that record what it did: an approved request with a valid proof gets its credential and its key
in `device_keys`; an approved request without one (stored before requests carried a key) is
refused by name, its invite closed, no key and no credential, and the service goes on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from hub_sync.adapters.mqtt import ConnectParams
from hub_sync.hub.db import Conn, connect_pool
from hub_sync.protocol import enrollment as wire
from provisioning import registry
from provisioning.credentials import DeviceProfile
from provisioning.device_ca import create_ca
from provisioning.enroll_service import EnrollmentService, ServiceSettings
from provisioning.registry import Credential

FLEET = "fk"
SECRET = b"s" * 32


class _Broker:
    uses_passwords = False

    async def apply(
        self, live: Sequence[Credential], revoked: Sequence[Credential], kick: Sequence[str]
    ) -> None:
        del live, revoked, kick


class _Conn:
    def __init__(self) -> None:
        self.sent: dict[str, dict[str, object]] = {}

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        assert retain
        self.sent[topic] = json.loads(payload)


async def _request(conn: Conn, device: str, proof: dict[str, str] | None) -> str:
    """Invite `device`, use the invite with a request carrying `proof`, approve it: the nonce."""
    nonce, code, now = wire.new_nonce(), wire.new_code(), time.time()
    digest = wire.code_digest(SECRET, code)
    await registry.create_invite(conn, fleet=FLEET, device=device, site="s", layout={},
                                 digest=digest, now=now, ttl_s=3600)  # fmt: skip
    csr = wire.csr_pem(ec.generate_private_key(ec.SECP256R1()))
    await registry.claim_invite(conn, fleet=FLEET, digest=digest, nonce=nonce, csr=csr,
                                now=now, device_key_proof=proof)  # fmt: skip
    assert await registry.approve(conn, fleet=FLEET, device=device, now=now) == 1
    return nonce


async def test_issuing_registers_the_device_key_and_a_request_without_one_is_refused(
    dsn: str,
) -> None:
    pool = await connect_pool(dsn)
    try:
        profile = DeviceProfile(FLEET, "mqtt://127.0.0.1:1", "3.1.1", None, (), None)
        settings = ServiceSettings(FLEET, SECRET, profile, ConnectParams("127.0.0.1", 1, "svc"))
        service = EnrollmentService(settings, create_ca(FLEET, now=time.time()), _Broker(), pool)
        fake = _Conn()
        service._conn = fake  # type: ignore[assignment]  # no broker here: record what it sends
        key = ed25519.Ed25519PrivateKey.generate()
        async with pool.acquire() as conn:
            good = await _request(conn, "lk-1", None)
        # the proof is made for the request's own nonce (as the device does)
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE device_invites SET device_key_proof=$2 WHERE nonce=$1",
                good, json.dumps(wire.device_key_proof(key, FLEET, good)),
            )  # fmt: skip
            stale = await _request(conn, "lk-2", None)  # a request from before the device key
        await service.reconcile()

        issued = fake.sent[wire.reply_topic(FLEET, good)]
        assert issued["type"] == "enroll.issued"
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        keys = {r["device"]: bytes(r["public_key"]) for r in await pool.fetch(
            "SELECT device, public_key FROM device_keys WHERE fleet=$1", FLEET)}  # fmt: skip
        assert keys == {"lk-1": raw}

        refused = fake.sent[wire.reply_topic(FLEET, stale)]
        assert (refused["type"], refused["reason"]) == ("enroll.refused", "DEVICE_KEY_MISSING")
        assert (
            await pool.fetchval("SELECT status FROM device_invites WHERE nonce=$1", stale)
            == "cancelled"
        )
        assert (
            await pool.fetchval("SELECT count(*) FROM device_credentials WHERE device='lk-2'") == 0
        )
        fake.sent.clear()
        await service.reconcile()  # answered once: nothing more to do for either
        assert fake.sent == {}
    finally:
        await pool.close()
