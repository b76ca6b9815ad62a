"""Device credentials the enrollment service issues: a TLS client certificate from the fleet
device CA (CN = locker id), and for a password broker (NATS) a random password sealed to the
device's key; the signed answers that carry them and the device's config."""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub_sync.protocol.enrollment import seal, sign_message
from provisioning.device_ca import DeviceCa

_DAY = datetime.timedelta(days=1)


def _utc(at: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(at, tz=datetime.UTC)


def issue_client_cert(
    ca: DeviceCa,
    device: str,
    key: ec.EllipticCurvePublicKey,
    *,
    now: float,
    valid_days: float = 397.0,
    server_names: tuple[str, ...] = (),
) -> x509.Certificate:
    """A TLS certificate for `device` (client auth; server auth with `server_names`)."""
    fleet = ca.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    unit = "broker" if server_names else "locker"
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, str(fleet)),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
                      x509.NameAttribute(NameOID.COMMON_NAME, device)])  # fmt: skip
    usage = [ExtendedKeyUsageOID.SERVER_AUTH] if server_names else [ExtendedKeyUsageOID.CLIENT_AUTH]
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.cert.subject)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_utc(now) - _DAY)
        .not_valid_after(
            min(_utc(now) + datetime.timedelta(days=valid_days), ca.cert.not_valid_after_utc)
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if server_names:
        import ipaddress

        alt: list[x509.GeneralName] = []
        for n in server_names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                alt.append(x509.DNSName(n))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def serial_hex(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """What the hub tells a device about where and how to connect (goes into its agent.toml)."""

    fleet: str
    broker_url: str  # mqtts://host:port of the device listener
    protocol: str  # "5" or "3.1.1"
    broker_ca_pem: str | None
    roots_pem: tuple[str, ...]
    bundle_b64: str | None


def new_password() -> str:
    return secrets.token_urlsafe(32)


def answer(
    ca: DeviceCa,
    *,
    kind: str,
    nonce: str,
    device: str | None,
    now: float,
    fields: Mapping[str, Any],
) -> bytes:
    """A signed hub answer on the enrollment topics (see `enrollment.verify_hub_message`)."""
    message: dict[str, Any] = {
        "v": 1, "type": kind, "nonce": nonce, "device": device, "issued_at": int(now),
        "ca_pem": pem(ca.cert), **fields,
    }  # fmt: skip
    return sign_message(ca.key, message)


def credential_fields(
    profile: DeviceProfile,
    cert: x509.Certificate,
    device_key: ec.EllipticCurvePublicKey,
    *,
    username: str,
    password: str | None,
    nonce: str,
) -> dict[str, Any]:
    sealed = None if password is None else seal(device_key, password.encode(), nonce.encode())
    return {
        "cert_pem": pem(cert),
        "broker": {
            "url": profile.broker_url,
            "protocol": profile.protocol,
            "username": username,
            "password_sealed": sealed,
            "ca_pem": profile.broker_ca_pem,
        },
    }
