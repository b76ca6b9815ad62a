"""Rotating a locker's typed-code key (docs/provisioning.md, "Rotating keys").

Decision: the old key is kept until the codes made with it have expired; outstanding codes are
not re-keyed, because nobody can: the hub keeps only a code's digest (the code exists once, in
the answer to the order call) and the locker only the digest the hub sent. So the key file is a
ring, current key first; the locker looks a typed code up under every key in it
(agent/store/code_key_ring.py) and picks up a new file while running. Three steps per locker, each a
new `<enrolled>/<locker>/typed-code.key`:

    stage     OLD, NEW   copy the file to the locker: it accepts codes under both keys
    activate  NEW, OLD   the hub mints new codes with NEW (it uses the first key)
    retire    NEW        after the longest hold since `activate`: OLD is erased everywhere

The locker is never restarted and keeps every event; a code is always looked up under the key
it was made with. `rotation.json` beside the key records the step and its time, so `retire`
refuses to run before the old codes can have expired. `locker-admin rotate --all` runs a step on
every enrolled locker (provisioning/rotate_all.py).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path

from agent.tokens.typed_codes import code_key_id, parse_code_keys
from provisioning.errors import ExitStatus, ProvisioningError

CODE_KEY_FILE = "typed-code.key"
STATE_FILE = "rotation.json"
STEPS = ("stage", "activate", "retire")
DEFAULT_MAX_HOLD_HOURS = 14 * 24.0


def _read_ring(folder: Path) -> tuple[bytes, ...]:
    path = folder / CODE_KEY_FILE
    try:
        return parse_code_keys(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ProvisioningError(f"{path}: {err.strerror}", ExitStatus.INPUT_UNREADABLE) from err
    except ValueError as err:
        raise ProvisioningError(f"{path}: {err}", ExitStatus.INPUT_INVALID) from None


def _write_atomic(path: Path, text: str) -> None:
    """Write a new file and rename it over `path`: a reader sees the old or the new, never half."""
    temp = path.with_name(f".{path.name}.new")
    temp.unlink(missing_ok=True)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(path)


def _state(folder: Path) -> dict[str, object]:
    try:
        loaded = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise ProvisioningError(f"{folder / STATE_FILE}: unreadable ({err})") from err
    return loaded if isinstance(loaded, dict) else {}


def _save(folder: Path, keys: Sequence[bytes], state: dict[str, object]) -> None:
    lines = [f"{key.hex()}\n" for key in keys]
    header = "# typed-code keys: the first makes new codes, all are accepted (rotation.py)\n"
    _write_atomic(folder / CODE_KEY_FILE, header + "".join(lines))
    _write_atomic(folder / STATE_FILE, json.dumps(state, indent=1, sort_keys=True) + "\n")


def rotate_code_key(
    folder: Path, step: str, *, now: float, max_hold_s: float, force: bool = False
) -> str:
    """Do one rotation `step` on the locker whose enrolled folder is `folder`; what happened."""
    keys, state = _read_ring(folder), _state(folder)
    if step == "stage":
        if len(keys) != 1:
            raise ProvisioningError("a rotation is under way: activate or retire it first")
        keys = (keys[0], secrets.token_bytes(32))
        state = {"step": "staged", "staged_at": int(now), "new": code_key_id(keys[1])}
        _save(folder, keys, state)
        return f"staged {state['new']}: copy {CODE_KEY_FILE} to the locker"
    if step == "activate":
        if state.get("step") != "staged" or len(keys) != 2:
            raise ProvisioningError("nothing staged: run the stage step first", ExitStatus.USAGE)
        keys = (keys[1], keys[0])
        state.update(step="active", activated_at=int(now))
        _save(folder, keys, state)
        return f"new codes use {code_key_id(keys[0])}"
    if step == "retire":
        if state.get("step") != "active" or len(keys) != 2:
            raise ProvisioningError("nothing to retire: activate first", ExitStatus.USAGE)
        due = int(str(state["activated_at"])) + max_hold_s
        if now < due and not force:
            when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(due))
            raise ProvisioningError(
                f"codes made with the old key may be outstanding until {when}", ExitStatus.USAGE
            )
        keys = keys[:1]
        state.update(step="retired", retired_at=int(now))
        _save(folder, keys, state)
        return f"old key erased; {code_key_id(keys[0])} only: copy {CODE_KEY_FILE} to the locker"
    raise ProvisioningError(f"unknown step {step!r} (use {', '.join(STEPS)})", ExitStatus.USAGE)


def add_step_args(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--enrolled", type=Path, required=True, help="the hub's enrolled folder")
    cmd.add_argument("--step", choices=STEPS, required=True)
    cmd.add_argument(
        "--max-hold-hours",
        type=float,
        default=DEFAULT_MAX_HOLD_HOURS,
        help="longest hold of an order: retire waits this long after activate",
    )
    cmd.add_argument("--force", action="store_true", help="retire before the wait is over")


def add_args(cmd: argparse.ArgumentParser) -> None:
    add_step_args(cmd)
    cmd.add_argument("--locker", required=True)


def run_one(ns: argparse.Namespace) -> int:
    outcome = rotate_code_key(
        ns.enrolled / ns.locker, ns.step, now=time.time(),
        max_hold_s=ns.max_hold_hours * 3600, force=ns.force,
    )  # fmt: skip
    print(json.dumps({"locker": ns.locker, "step": ns.step, "outcome": outcome}))
    return int(ExitStatus.OK)
