"""The fleet device CA and device certificates have the profile C2PA signers need."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning import device_ca
from provisioning.cli import main


def test_device_certificate_has_the_c2pa_signer_profile(tmp_path: Path) -> None:
    ca = device_ca.create_ca("fleet-a", now=time.time())
    key_path, chain_path = device_ca.write_device_credentials(
        ca, "locker-7", tmp_path, now=time.time()
    )
    leaf, issuer = x509.load_pem_x509_certificates(chain_path.read_bytes())
    assert issuer == ca.cert
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "locker-7"
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert not usage.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    assert device_ca.DOCUMENT_SIGNING in eku
    leaf.verify_directly_issued_by(ca.cert)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


def test_locker_admin_creates_the_ca_then_a_device_cert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(tmp_path)
    assert main(["device", "ca-create", "--fleet", "fleet-a", "--out-dir", d]) == 0
    created = json.loads(capsys.readouterr().out)
    assert Path(created["certificate"]).name == device_ca.CA_CERT_FILE
    status = main([
        "device", "cert", "--locker-id", "locker-9", "--ca-key", created["key"],
        "--ca-cert", created["certificate"], "--out-dir", f"{d}/locker-9",
    ])  # fmt: skip
    assert status == 0
    chain = json.loads(capsys.readouterr().out)["chain"]
    assert len(x509.load_pem_x509_certificates(Path(chain).read_bytes())) == 2
    # a second run must not replace the device key
    status = main([
        "device", "cert", "--locker-id", "locker-9", "--ca-key", created["key"],
        "--ca-cert", created["certificate"], "--out-dir", f"{d}/locker-9",
    ])  # fmt: skip
    assert status == 6
    assert "exists already" in capsys.readouterr().err
