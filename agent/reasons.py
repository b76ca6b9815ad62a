"""Reason codes for every refusal, with the user message and HTTP status for each.

This is the one place where a reason becomes words for a person and a status for a client.
Forged, unknown-key and malformed tokens share one user message on purpose: the kiosk must not
tell an attacker which check failed. The log and the audit get the precise reason code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Why a pickup, load, return or command was refused (log, audit, API `error` field)."""

    # token decoding and signature (FIELD-NOTES 2b)
    DECODE_FAILED = "DECODE_FAILED"
    TOO_LARGE = "TOO_LARGE"
    MALFORMED = "MALFORMED"
    UNKNOWN_KID = "UNKNOWN_KID"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    ALG_NOT_ALLOWED = "ALG_NOT_ALLOWED"
    # claims and policy
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    WRONG_LOCKER = "WRONG_LOCKER"
    WRONG_PURPOSE = "WRONG_PURPOSE"
    ALREADY_USED = "ALREADY_USED"
    REVOKED = "REVOKED"
    HOLDER_PROOF_REQUIRED = "HOLDER_PROOF_REQUIRED"
    HOLDER_PROOF_INVALID = "HOLDER_PROOF_INVALID"
    HOLDER_PROOF_STALE = "HOLDER_PROOF_STALE"
    CLOCK_UNTRUSTED = "CLOCK_UNTRUSTED"
    TRUSTLIST_STALE = "TRUSTLIST_STALE"
    AGE_CHECK_REQUIRED = "AGE_CHECK_REQUIRED"
    # typed codes and orders
    CODE_UNKNOWN = "CODE_UNKNOWN"
    RATE_LIMITED = "RATE_LIMITED"
    ORDER_UNKNOWN = "ORDER_UNKNOWN"
    ORDER_NOT_COLLECTABLE = "ORDER_NOT_COLLECTABLE"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    # doors and locker
    DOOR_FAILED = "DOOR_FAILED"
    NO_DOOR_AVAILABLE = "NO_DOOR_AVAILABLE"
    DOOR_UNKNOWN = "DOOR_UNKNOWN"
    LOCKER_FAULTED = "LOCKER_FAULTED"
    DOOR_NOT_FAULTED = "DOOR_NOT_FAULTED"
    GRACE_EXPIRED = "GRACE_EXPIRED"
    # staff and requests
    NOT_AUTHORISED = "NOT_AUTHORISED"
    BAD_REQUEST = "BAD_REQUEST"
    NOT_FOUND = "NOT_FOUND"
    INTERNAL = "INTERNAL"
    # locker and counter operations
    LABEL_INVALID = "LABEL_INVALID"
    LABEL_MISMATCH = "LABEL_MISMATCH"
    PARCEL_ALREADY_LOADED = "PARCEL_ALREADY_LOADED"
    DOOR_NOT_CLOSED = "DOOR_NOT_CLOSED"
    NO_LARGER_DOOR = "NO_LARGER_DOOR"
    ID_CHECK_NEEDED = "ID_CHECK_NEEDED"
    ID_CHECK_FAILED = "ID_CHECK_FAILED"
    ID_CHECK_UNAVAILABLE = "ID_CHECK_UNAVAILABLE"
    # order policy on every path (agent/domain/policy.py)
    TOKEN_REQUIRED = "TOKEN_REQUIRED"  # noqa: S105 (a reason code, not a secret)
    ORDER_CANCELLED = "ORDER_CANCELLED"
    ORDER_RETURNING = "ORDER_RETURNING"
    HOLD_EXPIRED = "HOLD_EXPIRED"
    OPENING_UNCONFIRMED = "OPENING_UNCONFIRMED"
    # hostile or broken requests, and a locker that cannot store
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    STORAGE_FAULT = "STORAGE_FAULT"
    # evidence photos (docs/evidence.md)
    EVIDENCE_UNAVAILABLE = "EVIDENCE_UNAVAILABLE"
    DOORS_RESERVED = "DOORS_RESERVED"


