"""The fleet device CA and per-device ES256 signing certificates (for C2PA evidence photos).

A fleet has one device CA (a P-256 key and a self-signed X.509 CA certificate). Each locker gets
its own P-256 key and a certificate issued by that CA, with the profile the C2PA specification
requires of a claim signer (and that c2pa-rs enforces, it refuses anything else):

- X.509 v3, ECDSA with SHA-256, a serial number, a validity period;
- basicConstraints CA:FALSE (critical), keyUsage digitalSignature only (critical);
- extendedKeyUsage present and neither `anyExtendedKeyUsage` nor empty: we use
  id-kp-emailProtection and id-kp-documentSigning (1.3.6.1.5.5.7.3.36), both on C2PA's list;
- subjectKeyIdentifier and authorityKeyIdentifier (the CA's key), so chains build unambiguously.

The CA certificate has basicConstraints CA:TRUE pathLen 0 and keyUsage keyCertSign + cRLSign.
Whoever verifies a photo uses the CA certificate (PEM) as the trust anchor: a photo signed by a
key from another fleet, or self-signed, is not trusted. The locker id is the certificate's
common name and organizational unit "locker", so the signer of a photo names its locker.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from provisioning.errors import ExitStatus, ProvisioningError
from provisioning.keyfiles import decrypt_pem, private_pem, read_file, write_new_file

DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
CA_KEY_FILE = "device-ca.key.pem"
CA_CERT_FILE = "device-ca.pem"
DEVICE_KEY_FILE = "evidence-signing.key.pem"
DEVICE_CHAIN_FILE = "evidence-signing.chain.pem"
_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class DeviceCa:
    """A fleet's device CA: its private key and certificate."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _name(common_name: str, fleet: str, unit: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, fleet),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _utc(at: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(at, tz=datetime.UTC)


def create_ca(fleet: str, *, now: float, valid_days: float = 3650.0) -> DeviceCa:
    """A new fleet device CA (P-256, self-signed)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"{fleet} device CA", fleet, "device-ca")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_utc(now) - _DAY)
        .not_valid_after(_utc(now) + datetime.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return DeviceCa(key, cert)


def issue_device_cert(
    ca: DeviceCa,
    locker_id: str,
    public_key: ec.EllipticCurvePublicKey,
    *,
    now: float,
    valid_days: float = 825.0,
) -> x509.Certificate:
    """A C2PA claim-signing certificate for `locker_id`'s P-256 key, issued by `ca`."""
    if not locker_id or len(locker_id) > 64:
        raise ProvisioningError("a locker id is 1-64 characters", ExitStatus.USAGE)
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise ProvisioningError("a device signing key must be P-256 (ES256)")
    fleet = ca.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    return (
        x509.CertificateBuilder()
        .subject_name(_name(locker_id, str(fleet), "locker"))
        .issuer_name(ca.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_utc(now) - _DAY)
        .not_valid_after(
            min(_utc(now) + datetime.timedelta(days=valid_days), ca.cert.not_valid_after_utc)
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    """A certificate as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def write_ca(ca: DeviceCa, out_dir: Path, passphrase: bytes | None = None) -> tuple[Path, Path]:
    """Write `device-ca.key.pem` (0600, encrypted when `passphrase` is given) and
    `device-ca.pem`; never overwrites."""
    out_dir.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = out_dir / CA_KEY_FILE, out_dir / CA_CERT_FILE
    write_new_file(key_path, private_pem(ca.key, passphrase), 0o600)
    write_new_file(cert_path, cert_pem(ca.cert))
    return key_path, cert_path


def load_ca(key_path: Path, cert_path: Path, passphrase_file: Path | None = None) -> DeviceCa:
    """The CA from its key (plain or encrypted) and certificate files (they must match)."""
    key = decrypt_pem(read_file(key_path), key_path, passphrase_file)
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except OSError as err:
        raise ProvisioningError(
            f"cannot read the device CA: {err}", ExitStatus.INPUT_UNREADABLE
        ) from err
    except ValueError as err:
        raise ProvisioningError(f"not a device CA key/certificate (PEM): {err}") from err
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise ProvisioningError(f"{key_path} is not the P-256 key of {cert_path}")
    return DeviceCa(key, cert)


def write_device_credentials(
    ca: DeviceCa, locker_id: str, out_dir: Path, *, now: float, valid_days: float = 825.0
) -> tuple[Path, Path]:
    """A new device key (0600) and its chain file (device certificate, then the CA certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_device_cert(ca, locker_id, key.public_key(), now=now, valid_days=valid_days)
    out_dir.mkdir(parents=True, exist_ok=True)
    key_path, chain_path = out_dir / DEVICE_KEY_FILE, out_dir / DEVICE_CHAIN_FILE
    write_new_file(key_path, private_pem(key, None), 0o600)
    write_new_file(chain_path, cert_pem(cert) + cert_pem(ca.cert))
    return key_path, chain_path
