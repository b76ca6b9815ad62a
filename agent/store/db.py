"""The SQLite database: opening, integrity check, migrations, and one-hop transactions.

Every transaction runs as one plain function on the `sqlite3.Connection` inside the database's
one worker thread, so a whole unit of work (read, check, write, commit) costs one thread hop instead
of one per statement (FIELD-NOTES section 4), and the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from agent.errors import DatabaseCorruptError, SchemaTooNewError, StorageFault, StoreError

_LOG = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

MIGRATIONS_PACKAGE = "agent.store.migrations"


def _migration_scripts() -> list[tuple[int, str]]:
    """The numbered `NNNN_name.sql` scripts shipped with the code, in order."""
    scripts = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            scripts.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    scripts.sort()
    for expected, (number, _) in enumerate(scripts, start=1):
        if number != expected:
            raise StoreError(f"migration numbering has a gap at {expected:04d}")
    return scripts


def schema_version_of_code() -> int:
    """The schema version this code writes (the number of the last migration)."""
    return len(_migration_scripts())


def _configure(conn: sqlite3.Connection, *, synchronous: str) -> None:
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreError(f"could not switch the database to WAL (got {mode})")
    conn.execute(f"PRAGMA synchronous={synchronous}")


PRIVATE_FILE = 0o600
SIDE_FILES = ("", "-wal", "-shm", "-journal")


def _create_private(path: Path) -> None:
    """Create the database file as 0600 before SQLite does (it would honour the umask)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))


def _make_private(path: Path) -> None:
    for suffix in SIDE_FILES:
        side = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if side.stat().st_mode & 0o077:
                side.chmod(PRIVATE_FILE)


_STORAGE_FAULTS = {sqlite3.SQLITE_FULL: "disk_full", sqlite3.SQLITE_IOERR: "io_error"}


def storage_fault_kind(err: sqlite3.Error) -> str | None:
    """`disk_full` or `io_error` when the storage failed (not our SQL); None otherwise."""
    code = getattr(err, "sqlite_errorcode", None)
    if code is None:
        return "disk_full" if "disk is full" in str(err) else None
    return _STORAGE_FAULTS.get(int(code) & 0xFF)


@dataclass(frozen=True, slots=True)
class StorageEpisode:
    """A storage fault that has ended: what it was, when, and how many operations it failed."""

    kind: str
    since: float
    until: float
    failures: int


@dataclass(slots=True)
class StorageHealth:
    """Whether the database can be written now (status, metrics, the kiosk's 503)."""

    kind: str | None = None
    detail: str = ""
    since: float | None = None
    failures: int = 0
    episodes: int = 0  # faults since start (a counter)

    @property
    def ok(self) -> bool:
        """Whether writes work now."""
        return self.kind is None

    def failed(self, kind: str, detail: str) -> None:
        """Records a failed write; the first failure of an episode logs the fault."""
        if self.kind is None:
            self.kind, self.since, self.failures = kind, time.time(), 0
            self.episodes += 1
            _LOG.error("storage fault (%s): %s; typed codes and pickups are refused", kind, detail)
        self.failures += 1
        self.detail = detail

    def succeeded(self) -> StorageEpisode | None:
        """Mark writes working; the episode that just ended, if any."""
        if self.kind is None or self.since is None:
            return None
        ended = StorageEpisode(self.kind, self.since, time.time(), self.failures)
        self.kind, self.detail, self.since, self.failures = None, "", None, 0
        _LOG.warning("storage works again after %.0f s", ended.until - ended.since)
        return ended

    def as_json(self) -> dict[str, object]:
        """The storage health as the status shows it."""
        return {
            "ok": self.ok,
            "fault": self.kind,
            "since": self.since,
            "failures": self.failures,
            "faults_since_start": self.episodes,
        }


def open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to a database, even in a read-only folder or filesystem.

    `mode=ro` still needs to create the WAL index (`-shm`) beside a WAL database; where that is
    impossible and no WAL is left (a clean shutdown checkpoints and removes it), the file is
    opened `immutable` (nothing can be writing it); with a WAL left, the database and its WAL
    are copied to a private temporary folder and the copy is read. Blocking."""
    if not path.is_file():
        raise StoreError(f"{path}: no such database")
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.OperationalError:
        conn.close()
    else:
        conn.row_factory = sqlite3.Row
        return conn
    wal = path.with_name(path.name + "-wal")
    if not wal.exists() or wal.stat().st_size == 0:
        conn = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True)
    else:
        conn = _open_copy(path, wal)
    conn.row_factory = sqlite3.Row
    return conn


def _open_copy(path: Path, wal: Path) -> sqlite3.Connection:
    folder = Path(tempfile.mkdtemp(prefix="locker-ro-"))
    copy = folder / path.name
    shutil.copyfile(path, copy)
    shutil.copyfile(wal, folder / wal.name)
    source = sqlite3.connect(copy)
    try:
        memory = sqlite3.connect(":memory:")
        source.backup(memory)  # applies the WAL; the copies can go at once
    finally:
        source.close()
        shutil.rmtree(folder, ignore_errors=True)
    return memory


def _integrity_check(conn: sqlite3.Connection) -> None:
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    results = [str(r[0]) for r in rows]
    if results != ["ok"]:
        raise DatabaseCorruptError("; ".join(results[:5]))


def _refuse_newer(current: int, target: int) -> None:
    if current > target:
        raise SchemaTooNewError(
            f"database schema version {current} is newer than this agent's {target}; "
            "upgrade the agent (the database was left untouched)"
        )


def _migrate(conn: sqlite3.Connection) -> tuple[int, int]:
    """Apply pending migrations in ONE transaction; refuse a database newer than the code."""
    scripts = _migration_scripts()
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    target = len(scripts)
    _refuse_newer(current, target)
    if current == target:
        return current, target
    # executescript would commit on its own; run statements one by one inside our transaction.
    conn.execute("BEGIN IMMEDIATE")
    try:
        for number, script in scripts[current:]:
            for statement in _split_sql(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return current, target


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (our migrations keep one statement per `;` line end)."""
    statements, buf = [], []
    for line in script.splitlines():
        if line.strip().startswith("--"):
            continue
        buf.append(line)
        if line.rstrip().endswith(";") and sqlite3.complete_statement("\n".join(buf)):
            statements.append("\n".join(buf).strip())
            buf = []
    tail = "\n".join(buf).strip()
    if tail:
        statements.append(tail)
    return statements


