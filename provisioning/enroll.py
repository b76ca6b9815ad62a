"""Enrolling a device: its own MQTT credential and typed-code key, and the config that uses them.

`locker-admin device enroll` writes, into a new folder for that one device:
- `mqtt.password` (0600): a random password; the broker gets it through `mosquitto_passwd`;
- `typed-code.key` (0600): the 32-byte key (hex) of the locker's typed-code lookups, shared with
  the hub so that `order.upsert` can carry a typed code's digest (`code_lookup_key` in
  `agent/tokens/typed_codes.py`) but never the code;
- `agent.toml`: the `[locker]`, `[hub]` and `[typed_codes]` keys that point at those files;
- `broker.txt`: the command that adds the credential to Mosquitto (the fleet ACL uses `%u`).
Secrets never go to stdout or a log.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from agent.tokens.typed_codes import parse_code_keys
from provisioning.errors import ExitStatus, ProvisioningError

_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Enrollment:
    """An enrolled device: the folder its credentials were written to, its locker ID and fleet."""

    folder: Path
    locker_id: str
    fleet: str


def _write_secret(path: Path, text: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ProvisioningError(f"{path} exists already", ExitStatus.OUTPUT_FAILED) from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")


def enroll_device(out: Path, locker_id: str, fleet: str, broker_url: str) -> Enrollment:
    """Create the device's credential folder `out/locker_id` (refuses to overwrite)."""
    for name, value in (("locker id", locker_id), ("fleet", fleet)):
        if not _ID.match(value):
            raise ProvisioningError(f"{name} must be 1-64 of A-Z a-z 0-9 . _ -", ExitStatus.USAGE)
    folder = out / locker_id
    try:
        folder.mkdir(parents=True, exist_ok=False, mode=0o700)
    except FileExistsError:
        raise ProvisioningError(f"{folder} exists already", ExitStatus.OUTPUT_FAILED) from None
    _write_secret(folder / "mqtt.password", secrets.token_urlsafe(24))
    _write_secret(folder / "typed-code.key", secrets.token_hex(32))
    (folder / "agent.toml").write_text(
        f'[locker]\nid = "{locker_id}"\ndata_dir = "/var/lib/locker-agent"\n\n'
        f'[hub]\nurl = "{broker_url}"\nfleet = "{fleet}"\nusername = "{locker_id}"\n'
        'password_file = "mqtt.password"\n\n'
        '[typed_codes]\nkey_file = "typed-code.key"\n',
        encoding="utf-8",
    )
    (folder / "broker.txt").write_text(
        f'mosquitto_passwd -b /etc/mosquitto/passwd {locker_id} "$(cat mqtt.password)"\n'
        "# the fleet ACL (docs/deployment.md, Broker) already covers this user through %u\n",
        encoding="utf-8",
    )
    return Enrollment(folder, locker_id, fleet)


def read_code_key(path: Path) -> bytes:
    """The key new typed codes are made with: the first of the file's ring (rotation.py)."""
    try:
        return parse_code_keys(path.read_text(encoding="utf-8"))[0]
    except OSError as err:
        raise ProvisioningError(f"{path}: {err.strerror}", ExitStatus.INPUT_UNREADABLE) from err
    except ValueError as err:
        raise ProvisioningError(f"{path}: {err}", ExitStatus.INPUT_INVALID) from None
