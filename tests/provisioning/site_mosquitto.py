"""A site's Mosquitto for the device lifecycle tests, with per-device credentials.

Three listeners: devices (TLS client certificates from the fleet device CA,
`use_identity_as_username`, CRL, per-device ACL patterns), enrollment (TLS, anonymous, write the
request topic, read only `%c`'s reply) and the hub (password). It also starts the enrollment
service as its own process, the way it runs beside a site's hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hub_sync.adapters.mqtt import MQTT_V311, ConnectParams
from hub_sync.device.enroll import key_pem, write_private
from provisioning.brokers import (
    KickVia,
    MosquittoAdmin,
    mosquitto_device_acl,
    mosquitto_enroll_acl,
    mosquitto_hub_acl,
    write_crl,
)
from provisioning.credentials import DeviceProfile, issue_client_cert
from provisioning.device_ca import cert_pem
from tests.provisioning.lifecycle import FLEET, HUB_PASSWORD, HUB_USER, Fleet, admin, free_port


@dataclass
class SiteMosquitto:
    root: Path
    fleet: Fleet
    device_port: int = field(default_factory=free_port)
    enroll_port: int = field(default_factory=free_port)
    hub_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def crl(self) -> Path:
        return self.root / "crl.pem"

    def write(self) -> None:
        r, ca = self.root, self.fleet.ca
        r.mkdir(parents=True, exist_ok=True)
        key = __import__("cryptography.hazmat.primitives.asymmetric.ec", fromlist=["ec"])
        server_key = key.generate_private_key(key.SECP256R1())
        cert = issue_client_cert(
            ca,
            "broker",
            server_key.public_key(),
            now=time.time(),
            server_names=("127.0.0.1", "localhost"),
        )
        (r / "server.pem").write_bytes(cert_pem(cert))
        write_private(r / "server.key", key_pem(server_key))
        write_crl(ca, [], self.crl, time.time())
        (r / "device.acl").write_text(mosquitto_device_acl(FLEET))
        (r / "enroll.acl").write_text(mosquitto_enroll_acl(FLEET))
        (r / "hub.acl").write_text(mosquitto_hub_acl(FLEET, HUB_USER))
        pw = r / "passwd"
        subprocess.run(
            ["mosquitto_passwd", "-c", "-b", str(pw), HUB_USER, HUB_PASSWORD],
            check=True,
            capture_output=True,
        )
        tls = f"cafile {self.fleet.ca_cert}\ncertfile {r}/server.pem\nkeyfile {r}/server.key\n"
        (r / "mosquitto.conf").write_text(
            "per_listener_settings true\n"
            f"listener {self.device_port} 127.0.0.1\n{tls}require_certificate true\n"
            f"use_identity_as_username true\ncrlfile {self.crl}\nacl_file {r}/device.acl\n"
            f"listener {self.enroll_port} 127.0.0.1\n{tls}allow_anonymous true\n"
            f"acl_file {r}/enroll.acl\n"
            f"listener {self.hub_port} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\n"
            f"acl_file {r}/hub.acl\n"
            f"persistence false\nlog_dest file {r}/mosquitto.log\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            + ("user root\n" if os.geteuid() == 0 else "")
        )

    def start(self) -> None:
        self.write()
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen(
            [exe, "-c", str(self.root / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.hub_port), 0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start: {(self.root / 'mosquitto.log').read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(5)

    async def start_service_process(self, dsn: str) -> asyncio.subprocess.Process:
        """The enrollment service as its own process, the way it runs beside a site's hub; it
        hands out the fleet's root and a root-signed bundle (made with `locker-admin`)."""
        r = self.root
        keys = self.fleet.root
        for argv in (
            ["keys", "root-create", "--out-dir", str(keys), "--name", "root-primary"],
            ["keys", "issuing-create", "--out-dir", str(keys), "--name", "issuing",
             "--purpose", "pickup"],
            ["bundle", "sign", "--root", str(keys / "root-primary.key.pem"), "--issuing",
             str(keys / "issuing.json"), "--version", "1", "--out", str(keys / "bundle.cose")],
        ):  # fmt: skip
            status, _ = await admin(*argv)
            assert status == 0
        (r / "hub.pw").write_text(HUB_PASSWORD)
        (r / "mosquitto.pid").write_text(str(self.pids()[0]))
        log = (r / "enroll-service.log").open("ab")
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "provisioning.hub_main", "enroll-service", "--fleet", FLEET,
                "--dsn", dsn, "--mqtt", f"127.0.0.1:{self.hub_port}", "--mqtt-user", HUB_USER,
                "--mqtt-password-file", str(r / "hub.pw"),
                "--device-ca", str(self.fleet.ca_cert),
                "--device-ca-key", str(self.fleet.root / "device-ca.key.pem"),
                "--invite-secret", str(self.fleet.secret_file),
                "--device-url", f"mqtts://127.0.0.1:{self.device_port}",
                "--broker", "mosquitto", "--crl", str(self.crl),
                "--broker-pid-file", str(r / "mosquitto.pid"),
                "--root", str(keys / "root-primary.pub.pem"), "--bundle", str(keys / "bundle.cose"),
                stdout=log, stderr=log,
            )  # fmt: skip
        finally:
            log.close()
        return proc

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None and self.proc.poll() is None else []

    def admin(self) -> MosquittoAdmin:
        via = KickVia("127.0.0.1", self.hub_port, HUB_USER, HUB_PASSWORD)
        return MosquittoAdmin(self.fleet.ca, self.crl, self.pids, via, time.time)

    def hub_params(self, client_id: str) -> ConnectParams:
        return ConnectParams(
            "127.0.0.1",
            self.hub_port,
            client_id,
            username=HUB_USER,
            password=HUB_PASSWORD,
            protocol=MQTT_V311,
            clean_start=True,
        )

    def profile(self) -> DeviceProfile:
        return DeviceProfile(
            FLEET,
            f"mqtts://127.0.0.1:{self.device_port}",
            "3.1.1",
            cert_pem(self.fleet.ca.cert).decode(),
            (),
            None,
        )
