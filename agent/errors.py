"""The agent's error hierarchy: every refusal carries a `Reason`, mapped in one place."""

from __future__ import annotations

from agent.reasons import Reason


class AgentError(Exception):
    """Base of every error the agent raises on purpose. `reason` decides status and user message."""

    reason: Reason = Reason.INTERNAL

    def __init__(self, detail: str = "", *, reason: Reason | None = None, ref: str = "") -> None:
        super().__init__(detail or (reason or self.reason).value)
        if reason is not None:
            self.reason = reason
        self.detail = detail
        self.ref = ref


class ConfigError(AgentError):
    """The configuration file is missing or invalid (CLI exit status 2)."""


class StoreError(AgentError):
    """The database could not be opened, migrated or checked."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer version of the agent; it is left untouched."""


class DatabaseCorruptError(StoreError):
    """`PRAGMA integrity_check` failed or the file is not a database."""


class StorageFault(StoreError):
    """The disk is full or failing: the locker is out of service until writes work again."""

    reason = Reason.STORAGE_FAULT


class RequestError(AgentError):
    """A client sent a request we cannot act on (HTTP 400)."""

    reason = Reason.BAD_REQUEST


class PickupRefused(AgentError):
    """A pickup (typed code or token) was refused; `reason` says why."""


class TransitionError(AgentError):
    """An order state change that the lifecycle does not allow."""

    reason = Reason.ILLEGAL_TRANSITION


class DoorFailed(AgentError):
    """A door did not open; the order stays collectable."""

    reason = Reason.DOOR_FAILED


class RateLimited(AgentError):
    """Too many typed-code attempts; `retry_after_s` is when the limiter admits the next one."""

    reason = Reason.RATE_LIMITED

    def __init__(self, retry_after_s: float, detail: str = "") -> None:
        super().__init__(detail or f"retry after {retry_after_s:.0f}s")
        self.retry_after_s = max(1, int(-(-retry_after_s // 1)))  # whole seconds, rounded up
