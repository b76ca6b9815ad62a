"""Errors of the mdoc (ISO/IEC 18013-5) verifier. Only `MdocError` escapes verification.

`MdocReason` is the fine reason code (the CLI's `reason`, the log, the audit entry); the agent-wide
`Reason` it maps to decides the HTTP status and the user's message, as for every other refusal.
"""

from __future__ import annotations

from enum import StrEnum

from agent.errors import AgentError
from agent.reasons import Reason


class MdocReason(StrEnum):
    """Why a DeviceResponse (or a session message) was refused."""

    # bytes and structure
    TOO_LARGE = "TOO_LARGE"
    MALFORMED = "MALFORMED"
    RESPONSE_STATUS = "RESPONSE_STATUS"
    DOCUMENT_MISSING = "DOCUMENT_MISSING"
    DOCTYPE_NOT_ALLOWED = "DOCTYPE_NOT_ALLOWED"
    DOCTYPE_MISMATCH = "DOCTYPE_MISMATCH"
    # issuer data authentication
    ALG_NOT_ALLOWED = "ALG_NOT_ALLOWED"
    ISSUER_UNTRUSTED = "ISSUER_UNTRUSTED"
    CERT_PROFILE = "CERT_PROFILE"
    CERT_NOT_YET_VALID = "CERT_NOT_YET_VALID"
    CERT_EXPIRED = "CERT_EXPIRED"
    BAD_ISSUER_SIGNATURE = "BAD_ISSUER_SIGNATURE"
    CLOCK_UNTRUSTED = "CLOCK_UNTRUSTED"
    MSO_NOT_YET_VALID = "MSO_NOT_YET_VALID"
    MSO_EXPIRED = "MSO_EXPIRED"
    DIGEST_MISSING = "DIGEST_MISSING"
    DIGEST_MISMATCH = "DIGEST_MISMATCH"
    # mdoc (device) authentication
    DEVICE_AUTH_MISSING = "DEVICE_AUTH_MISSING"
    READER_KEY_REQUIRED = "READER_KEY_REQUIRED"
    BAD_DEVICE_SIGNATURE = "BAD_DEVICE_SIGNATURE"
    BAD_DEVICE_MAC = "BAD_DEVICE_MAC"
    # the age requirement of the caller
    AGE_NOT_DISCLOSED = "AGE_NOT_DISCLOSED"
    UNDER_AGE = "UNDER_AGE"
    # session layer and reader authentication
    SESSION_DECRYPT_FAILED = "SESSION_DECRYPT_FAILED"
    SESSION_CLOSED = "SESSION_CLOSED"
    BAD_READER_AUTH = "BAD_READER_AUTH"
    # the recipient named on the order
    NAME_MISMATCH = "NAME_MISMATCH"


_AGENT_REASONS = {
    MdocReason.CLOCK_UNTRUSTED: Reason.CLOCK_UNTRUSTED,
    MdocReason.AGE_NOT_DISCLOSED: Reason.ID_CHECK_NEEDED,
}


class MdocError(AgentError):
    """An mdoc was refused; `code` says which check failed.

    `detail` names the failed check for the log; it never holds a data element's value.
    """

    def __init__(self, code: MdocReason, detail: str = "") -> None:
        super().__init__(
            detail or code.value, reason=_AGENT_REASONS.get(code, Reason.ID_CHECK_FAILED)
        )
        self.code = code


class WalletUnreachable(AgentError):
    """The locker could not reach (or lost) the wallet: no verdict on the credential."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, reason=Reason.ID_CHECK_UNAVAILABLE)


class IdDocumentError(AgentError):
    """What the camera read is not a document of the expected shape (`detail` names the check)."""

    reason = Reason.ID_CHECK_FAILED
