"""Taking evidence photos: the `EvidenceRecorder` port the services call, and its C2PA adapter.

Services only say what happened at which door (`door_opened`, `door_closed`, `photograph`);
the recorder decides from the `[evidence]` policy whether and how to photograph it. A photo
never stops a service: a camera or signing failure is logged (without personal data) and the
customer's return, the courier's load or the report goes on.

One photo, `PhotoRecorder.photograph`:
1. read the audit entry the photo documents (the newest about this door or order: the event the
   service has just recorded) and the time floor; the manifest names the entry's seq and hash;
2. in a worker thread: take the photo (`CompartmentCamera.capture`), scale it to the configured
   size, encode the JPEG (`cv2.imencode`), judge the compartment against the door's empty
   reference, sign the C2PA manifest (the "before" photo as ingredient), write the file
   `data_dir/evidence/<id>.jpg` (mode 0600, fsync);
3. one transaction: the `evidence_photos` row, the `evidence.captured` outbox event and its
   audit entry (which holds the photo's SHA-256: the audit log now vouches for the photo too).

"Before/after" events (return drop-off, courier load): `door_opened` photographs the empty
compartment and arms the door; `door_closed` (from the door supervisor) photographs it again
with the before photo linked. The first "before" photo of a door becomes its empty reference.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from agent.config.evidence import EvidenceConfig
from agent.domain.clock import Clock
from agent.domain.retention import RetentionPlan
from agent.errors import EvidenceError
from agent.evidence.compartment import check_compartment
from agent.evidence.housekeeping import enforce_retention
from agent.evidence.manifest import EvidenceFacts
from agent.store import journal
from agent.store.db import Database
from agent.store.journal import persisted_time_floor
from hardware.camera.compartment import Bgr, CompartmentCamera
from hardware.errors import HardwareError

if TYPE_CHECKING:  # the signer (c2pa-python) is loaded only when evidence photos are on
    from agent.evidence.signing import EvidenceSigner

_LOG = logging.getLogger(__name__)
EVIDENCE_FOLDER = "evidence"


class EvidenceRecorder(Protocol):
    """What the services tell the evidence recorder. Never raises."""

    async def door_opened(
        self, event: str, *, door: int, order_ref: str | None, empty: bool = True
    ) -> None:
        """A door opened for `event` (`return_dropoff`, `courier_load`); `empty`: the locker
        believes the compartment empty (not a second parcel into an order's own door)."""
        ...

    async def door_closed(self, door: int) -> None:
        """A door closed (from the door supervisor)."""
        ...

    async def photograph(
        self, event: str, *, door: int, order_ref: str | None, actor: str = "system"
    ) -> str | None:
        """One photo now (a report, a staff request); its id, or None if none was taken."""
        ...

    async def inspect(
        self, event: str, *, door: int, order_ref: str | None
    ) -> tuple[str | None, bool | None]:
        """One photo now and the compartment check on it: (photo id, occupied); None for what
        could not be had (no photo, no empty reference of the door)."""
        ...


class NoEvidence:
    """The recorder of a locker without evidence photos: does nothing."""

    async def door_opened(
        self, event: str, *, door: int, order_ref: str | None, empty: bool = True
    ) -> None:
        """Take no photo."""
        del event, door, order_ref, empty

    async def door_closed(self, door: int) -> None:
        """Take no photo."""
        del door

    async def photograph(
        self, event: str, *, door: int, order_ref: str | None, actor: str = "system"
    ) -> str | None:
        """No photo: None."""
        del event, door, order_ref, actor
        return None

    async def inspect(
        self, event: str, *, door: int, order_ref: str | None
    ) -> tuple[str | None, bool | None]:
        """No photo and no check: (None, None)."""
        del event, door, order_ref
        return None, None


@dataclass(frozen=True, slots=True)
class _Armed:
    event: str
    order_ref: str | None
    before_id: str | None


@dataclass(frozen=True, slots=True)
class _Shot:
    file: Path
    sha256: str
    size: int
    occupied: bool | None


def _audit_link(
    conn: sqlite3.Connection, door: int, order_ref: str | None
) -> tuple[int, str, float]:
    """The audit entry the photo documents: the newest about this door or order (sensor
    readings and other photos aside), else the chain head; and the time floor."""
    row = conn.execute(
        "SELECT seq, hash FROM audit WHERE (door = ? OR order_id = ?)"
        " AND action != 'door.sensor' AND action NOT LIKE 'evidence.%'"
        " ORDER BY seq DESC LIMIT 1",
        (door, order_ref),
    ).fetchone()
    if row is None:
        row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, digest = (int(row[0]), bytes(row[1]).hex()) if row else (0, journal.GENESIS_HASH.hex())
    return seq, digest, persisted_time_floor(conn)


def _record_photo(
    conn: sqlite3.Connection, facts: EvidenceFacts, shot: _Shot, before_id: str | None, actor: str
) -> None:
    conn.execute(
        "INSERT INTO evidence_photos (id, event, door, order_ref, file, sha256, bytes,"
        " before_id, audit_seq, audit_hash, occupied, captured_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            facts.photo_id,
            facts.event,
            facts.door,
            facts.order_ref,
            shot.file.name,
            shot.sha256,
            shot.size,
            before_id,
            facts.audit_seq,
            facts.audit_hash,
            None if shot.occupied is None else int(shot.occupied),
            facts.device_time,
        ),
    )
    body = {
        "photo": facts.photo_id,
        "event": facts.event,
        "door": facts.door,
        "order": facts.order_ref,
        "sha256": shot.sha256,
        "bytes": shot.size,
        "audit_seq": facts.audit_seq,
        "occupied": shot.occupied,
        "before": before_id,
    }
    journal.record(
        conn, "evidence.captured", body, now=facts.device_time, actor=actor, door=facts.door
    )


