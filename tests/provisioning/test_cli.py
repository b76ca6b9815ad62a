"""`locker-admin` end to end: real key files, a signed bundle, tokens the verifier accepts."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from agent.tokens import Purpose, VerifyContext, load_trust_bundle, verify_token
from agent.tokens.keys import load_public_key_pem
from provisioning.cli import main
from provisioning.errors import ExitStatus

AT = "2027-01-15T08:00:00Z"
NOW = 1_800_000_000.0


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out.strip(), err.strip()


@pytest.fixture
def fleet_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    d = str(tmp_path)
    assert _run(capsys, "keys", "root-create", "--out-dir", d)[0] == 0
    assert _run(capsys, "keys", "root-create", "--out-dir", d, "--name", "root-backup")[0] == 0
    status = _run(
        capsys, "keys", "issuing-create", "--out-dir", d, "--purpose", "pickup",
        "--purpose", "return", "--at", "2027-01-01T00:00:00Z",
    )[0]  # fmt: skip
    assert status == 0
    (tmp_path / "revoked.txt").write_text("00" * 16 + "\n")
    status = _run(
        capsys, "bundle", "sign", "--root", f"{d}/root-primary.key.pem", "--issuing",
        f"{d}/issuing.json", "--revoked-file", f"{d}/revoked.txt", "--version", "4",
        "--at", AT, "--out", f"{d}/bundle.cose",
    )[0]  # fmt: skip
    assert status == 0
    return tmp_path


def _ctx(fleet_dir: Path) -> VerifyContext:
    roots = [
        load_public_key_pem((fleet_dir / f"{n}.pub.pem").read_bytes())
        for n in ("root-primary", "root-backup")
    ]
    bundle = load_trust_bundle((fleet_dir / "bundle.cose").read_bytes(), roots, current_version=4)
    return VerifyContext(locker_id="LCK-9", trust=bundle)


def test_private_keys_are_0600(fleet_dir: Path) -> None:
    for path in fleet_dir.glob("*.key.pem"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_issued_token_verifies(fleet_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, token, _ = _run(
        capsys, "token", "issue", "--key", str(fleet_dir / "issuing.key.pem"), "--order",
        "ORD-CLI", "--locker", "LCK-9", "--hold-hours", "48", "--at", AT, "--purpose", "return",
    )  # fmt: skip
    assert status == 0
    assert token.startswith("LK1:")
    result = verify_token(token, _ctx(fleet_dir), now=NOW + 60, purpose=Purpose.RETURN)
    assert result.order_ref == "ORD-CLI"


def test_wallet_live_code_verifies(fleet_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(fleet_dir)
    assert _run(capsys, "wallet", "keygen", "--out-dir", d)[0] == 0
    _, token, _ = _run(
        capsys, "token", "issue", "--key", f"{d}/issuing.key.pem", "--order", "ORD-L",
        "--locker", "LCK-9", "--hold-hours", "2", "--live", "--holder-pub",
        f"{d}/holder.pub.pem", "--at", AT,
    )  # fmt: skip
    (fleet_dir / "token.txt").write_text(token)
    status, live, _ = _run(
        capsys, "wallet", "live", "--token", f"@{d}/token.txt", "--holder-key",
        f"{d}/holder.key.pem", "--at", "2027-01-15T08:01:00Z",
    )  # fmt: skip
    assert status == 0
    assert verify_token(live, _ctx(fleet_dir), now=NOW + 65).holder_proven


def test_render_writes_a_readable_qr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import cv2
    import zxingcpp

    payload = "LK1:" + "6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDEXWK G2EP4J0B" * 5
    png, svg = tmp_path / "q.png", tmp_path / "q.svg"
    status, out, _ = _run(capsys, "token", "render", payload, "--png", str(png), "--svg", str(svg))
    assert status == 0
    assert json.loads(out)["qr_version"] >= 10
    assert svg.read_text().startswith("<?xml")
    found = zxingcpp.read_barcodes(cv2.imread(str(png), cv2.IMREAD_GRAYSCALE))
    assert [r.text for r in found] == [payload]


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["token", "issue", "--key", "/nope.pem", "--order", "O", "--locker", "L",
          "--hold-hours", "1"], ExitStatus.INPUT_UNREADABLE, "cannot read /nope.pem"),
        (["token", "issue", "--key", "{d}/issuing.json", "--order", "O", "--locker", "L",
          "--hold-hours", "1"], ExitStatus.INPUT_INVALID, "not an ES256 or EdDSA private key"),
        (["keys", "root-create", "--out-dir", "{d}"], ExitStatus.OUTPUT_FAILED, "exists already"),
        (["token", "issue", "--key", "{d}/issuing.key.pem", "--order", "O", "--locker", "L",
          "--hold-hours", "1", "--live", "--at", AT], ExitStatus.INPUT_INVALID, "holder"),
        (["token", "issue", "--key", "{d}/issuing.key.pem", "--order", "O", "--locker", "L",
          "--hold-hours", "1", "--at", "yesterday"], ExitStatus.USAGE, "ISO 8601"),
        (["token", "render", "lowercase is not alphanumeric", "--png", "{d}/x.png"],
         ExitStatus.INPUT_INVALID, "alphanumeric"),
        # what a locker would refuse is refused at issue time, as a usage error (exit 2)
        (["token", "issue", "--key", "{d}/issuing.key.pem", "--order", "O", "--locker", "L",
          "--hold-hours", "1", "--at", AT, "--purpose", "courier"], ExitStatus.USAGE,
         "this key is for pickup, return, not courier"),
        (["token", "issue", "--key", "{d}/issuing.key.pem", "--order", "O", "--locker", "L",
          "--hold-hours", "20000", "--at", AT], ExitStatus.USAGE, "after the key's validity"),
        (["token", "issue", "--key", "{d}/issuing.key.pem", "--order", "O", "--locker", "L",
          "--hold-hours", "1", "--at", "2026-12-31T00:00:00Z"], ExitStatus.USAGE,
         "not valid yet"),
        (["token", "issue", "--key", "{d}/issuing.key.pem", "--order", "Müller-7", "--locker",
          "L", "--hold-hours", "1", "--at", AT], ExitStatus.USAGE, "ASCII printable"),
        (["token", "issue", "--key", "{d}/issuing.key.pem", "--order", "O" * 65, "--locker",
          "L", "--hold-hours", "1", "--at", AT], ExitStatus.USAGE, "ASCII printable"),
        (["token", "issue", "--key", "{d}/issuing.key.pem", "--order", "O\tX", "--locker",
          "L", "--hold-hours", "1", "--at", AT], ExitStatus.USAGE, "ASCII printable"),
        (["token", "issue", "--key", "{d}/issuing.key.pem", "--order", "O", "--locker",
          "Lé", "--hold-hours", "1", "--at", AT], ExitStatus.USAGE, "locker ids"),
        (["token", "issue", "--key", "{d}/root-primary.key.pem", "--entry", "{d}/issuing.json",
          "--order", "O", "--locker", "L", "--hold-hours", "1", "--at", AT], ExitStatus.USAGE,
         "does not match its bundle entry"),
        (["token", "issue", "--key", "{d}/root-primary.key.pem", "--order", "O", "--locker",
          "L", "--hold-hours", "1", "--at", AT], ExitStatus.USAGE, "give --entry"),
    ],
)  # fmt: skip
def test_errors_are_one_line_with_a_named_status(
    fleet_dir: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    status: ExitStatus,
    message: str,
) -> None:
    code, _, err = _run(capsys, *[a.replace("{d}", str(fleet_dir)) for a in argv])
    assert code == status
    assert message in err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_hub_without_hub_tools(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        sys.modules, "hub_sync.hub.reference.cli", None
    )  # import fails as if absent
    assert _run(capsys, "hub", "status") == (3, "", "hub tools not installed")


def test_hub_forwards_argv(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    calls: list[list[str]] = []
    fake = types.ModuleType("hub_sync.hub.reference.cli")

    def fake_main(argv: list[str]) -> int:
        calls.append(argv)
        return 7

    fake.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "hub_sync.hub.reference.cli", fake)
    assert main(["hub", "enroll", "--x", "1"]) == 7
    assert calls == [["enroll", "--x", "1"]]


def test_help_lists_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "hub tools missing" in capsys.readouterr().out


def test_a_delegate_is_refused_from_a_key_lockers_would_not_accept_for_it(
    fleet_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(fleet_dir)
    status, token, _ = _run(
        capsys, "token", "issue", "--key", f"{d}/issuing.key.pem", "--order", "ORD-D",
        "--locker", "LCK-9", "--hold-hours", "4", "--at", AT, "--purpose", "return",
    )  # fmt: skip
    assert status == 0
    assert _run(capsys, "keys", "issuing-create", "--out-dir", d, "--name", "pick",
                "--purpose", "pickup", "--at", "2027-01-01T00:00:00Z")[0] == 0  # fmt: skip
    status, _, err = _run(capsys, "token", "delegate", "--key", f"{d}/pick.key.pem",
                          "--token", token, "--at", AT)  # fmt: skip
    assert (status, err) == (
        ExitStatus.USAGE,
        "locker-admin: error: this key is for pickup, not return: lockers would refuse the token",
    )
    status, delegate, _ = _run(capsys, "token", "delegate", "--key", f"{d}/issuing.key.pem",
                               "--token", token, "--at", AT)  # fmt: skip
    assert status == 0
    assert delegate.startswith("LK1:")
