"""deploy/: the systemd unit verifies and stays hardened; the Mosquitto TLS config runs and keeps
each locker to its own topics; the NATS node configs are accepted by nats-server."""

from __future__ import annotations

import datetime
import getpass
import ipaddress
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning.device_ca import DeviceCa, cert_pem, create_ca
from tests.hub_sync.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
FLEET = "acme"


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        pytest.fail(f"{name} is a system dependency (scripts/system-deps.sh)")
    return found


def _unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (DEPLOY / "locker-agent.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_the_unit_is_hardened_and_fed_by_the_watchdog() -> None:
    unit = _unit_settings()
    assert unit["Type"] == ["notify"]
    assert float(unit["WatchdogSec"][0]) > 0
    assert unit["User"] == ["locker"]
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("PrivateTmp", "yes"), ("ProtectHome", "yes"),
                       ("ReadWritePaths", "/var/lib/locker-agent"), ("CapabilityBoundingSet", ""),
                       ("RestrictSUIDSGID", "yes"), ("DevicePolicy", "closed")):  # fmt: skip
        assert unit[key] == [value], key


def test_systemd_analyze_verifies_the_unit_and_rates_it(tmp_path: Path) -> None:
    analyze = _tool("systemd-analyze")
    text = (DEPLOY / "locker-agent.service").read_text()
    # the unit names the installed venv; point it at this checkout's so the binaries exist
    unit = tmp_path / "locker-agent.service"
    unit.write_text(text.replace("/opt/locker-agent/.venv", str(Path(sys.executable).parents[1])))
    verify = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            check=False)  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    security = subprocess.run([analyze, "security", "--offline=yes", str(unit)],
                              capture_output=True, text=True, check=False)  # fmt: skip
    level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
    assert level is not None, security.stdout[-500:]
    assert float(level.group(1)) <= 2.0  # 1.8 measured ("OK"); 10 is an unhardened unit


