"""The evidence package's error, apart from the signer, so that code which only handles it (the
recorder, the routes) does not load c2pa-python when evidence photos are off."""

from __future__ import annotations

from agent.errors import AgentError


class EvidenceError(AgentError):
    """Evidence could not be captured, signed, stored or verified."""
