"""`locker-agent enroll INVITE --hub mqtts://HOST:PORT`: first boot with only an invite.

Makes the device's own key pair (and its Ed25519 device key, `device_key.pem` in the data
folder, if it has none yet: the hub registers it at enrollment), enrolls through the broker's
enrollment listener (`hub_sync.device.enroll.first_boot`, docs/protocol.md "Enrollment and
credentials"), and writes everything the agent needs beside the config it writes: the
certificate, broker CA and password, the pinned trust roots and bundle, and `agent.toml` with the
locker id, door layout and hub settings from the CA-signed answer.
`--run` then starts the agent on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.errors import ConfigError
from agent.store.audit import DEVICE_KEY_FILE, load_or_create_device_key
from hub_sync.adapters.settings import parse_broker, parse_protocol
from hub_sync.device.enroll import (
    CA_FILE,
    CERT_FILE,
    KEY_FILE,
    PASSWORD_FILE,
    Enrolled,
    first_boot,
)
from hub_sync.errors import EnrollmentError, EnrollmentRefused
from hub_sync.protocol import enrollment as wire


def add_enroll_command(sub: Any) -> None:
    """Add `enroll` (invite, listener, where to write keys and agent.toml) to the CLI."""
    cmd = sub.add_parser("enroll", help="first boot: enroll with an invite, write agent.toml")
    cmd.add_argument("invite", help="LKE1:FLEET:CODE:PIN (from locker-admin device invite)")
    cmd.add_argument("--hub", required=True, help="the enrollment listener, mqtts://HOST:PORT")
    cmd.add_argument("--ca", type=Path, help="CA bundle of the broker's TLS certificate")
    cmd.add_argument("--data-dir", type=Path, required=True, help="keys and the database go here")
    cmd.add_argument("--config", type=Path, required=True, help="the agent.toml to write")
    cmd.add_argument("--protocol", default="3.1.1", help="MQTT protocol of the listener")
    cmd.add_argument("--run", action="store_true", help="start the agent once enrolled")


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise ConfigError(f"enrollment answer: cannot write {type(value).__name__} to TOML")


def _table(name: str, values: Mapping[str, object]) -> str:
    lines = [f"[{name}]"] + [f"{k} = {_toml(v)}" for k, v in values.items() if v is not None]
    return "\n".join(lines) + "\n"


def render_config(
    e: Enrolled, data_dir: Path, roots: list[Path], bundle: Path | None, pin: str | None = None
) -> str:
    """The agent.toml of an enrolled device (paths absolute); with the invite's `pin` the agent
    rotates its credential when the hub asks (`[hub] credential_pin`)."""
    layout = e.config.get("layout") or {}
    d = e.dir
    hub: dict[str, object] = {
        "url": e.broker_url,
        "fleet": e.config.get("fleet"),
        "protocol": e.protocol,
        "cert": d / CERT_FILE,
        "key": d / KEY_FILE,
        "credential_pin": pin,
    }
    if (d / CA_FILE).exists():
        hub["ca"] = d / CA_FILE
    if e.has_password:
        hub["username"], hub["password_file"] = e.username, d / PASSWORD_FILE
    parts = [
        "# written by `locker-agent enroll` from the hub's CA-signed answer\n",
        _table("locker", {"id": e.device, "data_dir": data_dir}),
    ]
    parts.extend(
        "[[doors.groups]]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in dict(group).items())
        for group in layout.get("groups") or ()
    )
    if isinstance(layout.get("driver"), Mapping):
        parts.append(_table("doors.driver", layout["driver"]))
    if isinstance(layout.get("camera"), Mapping):
        parts.append(_table("camera", layout["camera"]))
    parts.append(_table("hub", hub))
    if roots:
        parts.append(_table("trust", {"root_keys": roots, "bundle": bundle}))
    return "\n".join(parts)


def _write_trust(e: Enrolled, dir: Path) -> tuple[list[Path], Path | None]:
    roots = []
    for i, pem in enumerate(e.roots_pem):
        path = dir / f"root-{i}.pub.pem"
        path.write_text(pem)
        roots.append(path)
    bundle = None
    if e.bundle is not None:
        bundle = dir / "bundle.cose"
        bundle.write_bytes(e.bundle)
    return roots, bundle


async def enroll_command(args: argparse.Namespace) -> int:
    """Enroll and write the config; 0 when done (the caller may then run the agent)."""
    try:
        invite = wire.parse_invite(args.invite)
        host, port, _user, _pw, tls = parse_broker(args.hub)
        protocol = parse_protocol(args.protocol)
    except (ValueError, EnrollmentError) as err:
        raise ConfigError(f"enroll: {err}") from err
    data_dir: Path = args.data_dir.resolve()
    cred_dir = data_dir / "credentials"
    ca = args.ca if tls else None
    # the agent's own device key (audit checkpoints, command replies): the hub registers it now
    device_key = await asyncio.to_thread(load_or_create_device_key, data_dir / DEVICE_KEY_FILE)
    try:
        enrolled = await first_boot(invite, host=host, port=port, ca_file=ca, dir=cred_dir,
                                    device_key=device_key.private, protocol=protocol)  # fmt: skip
    except EnrollmentRefused as err:
        raise ConfigError(f"enroll: the hub refused the invite: {err.reason}") from err
    roots, bundle = await asyncio.to_thread(_write_trust, enrolled, cred_dir)
    text = render_config(enrolled, data_dir, roots, bundle, invite.pin)
    await asyncio.to_thread(args.config.resolve().write_text, text)
    print(json.dumps({"locker": enrolled.device, "config": str(args.config)}), flush=True)
    return 0
