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


class NotAuthorised(AgentError):
    """No valid session, a wrong PIN, or a role that may not do this (HTTP 401)."""

    reason = Reason.NOT_AUTHORISED


class NotFound(AgentError):
    """The thing a request names does not exist (a load, a photo, a demo order)."""

    reason = Reason.NOT_FOUND


class UnknownOrder(AgentError):
    """No order with this id on this locker."""

    reason = Reason.ORDER_UNKNOWN


class UnknownDoor(AgentError):
    """No door with this number on this locker."""

    reason = Reason.DOOR_UNKNOWN


class UnknownCode(AgentError):
    """A typed code that matches nothing (the one message for a wrong or unknown code)."""

    reason = Reason.CODE_UNKNOWN


class NoDoorAvailable(AgentError):
    """No free door of the size needed."""

    reason = Reason.NO_DOOR_AVAILABLE


class DoorsReserved(AgentError):
    """An anonymous drop-off would take the last free doors kept for parcels and returns."""

    reason = Reason.DOORS_RESERVED


class AuditKeyError(AgentError):
    """The device key file cannot be read, created or parsed."""


class EvidenceError(AgentError):
    """Evidence could not be captured, signed, stored or verified."""


class RateLimited(AgentError):
    """Too many typed-code attempts; `retry_after_s` is when the limiter admits the next one."""

    reason = Reason.RATE_LIMITED

    def __init__(self, retry_after_s: float, detail: str = "") -> None:
        super().__init__(detail or f"retry after {retry_after_s:.0f}s")
        self.retry_after_s = max(1, int(-(-retry_after_s // 1)))  # whole seconds, rounded up
