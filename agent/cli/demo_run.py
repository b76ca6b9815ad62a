"""`locker-agent demo`: a demo locker on simulated doors and camera, with a demo fleet.

Imported only for the demo command: the demo library (`agent.cli.demo`) uses `provisioning` to
create the fleet, which `locker-agent run` never needs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from agent.api.demo_routes import DemoToken, demo_routes
from agent.api.demo_wallet_routes import demo_wallet_routes
from agent.bootstrap.app import Agent, DoorHardware
from agent.cli import demo
from agent.cli.serve import EXIT_OK, serve
from agent.config.model import IdentityConfig
from agent.identity.simulated_wallet import SimulatedWalletLink
from agent.store.audit import DEVICE_KEY_FILE
from hardware.camera.sim import SimulatedCamera


async def run_demo(args: argparse.Namespace) -> int:
    """`locker-agent demo`: run a seeded locker with simulated hardware until stopped."""
    data_dir = (args.data_dir or Path(tempfile.mkdtemp(prefix="locker-demo-"))).resolve()
    fleet = demo.demo_fleet(data_dir, time.time())
    pins, staff = await asyncio.to_thread(demo.demo_pins)
    config = demo.demo_config(data_dir, args.port, fleet, hub_url=args.hub)
    evidence = await asyncio.to_thread(demo.demo_evidence, data_dir, time.time())
    config = config.model_copy(update={"staff": staff, "evidence": evidence})
    camera = SimulatedCamera()
    demo_tokens: list[DemoToken] = []
    close_s = demo.DOOR_CLOSE_S if args.door_close_s is None else args.door_close_s
    doors = demo.demo_doors(config, close_s if close_s > 0 else None)
    issuer, iaca = await asyncio.to_thread(demo.demo_identity, data_dir, time.time())
    config = config.model_copy(update={"identity": IdentityConfig(iaca=(iaca,))})
    wallets, age_orders = SimulatedWalletLink(), list[DemoToken]()
    wallet_demo = demo_wallet_routes(
        issuer,
        wallets,
        lambda: agent.running.wallet,
        lambda: age_orders,
        time.time,
        camera=camera,
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
                f" hub signing key {fleet.command_key_path}; the hub takes its events once it"
                f" holds its device key: locker-admin hub device-key --device {config.locker.id}"
                f" --public-key {config.locker.data_dir / DEVICE_KEY_FILE}",
                flush=True,
            )

    await serve(agent, on_started=announce)
    return EXIT_OK


def _print_age_orders(seeded: Sequence[demo.SeededOrder], *, as_json: bool) -> None:
    """The age-restricted demo orders (18+): they open only for a wallet proving the age."""
    if as_json:  # after the nine lines scripts read first
        for order in seeded:
            print(
                json.dumps({"age_order": order.order_id, "code": order.code, "door": order.door}),
                flush=True,
            )
        return
    for order in seeded:
        print(
            f"  18+ order {order.order_id}  code {order.code}: opens only with a wallet —"
            f' type the code at the kiosk, then press a "Wallet ..." demo button (or'
            f' POST /api/v1/demo/wallet {{"order": "{order.order_id}", "age": 25}}, or 16)',
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
