"""Part of the composition root: the evidence recorder from the `[evidence]` config."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.config.model import AgentConfig
from agent.domain.clock import Clock
from agent.errors import ConfigError, EvidenceError
from agent.evidence.recorder import EvidenceRecorder, NoEvidence, PhotoRecorder
from agent.evidence.signing import EvidenceSigner
from agent.store.db import Database
from hardware.camera.compartment import CompartmentCamera
from hardware.camera.compartment_sim import SimulatedCompartmentCamera


def _in_data_dir(config: AgentConfig, path: Path) -> Path:
    return path if path.is_absolute() else config.locker.data_dir / path


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
        signer = await asyncio.to_thread(EvidenceSigner.from_files, key, chain)
    except EvidenceError as err:
        raise ConfigError(
            f"evidence.signing_key/signing_chain: {err} (make them with `locker-admin device"
            " cert`, or set evidence.enabled = false)"
        ) from None
    return PhotoRecorder(
        db,
        camera or SimulatedCompartmentCamera((evidence.width, evidence.height)),
        signer,
        clock,
        locker_id=config.locker.id,
        data_dir=config.locker.data_dir,
        config=evidence,
    )