class PhotoRecorder:
    """Photographs compartments, signs the photos (C2PA) and records them."""

    def __init__(
        self,
        db: Database,
        camera: CompartmentCamera,
        signer: EvidenceSigner,
        clock: Clock,
        *,
        locker_id: str,
        data_dir: Path,
        config: EvidenceConfig,
    ) -> None:
        self._db = db
        self._camera = camera
        self._signer = signer
        self._clock = clock
        self._locker_id = locker_id
        self.folder = data_dir / EVIDENCE_FOLDER
        self._config = config
        self._armed: dict[int, _Armed] = {}
        self._full: bool | None = None  # the budget is full (None: not checked yet)

    def _policy(self, event: str) -> str:
        return str(getattr(self._config.events, event, "off"))

    async def door_opened(
        self, event: str, *, door: int, order_ref: str | None, empty: bool = True
    ) -> None:
        """Photograph per the event's policy: the before photo now (if asked for), the after photo
        once the door closes."""
        policy = self._policy(event)
        if policy == "off":
            return
        before = None
        if policy == "before_after":
            before = await self.photograph(event, door=door, order_ref=order_ref, reference=empty)
        self._armed[door] = _Armed(event, order_ref, before)

    async def door_closed(self, door: int) -> None:
        """Take the after photo of a door armed by `door_opened`."""
        armed = self._armed.pop(door, None)
        if armed is not None:
            await self.photograph(
                armed.event, door=door, order_ref=armed.order_ref, before_id=armed.before_id
            )

    async def photograph(
        self,
        event: str,
        *,
        door: int,
        order_ref: str | None,
        actor: str = "system",
        before_id: str | None = None,
        reference: bool = False,
    ) -> str | None:
        """Take, sign and record one photo; None when the policy is off, the budget is full or the
        camera or signer fails."""
        if self._policy(event) == "off":
            return None
        if self._full is not False:  # unknown yet, or full: photos may have been confirmed since
            self._full = (await self._housekeeping()).full
        if self._full:
            _LOG.warning(
                "evidence photo of door %s (%s) not taken: the budget is full", door, event
            )
            return None
        try:
            seq, digest, floor = await self._db.read(_audit_link, door, order_ref)
            facts = EvidenceFacts(
                photo_id=uuid.uuid4().hex[:20],
                locker_id=self._locker_id,
                door=door,
                order_ref=order_ref,
                event=event,
                audit_seq=seq,
                audit_hash=digest,
                device_time=self._clock.now(),
                time_floor=floor,
                capture_device=self._camera.description,
                before_sha256=await self._before_sha256(before_id),
            )
            shot = await asyncio.to_thread(self._shoot, facts, before_id, reference)
            await self._db.run(_record_photo, facts, shot, before_id, actor)
        except (HardwareError, EvidenceError, OSError) as err:
            _LOG.warning("evidence photo of door %s (%s) not taken: %s", door, event, err)
            return None
        self._full = (await self._housekeeping()).full
        return facts.photo_id

    async def inspect(
        self, event: str, *, door: int, order_ref: str | None
    ) -> tuple[str | None, bool | None]:
        """Photograph the door and check the compartment against its empty reference."""
        photo = await self.photograph(event, door=door, order_ref=order_ref)
        if photo is None:
            return None, None
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT occupied FROM evidence_photos WHERE id = ?", (photo,)
            ).fetchone()
        )
        return photo, None if row is None or row[0] is None else bool(row[0])

    async def _housekeeping(self) -> RetentionPlan:
        return await enforce_retention(self._db, self.folder, self._config, self._clock.now())

    async def _before_sha256(self, before_id: str | None) -> str | None:
        if before_id is None:
            return None
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT sha256 FROM evidence_photos WHERE id = ?", (before_id,)
            ).fetchone()
        )
        return None if row is None else str(row[0])

    # -- worker thread ---------------------------------------------------------------------------
    def _shoot(self, facts: EvidenceFacts, before_id: str | None, reference: bool) -> _Shot:
        assert facts.door is not None  # noqa: S101 - every recorder call names a door
        photo = self._scaled(self._camera.capture(facts.door))
        occupied = self._judge(facts.door, photo, reference)
        ok, encoded = cv2.imencode(
            ".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, self._config.jpeg_quality]
        )
        if not ok:
            raise EvidenceError("JPEG encoding failed")
        before = None
        if before_id is not None:
            before = (before_id, (self.folder / f"{before_id}.jpg").read_bytes())
        signed = self._signer.sign(encoded.tobytes(), facts, before)
        path = self.folder / f"{facts.photo_id}.jpg"
        _write_private(path, signed)
        return _Shot(path, hashlib.sha256(signed).hexdigest(), len(signed), occupied)

    def _scaled(self, photo: Bgr) -> Bgr:
        size = (self._config.width, self._config.height)
        if (photo.shape[1], photo.shape[0]) == size:
            return photo
        return np.asarray(cv2.resize(photo, size, interpolation=cv2.INTER_AREA), np.uint8)

    def _judge(self, door: int, photo: Bgr, reference: bool) -> bool | None:
        """Occupied or empty against the door's empty reference; a first "before" photo of an
        empty-believed door becomes that reference (PNG, lossless)."""
        ref_path = self.folder / "reference" / f"door-{door}.png"
        if not ref_path.exists():
            if reference:
                ref_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                cv2.imwrite(str(ref_path), photo)
                return False
            return None
        empty = cv2.imread(str(ref_path), cv2.IMREAD_COLOR)
        if empty is None:
            return None
        threshold = self._config.occupied_min_changed
        check = check_compartment(
            photo, np.asarray(empty, np.uint8), min_changed_fraction=threshold
        )
        return check.occupied


def _write_private(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 and fsync it (the row that names it is written next)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
