"""Part of the composition root: the evidence recorder from the `[evidence]` config.

The signer (c2pa-python, X.509), the photo recorder and the simulated compartment camera are
imported only when evidence photos are enabled: an agent without them does not carry their code
and libraries in memory (docs/reliability.md, "Where the RSS goes")."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from agent.config.model import AgentConfig
from agent.domain.clock import Clock
from agent.errors import ConfigError, EvidenceError
from agent.evidence.recorder import EvidenceRecorder, NoEvidence, PhotoRecorder
from agent.evidence.upload import StorePhotos
from agent.store.db import Database
from hardware.camera.compartment import CompartmentCamera

if TYPE_CHECKING:
    from agent.evidence.signing import EvidenceSigner
    from hardware.camera.compartment_sim import SimulatedCompartmentCamera


def _in_data_dir(config: AgentConfig, path: Path) -> Path:
    return path if path.is_absolute() else config.locker.data_dir / path


def _load_signer(key: Path, chain: Path) -> EvidenceSigner:
    """Blocking (a worker thread): the first import of c2pa-python loads a large library."""
    from agent.evidence.signing import EvidenceSigner

    return EvidenceSigner.from_files(key, chain)


async def build_evidence(
    config: AgentConfig, db: Database, clock: Clock, camera: CompartmentCamera | None
) -> EvidenceRecorder:
    """`NoEvidence` unless `evidence.enabled`; then the C2PA photo recorder (ConfigError if the
    signing key or chain cannot be used, naming the key)."""
    evidence = config.evidence
    if not evidence.enabled or config.locker.mode != "locker":
        return NoEvidence()

    key = _in_data_dir(config, evidence.signing_key)
    chain = _in_data_dir(config, evidence.signing_chain)
    try:
        signer = await asyncio.to_thread(_load_signer, key, chain)
    except EvidenceError as err:
        raise ConfigError(
            f"evidence.signing_key/signing_chain: {err} (make them with `locker-admin device"
            " cert`, or set evidence.enabled = false)"
        ) from None
    return PhotoRecorder(
        db,
        camera or _simulated_camera(config),
        signer,
        clock,
        locker_id=config.locker.id,
        data_dir=config.locker.data_dir,
        config=evidence,
    )


def photo_source(recorder: EvidenceRecorder, db: Database, clock: Clock) -> StorePhotos | None:
    """What the sync client uploads: the recorder's photos (None when photos are off)."""
    if not isinstance(recorder, PhotoRecorder):
        return None
    return StorePhotos(db, recorder.folder, clock)


def _simulated_camera(config: AgentConfig) -> SimulatedCompartmentCamera:
    from hardware.camera.compartment_sim import SimulatedCompartmentCamera

    evidence = config.evidence
    scene = evidence.simulator_scene
    return SimulatedCompartmentCamera(
        (evidence.width, evidence.height),
        scene_file=None if scene is None else _in_data_dir(config, scene),
    )
