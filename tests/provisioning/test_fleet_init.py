"""`locker-admin fleet init`: the whole key hierarchy, every private key encrypted at rest."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent.tokens import VerifyContext, load_trust_bundle, verify_token
from agent.tokens.keys import load_public_key_pem
from hub_sync.errors import SignatureError
from hub_sync.protocol.signing import load_private_key_file
from provisioning import keyfiles
from provisioning.cli import main
from provisioning.errors import ExitStatus, ProvisioningError

PASSPHRASE = "correct horse battery staple"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out.strip(), err.strip()


@pytest.fixture
def fleet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setenv("LOCKER_ADMIN_PASSPHRASE", PASSPHRASE)
    status, out, _ = _run(capsys, "fleet", "init", "--dir", str(tmp_path / "acme"), "--json")
    assert status == 0
    summary = json.loads(out)
    assert summary["fleet"] == "acme"
    assert {"offline media", "hub", "every locker"} <= {s["where"] for s in summary["store"]}
    return tmp_path / "acme"


def test_every_private_key_is_encrypted_and_private(fleet: Path) -> None:
    keys = sorted(fleet.rglob("*.key.pem"))
    names = {p.relative_to(fleet).as_posix() for p in keys}
    assert names == {
        "offline/root-primary.key.pem", "offline/root-backup.key.pem", "hub/issuing.key.pem",
        "hub/command.key.pem", "hub/device-ca.key.pem",
    }  # fmt: skip
    for path in fleet.rglob("*"):
        if path.is_file():
            text = path.read_bytes()
            assert b"BEGIN PRIVATE KEY" not in text, path
            assert b"BEGIN EC PRIVATE KEY" not in text, path
    for path in keys:
        assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not any((fleet / "devices").glob("*.key.pem"))  # devices get public files only


def test_openssl_opens_the_keys_with_the_passphrase(fleet: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is part of the system dependencies")
    key = fleet / "hub" / "command.key.pem"
    good = subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-passin", "env:LOCKER_ADMIN_PASSPHRASE", "-noout"],
        check=False,
    )
    assert good.returncode == 0


def test_the_series_signed_by_the_roots_verifies_on_a_locker(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roots = [
        load_public_key_pem((fleet / "devices" / f"{n}.pub.pem").read_bytes())
        for n in ("root-primary", "root-backup")
    ]
    series = json.loads((fleet / "hub" / "series" / "series.json").read_text())
    assert len(series) == 120
    installed = None
    for item in series:  # each bundle in turn, as the locker installs them
        data = (fleet / "hub" / "series" / item["file"]).read_bytes()
        bundle = load_trust_bundle(data, roots, current_version=installed)
        installed = bundle.version
    first = load_trust_bundle(
        (fleet / "devices" / "bundle.cose").read_bytes(), roots, current_version=None
    )
    assert first.version == 1
    # a token from the hub's (encrypted) issuing key verifies under the bundle the locker pins
    status, token, err = _run(
        capsys, "token", "issue", "--key", str(fleet / "hub" / "issuing.key.pem"),
        "--order", "ORD-1", "--locker", "LCK-1", "--hold-hours", "48",
    )  # fmt: skip
    assert status == 0, err
    verified = verify_token(token, VerifyContext(locker_id="LCK-1", trust=first), now=time.time())
    assert verified.order_ref == "ORD-1"


def test_the_device_ca_key_issues_device_certificates(
    fleet: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    hub = fleet / "hub"
    status, _, err = _run(
        capsys, "device", "cert", "--locker-id", "LCK-1", "--ca-key",
        str(hub / "device-ca.key.pem"), "--ca-cert", str(hub / "device-ca.pem"),
        "--out-dir", str(tmp_path / "lck1"),
    )  # fmt: skip
    assert status == 0, err
    chain = (tmp_path / "lck1" / "evidence-signing.chain.pem").read_text()
    assert chain.endswith((fleet / "devices" / "device-ca.pem").read_text())


def test_a_wrong_passphrase_is_a_clear_error(
    fleet: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase at all\n")
    status, _, err = _run(
        capsys, "bundle", "sign", "--root", str(fleet / "offline" / "root-primary.key.pem"),
        "--issuing", str(fleet / "hub" / "issuing.json"), "--version", "500",
        "--out", str(tmp_path / "b.cose"), "--passphrase-file", str(wrong),
    )  # fmt: skip
    assert status == ExitStatus.PASSPHRASE
    assert "wrong passphrase" in err
    assert "Traceback" not in err
    assert not (tmp_path / "b.cose").exists()
    # the hub's own loader (locker-hub run, locker-admin hub) says the same
    with pytest.raises(SignatureError, match="KEY_PASSPHRASE"):
        load_private_key_file(fleet / "hub" / "command.key.pem", wrong)
    monkeypatch.delenv("LOCKER_ADMIN_PASSPHRASE")
    with pytest.raises(SignatureError, match="KEY_PASSPHRASE"):
        load_private_key_file(fleet / "hub" / "command.key.pem")
    # no passphrase at all, no terminal to ask on: says how to give one
    status, _, err = _run(
        capsys, "token", "issue", "--key", str(fleet / "hub" / "issuing.key.pem"),
        "--order", "ORD-1", "--locker", "LCK-1", "--hold-hours", "48",
    )  # fmt: skip
    assert status == ExitStatus.PASSPHRASE
    assert "--passphrase-file" in err
    assert "LOCKER_ADMIN_PASSPHRASE" in err


def test_the_right_passphrase_file_signs(
    fleet: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOCKER_ADMIN_PASSPHRASE")
    good = tmp_path / "pass.txt"
    good.write_text(PASSPHRASE + "\n")
    status, _, err = _run(
        capsys, "bundle", "sign", "--root", str(fleet / "offline" / "root-backup.key.pem"),
        "--issuing", str(fleet / "hub" / "issuing.json"), "--version", "500",
        "--out", str(tmp_path / "b.cose"), "--passphrase-file", str(good),
    )  # fmt: skip
    assert status == 0, err
    roots = [load_public_key_pem((fleet / "devices" / "root-backup.pub.pem").read_bytes())]
    assert load_trust_bundle((tmp_path / "b.cose").read_bytes(), roots, current_version=1)
    assert load_private_key_file(fleet / "hub" / "command.key.pem", good) is not None


def test_init_refuses_weak_or_missing_passphrases_and_existing_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOCKER_ADMIN_PASSPHRASE", raising=False)
    status, _, err = _run(capsys, "fleet", "init", "--dir", str(tmp_path / "f"))
    assert status == ExitStatus.PASSPHRASE
    monkeypatch.setenv("LOCKER_ADMIN_PASSPHRASE", "short")
    status, _, err = _run(capsys, "fleet", "init", "--dir", str(tmp_path / "f"))
    assert status == ExitStatus.PASSPHRASE
    assert "shorter than 12" in err
    assert not (tmp_path / "f").exists()
    monkeypatch.setenv("LOCKER_ADMIN_PASSPHRASE", PASSPHRASE)
    assert _run(capsys, "fleet", "init", "--dir", str(tmp_path / "f"))[0] == 0
    status, _, err = _run(capsys, "fleet", "init", "--dir", str(tmp_path / "f"))
    assert status == ExitStatus.OUTPUT_FAILED
    assert "never overwrites" in err


def test_the_hub_can_have_its_own_passphrase(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKER_ADMIN_PASSPHRASE", PASSPHRASE)
    hub_pass = tmp_path / "hub.pass"
    hub_pass.write_text("the hub's own passphrase\n")
    status, _, err = _run(
        capsys, "fleet", "init", "--dir", str(tmp_path / "f"), "--hub-passphrase-file",
        str(hub_pass),
    )  # fmt: skip
    assert status == 0, err
    assert load_private_key_file(tmp_path / "f" / "hub" / "command.key.pem", hub_pass)
    with pytest.raises(SignatureError):  # the offline passphrase does not open the hub's keys
        load_private_key_file(tmp_path / "f" / "hub" / "command.key.pem")


def test_a_wrong_passphrase_is_a_passphrase_error_even_when_the_padding_happens_to_pass(
    tmp_path: Path,
) -> None:
    """About 1 in 200 wrong passphrases decrypt to padding that passes, and cryptography then
    reports a DER parse error that does not mention the password: still exit status PASSPHRASE."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    )
    for attempt in range(20_000):  # a lucky-padding passphrase turns up within ~200 tries
        wrong = f"wrong passphrase {attempt}"
        try:
            serialization.load_pem_private_key(pem, password=wrong.encode())
        except ValueError as err:
            if "password" not in str(err).lower():
                break
    else:
        pytest.fail("no wrong passphrase passed the padding check")
    (tmp_path / "wrong.txt").write_text(wrong)
    with pytest.raises(ProvisioningError) as refused:
        keyfiles.decrypt_pem(pem, tmp_path / "k.pem", tmp_path / "wrong.txt")
    assert refused.value.status == ExitStatus.PASSPHRASE
