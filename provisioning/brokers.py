"""Per-device broker credentials and ACLs, applied to the broker the hub runs on.

- Mosquitto (a site): devices authenticate with a TLS client certificate from the fleet device CA
  (`use_identity_as_username`: the user name is the certificate's CN, the locker id) and the ACL
  `pattern` lines give each one its own topics only. Revocation writes the CA's CRL, reloads the
  broker (SIGHUP: Mosquitto 2 re-reads `crlfile` for new connections) and closes the device's live
  session by taking over its client id from the hub's listener.
- NATS (the fleet cluster): one user per device credential (`D~n`, bcrypt password) with subject
  permissions for its own topics, in an include file every node reads; a reload (SIGHUP) applies
  it and closes the sessions of users that are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import secrets
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from hub_sync.adapters.mqtt import MQTT_V311, ConnectParams, MqttConnection, TlsSettings
from hub_sync.errors import MqttError
from provisioning.device_ca import DeviceCa
from provisioning.registry import Credential

#: device ids of a session to close; its cred connection has the suffix
CRED_CLIENT_SUFFIX = "-cred"
#: the broker password is 32 random bytes: bcrypt's cost only slows each connect down
_BCRYPT_ROUNDS = 6


class BrokerAdmin(Protocol):
    """What the enrollment service needs from a broker."""

    uses_passwords: bool

    async def apply(
        self, live: Sequence[Credential], revoked: Sequence[Credential], kick: Sequence[str]
    ) -> None:
        """Make exactly `live` work, refuse `revoked`, close `kick` devices' sessions."""


def hash_secret(secret: str) -> str:
    """The bcrypt hash a NATS users file holds for a broker password (cost 6: see above)."""
    return bcrypt.hashpw(secret.encode(), bcrypt.gensalt(_BCRYPT_ROUNDS, prefix=b"2a")).decode()


def _atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def _hup(pids: Sequence[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGHUP)


def mosquitto_device_acl(fleet: str) -> str:
    """The ACL of the device listener (`%u` = the certificate CN = the locker id)."""
    lines = [f"pattern write lk/v1/{fleet}/%u/{leaf}"
             for leaf in ("evt", "reply", "state", "status", "credreq", "photo")]  # fmt: skip
    lines += [f"pattern read lk/v1/{fleet}/%u/{leaf}"
              for leaf in ("cmd", "confirm", "cred", "photo_ack")]  # fmt: skip
    lines += [f"pattern read lk/v1/{fleet}/trust", f"pattern read lk/v1/{fleet}/hub"]
    return "\n".join(lines) + "\n"


def mosquitto_enroll_acl(fleet: str) -> str:
    """The ACL of the anonymous enrollment listener: write the request topic, read the reply
    topic that names the client's own id (the request's nonce), nothing else."""
    return f"topic write lk/v1/{fleet}/enroll/req\npattern read lk/v1/{fleet}/enroll/%c/reply\n"


def mosquitto_hub_acl(fleet: str, hub_user: str) -> str:
    """The ACL of the hub's own user: every topic of the fleet."""
    return f"user {hub_user}\ntopic readwrite lk/v1/{fleet}/#\n"


def write_crl(ca: DeviceCa, revoked: Sequence[Credential], path: Path, now: float) -> None:
    """Write the device CA's CRL of `revoked` to `path` (valid for 7 days, by rename)."""
    at = datetime.datetime.fromtimestamp(now, tz=datetime.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(at - datetime.timedelta(minutes=5))
        .next_update(at + datetime.timedelta(days=7))
    )
    for cred in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(int(cred.serial, 16))
            .revocation_date(
                datetime.datetime.fromtimestamp(cred.revoked_at or now, tz=datetime.UTC)
            )
            .build()
        )
    crl = builder.sign(ca.key, hashes.SHA256())
    _atomic_write(path, crl.public_bytes(serialization.Encoding.PEM), 0o644)


@dataclass(frozen=True, slots=True)
class KickVia:
    """Where the hub's own listener is, to take over a revoked device's client id."""

    host: str
    port: int
    username: str
    password: str
    tls: TlsSettings | None = None


async def take_over(via: KickVia, client_ids: Sequence[str]) -> None:
    """Connect with each client id (clean session) and leave: the broker closes the old session."""
    for cid in client_ids:
        params = ConnectParams(via.host, via.port, cid, username=via.username,
                               password=via.password, tls=via.tls, protocol=MQTT_V311,
                               clean_start=True, connect_timeout_s=5)  # fmt: skip
        conn = MqttConnection(params, lambda _m: None)
        with contextlib.suppress(MqttError, TimeoutError):
            await conn.connect()
        await conn.disconnect()


