"""`locker-admin hub ...`: run the reference hub, send commands, show fleet status.

    hub run --broker mqtt://hub:pw@host:1883 --db hub.db --fleet F --sign-key hub.pem \
        [--device-ca device-ca.pem [--enrolled D1,D2]]
    hub send-order --broker ... --db hub.db --fleet F --device D --order-id O --size M \
        --hold-hours 48 [--code-digest HEX] --sign-key hub.pem
    hub open --broker ... --db hub.db --fleet F --device D --door 3 --reason R --sign-key hub.pem
    hub redirect ... --device D --order-id O --reason R [--destination LOCKER] --sign-key hub.pem
    hub expect-return ... --device D --order-ref R --size S [--code-digest HEX] --sign-key hub.pem
    hub send --broker ... --db hub.db --fleet F --device D --name order.cancel --args '{...}' \
        --sign-key hub.pem
    hub status --db hub.db --fleet F [--json]
    hub device-key --db hub.db --fleet F --device D --public-key device_key.pem

`device-key` records a locker's device key (Ed25519; the public half, or the key file itself:
only the public half is kept). Replies to commands are signed with it; the hub drops a reply it
cannot verify and keeps re-sending the command (docs/protocol.md, "Replies are signed").

Everything the hub sends is signed with `--sign-key` (the fleet's command key): commands, and the
confirms `hub run` publishes; devices refuse anything unsigned (docs/protocol.md).

Exit status: 0 ok, 1 the device refused (nack), 2 bad usage, 3 no answer yet (the command stays
pending in the database; `hub run` re-sends it when the device comes online).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from hub_sync.adapters.mqtt import ConnectParams, TlsSettings
from hub_sync.adapters.settings import parse_broker, parse_protocol
from hub_sync.errors import SyncError
from hub_sync.hub.photo_ingest import C2paPhotoCheck
from hub_sync.hub.reference.hub import ALL_LEAVES, Hub, HubSettings
from hub_sync.hub.reference.store import HubStore
from hub_sync.protocol.commands import CODE_SCHEME
from hub_sync.protocol.signing import PrivateKey, key_id, load_private_key_file

_LOG = logging.getLogger(__name__)


def _common(p: argparse.ArgumentParser, *, broker: bool = True) -> None:
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--fleet", required=True)
    if broker:
        p.add_argument("--broker", required=True, help="mqtt://user:pass@host:port or mqtts://")
        p.add_argument("--ca", help="CA bundle for mqtts://")
        p.add_argument("--protocol", default="5", help="5 or 3.1.1")
        p.add_argument(
            "--sign-key", type=Path, required=True,
            help="hub command key (PEM, Ed25519 or P-256): signs commands and confirms",
        )  # fmt: skip
        p.add_argument(
            "--passphrase-file", type=Path,
            help="passphrase of an encrypted --sign-key (else $LOCKER_ADMIN_PASSPHRASE)",
        )  # fmt: skip


def _sender(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--device", required=True)
    p.add_argument("--transaction-id")
    p.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the reply")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="locker-admin hub")
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="consume events, confirm them, re-send commands")
    _common(run)
    run.add_argument("--client-id")
    run.add_argument(
        "--device-ca",
        type=Path,
        help="the fleet device CA (PEM): take evidence photos and check each one's C2PA manifest"
        " (without it devices keep their photos)",
    )
    run.add_argument(
        "--enrolled",
        help="comma-separated device ids whose photos are taken (default: any with a device"
        " certificate from --device-ca)",
    )
    order = sub.add_parser("send-order", help="announce or update an order")
    _sender(order)
    order.add_argument("--order-id", required=True)
    order.add_argument("--size", required=True)
    order.add_argument("--hold-hours", type=float, required=True)
    order.add_argument(
        "--code-digest",
        help="typed-code digest, 64 hex digits (`locker-admin device code-digest` prints it)",
    )
    door = sub.add_parser("open", help="hub-signed remote open of one door")
    _sender(door)
    door.add_argument("--door", type=int, required=True)
    door.add_argument("--reason", required=True)
    door.add_argument("--order-id")
    redirect = sub.add_parser("redirect", help="give an order up at this locker (re-announce it)")
    _sender(redirect)
    redirect.add_argument("--order-id", required=True)
    redirect.add_argument("--reason", required=True)
    redirect.add_argument("--destination", help="the locker it goes to (for the record)")
    expect = sub.add_parser("expect-return", help="announce a customer return (typed code)")
    _sender(expect)
    expect.add_argument("--order-ref", required=True)
    expect.add_argument("--size", required=True, choices=("S", "M", "L"))
    expect.add_argument("--code-digest", help="HMAC-SHA256 of the return code, hex")
    send = sub.add_parser("send", help="any command, args as a JSON object")
    _sender(send)
    send.add_argument("--name", required=True)
    send.add_argument("--args", required=True)
    key = sub.add_parser("device-key", help="record a locker's device key (verifies its replies)")
    _common(key, broker=False)
    key.add_argument("--device", required=True)
    key.add_argument("--public-key", required=True, type=Path, help="PEM, Ed25519")
    status = sub.add_parser("status", help="devices, confirmed seq, online, pending commands")
    _common(status, broker=False)
    status.add_argument("--json", action="store_true")
    return parser


def _settings(ns: argparse.Namespace, *, client_id: str, leaves: tuple[str, ...]) -> HubSettings:
    host, port, user, password, tls = parse_broker(ns.broker)
    persistent = leaves == ALL_LEAVES
    params = ConnectParams(
        host=host, port=port, client_id=client_id, username=user, password=password,
        tls=TlsSettings(ca=ns.ca) if tls else None, protocol=parse_protocol(ns.protocol),
        # the long-running hub keeps a persistent session; a one-shot sender leaves none behind
        clean_start=not persistent, session_expiry_s=14 * 86_400 if persistent else 0,
    )  # fmt: skip
    return HubSettings(fleet=ns.fleet, connect=params, leaves=leaves)


def _key(ns: argparse.Namespace) -> PrivateKey:
    return load_private_key_file(ns.sign_key, ns.passphrase_file)


def _command(ns: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    if ns.cmd == "open":
        args: dict[str, Any] = {"door": ns.door, "reason": ns.reason}
        if ns.order_id:
            args["order_id"] = ns.order_id
        return "door.open", args
    if ns.cmd == "send-order":
        args = {"order_id": ns.order_id, "size": ns.size, "hold_s": int(ns.hold_hours * 3600)}
        if ns.code_digest:
            args["code"] = {"scheme": CODE_SCHEME, "digest": ns.code_digest.strip().lower()}
        return "order.upsert", args
    if ns.cmd == "redirect":
        args = {"order_id": ns.order_id, "reason": ns.reason}
        if ns.destination:
            args["destination"] = ns.destination
        return "order.redirect", args
    if ns.cmd == "expect-return":
        args = {"order_ref": ns.order_ref, "size": ns.size}
        if ns.code_digest:
            args["code"] = {"scheme": "hmac-sha256", "digest": ns.code_digest}
        return "return.expect", args
    parsed = json.loads(ns.args)
    if not isinstance(parsed, dict):
        raise SyncError("--args must be a JSON object")
    return ns.name, parsed


async def _run(ns: argparse.Namespace) -> int:
    store = HubStore(ns.db)
    check = None
    if ns.device_ca is not None:
        enrolled = None if ns.enrolled is None else frozenset(ns.enrolled.split(","))
        check = C2paPhotoCheck(ns.device_ca.read_text(encoding="utf-8"), enrolled)
    hub = Hub(_settings(ns, client_id=ns.client_id or f"hub-{ns.fleet}", leaves=ALL_LEAVES),
              store, sign_key=_key(ns), photo_check=check)  # fmt: skip
    task = asyncio.create_task(hub.run(), name="hub")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    store.close()
    return 0


async def _send(ns: argparse.Namespace) -> int:
    name, args = _command(ns)
    store = HubStore(ns.db)
    client_id = f"hub-{ns.fleet}-cli-{secrets.token_hex(4)}"
    hub = Hub(_settings(ns, client_id=client_id, leaves=("reply",)), store, sign_key=_key(ns))
    task = asyncio.create_task(hub.run(), name="hub-cli")
    try:
        async with asyncio.timeout(max(ns.wait, 5.0)):
            await hub.connected.wait()
        mid = await hub.send_command(ns.device, name, args, transaction_id=ns.transaction_id)
        print(f"sent {name} message_id={mid}")
        if ns.wait <= 0:
            return 3
        outcome = await hub.wait_reply(mid, ns.wait)
    except TimeoutError:
        print("no answer yet: the command stays pending and `hub run` re-sends it")
        return 3
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        store.close()
    print(json.dumps({"status": outcome.status, "reason": outcome.reason,
                      "result": dict(outcome.result)}))  # fmt: skip
    return 0 if outcome.status == "ok" else 1


def _status(ns: argparse.Namespace) -> int:
    store = HubStore(ns.db)
    try:
        rows = store.devices(ns.fleet)
        pending = store.pending_commands(ns.fleet)
    finally:
        store.close()
    per_device: dict[str, int] = {}
    for cmd in pending:
        per_device[cmd.device] = per_device.get(cmd.device, 0) + 1
    out = [{"device": r.device, "online": r.online, "confirmed_seq": r.through_seq,
            "events": r.applied, "duplicates": r.duplicates, "gaps": r.gaps, "alarm": r.alarm,
            "pending_commands": per_device.get(r.device, 0)} for r in rows]  # fmt: skip
    if ns.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{'device':<20} {'online':<7} {'seq':>8} {'events':>8} {'dups':>6} {'pending':>7} alarm")
    for r in out:
        print(f"{r['device']:<20} {'yes' if r['online'] else 'no':<7} {r['confirmed_seq']:>8} "
              f"{r['events']:>8} {r['duplicates']:>6} {r['pending_commands']:>7} "
              f"{r['alarm'] or ''}")  # fmt: skip
    return 0


def _device_key(ns: argparse.Namespace) -> int:
    data = ns.public_key.read_bytes()
    key: object
    if b"PRIVATE KEY" in data:
        key = serialization.load_pem_private_key(data, password=None).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise SyncError("the device key must be Ed25519")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    store = HubStore(ns.db)
    try:
        store.add_device_key(ns.fleet, ns.device, raw, time.time())
    finally:
        store.close()
    print(f"device {ns.device}: key {key_id(key)}")
    return 0


def main(argv: list[str]) -> int:
    """Entry point for `locker-admin hub ARGS...`; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        ns = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else 2
    try:
        if ns.cmd == "status":
            return _status(ns)
        if ns.cmd == "device-key":
            return _device_key(ns)
        if ns.cmd == "run":
            return asyncio.run(_run(ns))
        return asyncio.run(_send(ns))
    except (SyncError, ValueError, OSError) as err:
        print(f"hub {ns.cmd}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
