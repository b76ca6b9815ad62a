"""`locker-admin`: the fleet admin console (keys, trust bundles, tokens, QR, wallet, hub)."""

from __future__ import annotations

import argparse
import importlib
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from agent.errors import AgentError
from agent.services.sessions import hash_pin
from agent.tokens.claims import Purpose, TokenFlags
from agent.tokens.typed_codes import code_lookup_key, display_code, new_typed_code
from hub_sync.protocol.commands import CODE_SCHEME
from provisioning import (
    code_key_rotation,
    device_cli,
    enroll,
    evidence_cli,
    keyfiles,
    mint,
    qr,
    rotate_all,
    wallet,
)
from provisioning.errors import ExitStatus, ProvisioningError

_EPILOG = "exit statuses:\n" + "\n".join(
    f"  {status.value}  {status.name.lower().replace('_', ' ')}" for status in ExitStatus
)
Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors end in one line on stderr and a named exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["hub"]:
        return _forward_to_hub(args_list[1:])
    if args_list[:1] == ["fleet"]:  # the fleet hub's database (docs/hub.md)
        from provisioning import fleet_status_cli

        return fleet_status_cli.main(args_list[1:])
    args = build_parser().parse_args(args_list)
    handler: Handler = args.handler
    try:
        return handler(args)
    except ProvisioningError as err:
        print(f"locker-admin: error: {err}", file=sys.stderr)
        return int(err.status)
    except Exception as err:  # the console promise: one line, never a traceback
        print(f"locker-admin: unexpected error: {type(err).__name__}: {err}", file=sys.stderr)
        return int(ExitStatus.FAILED)


def _forward_to_hub(argv: list[str]) -> int:
    try:
        hub_cli = importlib.import_module("hub_sync.hub.reference.cli")
    except ImportError:
        print("hub tools not installed", file=sys.stderr)
        return int(ExitStatus.HUB_TOOLS_MISSING)
    result: int = hub_cli.main(argv)
    return result


def build_parser() -> argparse.ArgumentParser:
    """The `locker-admin` argument parser, with every area's commands."""
    parser = argparse.ArgumentParser(
        prog="locker-admin",
        description="Fleet admin tools: keys, trust bundles, pickup tokens, QR codes, wallet, "
        "device enrollment, hub.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    areas = parser.add_subparsers(dest="area", required=True)
    _add_keys(areas.add_parser("keys", help="create fleet root and issuing keys"))
    _add_bundle(areas.add_parser("bundle", help="sign a trust bundle"))
    _add_token(areas.add_parser("token", help="issue and render tokens"))
    _add_wallet(areas.add_parser("wallet", help="reference phone wallet (live codes)"))
    _add_device(areas.add_parser("device", help="enroll a device; typed-code digests; certs"))
    evidence_cli.add_evidence(areas.add_parser("evidence", help="verify C2PA evidence photos"))
    rotate = areas.add_parser("rotate", help="rotate keys on every enrolled locker (--all)")
    rotate_all.add_args(rotate)
    rotate.set_defaults(handler=rotate_all.run_all)
    hub = areas.add_parser("hub", help="hub tools (forwarded to hub_sync.hub.reference.cli)")
    hub.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _add_device(parser: argparse.ArgumentParser) -> None:
    cmds = parser.add_subparsers(dest="cmd", required=True)
    enroll_cmd = cmds.add_parser(
        "enroll", help="--csv FILE: invites for many lockers; --locker-id: one credential folder"
    )
    enroll_cmd.add_argument("--locker-id", help="one device: its credential folder (old style)")
    enroll_cmd.add_argument("--fleet", required=True)
    enroll_cmd.add_argument("--broker", default="mqtts://hub.example.invalid:8883")
    enroll_cmd.add_argument("--out-dir", type=Path, default=Path())
    device_cli.add_bulk_options(enroll_cmd)
    enroll_cmd.set_defaults(handler=_device_enroll)
    digest = cmds.add_parser("code-digest", help="order.upsert digest of a typed code (stdin)")
    digest.add_argument("--key-file", type=Path, required=True, help="the device's typed-code.key")
    digest.set_defaults(handler=_device_code_digest)
    new_code = cmds.add_parser("new-code", help="a new typed code and its order.upsert digest")
    new_code.add_argument(
        "--key-file", type=Path, required=True, help="the device's typed-code.key"
    )
    new_code.set_defaults(handler=_device_new_code)
    pin = cmds.add_parser("hash-pin", help="the [[staff]] pin_hash of a PIN read from stdin")
    pin.set_defaults(handler=_device_hash_pin)
    evidence_cli.add_device_commands(cmds)
    device_cli.add_lifecycle(cmds)
    code_key = cmds.add_parser("rotate-code-key", help="rotate a locker's typed-code key (a step)")
    code_key_rotation.add_args(code_key)
    code_key.set_defaults(handler=code_key_rotation.run_one)


def _device_enroll(args: argparse.Namespace) -> int:
    if args.csv is not None:
        return device_cli.bulk_enroll(args)
    if args.locker_id is None:
        raise ProvisioningError("give --csv FILE or --locker-id", ExitStatus.USAGE)
    done = enroll.enroll_device(args.out_dir, args.locker_id, args.fleet, args.broker)
    print(json.dumps({"folder": str(done.folder), "locker": done.locker_id, "fleet": done.fleet}))
    return int(ExitStatus.OK)


def _stdin_secret(what: str) -> str:
    value = sys.stdin.readline().strip()
    if not value:
        raise ProvisioningError(f"give the {what} on standard input", ExitStatus.USAGE)
    return value


def _device_code_digest(args: argparse.Namespace) -> int:
    key = enroll.read_code_key(args.key_file)
    try:
        digest = code_lookup_key(_stdin_secret("typed code"), key)
    except AgentError as err:
        raise ProvisioningError("not an 8-character typed code", ExitStatus.INPUT_INVALID) from err
    print(json.dumps({"scheme": CODE_SCHEME, "digest": digest}))
    return int(ExitStatus.OK)


def _device_new_code(args: argparse.Namespace) -> int:
    """What an order system does: a random code for the customer, its digest for the locker."""
    key = enroll.read_code_key(args.key_file)
    code = new_typed_code(random.SystemRandom())
    digest = code_lookup_key(code, key)
    print(json.dumps({"code": display_code(code), "scheme": CODE_SCHEME, "digest": digest}))
    return int(ExitStatus.OK)


def _device_hash_pin(args: argparse.Namespace) -> int:
    del args
    pin = _stdin_secret("PIN")
    if not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise ProvisioningError("a PIN is 4-12 digits", ExitStatus.INPUT_INVALID)
    print(hash_pin(pin))
    return int(ExitStatus.OK)


def _add_keys(parser: argparse.ArgumentParser) -> None:
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


def _add_bundle(parser: argparse.ArgumentParser) -> None:
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


def _add_token(parser: argparse.ArgumentParser) -> None:
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


def _add_wallet(parser: argparse.ArgumentParser) -> None:
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


if __name__ == "__main__":
    sys.exit(main())
