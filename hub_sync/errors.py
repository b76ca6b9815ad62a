"""Errors of the hub sync package. One base class; the agent maps them where it needs to."""

from __future__ import annotations


class SyncError(Exception):
    """Base of every error `hub_sync` raises on purpose."""


class WireError(SyncError):
    """A message on the wire is malformed, of an unknown type or of an unsupported version.

    `reason` is a short machine-readable code that goes into a nack (never the payload itself).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class SignatureError(WireError):
    """A signed command failed verification (bad or missing signature, expired, replayed)."""


class MqttError(SyncError):
    """The MQTT connection failed or was lost; callers reconnect, they never crash on it."""


class ConnectionLostError(MqttError):
    """The connection dropped while a publish or subscribe was waiting for its acknowledgement."""


class ClusterError(SyncError):
    """nats-server is missing or a node did not come up."""


class OrderError(SyncError):
    """A refused order request: `reason` is a short code, `status` the HTTP status."""

    def __init__(self, reason: str, status: int, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.status = status
        self.detail = detail