@dataclass(frozen=True, slots=True)
class ReasonInfo:
    """How a reason is shown: HTTP status for the API, a short actionable message for a person."""

    http_status: int
    message: str


_REJECTED = (
    "This code can't be accepted. Open the app for a fresh code or contact support (ref {ref})."
)
_CANT_CHECK = "This locker can't check codes right now — please try later or contact support."

REASONS: dict[Reason, ReasonInfo] = {
    Reason.DECODE_FAILED: ReasonInfo(
        400, "Couldn't read the code — turn up brightness, hold it 15-25 cm away."
    ),
    Reason.TOO_LARGE: ReasonInfo(403, _REJECTED),
    Reason.MALFORMED: ReasonInfo(403, _REJECTED),
    Reason.UNKNOWN_KID: ReasonInfo(403, _REJECTED),
    Reason.BAD_SIGNATURE: ReasonInfo(403, _REJECTED),
    Reason.ALG_NOT_ALLOWED: ReasonInfo(403, _REJECTED),
    Reason.REVOKED: ReasonInfo(403, _REJECTED),
    Reason.WRONG_PURPOSE: ReasonInfo(403, _REJECTED),
    Reason.HOLDER_PROOF_INVALID: ReasonInfo(403, _REJECTED),
    Reason.EXPIRED: ReasonInfo(403, "This code has expired — get a new one in the app."),
    Reason.NOT_YET_VALID: ReasonInfo(403, "Your parcel isn't ready yet."),
    Reason.WRONG_LOCKER: ReasonInfo(
        403, "This code is for a different locker — check the address in your message."
    ),
    Reason.ALREADY_USED: ReasonInfo(
        409, "Already used. If you didn't collect it, contact support (ref {ref})."
    ),
    Reason.HOLDER_PROOF_REQUIRED: ReasonInfo(
        403,
        "Please show the live code in the app; screenshots and printouts aren't accepted "
        "for this parcel.",
    ),
    Reason.HOLDER_PROOF_STALE: ReasonInfo(
        403,
        "Please show the live code in the app; screenshots and printouts aren't accepted "
        "for this parcel.",
    ),
    Reason.CLOCK_UNTRUSTED: ReasonInfo(503, _CANT_CHECK),
    Reason.TRUSTLIST_STALE: ReasonInfo(503, _CANT_CHECK),
    Reason.AGE_CHECK_REQUIRED: ReasonInfo(
        403, "This parcel needs an ID check at the service counter."
    ),
    Reason.CODE_UNKNOWN: ReasonInfo(404, "That code wasn't recognised — check it and try again."),
    Reason.RATE_LIMITED: ReasonInfo(
        429,
        "Too many wrong codes were typed here. Please try again shortly, or show the QR code "
        "from your app.",
    ),
    Reason.ORDER_UNKNOWN: ReasonInfo(404, "We couldn't find that parcel at this locker."),
    Reason.ORDER_NOT_COLLECTABLE: ReasonInfo(
        409, "This parcel can't be collected here any more. Contact support (ref {ref})."
    ),
    Reason.ILLEGAL_TRANSITION: ReasonInfo(409, "That isn't possible for this parcel right now."),
    Reason.DOOR_FAILED: ReasonInfo(
        503,
        "The door didn't open. Your parcel is safe and your code still works — "
        "please try again or contact support (ref {ref}).",
    ),
    Reason.NO_DOOR_AVAILABLE: ReasonInfo(409, "No free door of that size is available."),
    Reason.DOOR_UNKNOWN: ReasonInfo(404, "There is no such door."),
    Reason.LOCKER_FAULTED: ReasonInfo(503, _CANT_CHECK),
    Reason.DOOR_NOT_FAULTED: ReasonInfo(409, "This door has no fault to clear."),
    Reason.GRACE_EXPIRED: ReasonInfo(
        409, "This can only be reported right after the door opened. Contact support (ref {ref})."
    ),
    Reason.NOT_AUTHORISED: ReasonInfo(401, "Please sign in first."),
    Reason.BAD_REQUEST: ReasonInfo(400, "That request wasn't understood."),
    Reason.NOT_FOUND: ReasonInfo(404, "Not found."),
    Reason.INTERNAL: ReasonInfo(
        500, "Something went wrong on our side. Please try again or contact support."
    ),
    Reason.LABEL_INVALID: ReasonInfo(400, "That label couldn't be read — scan it again."),
    Reason.LABEL_MISMATCH: ReasonInfo(
        409, "This parcel doesn't match the customer's code — check both and scan again."
    ),
    Reason.PARCEL_ALREADY_LOADED: ReasonInfo(409, "This parcel is already in the locker."),
    Reason.DOOR_NOT_CLOSED: ReasonInfo(409, "Close the door firmly, then confirm."),
    Reason.NO_LARGER_DOOR: ReasonInfo(
        409, "There is no larger door. Keep the parcel and report it to the hub."
    ),
    Reason.ID_CHECK_NEEDED: ReasonInfo(
        409, "This parcel needs an ID check: record its outcome before handing it out."
    ),
    Reason.ID_CHECK_FAILED: ReasonInfo(
        403, "The ID check did not pass, so this parcel can't be handed out."
    ),
    Reason.ID_CHECK_UNAVAILABLE: ReasonInfo(
        503,
        "The ID check can't be done right now. The parcel stays here and can be collected "
        "later (ref {ref}).",
    ),
    Reason.TOKEN_REQUIRED: ReasonInfo(
        403, "This parcel can't be opened with a typed code — please show the QR code from the app."
    ),
    Reason.ORDER_CANCELLED: ReasonInfo(
        409,
        "This order was cancelled, so the parcel can't be collected. It will be picked up by "
        "the carrier — contact support (ref {ref}).",
    ),
    Reason.ORDER_RETURNING: ReasonInfo(
        409,
        "This parcel is being returned to the sender and can't be collected any more. "
        "Contact support (ref {ref}).",
    ),
    Reason.HOLD_EXPIRED: ReasonInfo(
        409,
        "The pickup period for this parcel has ended, so it can't be collected here any more. "
        "Contact support (ref {ref}).",
    ),
    Reason.OPENING_UNCONFIRMED: ReasonInfo(
        409,
        "We couldn't confirm how this door's last opening ended, so staff will check it. Your "
        "parcel is safe — please contact staff (ref {ref}).",
    ),
    Reason.METHOD_NOT_ALLOWED: ReasonInfo(405, "That request wasn't understood."),
    Reason.UNSUPPORTED_MEDIA_TYPE: ReasonInfo(415, "That request wasn't understood."),
    Reason.PAYLOAD_TOO_LARGE: ReasonInfo(413, "That request wasn't understood."),
    Reason.REQUEST_TIMEOUT: ReasonInfo(408, "That took too long — please try again."),
    Reason.STORAGE_FAULT: ReasonInfo(
        503, "This locker is out of service right now; staff have been informed."
    ),
    Reason.EVIDENCE_UNAVAILABLE: ReasonInfo(
        503,
        "No photo could be taken: evidence photos are off, the camera failed, or the photo "
        "budget is full (see the log and the evidence alarm).",
    ),
    Reason.DOORS_RESERVED: ReasonInfo(
        409,
        "The last free doors are kept for parcels and returns, so packaging can't be taken "
        "right now. Please try again later or at another locker.",
    ),
}


def user_message(reason: Reason, ref: str = "") -> str:
    """The message a person sees for `reason`; `ref` is a support reference (never a token)."""
    return REASONS[reason].message.format(ref=ref or "-")


def http_status(reason: Reason) -> int:
    """The HTTP status a refusal for `reason` answers with."""
    return REASONS[reason].http_status