@dataclass
class MosquittoAdmin:
    """The `BrokerAdmin` of a Mosquitto site: certificates from the CA, revoked by its CRL."""

    ca: DeviceCa
    crl_path: Path
    pids: Callable[[], Sequence[int]]
    kick_via: KickVia
    clock: Callable[[], float]
    uses_passwords: bool = False
    _applied: tuple[str, ...] | None = None

    async def apply(
        self, live: Sequence[Credential], revoked: Sequence[Credential], kick: Sequence[str]
    ) -> None:
        """Write the CRL of `revoked` and reload the broker when it changed, then close the `kick`
        devices' sessions (and their credential connections) by taking over their client ids."""
        del live  # certificates from the CA are valid until revoked: nothing to add
        serials = tuple(sorted(c.serial for c in revoked))
        if serials == self._applied and not kick:
            return  # no change: no reload
        self._applied = serials
        await asyncio.to_thread(write_crl, self.ca, revoked, self.crl_path, self.clock())
        _hup(self.pids())
        if kick:
            await asyncio.sleep(0.2)  # the broker handles SIGHUP in its next loop turn
            ids = [c for d in kick for c in (d, d + CRED_CLIENT_SUFFIX)]
            await take_over(self.kick_via, ids)


def nats_device_permissions(fleet: str, device: str) -> str:
    """A device's NATS permissions: publish and subscribe to its own subjects only."""
    base = f"lk.v1.{fleet}"
    pub = [f'"{base}.{device}.{leaf}"'
           for leaf in ("evt", "reply", "state", "status", "credreq", "photo")]  # fmt: skip
    sub = [f'"{base}.{device}.{leaf}"' for leaf in ("cmd", "confirm", "cred", "photo_ack")]
    sub += [f'"{base}.trust"', f'"{base}.hub"', '"$MQTT.sub.>"']
    return (f"permissions: {{publish: {{allow: [{', '.join(pub)}]}},"
            f" subscribe: {{allow: [{', '.join(sub)}]}}}}")  # fmt: skip


def nats_users(
    fleet: str,
    *,
    hub_user: str,
    hub_hash: str,
    enroll_password: str,
    live: Sequence[Credential],
    retired: Sequence[Credential] = (),
    tombstone_hash: str = "",
) -> str:
    """The include file: the hub, the anonymous enrollment user, one user per live credential.

    The enrollment user is `no_auth_user` (what an MQTT client without credentials becomes); its
    password is plain random text nobody uses: nats-server 2.9 refuses `no_auth_user` clients
    when that user's password is a bcrypt hash."""
    enroll_perm = (
        f'permissions: {{publish: {{allow: ["lk.v1.{fleet}.enroll.req"]}},'
        f' subscribe: {{allow: ["lk.v1.{fleet}.enroll.*.reply", "$MQTT.sub.>"]}}}}'
    )
    # explicit permissions for the hub too: nats-server 2.9.10 crashes on reload while checking
    # retained messages published by a user without any (mqttCheckPubRetainedPerms, nil perms)
    hub_perm = 'permissions: {publish: {allow: [">"]}, subscribe: {allow: [">"]}}'
    users = [f'    {{user: "{hub_user}", password: "{hub_hash}", {hub_perm}}}',
             f'    {{user: "enroll", password: "{enroll_password}", {enroll_perm}}}']  # fmt: skip
    for c in live:
        if c.secret_hash is None:
            continue
        users.append(f'    {{user: "{c.broker_user}", password: "{c.secret_hash}",'
                     f" {nats_device_permissions(fleet, c.device)}}}")  # fmt: skip
    # a tombstone per retired credential: same permissions, a password nobody has (NatsAdmin)
    users.extend(
        f'    {{user: "{c.broker_user}", password: "{tombstone_hash}",'
        f" {nats_device_permissions(fleet, c.device)}}}"
        for c in retired
        if c.secret_hash is not None and tombstone_hash
    )
    return ("authorization {\n  users = [\n" + "\n".join(users) + "\n  ]\n}\n"
            "no_auth_user: enroll\n")  # fmt: skip


@dataclass
class NatsAdmin:
    """Writes the users include file and reloads the nodes.

    A revoked (or rotated-out) credential is not deleted from the file: its user stays, with its
    permissions, under a password hash nobody has the password of (`tombstone_hash`). The reload
    then closes its sessions (the stored password no longer matches) and refuses new ones. Deleting
    the user instead crashes nats-server 2.9.10 on the next reload in a cluster
    (`mqttCheckPubRetainedPerms` removes the retained messages the deleted user had published,
    e.g. a locker's retained `state`, and dereferences a nil subscription for the copies a node
    learned from the stream): measured here, every node died."""

    fleet: str
    users_path: Path
    pids: Callable[[], Sequence[int]]
    hub_user: str
    hub_hash: str
    enroll_password: str
    tombstone_hash: str = field(default_factory=lambda: hash_secret(secrets.token_urlsafe(32)))
    uses_passwords: bool = True
    _applied: str | None = None

    async def apply(
        self, live: Sequence[Credential], revoked: Sequence[Credential], kick: Sequence[str]
    ) -> None:
        """Write the users file for `live` (tombstones for `revoked`) and reload the nodes when it
        changed; the reload itself closes the sessions of credentials that are gone."""
        del kick  # the reload closes the sessions of a credential whose password changed
        text = nats_users(
            self.fleet, hub_user=self.hub_user, hub_hash=self.hub_hash,
            enroll_password=self.enroll_password, live=live, retired=revoked,
            tombstone_hash=self.tombstone_hash,
        )  # fmt: skip
        if text == self._applied:
            return  # no change: no reload
        self._applied = text
        await asyncio.to_thread(_atomic_write, self.users_path, text.encode())
        _hup(self.pids())
