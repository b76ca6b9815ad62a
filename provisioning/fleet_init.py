"""`locker-admin fleet init --dir DIR`: a fleet's whole key hierarchy, every private key encrypted.

Written into DIR, in three folders named after where they must end up:

    offline/   root-primary.key.pem, root-backup.key.pem   (encrypted) the fleet roots: sign
               trust bundles. Copy to two offline media (or an HSM), then delete from this machine.
    hub/       issuing.key.pem / .json     (encrypted) signs pickup, return, courier, staff tokens
               command.key.pem / .json     (encrypted) signs every command and confirm
               device-ca.key.pem, device-ca.pem  (key encrypted) the fleet device CA: issues
                                           device certificates (broker TLS, evidence photos)
               series/                     the bundle-signing delegation (below)
               enrolled/                   per-locker typed-code keys, written at enrollment
    devices/   root-primary.pub.pem, root-backup.pub.pem, device-ca.pem, bundle.cose: public,
               what every locker pins and starts with.

The **bundle-signing delegation** is the one docs/hub.md ("Key hierarchy") decided: the device
accepts only root-signed bundles, so the hub never holds a key that can make one; the roots sign a
series of bundles ahead of time (provisioning/trust_series.py) and the hub publishes each when it
is due. `fleet init` signs the first series (`--series-days`, one bundle a day, each valid
`--bundle-valid-days`); run `locker-hub presign-bundles` from the offline media before it ends.

Typed-code keys are per locker, not per fleet (provisioning/enroll.py): `hub/enrolled/` is where
the hub keeps them, one folder per locker. The passphrase (keyfiles.read_passphrase) encrypts the
offline keys; `--hub-passphrase-file` gives the hub's keys their own, the one the hub is started
with, so that the hub's passphrase opens nothing offline.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from agent.tokens.claims import Purpose
from agent.tokens.errors import TrustBundleError
from agent.tokens.keys import PrivateKey, key_id
from agent.tokens.trust import load_trust_bundle
from provisioning import device_ca, keyfiles
from provisioning.errors import ExitStatus, ProvisioningError
from provisioning.trust_series import DAY, presign_series

TOKEN_PURPOSES = frozenset({Purpose.PICKUP, Purpose.RETURN, Purpose.COURIER, Purpose.STAFF})
_FLEET_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MANIFEST = "fleet.json"


@dataclass(frozen=True, slots=True)
class FleetInit:
    """What `init_fleet` wrote (paths relative to `directory`)."""

    directory: Path
    fleet: str
    kids: dict[str, str]
    series_versions: tuple[int, int]
    series_last_issued_at: int


def add_args(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--dir", type=Path, required=True, help="new folder for the fleet's keys")
    cmd.add_argument("--fleet", help="fleet id (default: the folder's name)")
    cmd.add_argument("--passphrase-file", type=Path, metavar="FILE",
                     help="passphrase for every private key (else $LOCKER_ADMIN_PASSPHRASE, "
                     "else a prompt)")  # fmt: skip
    cmd.add_argument(
        "--hub-passphrase-file",
        type=Path,
        metavar="FILE",
        help="a separate passphrase for the hub's keys (default: the same)",
    )
    cmd.add_argument("--key-years", type=float, default=2.0, help="issuing/command key validity")
    cmd.add_argument("--series-days", type=int, default=120, help="bundles signed ahead (1/day)")
    cmd.add_argument("--bundle-valid-days", type=float, default=7.0)
    cmd.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(ns: argparse.Namespace) -> int:
    try:
        fleet = ns.fleet or ns.dir.resolve().name
        secret = keyfiles.read_passphrase(ns.passphrase_file, new=True)
        hub_secret = (
            secret
            if ns.hub_passphrase_file is None
            else keyfiles.read_passphrase(ns.hub_passphrase_file, new=True)
        )
        done = init_fleet(
            ns.dir, fleet, secret, hub_secret, now=time.time(),
            key_years=ns.key_years, series_days=ns.series_days,
            bundle_valid_s=ns.bundle_valid_days * DAY,
        )  # fmt: skip
    except ProvisioningError as err:
        print(f"locker-admin: error: {err}", file=sys.stderr)
        return int(err.status)
    if ns.json:
        print(json.dumps(_summary(done), sort_keys=True))
    else:
        render(done, Console())
    return int(ExitStatus.OK)


def _new_dir(path: Path) -> Path:
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        raise ProvisioningError(
            f"{path} exists already: fleet init never overwrites keys", ExitStatus.OUTPUT_FAILED
        ) from None
    except OSError as err:
        raise ProvisioningError(
            f"cannot create {path}: {err.strerror}", ExitStatus.OUTPUT_FAILED
        ) from err
    return path


def _pair(folder: Path, name: str, secret: bytes) -> PrivateKey:
    key = keyfiles.generate_key("es256")
    keyfiles.write_key_pair(folder / f"{name}.key.pem", folder / f"{name}.pub.pem", key, secret)
    return key


def init_fleet(
    directory: Path,
    fleet: str,
    secret: bytes,
    hub_secret: bytes,
    *,
    now: float,
    key_years: float = 2.0,
    series_days: int = 120,
    bundle_valid_s: float = 7 * DAY,
) -> FleetInit:
    """Create `directory` with the offline/, hub/ and devices/ folders (refuses an existing one)."""
    if not _FLEET_ID.match(fleet):
        raise ProvisioningError("a fleet id is 1-64 of A-Z a-z 0-9 . _ -", ExitStatus.USAGE)
    if not 1 <= series_days <= 3650 or not DAY <= bundle_valid_s <= 90 * DAY:
        raise ProvisioningError("series 1-3650 days, bundles valid 1-90 days", ExitStatus.USAGE)
    root = _new_dir(directory)
    offline, hub, devices = (_new_dir(root / name) for name in ("offline", "hub", "devices"))
    _new_dir(hub / "enrolled")
    primary = _pair(offline, "root-primary", secret)
    backup = _pair(offline, "root-backup", secret)
    start, end = int(now) - 3600, int(now + key_years * 365 * DAY)
    entries: dict[str, keyfiles.IssuingKeyEntry] = {}
    for name, purposes in (("issuing", TOKEN_PURPOSES), ("command", frozenset({Purpose.COMMAND}))):
        key = _pair(hub, name, hub_secret)
        entries[name] = keyfiles.IssuingKeyEntry(key.public_key(), purposes, start, end)
        keyfiles.write_descriptor(hub / f"{name}.json", entries[name])
    ca = device_ca.create_ca(fleet, now=now)
    device_ca.write_ca(ca, hub, hub_secret)
    manifest = presign_series(
        primary, list(entries.values()), hub / "series", first_version=1, start=int(now),
        count=series_days, every_s=DAY, valid_s=bundle_valid_s,
    )  # fmt: skip
    for name in ("root-primary.pub.pem", "root-backup.pub.pem"):
        shutil.copyfile(offline / name, devices / name)
    shutil.copyfile(hub / device_ca.CA_CERT_FILE, devices / device_ca.CA_CERT_FILE)
    shutil.copyfile(hub / "series" / str(manifest[0]["file"]), devices / "bundle.cose")
    # the delegation checked as a locker checks it, before anyone relies on it
    try:
        load_trust_bundle(
            (devices / "bundle.cose").read_bytes(),
            [primary.public_key(), backup.public_key()],
            current_version=None,
        )
    except TrustBundleError as err:
        raise ProvisioningError(f"the first bundle does not verify: {err}") from err
    kids = {
        "root-primary": key_id(primary.public_key()).hex(),
        "root-backup": key_id(backup.public_key()).hex(),
        **{name: key_id(e.public_key).hex() for name, e in entries.items()},
    }
    done = FleetInit(
        root, fleet, kids, (int(str(manifest[0]["version"])), int(str(manifest[-1]["version"]))),
        int(str(manifest[-1]["issued_at"])),
    )  # fmt: skip
    keyfiles.write_new_file(root / MANIFEST, json.dumps(_summary(done), indent=2).encode())
    return done


_WHERE = (
    ("offline/root-primary.key.pem", "offline media", "fleet root: signs trust bundles"),
    ("offline/root-backup.key.pem", "offline media", "backup root (another place)"),
    ("hub/issuing.key.pem", "hub", "signs pickup, return, courier, staff tokens"),
    ("hub/command.key.pem", "hub", "signs commands and confirms (--sign-key)"),
    ("hub/device-ca.key.pem", "hub (approvals)", "issues device certificates"),
    ("hub/series/", "hub (--bundles)", "root-signed bundles, one a day"),
    ("hub/enrolled/", "hub (--enrolled)", "per-locker typed-code keys"),
    ("devices/*.pub.pem", "every locker", "pinned roots ([trust] roots)"),
    ("devices/device-ca.pem", "every locker, broker", "device CA (broker cafile)"),
    ("devices/bundle.cose", "every locker", "first trust bundle ([trust] bundle)"),
)


def _summary(done: FleetInit) -> dict[str, object]:
    return {
        "fleet": done.fleet,
        "directory": str(done.directory),
        "kids": done.kids,
        "series": {"first": done.series_versions[0], "last": done.series_versions[1],
                   "last_issued_at": done.series_last_issued_at},
        "store": [{"path": p, "where": w, "what": what} for p, w, what in _WHERE],
    }  # fmt: skip


def render(done: FleetInit, console: Console) -> None:
    table = Table(title=f"fleet {done.fleet}: keys in {done.directory}")
    for col in ("file", "store on", "what it is"):
        table.add_column(col)
    for path, where, what in _WHERE:
        style = "bold red" if where == "offline media" else None
        table.add_row(path, where, escape(what), style=style)
    console.print(table)
    last = time.strftime("%Y-%m-%d", time.gmtime(done.series_last_issued_at))
    console.print(
        Panel(
            "Every private key is encrypted with your passphrase; the passphrase is stored "
            "nowhere.\n"
            f"1. Copy [bold]{done.directory}/offline[/] to two offline media kept apart, then "
            "delete it here.\n"
            f"2. Copy [bold]{done.directory}/hub[/] to the hub; give the hub its passphrase as a "
            "file only it can read (systemd LoadCredential=).\n"
            f"3. Put [bold]{done.directory}/devices[/] on every locker (and device-ca.pem on the "
            "broker).\n"
            f"4. Bundles v{done.series_versions[0]}..v{done.series_versions[1]} are signed; the "
            f"last is due {last}: sign the next series offline before then.",
            title="what to store where",
        )
    )
