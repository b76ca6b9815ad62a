"""`locker-admin`: the fleet admin console (keys, trust bundles, tokens, QR, wallet, hub).

The parser with every area, and the `device` area's own small commands (typed-code digests, PIN
hashes, old-style enrollment). The other areas live beside it: `trust_cli` (keys, bundles,
tokens, wallet), `device_cli` (the device lifecycle), `evidence_cli`, `rotate_all`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from agent.errors import AgentError
from agent.services.sessions import hash_pin
from agent.tokens.typed_codes import code_lookup_key, display_code, new_typed_code
from hub_sync.protocol.commands import CODE_SCHEME
from provisioning import (
    code_key_rotation,
    device_cli,
    enroll,
    evidence_cli,
    rotate_all,
    trust_cli,
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
    trust_cli.add_keys(areas.add_parser("keys", help="create fleet root and issuing keys"))
    trust_cli.add_bundle(areas.add_parser("bundle", help="sign a trust bundle"))
    trust_cli.add_token(areas.add_parser("token", help="issue and render tokens"))
    trust_cli.add_wallet(areas.add_parser("wallet", help="reference phone wallet (live codes)"))
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


if __name__ == "__main__":
    sys.exit(main())
