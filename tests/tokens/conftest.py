"""A real demo fleet (real keys, real signed bundle) shared by the token tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.tokens import VerifyContext
from provisioning.fleet import DemoFleet, create_demo_fleet

NOW = 1_800_000_000.0
LOCKER = "LCK-0001"


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> DemoFleet:
    directory: Path = tmp_path_factory.mktemp("fleet")
    return create_demo_fleet(directory, LOCKER, NOW)


@pytest.fixture(scope="session")
def ctx(fleet: DemoFleet) -> VerifyContext:
    return VerifyContext(locker_id=LOCKER, trust=fleet.trust_bundle(), time_floor=NOW - 3600)