def _cert(
    ca: DeviceCa, name: str, usage: x509.ObjectIdentifier, key: ec.EllipticCurvePrivateKey,
    san: bool = False,
) -> x509.Certificate:  # fmt: skip
    now = datetime.datetime.now(tz=datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if san:
        san_ip = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
        builder = builder.add_extension(x509.SubjectAlternativeName([san_ip]), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def _write_pair(
    folder: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    (folder / f"{name}.pem").write_bytes(cert_pem(cert))
    (folder / f"{name}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))  # fmt: skip


def _site(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """deploy/mosquitto in a temp folder: the fleet CA, a server and two device certificates."""
    etc = tmp_path / "etc"
    etc.mkdir()
    ca = create_ca(FLEET, now=time.time())
    (etc / "device-ca.pem").write_bytes(cert_pem(ca.cert))
    now = datetime.datetime.now(tz=datetime.UTC)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(ca.cert.subject)
           .last_update(now).next_update(now + datetime.timedelta(days=7))
           .sign(ca.key, hashes.SHA256()))  # fmt: skip
    (etc / "device-ca.crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    server = ec.generate_private_key(ec.SECP256R1())
    _write_pair(etc, "server", _cert(ca, "broker", ExtendedKeyUsageOID.SERVER_AUTH, server, True),
                server)  # fmt: skip
    for locker in ("LCK-1", "LCK-2"):
        key = ec.generate_private_key(ec.SECP256R1())
        _write_pair(etc, locker, _cert(ca, locker, ExtendedKeyUsageOID.CLIENT_AUTH, key), key)
    stranger_ca = create_ca("other", now=time.time())
    key = ec.generate_private_key(ec.SECP256R1())
    _write_pair(etc, "stranger",
                _cert(stranger_ca, "LCK-1", ExtendedKeyUsageOID.CLIENT_AUTH, key), key)  # fmt: skip
    for acl in ("device.acl", "enroll.acl", "hub.acl"):
        shutil.copyfile(DEPLOY / "mosquitto" / acl, etc / acl)
    subprocess.run([_tool("mosquitto_passwd"), "-c", "-b", str(etc / "hub.passwd"), "hub", "hubpw"],
                   check=True)  # fmt: skip
    ports = {"device": free_port(), "enroll": free_port(), "hub": free_port()}
    conf = (DEPLOY / "mosquitto" / "locker-site.conf").read_text()
    conf = conf.replace("/etc/mosquitto/locker", str(etc))
    conf = conf.replace("/var/lib/mosquitto/", f"{tmp_path}/")
    conf = conf.replace("listener 8883\n", f"listener {ports['device']} 127.0.0.1\n")
    conf = conf.replace("listener 8884\n", f"listener {ports['enroll']} 127.0.0.1\n")
    conf = conf.replace("listener 1883 127.0.0.1\n", f"listener {ports['hub']} 127.0.0.1\n")
    # started as root, Mosquitto would switch to the user mosquitto, who cannot read a temp folder
    (tmp_path / "mosquitto.conf").write_text(f"user {getpass.getuser()}\n{conf}")
    return etc, ports


def _device_sub(etc: Path, port: int, who: str, topic: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [_tool("mosquitto_sub"), "-h", "127.0.0.1", "-p", str(port), "--cafile",
         str(etc / "device-ca.pem"), "--cert", str(etc / f"{who}.pem"), "--key",
         str(etc / f"{who}.key"), "-i", f"{who}-probe", "-t", topic, "-C", "1", "-W", "4",
         "-V", "mqttv311"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_the_site_broker_keeps_each_locker_to_its_own_topics(tmp_path: Path) -> None:
    etc, ports = _site(tmp_path)
    log = tmp_path / "mosquitto.log"
    with log.open("w") as out:
        broker = subprocess.Popen([_tool("mosquitto"), "-c", str(tmp_path / "mosquitto.conf")],
                                  stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        time.sleep(0.8)
        assert broker.poll() is None, log.read_text()
        own = _device_sub(etc, ports["device"], "LCK-1", f"lk/v1/{FLEET}/LCK-1/cmd")
        other = _device_sub(etc, ports["device"], "LCK-2", f"lk/v1/{FLEET}/LCK-1/cmd")
        stranger = _device_sub(etc, ports["device"], "stranger", f"lk/v1/{FLEET}/LCK-1/cmd")
        time.sleep(1.0)
        subprocess.run([_tool("mosquitto_pub"), "-h", "127.0.0.1", "-p", str(ports["hub"]),
                        "-u", "hub", "-P", "hubpw", "-t", f"lk/v1/{FLEET}/LCK-1/cmd", "-q", "1",
                        "-m", "for LCK-1"], check=True)  # fmt: skip
        assert own.communicate(timeout=10)[0].strip() == "for LCK-1"
        assert other.communicate(timeout=10)[0] == ""  # LCK-2 may not read LCK-1's commands
        assert stranger.communicate(timeout=10)[0] == ""
        assert stranger.returncode != 0  # a certificate from another CA: no connection at all
    finally:
        broker.terminate()
        broker.wait(timeout=10)


def test_the_nats_node_configs_are_accepted(tmp_path: Path) -> None:
    nats = _tool("nats-server")
    etc, _ = _site(tmp_path)
    shutil.copyfile(DEPLOY / "nats" / "devices.conf", tmp_path / "devices.conf")
    for n in (1, 2, 3):
        conf = (DEPLOY / "nats" / f"n{n}.conf").read_text()
        conf = conf.replace("/etc/nats/server", str(etc / "server"))
        conf = conf.replace("/var/lib/nats", str(tmp_path / f"js{n}"))
        (tmp_path / f"n{n}.conf").write_text(conf)
        check = subprocess.run([nats, "-t", "-c", str(tmp_path / f"n{n}.conf")],
                               capture_output=True, text=True, check=False)  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr
