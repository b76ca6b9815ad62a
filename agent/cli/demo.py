"""The demo locker: embedded defaults, a fresh data folder, a handful of loaded orders.

The demo plays the hub too: it creates a demo fleet (roots, issuing key, signed trust bundle)
with the provisioning library and mints a token per order. This module and `agent/bootstrap/app.py`
are
the only places in `agent` allowed to know concrete collaborators; only the demo imports
`provisioning` (the arrow otherwise points from provisioning to agent).
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from agent.config.evidence import EvidenceConfig
from agent.config.hub import HubConfig
from agent.config.loader import describe_validation_error
from agent.config.model import (
    AgentConfig,
    ApiConfig,
    LockerConfig,
    StaffPinConfig,
    TrustConfig,
)
from agent.domain.doors import DoorSize, assign_door
from agent.domain.orders import OrderPolicy
from agent.errors import ConfigError
from agent.identity.simulated_wallet import SimulatedIssuer
from agent.services.orders import Announcement, announce_order, load_into_door
from agent.services.returns import expect_return
from agent.services.sessions import hash_pin
from agent.store.doors import list_doors
from agent.tokens.claims import Purpose, TokenFlags
from agent.tokens.trust import load_trust_bundle
from agent.tokens.typed_codes import code_lookup_key, display_code, new_typed_code
from hardware.doors.sim import SimulatedLocker
from provisioning import device_ca
from provisioning.fleet import (
    BUNDLE_VALIDITY_S,
    DemoFleet,
    create_demo_fleet,
    fleet_trust_files,
)
from provisioning.keyfiles import generate_key, load_descriptor, load_private_key
from provisioning.mint import build_bundle, mint_token

DEMO_LOCKER_ID = "LK-DEMO-001"
DEMO_FLEET = "demo"
DOOR_CLOSE_S = 4.0  # the demo's doors close by themselves this long after opening
# The screens a newcomer tries, by role (`/counter` needs a counter: locker.mode = "counter").
DEMO_SCREENS = (("Kiosk", "/"), ("Courier", "/courier"), ("Staff", "/staff"))
DEMO_RETURN = "RET-DEMO-001"

DEMO_ORDERS: tuple[tuple[DoorSize, OrderPolicy], ...] = (
    (DoorSize.S, OrderPolicy()),
    (DoorSize.M, OrderPolicy()),
    (DoorSize.L, OrderPolicy()),
    (DoorSize.S, OrderPolicy(accessible=True)),
    (DoorSize.M, OrderPolicy(high_value=True)),
)
# seeded apart from DEMO_ORDERS: it opens only with a wallet proving 18+ (docs/identity.md)
DEMO_AGE_ORDERS: tuple[tuple[DoorSize, OrderPolicy], ...] = ((DoorSize.S, OrderPolicy(min_age=18)),)


@dataclass(frozen=True, slots=True)
class SeededOrder:
    """An order the demo seeded, with the code and token it shows for collecting it."""

    order_id: str
    door_size: str
    door: int
    code: str  # shown once, to the person running the demo; stored only as a keyed hash
    token: str | None = None  # the order's signed pickup token (LK1:...)


def demo_identity(data_dir: Path, now: float) -> tuple[SimulatedIssuer, Path]:
    """A fresh simulated wallet issuer and its IACA root in `data_dir/identity/iaca.pem` (what
    `[identity] iaca` names), so the demo locker trusts the simulated wallets (blocking)."""
    issuer = SimulatedIssuer(now=now, name="Demo")
    path = data_dir / "identity" / "iaca.pem"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(issuer.iaca_pem)
    return issuer, path


def demo_fleet(data_dir: Path, now: float) -> DemoFleet:
    """The demo fleet in `data_dir/fleet`: created at the first start; at a restart on the same
    data its keys are reused and a fresh bundle (next version) is signed, so the locker keeps
    trusting the tokens it handed out before. Blocking file I/O."""
    directory = data_dir / "fleet"
    if not (directory / "root-primary.key.pem").exists():
        return create_demo_fleet(directory, DEMO_LOCKER_ID, now)
    return _reopened_fleet(directory, now)


def _reopened_fleet(directory: Path, now: float) -> DemoFleet:
    keys = {
        name: load_private_key(directory / f"{name}.key.pem")
        for name in ("root-primary", "root-backup", "issuing", "command")
    }
    roots = (keys["root-primary"].public_key(), keys["root-backup"].public_key())
    root_paths, bundle_path = fleet_trust_files(directory)
    previous = load_trust_bundle(bundle_path.read_bytes(), roots, current_version=None)
    entries = [load_descriptor(directory / f"{n}.json") for n in ("issuing", "command")]
    bundle = build_bundle(
        keys["root-primary"],
        entries,
        version=previous.version + 1,
        now=now,
        valid_s=BUNDLE_VALIDITY_S,
    )
    bundle_path.write_bytes(bundle)
    return DemoFleet(
        directory=directory,
        locker_id=DEMO_LOCKER_ID,
        root_public_paths=root_paths,
        root_private_paths=(directory / "root-primary.key.pem", directory / "root-backup.key.pem"),
        issuing_key_path=directory / "issuing.key.pem",
        command_key_path=directory / "command.key.pem",
        bundle_path=bundle_path,
        roots=roots,
        issuing_key=keys["issuing"],
        command_key=keys["command"],
        bundle_bytes=bundle,
    )


@dataclass(frozen=True, slots=True)
class DemoPin:
    """A demo courier's or staff member's PIN, shown once to the person running the demo."""

    actor: str
    role: str
    pin: str  # shown once, to the person running the demo; the config holds only its hash


def demo_pins() -> tuple[tuple[DemoPin, ...], tuple[StaffPinConfig, ...]]:
    """A fresh courier PIN and staff PIN, and their `[[staff]]` entries (blocking: scrypt)."""
    rng = random.SystemRandom()
    pins = tuple(
        DemoPin(actor, role, f"{rng.randrange(10**6):06d}")
        for actor, role in (("demo-courier", "courier"), ("demo-staff", "staff"))
    )
    entries = tuple(
        StaffPinConfig(actor=p.actor, role=p.role, pin_hash=hash_pin(p.pin)) for p in pins
    )
    return pins, entries


def demo_evidence(data_dir: Path, now: float) -> EvidenceConfig:
    """Evidence photos on: a demo fleet device CA (`fleet/device-ca.pem`, kept so a newcomer can
    verify photos against it) and this locker's signing key and chain in the data folder.
    Blocking (key generation, files); an existing CA and chain are kept."""
    fleet_dir = data_dir / "fleet"
    ca_key, ca_cert = fleet_dir / device_ca.CA_KEY_FILE, fleet_dir / device_ca.CA_CERT_FILE
    if not ca_cert.exists():
        device_ca.write_ca(device_ca.create_ca(DEMO_FLEET, now=now), fleet_dir)
    if not (data_dir / device_ca.DEVICE_CHAIN_FILE).exists():
        ca = device_ca.load_ca(ca_key, ca_cert)
        device_ca.write_device_credentials(ca, DEMO_LOCKER_ID, data_dir, now=now)
    return EvidenceConfig(enabled=True)


def seed_return(conn: sqlite3.Connection, fleet: DemoFleet, *, now: float) -> str:
    """An expected return (size S) and its return token, to try a drop-off and its photos."""
    expect_return(conn, DEMO_RETURN, DoorSize.S, None, now)
    return fleet.mint_pickup(DEMO_RETURN, now=now, hold_s=7 * 86400, purpose=Purpose.RETURN)


def demo_trust(data_dir: Path) -> TrustConfig:
    """The trust settings of a demo whose fleet lives in `data_dir/fleet` (support tools)."""
    roots, bundle = fleet_trust_files(data_dir / "fleet")
    return TrustConfig(root_keys=roots, bundle=bundle)


def demo_config(
    data_dir: Path, port: int, fleet: DemoFleet | None = None, *, hub_url: str | None = None
) -> AgentConfig:
    """The demo locker's settings; with `hub_url` it also syncs with a hub through that broker
    (anonymously, in fleet "demo": for trying the hub link out, not for a real fleet).

    Raises `ConfigError` when `hub_url` is not an mqtt:// or mqtts:// URL."""
    trust = TrustConfig()
    if fleet is not None:
        trust = TrustConfig(root_keys=fleet.root_public_paths, bundle=fleet.bundle_path)
    try:
        hub = HubConfig(url=hub_url, fleet=DEMO_FLEET)
    except ValidationError as err:
        raise ConfigError(f"--hub: {describe_validation_error(err)}") from None
    return AgentConfig(
        locker=LockerConfig(id=DEMO_LOCKER_ID, data_dir=data_dir),
        api=ApiConfig(host="127.0.0.1", port=port),
        trust=trust,
        hub=hub,
    )


def seed_orders(
    conn: sqlite3.Connection,
    secret: bytes,
    *,
    now: float,
    hold_s: float,
    fleet: DemoFleet | None = None,
    orders: Sequence[tuple[DoorSize, OrderPolicy]] = DEMO_ORDERS,
) -> list[SeededOrder]:
    """Announce and load the demo `orders` (inside one transaction); returns their codes."""
    rng = random.SystemRandom()
    seeded = []
    for size, policy in orders:
        if assign_door(list_doors(conn), size, accessible=policy.accessible) is None:
            continue  # a demo restarted many times on its data: the doors of this size are full
        code = new_typed_code(rng)
        order_id = f"ORD-{uuid.uuid4().hex[:10].upper()}"
        announce_order(
            conn,
            Announcement(
                order_id=order_id,
                size=size,
                hold_s=hold_s,
                policy=policy,
                parcels=(f"PCL-{uuid.uuid4().hex[:8].upper()}",),
                code_key=code_lookup_key(code, secret),
            ),
            now=now,
        )
        loaded = load_into_door(conn, order_id, now=now, actor="demo")
        assert loaded.door is not None  # noqa: S101 - load_into_door always assigns a door
        token = None
        if fleet is not None:
            flags = TokenFlags(high_value=policy.high_value, live_required=policy.live_required)
            token = fleet.mint_pickup(order_id, now=now, hold_s=hold_s, flags=flags)
        seeded.append(SeededOrder(order_id, size.value, loaded.door, display_code(code), token))
    return seeded


