"""Secrets at rest: the data folder is the agent's alone, and the typed-code key lives in a file.

The database holds every typed code's keyed hash; the key beside it would let anyone who can
read the file test codes offline without limit. So the key is a file (`typed_code.key` in the
data folder, mode 0600, or the configured `typed_codes.key_file`), the data folder is 0700 and
its files 0600. A key that an older agent kept in the database is moved out at start and erased
from the database (secure delete, WAL checkpointed).

File functions block: call them through `asyncio.to_thread`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sqlite3
import stat
from pathlib import Path

from agent.errors import ConfigError
from agent.store import journal
from agent.tokens.typed_codes import parse_code_keys

_LOG = logging.getLogger(__name__)

DEFAULT_KEY_FILE = "typed_code.key"
LEGACY_SETTING = "typed_code_secret"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def secure_data_dir(data_dir: Path) -> None:
    """Create `data_dir` as 0700 and make it and every file in it private (0700 / 0600).

    A shared folder (sticky, like /tmp) or one owned by someone else is left alone."""
    data_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    info = data_dir.stat()
    if info.st_mode & stat.S_ISVTX or info.st_uid != os.getuid():
        _LOG.warning("data folder %s is shared; not changing its permissions", data_dir)
        return
    data_dir.chmod(PRIVATE_DIR)
    for entry in data_dir.iterdir():
        with contextlib.suppress(FileNotFoundError):  # a -shm file may vanish meanwhile
            entry_info = entry.lstat()
            if stat.S_ISREG(entry_info.st_mode) and entry_info.st_mode & 0o077:
                entry.chmod(PRIVATE_FILE)
            elif stat.S_ISDIR(entry_info.st_mode) and entry_info.st_mode & 0o077:
                entry.chmod(PRIVATE_DIR)


def read_key_ring(path: Path) -> tuple[bytes, ...] | None:
    """The keys in `path` (one hex key a line, current first); None if there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ConfigError(f"typed_codes.key_file: cannot read {path}: {err.strerror}") from err
    try:
        return parse_code_keys(text)
    except ValueError as err:
        raise ConfigError(f"typed_codes.key_file: {path}: {err}") from None


def write_key_file(path: Path, key: bytes) -> bytes:
    """Create `path` (0600, never overwritten) holding `key` in hex; returns the key the file
    holds (another process may have created it first)."""
    path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        existing = read_key_ring(path)
        if existing is None:
            raise ConfigError(f"typed_codes.key_file: {path} vanished") from None
        return existing[0]
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    _LOG.info("created the typed-code key file %s", path)
    return key


def stored_legacy_key(conn: sqlite3.Connection) -> bytes | None:
    """The typed-code key older versions kept in the database, if it is still there."""
    value = journal.get_setting(conn, LEGACY_SETTING)
    return None if value is None else bytes.fromhex(value)


def forget_legacy_key(conn: sqlite3.Connection, now: float, key_file: Path) -> None:
    """Inside a transaction: erase the key from the database (pages overwritten with zeros)."""
    conn.execute("PRAGMA secure_delete=ON")
    conn.execute("DELETE FROM settings WHERE key = ?", (LEGACY_SETTING,))
    journal.append_audit(
        conn,
        "secret.moved_out",
        now=now,
        detail={"name": "typed_code", "file": key_file.name},
    )


def finish_forgetting(conn: sqlite3.Connection) -> None:
    """Outside a transaction: fold the WAL (which still holds the old page) into the zeroed
    file. (`secure_delete` stays on: many builds, Debian's among them, default to it.)"""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def new_key() -> bytes:
    """A new random 32-byte typed-code key."""
    return secrets.token_bytes(32)