class Database:
    """One SQLite connection owned by one thread; `run()` executes a whole transaction in one hop.

    The connection is a plain `sqlite3.Connection` opened, used and closed only on the
    database's single worker thread (a one-thread executor), so `check_same_thread=False`
    never lets two threads share it; the event loop only awaits that thread's futures."""

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        if synchronous not in {"FULL", "NORMAL", "EXTRA"}:
            raise StoreError(f"unsupported synchronous mode {synchronous!r}")
        self.path = path
        self._synchronous = synchronous
        self._conn: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        # Called on the loop after every committed write transaction (e.g. wake the hub sync).
        self.after_commit: list[Callable[[], None]] = []
        self.health = StorageHealth()
        # Called once when writes work again after a storage fault (e.g. record it for the hub).
        self.on_storage_recovered: list[Callable[[StorageEpisode], Awaitable[None]]] = []

    async def open(self, *, migrate: bool = True) -> tuple[int, int]:
        """Open, check integrity, migrate (unless `migrate=False`). Returns (was, now) versions."""
        await asyncio.to_thread(_create_private, self.path)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        try:
            self._conn = await self._on_thread(partial(_connect, self.path))
            await self.call(_configure, synchronous=self._synchronous)
            # SQLite gives -wal and -shm the database file's mode; older ones may predate that.
            await asyncio.to_thread(_make_private, self.path)
            await self.call(_integrity_check)
            if not migrate:
                version = await self.call(_user_version)
                _refuse_newer(version, schema_version_of_code())
                return version, version
            was, now = await self.call(_migrate)
        except sqlite3.DatabaseError as err:
            await self.close()
            raise DatabaseCorruptError(f"{self.path}: {err}") from err
        except BaseException:
            await self.close()
            raise
        if was != now:
            _LOG.info("database migrated from schema %s to %s", was, now)
        return was, now

    async def close(self) -> None:
        """Closes the connection and stops the database thread (a second close does nothing)."""
        thread, self._thread = self._thread, None
        conn, self._conn = self._conn, None
        if thread is None:
            return
        try:
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(thread, conn.close)
        finally:
            thread.shutdown(wait=False)

    async def _on_thread(self, thunk: Callable[[], T]) -> T:
        if self._thread is None:
            raise StoreError("database is not open")
        return await asyncio.get_running_loop().run_in_executor(self._thread, thunk)

    async def call(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run `fn(conn, *args)` in the database thread, outside any transaction we open.

        A full disk or an I/O error becomes `StorageFault` (503 "out of service") and marks
        `health` faulted; the next successful write transaction clears it."""
        conn = self._conn
        if conn is None:
            raise StoreError("database is not open")
        try:
            return await self._on_thread(partial(fn, conn, *args, **kwargs))
        except sqlite3.OperationalError as err:
            kind = storage_fault_kind(err)
            if kind is None:
                raise
            self.health.failed(kind, str(err))
            raise StorageFault(f"{kind}: {err}") from err

    async def run(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run `fn(conn, *args)` as ONE write transaction (BEGIN IMMEDIATE .. COMMIT/ROLLBACK)."""

        def unit(conn: sqlite3.Connection) -> T:
            return fn(conn, *args, **kwargs)

        result = await self.call(_in_transaction, unit)
        ended = self.health.succeeded()
        if ended is not None:
            # The caller's transaction committed: nothing here may turn it into a failure.
            for on_recovered in self.on_storage_recovered:
                try:
                    await on_recovered(ended)
                except Exception:
                    _LOG.exception("recording the end of a storage fault failed")
        for hook in self.after_commit:
            hook()
        return result

    async def read(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run a read-only `fn(conn, *args)` in one hop (a consistent snapshot)."""

        def unit(conn: sqlite3.Connection) -> T:
            return fn(conn, *args, **kwargs)

        return await self.call(_in_read_transaction, unit)


def _connect(path: Path) -> sqlite3.Connection:
    # Autocommit mode (we issue BEGIN/COMMIT ourselves); used only from the database thread.
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _in_transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
        conn.execute("COMMIT")  # may fail too (a full disk): then roll back as well
    except BaseException:
        if conn.in_transaction:  # SQLite rolls back on its own after some errors (SQLITE_FULL)
            conn.execute("ROLLBACK")
        raise
    return result


def _in_read_transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN")
    try:
        return fn(conn)
    finally:
        conn.execute("COMMIT")
