"""`locker-hub enroll-service` opens the encrypted device CA key `fleet init` writes through the
passphrase helper (file, else $LOCKER_ADMIN_PASSPHRASE), and refuses a wrong or missing one with
exit status 7 in one line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from provisioning import device_ca
from provisioning.enroll_main import load_ca
from provisioning.errors import ExitStatus, ProvisioningError

SECRET = "correct horse battery staple"


def _encrypted_ca(tmp_path: Path) -> tuple[Path, Path]:
    ca = device_ca.create_ca("acme", now=time.time())
    key, cert = device_ca.write_ca(ca, tmp_path, SECRET.encode())
    assert key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    return cert, key


def test_the_encrypted_ca_key_opens_with_the_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = _encrypted_ca(tmp_path)
    monkeypatch.setenv("LOCKER_ADMIN_PASSPHRASE", SECRET)
    assert load_ca(cert, key, None).cert.subject == load_ca(cert, key, None).cert.issuer
    monkeypatch.delenv("LOCKER_ADMIN_PASSPHRASE")
    file = tmp_path / "pass"
    file.write_text(SECRET + "\n")
    assert load_ca(cert, key, file).key.public_key() == load_ca(cert, key, file).cert.public_key()


def test_a_wrong_or_missing_passphrase_ends_with_status_7(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = _encrypted_ca(tmp_path)
    monkeypatch.delenv("LOCKER_ADMIN_PASSPHRASE", raising=False)
    with pytest.raises(ProvisioningError, match="passphrase") as missing:
        load_ca(cert, key, None)  # stdin is not a terminal under pytest: no prompt
    assert missing.value.status == ExitStatus.PASSPHRASE
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase at all")
    with pytest.raises(ProvisioningError, match="wrong passphrase") as refused:
        load_ca(cert, key, wrong)
    assert refused.value.status == ExitStatus.PASSPHRASE
