"""`locker-admin keys|bundle|token|wallet`: the fleet's signing keys, trust bundles and tokens.

Root and issuing keys (`keys`), root-signed trust bundles (`bundle`), pickup and delegate tokens
and their QR codes (`token`), and the reference phone wallet's live codes (`wallet`). Every
command takes a key passphrase the same way (`add_passphrase_arg`) and times as ISO 8601 with a
zone (`parse_time`). `cli.py` puts these areas into the `locker-admin` parser.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from agent.tokens.claims import Purpose, TokenFlags
from provisioning import keyfiles, mint, qr, wallet
from provisioning.errors import ExitStatus, ProvisioningError


def add_keys(parser: argparse.ArgumentParser) -> None:
    """`keys root-create` and `keys issuing-create`."""
    cmds = parser.add_subparsers(dest="cmd", required=True)
    root = cmds.add_parser("root-create", help="new fleet root key pair (NAME.key.pem, .pub.pem)")
    issuing = cmds.add_parser("issuing-create", help="new issuing key pair plus NAME.json entry")
    for cmd in (root, issuing):
        cmd.add_argument("--out-dir", type=Path, default=Path())
        cmd.add_argument("--kind", choices=keyfiles.KEY_KINDS, default="es256")
        add_passphrase_arg(cmd, writes=True)
    root.add_argument("--name", default="root-primary")
    root.set_defaults(handler=_keys_root_create)
    issuing.add_argument("--name", default="issuing")
    issuing.add_argument("--purpose", action="append", required=True, choices=list(Purpose))
    issuing.add_argument("--valid-days", type=float, default=730.0)
    issuing.add_argument("--at", help="start of validity, ISO 8601 (default: now)")
    issuing.set_defaults(handler=_keys_issuing_create)


def add_bundle(parser: argparse.ArgumentParser) -> None:
    """`bundle sign`."""
    cmds = parser.add_subparsers(dest="cmd", required=True)
    sign = cmds.add_parser("sign", help="sign a trust bundle with a root key")
    sign.add_argument("--root", type=Path, required=True, help="root private key (PEM)")
    sign.add_argument("--issuing", type=Path, action="append", required=True, help="NAME.json")
    sign.add_argument("--revoked-file", type=Path, help="revoked cti values, hex, one a line")
    sign.add_argument("--version", type=int, required=True, help="monotonic bundle version")
    sign.add_argument("--valid-hours", type=float, default=168.0, help="until next_update")
    sign.add_argument("--at", help="issue time, ISO 8601 (default: now)")
    sign.add_argument("--out", type=Path, required=True)
    add_passphrase_arg(sign)
    sign.set_defaults(handler=_bundle_sign)


def add_token(parser: argparse.ArgumentParser) -> None:
    """`token issue`, `token delegate` and `token render`."""
    cmds = parser.add_subparsers(dest="cmd", required=True)
    issue = cmds.add_parser("issue", help="mint a token and print its LK1: string")
    issue.add_argument("--key", type=Path, required=True, help="issuing private key (PEM)")
    issue.add_argument(
        "--entry", type=Path, help="the key's bundle entry (default: NAME.json beside NAME.key.pem)"
    )
    issue.add_argument("--order", required=True, help="opaque order reference (no personal data)")
    issue.add_argument("--locker", action="append", required=True, help="locker id (repeatable)")
    issue.add_argument("--hold-hours", type=float, required=True)
    issue.add_argument("--purpose", choices=[str(p) for p in Purpose if p is not Purpose.COMMAND])
    issue.add_argument("--live", action="store_true", help="live holder-bound code required")
    issue.add_argument("--id-check", action="store_true")
    issue.add_argument("--high-value", action="store_true")
    issue.add_argument("--compartment", type=int)
    issue.add_argument("--holder-pub", type=Path, help="holder public key (PEM, P-256)")
    issue.add_argument("--at", help="issue time, ISO 8601 (default: now)")
    add_passphrase_arg(issue)
    issue.set_defaults(handler=_token_issue)
    delegate = cmds.add_parser("delegate", help="mint a delegate token for the same order")
    delegate.add_argument("--key", type=Path, required=True)
    delegate.add_argument("--entry", type=Path, help="the key's bundle entry (as for issue)")
    delegate.add_argument("--token", required=True, help="LK1: string, or @FILE")
    delegate.add_argument("--holder-pub", type=Path)
    delegate.add_argument("--at")
    add_passphrase_arg(delegate)
    delegate.set_defaults(handler=_token_delegate)
    render = cmds.add_parser("render", help="write a payload as QR (ECC M, alphanumeric)")
    render.add_argument("payload", help="LK1:/LK1L: string, or @FILE")
    render.add_argument("--png", type=Path)
    render.add_argument("--svg", type=Path)
    render.set_defaults(handler=_token_render)


def add_wallet(parser: argparse.ArgumentParser) -> None:
    """`wallet keygen` and `wallet live`."""
    cmds = parser.add_subparsers(dest="cmd", required=True)
    keygen = cmds.add_parser("keygen", help="new P-256 holder key (NAME.key.pem, NAME.pub.pem)")
    keygen.add_argument("--out-dir", type=Path, default=Path())
    keygen.add_argument("--name", default="holder")
    keygen.set_defaults(handler=_wallet_keygen)
    live = cmds.add_parser("live", help="print the live code for a token at a time")
    live.add_argument("--token", required=True, help="LK1: string, or @FILE")
    live.add_argument("--holder-key", type=Path, required=True)
    live.add_argument("--at", help="ISO 8601 (default: now)")
    add_passphrase_arg(live)
    live.set_defaults(handler=_wallet_live)


def add_passphrase_arg(cmd: argparse.ArgumentParser, *, writes: bool = False) -> None:
    """`--passphrase-file`: the one way every command takes a key passphrase (besides the
    variable LOCKER_ADMIN_PASSPHRASE and a prompt), never as a value on the command line."""
    what = (
        "encrypt the new private key with the passphrase in FILE (or in "
        "$LOCKER_ADMIN_PASSPHRASE); without either the key is written unencrypted"
        if writes
        else "passphrase of an encrypted private key (else $LOCKER_ADMIN_PASSPHRASE, else a prompt)"
    )
    cmd.add_argument("--passphrase-file", type=Path, metavar="FILE", help=what)


def parse_time(text: str | None) -> float:
    """ISO 8601 (a zone is required) to POSIX seconds; now when `text` is None."""
    if text is None:
        return time.time()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise ProvisioningError(f"not an ISO 8601 time: {text!r}", ExitStatus.USAGE) from err
    if moment.tzinfo is None:
        raise ProvisioningError(f"time {text!r} needs a zone (e.g. Z)", ExitStatus.USAGE)
    return moment.timestamp()


def _text_arg(value: str) -> str:
    if value.startswith("@"):
        return keyfiles.read_file(Path(value[1:])).decode("ascii", "replace").strip()
    return value.strip()


def _holder_public(path: Path | None) -> ec.EllipticCurvePublicKey | None:
    if path is None:
        return None
    key = keyfiles.load_public_key(path)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ProvisioningError(f"{path} is not a P-256 public key")
    return key


def _keys_root_create(args: argparse.Namespace) -> int:
    key = keyfiles.generate_key(args.kind)
    out: Path = args.out_dir
    secret = keyfiles.passphrase_if_given(args.passphrase_file)
    keyfiles.write_key_pair(out / f"{args.name}.key.pem", out / f"{args.name}.pub.pem", key, secret)
    print(out / f"{args.name}.pub.pem")
    return 0


def _keys_issuing_create(args: argparse.Namespace) -> int:
    start = int(parse_time(args.at))
    key = keyfiles.generate_key(args.kind)
    out: Path = args.out_dir
    entry = keyfiles.IssuingKeyEntry(
        key.public_key(),
        keyfiles.parse_purposes(args.purpose),
        start,
        start + int(args.valid_days * 86400),
    )
    secret = keyfiles.passphrase_if_given(args.passphrase_file)
    keyfiles.write_key_pair(out / f"{args.name}.key.pem", out / f"{args.name}.pub.pem", key, secret)
    keyfiles.write_descriptor(out / f"{args.name}.json", entry)
    print(out / f"{args.name}.json")
    return 0


def _bundle_sign(args: argparse.Namespace) -> int:
    revoked: list[bytes] = []
    if args.revoked_file is not None:
        text = keyfiles.read_file(args.revoked_file).decode("ascii", "replace")
        try:
            revoked = [bytes.fromhex(line.strip()) for line in text.splitlines() if line.strip()]
        except ValueError as err:
            raise ProvisioningError(f"{args.revoked_file}: a line is not hex") from err
    data = mint.build_bundle(
        keyfiles.load_private_key(args.root, args.passphrase_file),
        [keyfiles.load_descriptor(path) for path in args.issuing],
        version=args.version,
        now=parse_time(args.at),
        valid_s=args.valid_hours * 3600,
        revoked=revoked,
    )
    keyfiles.write_new_file(args.out, data)
    print(args.out)
    return 0


def _entry_path(key: Path, entry: Path | None) -> Path:
    if entry is not None:
        return entry
    name = key.name.removesuffix(".pem").removesuffix(".key")
    beside = key.with_name(f"{name}.json")
    if not beside.exists():
        raise ProvisioningError(
            f"give --entry: no {beside.name} beside the key (its purposes and validity)",
            ExitStatus.USAGE,
        )
    return beside


def _token_issue(args: argparse.Namespace) -> int:
    key = keyfiles.load_private_key(args.key, args.passphrase_file)
    entry = keyfiles.load_descriptor(_entry_path(args.key, args.entry))
    purpose, now = Purpose(args.purpose or Purpose.PICKUP), parse_time(args.at)
    hold_s = args.hold_hours * 3600
    mint.check_issue(key, entry, order_ref=args.order, lockers=args.locker, purpose=purpose,
                     now=now, hold_s=hold_s)  # fmt: skip
    print(
        mint.mint_token(
            key,
            order_ref=args.order,
            lockers=args.locker,
            now=now,
            hold_s=hold_s,
            purpose=purpose,
            flags=TokenFlags(args.live, args.id_check, args.high_value),
            compartment=args.compartment,
            holder_key=_holder_public(args.holder_pub),
        )
    )
    return 0


def _token_delegate(args: argparse.Namespace) -> int:
    key = keyfiles.load_private_key(args.key, args.passphrase_file)
    entry = keyfiles.load_descriptor(_entry_path(args.key, args.entry))
    holder = _holder_public(args.holder_pub)
    token = _text_arg(args.token)
    original = mint.read_claims(token)
    mint.check_issue(
        key, entry, order_ref=original.order_ref, lockers=original.audience,
        purpose=original.purpose, now=original.not_before,
        hold_s=original.expires - original.not_before,
    )  # fmt: skip
    print(mint.mint_delegate(key, token, now=parse_time(args.at), holder_key=holder))
    return 0


def _token_render(args: argparse.Namespace) -> int:
    if args.png is None and args.svg is None:
        raise ProvisioningError("give --png and/or --svg", ExitStatus.USAGE)
    version = qr.render(_text_arg(args.payload), png=args.png, svg=args.svg)
    print(json.dumps({"qr_version": version, "png": str(args.png), "svg": str(args.svg)}))
    return 0


def _wallet_keygen(args: argparse.Namespace) -> int:
    out: Path = args.out_dir
    wallet.create_holder_key(out / f"{args.name}.key.pem", out / f"{args.name}.pub.pem")
    print(out / f"{args.name}.pub.pem")
    return 0


def _wallet_live(args: argparse.Namespace) -> int:
    holder_key = wallet.load_holder_key(args.holder_key, args.passphrase_file)
    holder = wallet.Wallet(_text_arg(args.token), holder_key)
    print(holder.live_code(parse_time(args.at)))
    return 0