def announce_for_courier(
    conn: sqlite3.Connection, secret: bytes, *, now: float, hold_s: float
) -> str:
    """Announce one more order, not yet in a door, for a courier to load on `/courier`; returns
    its parcel label (what the courier scans)."""
    order_id = f"ORD-{uuid.uuid4().hex[:10].upper()}"
    parcel = f"PCL-{uuid.uuid4().hex[:8].upper()}"
    code = new_typed_code(random.SystemRandom())
    announce_order(
        conn,
        Announcement(
            order_id=order_id,
            size=DoorSize.S,
            hold_s=hold_s,
            policy=OrderPolicy(),
            parcels=(parcel,),
            code_key=code_lookup_key(code, secret),
        ),
        now=now,
    )
    return f"PCL:{order_id}:{parcel}"


def demo_doors(config: AgentConfig, close_s: float | None) -> SimulatedLocker:
    """The demo's simulated bank; with `close_s` its doors close by themselves after opening, so
    a pickup ends with "closed, thank you" and a courier can confirm a load."""
    return SimulatedLocker(len(config.doors.layout()), auto_close_s=close_s)


def screen_urls(base_url: str) -> list[tuple[str, str]]:
    """(name, URL) of each screen of a demo served at `base_url`."""
    base = base_url.rstrip("/")
    return [(name, base + path) for name, path in DEMO_SCREENS]


@dataclass(frozen=True, slots=True)
class RefusedToken:
    """A token the demo camera offers that the locker refuses; `label` says what is wrong."""

    label: str
    key: str
    token: str


def refusal_tokens(fleet: DemoFleet, order_id: str, now: float) -> tuple[RefusedToken, ...]:
    """Tokens for the demo camera that the locker refuses, so a newcomer sees how refusals look:
    one of `order_id` that expired, and one signed by a key this fleet never trusted (blocking:
    key generation)."""
    expired = fleet.mint_pickup(order_id, now=now - 1800, hold_s=60)
    forged = mint_token(
        generate_key("es256"), order_ref=order_id, lockers=[fleet.locker_id], now=now, hold_s=3600
    )
    return (
        RefusedToken("Expired token", "EXPIRED", expired),
        RefusedToken("Forged token", "FORGED", forged),
    )
