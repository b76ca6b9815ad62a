"""ISO/IEC 18013-5 mdoc verification (reader side): the EU wallet's PID, age attestation, mDL.

`verify_device_response` checks a DeviceResponse offline against an IACA trust list and a
SessionTranscript, with the time passed in, and returns only the outcome (`MdocOutcome`).
"""

from agent.identity.certs import IacaTrustList
from agent.identity.device_auth import DeviceAuthMethod
from agent.identity.errors import MdocError, MdocReason
from agent.identity.transcript import SessionTranscript, parse_session_transcript
from agent.identity.verify import MdocOutcome, MdocPolicy, require_age, verify_device_response

__all__ = [
    "DeviceAuthMethod",
    "IacaTrustList",
    "MdocError",
    "MdocOutcome",
    "MdocPolicy",
    "MdocReason",
    "SessionTranscript",
    "parse_session_transcript",
    "require_age",
    "verify_device_response",
]
