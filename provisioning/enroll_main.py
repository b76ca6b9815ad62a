"""`locker-hub enroll-service`: run the enrollment service of one fleet (docs/provisioning.md).

    locker-hub enroll-service --fleet F --dsn DSN --mqtt HOST:PORT --mqtt-user hub \\
        --mqtt-password-file hub.pw --device-ca device-ca.pem --device-ca-key device-ca.key.pem \\
        --invite-secret invite.secret --device-url mqtts://site.example:8883 \\
        --broker mosquitto --crl /etc/mosquitto/crl.pem --broker-pid-file /run/mosquitto.pid

or, for the cluster, `--broker nats --nats-users /etc/nats/users.conf --broker-pid-file
/run/nats-1.pid ...` (one pid file per node on this machine). The device CA key may be encrypted:
its passphrase comes from `LOCKER_ADMIN_PASSPHRASE` or `--passphrase-file`, never the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hub_sync.adapters.mqtt import MQTT_V311, ConnectParams
from hub_sync.hub.db import connect_pool, migrate
from provisioning import keyfiles, registry
from provisioning.brokers import (
    BrokerAdmin,
    KickVia,
    MosquittoAdmin,
    NatsAdmin,
    hash_secret,
    write_crl,
)
from provisioning.credentials import DeviceProfile
from provisioning.device_ca import DeviceCa
from provisioning.enroll_service import EnrollmentService, ServiceSettings
from provisioning.errors import ExitStatus, ProvisioningError


def add_args(p: argparse.ArgumentParser) -> None:
    """The options of `locker-hub enroll-service`: fleet, registry, hub listener, device CA,
    invite secret, what devices are told, and the broker to manage."""
    p.add_argument("--fleet", required=True)
    p.add_argument("--dsn", default=os.environ.get("LOCKER_HUB_DSN"), required=False)
    p.add_argument("--mqtt", required=True, help="HOST:PORT of the hub's MQTT listener")
    p.add_argument("--mqtt-user", required=True)
    p.add_argument("--mqtt-password-file", type=Path, required=True)
    p.add_argument("--device-ca", type=Path, required=True, help="device CA certificate (PEM)")
    p.add_argument("--device-ca-key", type=Path, required=True, help="its private key (PEM)")
    p.add_argument("--passphrase-file", type=Path, help="if the CA key is encrypted")
    p.add_argument("--invite-secret", type=Path, required=True)
    p.add_argument("--device-url", required=True, help="broker URL devices use after enrolling")
    p.add_argument("--device-protocol", default="3.1.1")
    p.add_argument("--root", type=Path, action="append", default=[], help="pinned root (PEM)")
    p.add_argument("--bundle", type=Path, help="the current trust bundle to hand out")
    p.add_argument("--broker", choices=["mosquitto", "nats"], required=True)
    p.add_argument("--crl", type=Path, help="mosquitto: the crlfile to write")
    p.add_argument("--nats-users", type=Path, help="nats: the users include file to write")
    p.add_argument("--broker-pid-file", type=Path, action="append", default=[])


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise ProvisioningError(f"{path}: {err.strerror}", ExitStatus.INPUT_UNREADABLE) from err


def load_ca(cert_path: Path, key_path: Path, passphrase_file: Path | None) -> DeviceCa:
    """The fleet device CA; an encrypted key (what `fleet init` writes) is opened with the
    passphrase helper: `--passphrase-file`, else `LOCKER_ADMIN_PASSPHRASE`, else a prompt."""
    key = keyfiles.decrypt_pem(_read(key_path), key_path, passphrase_file)
    try:
        cert = x509.load_pem_x509_certificate(_read(cert_path))
    except ValueError as err:
        raise ProvisioningError(f"{cert_path}: not a PEM certificate") from err
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise ProvisioningError(f"{key_path} is not the P-256 key of {cert_path}")
    return DeviceCa(key, cert)


def _pids(files: list[Path]) -> list[int]:
    out = []
    for f in files:
        try:
            out.append(int(f.read_text().strip()))
        except (OSError, ValueError):
            continue  # a node that is down reads the new file when it starts
    return out


def build_broker(ns: argparse.Namespace, ca: DeviceCa, host: str, port: int) -> BrokerAdmin:
    """The `BrokerAdmin` `--broker` names, with the options it needs (`--crl` or `--nats-users`)."""
    password = _read(ns.mqtt_password_file).decode().strip()
    files: list[Path] = ns.broker_pid_file
    if ns.broker == "mosquitto":
        if ns.crl is None:
            raise ProvisioningError("--broker mosquitto needs --crl", ExitStatus.USAGE)
        via = KickVia(host, port, ns.mqtt_user, password)
        return MosquittoAdmin(ca, ns.crl, lambda: _pids(files), via, time.time)
    if ns.nats_users is None:
        raise ProvisioningError("--broker nats needs --nats-users", ExitStatus.USAGE)
    return NatsAdmin(ns.fleet, ns.nats_users, lambda: _pids(files), ns.mqtt_user,
                     hash_secret(password), base64.b32encode(os.urandom(20)).decode())  # fmt: skip


async def serve(ns: argparse.Namespace) -> None:
    """Migrate the hub's database and run the enrollment service until cancelled."""
    if not ns.dsn:
        raise ProvisioningError("give --dsn or LOCKER_HUB_DSN", ExitStatus.USAGE)
    host, _, port_text = ns.mqtt.rpartition(":")
    ca = load_ca(ns.device_ca, ns.device_ca_key, ns.passphrase_file)
    broker = build_broker(ns, ca, host, int(port_text))
    roots = tuple(_read(r).decode() for r in ns.root)
    bundle = base64.b64encode(_read(ns.bundle)).decode() if ns.bundle else None
    ca_pem = ca.cert.public_bytes(serialization.Encoding.PEM).decode()
    profile = DeviceProfile(ns.fleet, ns.device_url, ns.device_protocol, ca_pem, roots, bundle)
    params = ConnectParams(host, int(port_text), f"enroll-{ns.fleet}", username=ns.mqtt_user,
                           password=_read(ns.mqtt_password_file).decode().strip(),
                           protocol=MQTT_V311, clean_start=True)  # fmt: skip
    secret = bytes.fromhex(_read(ns.invite_secret).decode().strip())
    pool = await connect_pool(ns.dsn)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
            if isinstance(broker, MosquittoAdmin):
                # the broker's crlfile must exist before it starts (it refuses to start without)
                revoked = await registry.revoked_credentials(conn, ns.fleet)
                await asyncio.to_thread(write_crl, ca, revoked, ns.crl, time.time())
        await EnrollmentService(ServiceSettings(ns.fleet, secret, profile, params), ca,
                                broker, pool).run()  # fmt: skip
    finally:
        await pool.close()


def main(ns: argparse.Namespace) -> int:
    """Serve until interrupted; errors end in one line and their exit status."""
    try:
        asyncio.run(serve(ns))
    except ProvisioningError as err:
        print(f"locker-hub: error: {err}", file=sys.stderr)
        return int(err.status)
    except KeyboardInterrupt:
        return 0
    return 0
