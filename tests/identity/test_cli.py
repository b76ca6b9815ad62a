"""`locker-agent identity mdoc-check` on the Annex D vectors and on generated responses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent.cli.main import main
from tests.identity import annexd
from tests.identity.annexd import ANNEX_D_AT
from tests.identity.conftest import World, new_world
from tests.identity.holder import AV_NS, PID_NS, at
from tests.identity.pki import T0

AT = "2026-01-01T01:00:00Z"
assert at(T0) + 3600 == 1767229200.0


def _pem_key(key: ec.EllipticCurvePrivateKey, *, sec1: bool) -> bytes:
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if sec1
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def _cert_pem(cert: Any) -> bytes:
    data: bytes = cert.public_bytes(serialization.Encoding.PEM)
    return data


def _write(tmp_path: Path, **files: bytes) -> dict[str, str]:
    paths = {}
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        paths[name] = str(path)
    return paths


def _annex_d_files(tmp_path: Path, *, sec1: bool = False, tagged: bool = True) -> dict[str, str]:
    transcript = annexd.raw("D.5.1/SessionTranscriptBytes")
    if not tagged:
        transcript = transcript[5:]  # d8 18 59 02 41: the tag-24 head around the array
        assert transcript[0] == 0x83
    return _write(
        tmp_path,
        response=annexd.raw("D.4.1.2"),
        transcript=transcript,
        iaca=_cert_pem(annexd.cert("D.5.2/IACA-cert")),
        reader=_pem_key(annexd.private_key("D.5.1/EReaderKey.priv"), sec1=sec1),
    )


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    status = main(["identity", "mdoc-check", *args])
    out = capsys.readouterr().out.strip()
    return status, json.loads(out) if out else {}


def _args(files: dict[str, str], *extra: str, reader: bool = True) -> list[str]:
    args = [files["response"], "--transcript", files["transcript"], "--iaca", files["iaca"]]
    if reader:
        args += ["--reader-key", files["reader"]]
    return [*args, *extra]


def test_annex_d_through_the_console_script(tmp_path: Path) -> None:
    files = _annex_d_files(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent",
            "identity",
            "mdoc-check",
            *_args(files, "--at", ANNEX_D_AT),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "valid": True,
        "reason": None,
        "doctype": "org.iso.18013.5.1.mDL",
        "issuer_country": "US",
        "age_over": {},
        "device_auth": "mac",
        "detail": None,
    }


@pytest.mark.parametrize(("sec1", "tagged"), [(True, False), (False, False), (True, True)])
def test_annex_d_with_both_key_formats_and_transcript_encodings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sec1: bool, tagged: bool
) -> None:
    files = _annex_d_files(tmp_path, sec1=sec1, tagged=tagged)
    assert (b"EC PRIVATE KEY" in Path(files["reader"]).read_bytes()) is sec1
    status, result = _run(capsys, *_args(files, "--at", ANNEX_D_AT))
    assert (status, result["valid"], result["device_auth"]) == (0, True, "mac")


def test_annex_d_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = _annex_d_files(tmp_path)
    for extra, reader, reason in (
        ((), True, "CERT_EXPIRED"),  # now: the Annex D certificates expired in 2021
        (("--at", ANNEX_D_AT), False, "READER_KEY_REQUIRED"),
        (("--at", ANNEX_D_AT, "--min-age", "18"), True, "AGE_NOT_DISCLOSED"),
        (("--at", ANNEX_D_AT, "--doctype", "eu.europa.ec.av.1"), True, "DOCUMENT_MISSING"),
        (("--at", "2021-10-01T06:00:00Z"), True, "CERT_EXPIRED"),
    ):
        status, result = _run(capsys, *_args(files, *extra, reader=reader))
        assert (status, result["valid"], result["reason"]) == (4, False, reason)
    # the age refusal still says what was verified
    status, result = _run(capsys, *_args(files, "--at", ANNEX_D_AT, "--min-age", "18"))
    assert (result["doctype"], result["device_auth"]) == ("org.iso.18013.5.1.mDL", "mac")


def _world_files(
    tmp_path: Path, world: World, data: bytes, *, sec1: bool = False
) -> dict[str, str]:
    (tmp_path / "roots").mkdir()
    other = new_world().pki.iaca
    (tmp_path / "roots" / "a-other.pem").write_bytes(_cert_pem(other))
    (tmp_path / "roots" / "b-test.crt").write_bytes(_cert_pem(world.pki.iaca))
    (tmp_path / "roots" / "notes.txt").write_text("not a certificate")
    files = _write(
        tmp_path,
        response=data,
        transcript=world.transcript_array,
        reader=_pem_key(world.reader, sec1=sec1),
    )
    files["iaca"] = str(tmp_path / "roots")
    return files


@pytest.mark.parametrize("method", ["signature", "mac"])
def test_a_wallet_pid_with_age_thresholds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], method: str
) -> None:
    world = new_world()
    data = world.present(method=method, disclose={PID_NS: ["age_over_18", "age_over_65"]})
    files = _world_files(tmp_path, world, data)
    status, result = _run(capsys, *_args(files, "--at", AT, "--min-age", "18"))
    assert status == 0
    assert result == {
        "valid": True,
        "reason": None,
        "doctype": "eu.europa.ec.eudi.pid.1",
        "issuer_country": "UT",
        "age_over": {"18": True, "65": False},
        "device_auth": method,
        "detail": None,
    }
    status, result = _run(capsys, *_args(files, "--at", AT, "--min-age", "65"))
    assert (status, result["reason"], result["age_over"]) == (
        4,
        "UNDER_AGE",
        {"18": True, "65": False},
    )
    status, result = _run(capsys, *_args(files, "--at", AT, "--min-age", "21"))
    assert (status, result["reason"]) == (4, "AGE_NOT_DISCLOSED")


def test_an_age_verification_attestation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = new_world()
    doc = world.issuer.issue("eu.europa.ec.av.1", {AV_NS: {"age_over_18": True}})
    files = _world_files(tmp_path, world, world.present(doc))
    extra = ("--at", AT, "--min-age", "18", "--doctype", "eu.europa.ec.av.1")
    status, result = _run(capsys, *_args(files, *extra, reader=False))
    assert (status, result["doctype"], result["age_over"]) == (0, "eu.europa.ec.av.1", {"18": True})


def test_forgeries_exit_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = new_world()
    genuine = world.present()
    forged = bytearray(genuine)
    assert genuine.endswith(b"fstatus\x00")
    forged[-20] ^= 0x01  # inside the device signature, the last item before "status"
    files = _world_files(tmp_path, world, bytes(forged))
    status, result = _run(capsys, *_args(files, "--at", AT))
    assert (status, result["reason"]) == (4, "BAD_DEVICE_SIGNATURE")
    Path(files["response"]).write_bytes(b"not cbor at all")
    status, result = _run(capsys, *_args(files, "--at", AT))
    assert (status, result["reason"]) == (4, "MALFORMED")
    Path(files["response"]).write_bytes(genuine)
    Path(files["iaca"], "b-test.crt").unlink()
    status, result = _run(capsys, *_args(files, "--at", AT))
    assert (status, result["reason"]) == (4, "ISSUER_UNTRUSTED")


def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = _annex_d_files(tmp_path)
    bad = _write(tmp_path, junk=b"\x01\x02", text=b"hello")
    cases = [
        [str(tmp_path / "missing"), "--transcript", files["transcript"], "--iaca", files["iaca"]],
        _args({**files, "transcript": bad["junk"]}),
        _args({**files, "iaca": bad["text"]}),
        _args({**files, "iaca": str(tmp_path / "nowhere")}),
        _args({**files, "reader": bad["text"]}),
        _args({**files, "reader": files["iaca"]}),
        _args(files, "--at", "2021-01-01T00:00:00"),
        _args(files, "--at", "yesterday"),
        _args(files, "--min-age", "120"),
    ]
    for args in cases:
        status, result = _run(capsys, *args)
        assert (status, result) == (2, {}), args
    with pytest.raises(SystemExit) as missing:
        main(["identity", "mdoc-check", files["response"], "--iaca", files["iaca"]])
    assert missing.value.code == 2
