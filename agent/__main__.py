"""`locker-agent`: run the agent, run the demo, check the database, and support tools.

Exit statuses: 0 ok; 1 failed at run time; 2 bad configuration or arguments; 3 database refused
(corrupt, or newer than this agent); 4 a check found a problem (pending migrations, a refused
token or identity document, an image without a code);
5 `audit verify`: an audit entry is altered, missing or out of order; 6 `audit verify`: a
checkpoint signature does not verify.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from agent import audit, demo
from agent.api.demo_routes import DemoToken, demo_routes
from agent.api.demo_wallet_routes import demo_wallet_routes
from agent.app import Agent, DoorHardware
from agent.config import AgentConfig, IdentityConfig, load_config, require_explicit_hardware
from agent.errors import AgentError, ConfigError, StoreError
from agent.evidence.cli import add_evidence_commands, evidence_command
from agent.identity.cli import add_identity_commands, mdoc_check
from agent.identity.simulated_wallet import SimulatedWalletLink
from agent.logs import setup_logging
from agent.store.db import Database, schema_version_of_code
from agent.support_cli import add_support_commands, scan_files, token_check
from hardware.camera_sim import SimulatedCamera

EXIT_OK, EXIT_RUNTIME, EXIT_CONFIG, EXIT_DATABASE, EXIT_CHECK_FAILED = 0, 1, 2, 3, 4
_LOG = logging.getLogger("agent")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="locker-agent",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--log-format", choices=["text", "json"], default="text")
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the agent with a configuration file")
    run.add_argument("--config", type=Path, required=True)

    dem = sub.add_parser("demo", help="run a demo locker on embedded defaults")
    dem.add_argument("--port", type=int, default=8080)
    dem.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep the demo's data here (default: a fresh temporary folder)",
    )
    dem.add_argument("--json", action="store_true", help="print seeded orders as JSON lines")
    dem.add_argument(
        "--door-close-s",
        type=float,
        default=demo.DOOR_CLOSE_S,
        help="simulated doors close by themselves this many seconds after opening (0: never)",
    )
    dem.add_argument(
        "--hub",
        metavar="mqtt://HOST:PORT",
        default=None,
        help="also sync with a hub through this broker (anonymous, fleet 'demo'; for trying out)",
    )

    db = sub.add_parser("db", help="check or migrate the database")
    db.add_argument("action", choices=["check", "migrate"])
    db.add_argument("--config", type=Path, required=True)

    aud = sub.add_parser("audit", help="verify the hash-chained, signed audit log")
    aud.add_argument("action", choices=["verify"])
    source = aud.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path)
    source.add_argument("--data-dir", type=Path, help="a demo's data folder")
    aud.add_argument("--public-key", type=Path, help="PEM key to check signatures with")
    add_support_commands(sub)
    add_identity_commands(sub)
    add_evidence_commands(sub)
    return parser


def _install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


async def _serve(
    agent: Agent, *, on_started: Callable[[Agent], Awaitable[None]] | None = None
) -> None:
    stop = asyncio.Event()
    _install_stop_signals(stop)
    try:
        await agent.start()
        if on_started is not None:
            await on_started(agent)
        await agent.serve(stop)
    finally:
        await agent.stop()


async def _run(config: AgentConfig) -> int:
    await _serve(Agent(config))
    return EXIT_OK


async def _demo(args: argparse.Namespace) -> int:
    data_dir = (args.data_dir or Path(tempfile.mkdtemp(prefix="locker-demo-"))).resolve()
    fleet = demo.demo_fleet(data_dir, time.time())
    pins, staff = await asyncio.to_thread(demo.demo_pins)
    config = demo.demo_config(data_dir, args.port, fleet, hub_url=args.hub)
    evidence = await asyncio.to_thread(demo.demo_evidence, data_dir, time.time())
    config = config.model_copy(update={"staff": staff, "evidence": evidence})
    camera = SimulatedCamera()
    demo_tokens: list[DemoToken] = []
    doors = demo.demo_doors(config, args.door_close_s if args.door_close_s > 0 else None)
    issuer, iaca = await asyncio.to_thread(demo.demo_identity, data_dir, time.time())
    config = config.model_copy(update={"identity": IdentityConfig(iaca=(iaca,))})
    wallets, age_orders = SimulatedWalletLink(), list[DemoToken]()
    wallet_demo = demo_wallet_routes(
        issuer, wallets, lambda: agent.running.wallet, lambda: age_orders, time.time
    )
    agent = Agent(
        config,
        camera=camera,
        hardware=DoorHardware(doors, doors),
        extra_routes=[demo_routes(camera, lambda: demo_tokens), wallet_demo],
        wallet_link=wallets,
    )

    async def announce(started: Agent) -> None:
        hold_s = config.hold.default_hours * 3600
        seeded = await started.db.run(
            demo.seed_orders,
            started.typed_code_secret,
            now=started.clock.now(),
            hold_s=hold_s,
            fleet=fleet,
        )
        demo_tokens.extend(
            DemoToken(f"Order {o.order_id} ({o.door_size})", o.order_id, o.token)
            for o in seeded
            if o.token
        )
        label = await started.db.run(
            demo.announce_for_courier,
            started.typed_code_secret,
            now=started.clock.now(),
            hold_s=hold_s,
        )
        if seeded:  # a demo restarted on full doors seeds nothing new
            refused = await asyncio.to_thread(
                demo.refusal_tokens, fleet, seeded[0].order_id, started.clock.now()
            )
            demo_tokens.extend(DemoToken(r.label, r.key, r.token) for r in refused)
        _print_demo(
            seeded,
            started.url or "",
            data_dir,
            as_json=args.json,
            pins=pins,
            hub=args.hub,
            courier_label=label,
        )
        return_token = await started.db.run(demo.seed_return, fleet, now=started.clock.now())
        demo_tokens.append(DemoToken(f"Return {demo.DEMO_RETURN}", demo.DEMO_RETURN, return_token))
        ca_pem = data_dir / "fleet" / "device-ca.pem"
        if args.json:
            line = {"return": demo.DEMO_RETURN, "token": return_token, "device_ca": str(ca_pem)}
            print(json.dumps(line), flush=True)
        else:
            print(f"Return {demo.DEMO_RETURN} (size S): token {return_token}", flush=True)
            print(
                f"Evidence photos in {data_dir / 'evidence'}; verify one with: locker-admin"
                f" evidence verify FILE --ca {ca_pem}"
                f" --locker {config.locker.id}",
                flush=True,
            )
        restricted = await started.db.run(
            demo.seed_orders,
            started.typed_code_secret,
            now=started.clock.now(),
            hold_s=hold_s,
            fleet=fleet,
            orders=demo.DEMO_AGE_ORDERS,
        )
        age_orders.extend(
            DemoToken(f"18+ {o.order_id}", o.order_id, o.token or "") for o in restricted
        )
        _print_age_orders(restricted, as_json=args.json)
        if args.hub and not args.json:
            print(
                f"Hub link: {args.hub} (fleet {demo.DEMO_FLEET}, device {config.locker.id});"
                f" hub signing key {fleet.command_key_path}",
                flush=True,
            )

    await _serve(agent, on_started=announce)
    return EXIT_OK


def _print_age_orders(seeded: Sequence[demo.SeededOrder], *, as_json: bool) -> None:
    """The age-restricted demo orders (18+): they open only for a wallet proving the age."""
    for order in () if as_json else seeded:
        print(
            f"  18+ order {order.order_id}  code {order.code}: opens only with a wallet —"
            f' POST /api/v1/demo/wallet {{"order": "{order.order_id}", "age": 25}} (or 16)',
            flush=True,
        )


def _print_demo(
    seeded: Sequence[demo.SeededOrder],
    url: str,
    data_dir: Path,
    *,
    as_json: bool,
    pins: Sequence[demo.DemoPin] = (),
    hub: str | None = None,
    courier_label: str = "",
) -> None:
    if as_json:
        for order in seeded:
            print(
                json.dumps(
                    {
                        "order": order.order_id,
                        "door_size": order.door_size,
                        "door": order.door,
                        "code": order.code,
                        "token": order.token,
                    }
                ),
                flush=True,
            )
        print(json.dumps({"kiosk_url": url, "data_dir": str(data_dir), "hub": hub}), flush=True)
        for p in pins:  # after the kiosk line, which scripts read as the end of the orders
            print(json.dumps({"role": p.role, "actor": p.actor, "pin": p.pin}), flush=True)
        screens = {name.lower(): link for name, link in demo.screen_urls(url)}
        print(json.dumps({"screens": screens, "courier_label": courier_label}), flush=True)
        return
    link = "offline" if hub is None else f"syncing with {hub}"
    print(f"Demo locker (simulated doors, {link}) — data in {data_dir}")
    for order in seeded:
        print(f"  order {order.order_id}  size {order.door_size}  code {order.code}")
        if order.token:
            print(f"    token {order.token}")
    if courier_label:
        print(f"  parcel for the courier to load: {courier_label}")
    for p in pins:
        print(f"  {p.role} PIN {p.pin}")
    for name, link in demo.screen_urls(url)[1:]:
        print(f"{name}: {link}")
    print(f"Kiosk: {url}   (Ctrl-C to stop)", flush=True)


async def _db(action: str, config: AgentConfig) -> int:
    database = Database(config.database_path, synchronous=config.store.synchronous)
    try:
        was, now = await database.open(migrate=action == "migrate")
    finally:
        await database.close()
    target = schema_version_of_code()
    print(
        json.dumps(
            {
                "database": str(config.database_path),
                "schema": now,
                "code_schema": target,
                "migrated_from": was if was != now else None,
                "integrity": "ok",
            }
        )
    )
    return EXIT_OK if now == target else EXIT_CHECK_FAILED


async def _audit(args: argparse.Namespace) -> int:
    if args.data_dir is not None:
        database, key = args.data_dir / "agent.db", args.data_dir / audit.DEVICE_KEY_FILE
    else:
        config = load_config(args.config)
        database, key = config.database_path, audit.device_key_path(config)
    return await audit.verify_command(database, args.public_key or key)


_EXIT_FOR: tuple[tuple[type[BaseException], int, str], ...] = (
    (ConfigError, EXIT_CONFIG, "configuration error"),
    (StoreError, EXIT_DATABASE, "database error"),
    (AgentError, EXIT_RUNTIME, "error"),
    (OSError, EXIT_RUNTIME, "error"),
)


_SYNC_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "token": token_check,
    "scan": scan_files,
    "identity": mdoc_check,
    "evidence": evidence_command,
}


async def _dispatch(args: argparse.Namespace) -> int:
    if args.command in {"run", "demo"}:
        os.umask(0o077)  # whatever the agent writes (database, WAL, keys) is its own
    if args.command == "demo":
        return await _demo(args)
    if args.command == "audit":
        return await _audit(args)
    config = load_config(args.config)
    if args.command == "run":
        require_explicit_hardware(config, args.config)
        return await _run(config)
    return await _db(args.action, config)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging(args.log_format, args.log_level)
    try:
        if args.command in _SYNC_COMMANDS:
            return _SYNC_COMMANDS[args.command](args)
        return asyncio.run(_dispatch(args))
    except KeyboardInterrupt:
        return EXIT_OK
    except (AgentError, OSError) as err:
        status, label = next((s, lbl) for kind, s, lbl in _EXIT_FOR if isinstance(err, kind))
        print(f"{label}: {err}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
