"""The package's simulated wallet (`agent/identity/simulated_wallet.py`), checking a reader's
ReaderAuth at the tests' time. Its session cryptography is its own (cryptography directly), not
`agent.identity.session`, so the two sides of a test are independent implementations."""

from __future__ import annotations

from dataclasses import dataclass

from agent.identity import simulated_wallet
from tests.identity.conftest import NOW


@dataclass
class SimulatedWallet(simulated_wallet.SimulatedWallet):
    reader_check_at: float = NOW
