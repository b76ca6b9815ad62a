"""The locker's side of a proximity presentation (18013-5 clause 6.3.2), transport-agnostic.

Flow: read the wallet's DeviceEngagement (QR shown by the phone, or NFC handover) -> make an
ephemeral reader key and the SessionTranscript -> send a SessionEstablishment holding a
DeviceRequest for `age_over_NN` only (and the two name elements only when the order names its
recipient), all with IntentToRetain false -> receive SessionData -> verify the DeviceResponse ->
check the age and the name digest -> end the session (status 20). The transport (BLE central
client mode, NFC, a simulated wallet) is behind `MdocTransport`; nothing here does I/O itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from agent.identity import cose, doctypes, request, session, wire
from agent.identity.errors import MdocError, MdocReason
from agent.identity.names import NameCheck
from agent.identity.transcript import (
    SessionTranscript,
    parse_device_engagement,
    session_transcript,
)
from agent.identity.verify import MdocOutcome, MdocPolicy, require_age, verify_device_response


class MdocTransport(Protocol):
    """Moves session messages between the locker and one wallet.

    `engagement` returns the wallet's DeviceEngagement bytes and the Handover (None for a QR
    engagement); `exchange` sends one message and returns the wallet's answer; `close` sends the
    last message and releases the link (it must not raise).
    """

    async def engagement(self) -> tuple[bytes, Any]:
        """The wallet's DeviceEngagement bytes and the Handover (None for a QR engagement)."""
        ...

    async def exchange(self, message: bytes) -> bytes:
        """Send one message to the wallet and return its answer."""
        ...

    async def close(self, message: bytes) -> None:
        """Send the last message and release the link; never raises."""
        ...


class WalletLink(Protocol):
    """Reaches the wallet whose QR device engagement the locker read.

    `connect` returns the transport to that one wallet, or raises `WalletUnreachable`. The real
    driver is one module implementing this: BLE in the 18013-5 mdoc central client mode (the
    locker as central, with `bleak` on BlueZ: scan for the service UUID the engagement's BLE
    retrieval options name, then the State / Client2Server / Server2Client characteristics);
    `simulated_wallet.SimulatedWalletLink` is the demo's and the tests'.
    """

    async def connect(self, device_engagement: bytes) -> MdocTransport:
        """The transport to the wallet of `device_engagement`; `WalletUnreachable` if none."""
        ...


@dataclass(frozen=True, slots=True)
class AgeRequirement:
    """What an order needs proven: a minimum age and, optionally, the named recipient."""

    min_age: int
    doctype: str = doctypes.EU_PID
    recipient: NameCheck | None = None


def requested_elements(need: AgeRequirement) -> dict[str, dict[str, bool]]:
    """Only `age_over_NN`, plus the two name elements when the order names its recipient."""
    namespace = doctypes.AGE_NAMESPACE[need.doctype]
    elements = {doctypes.age_over_element(need.min_age): False}
    names = doctypes.name_elements(need.doctype)
    if need.recipient is not None and names is not None:
        elements.update(dict.fromkeys(names, False))
    return {namespace: elements}


@dataclass(frozen=True, slots=True)
class ReaderIdentity:
    """The locker's reader-authentication key and its DER certificate (EKU 1.0.18013.5.1.6)."""

    key: ec.EllipticCurvePrivateKey
    certificate: bytes


class ReaderSession:
    """One session with one wallet, from the engagement on (18013-5 9.1.1)."""

    def __init__(
        self,
        device_engagement: bytes,
        handover: Any,
        e_reader_key: ec.EllipticCurvePrivateKey,
    ) -> None:
        engagement = parse_device_engagement(device_engagement)
        self.e_reader_key = e_reader_key
        key_bytes = wire.dumps(cose.cose_key(e_reader_key.public_key()))
        self.transcript: SessionTranscript = session_transcript(
            device_engagement, key_bytes, handover
        )
        keys = session.derive_session_keys(e_reader_key, engagement.e_device_key, self.transcript)
        self._session = session.Session(keys, reader=True)

    def establishment(
        self,
        doctype: str,
        elements: Mapping[str, Mapping[str, bool]],
        reader_identity: ReaderIdentity | None = None,
    ) -> bytes:
        """SessionEstablishment with the DeviceRequest, signed by the locker when it has an
        identity (ReaderAuth lets a wallet show who asks and refuse unknown readers)."""
        items = request.items_request(doctype, elements)
        reader_auth = None
        if reader_identity is not None:
            reader_auth = request.sign_reader_auth(
                reader_identity.key, reader_identity.certificate, self.transcript, items
            )
        device_request = request.device_request([(items, reader_auth)])
        encrypted = self._session.encrypt(device_request)
        return session.session_establishment(self.e_reader_key.public_key(), encrypted)

    def open_response(self, message: bytes) -> bytes:
        """The DeviceResponse inside the wallet's SessionData."""
        encrypted, status = session.parse_session_data(message)
        if encrypted is None:
            raise MdocError(MdocReason.SESSION_CLOSED, f"wallet ended the session ({status})")
        return self._session.decrypt(encrypted)

    @staticmethod
    def termination() -> bytes:
        """The SessionData that ends the session."""
        return session.session_data(status=session.STATUS_SESSION_TERMINATION)


async def prove_age(
    transport: MdocTransport,
    need: AgeRequirement,
    policy: MdocPolicy,
    *,
    now: float,
    e_reader_key: ec.EllipticCurvePrivateKey | None = None,
    reader_identity: ReaderIdentity | None = None,
) -> MdocOutcome:
    """Run one presentation; returns the outcome or raises `MdocError` (the session is ended).

    Transport errors (a lost link, a timeout) propagate as they are, after `close`.
    """
    key = e_reader_key or ec.generate_private_key(ec.SECP256R1())
    reader: ReaderSession | None = None
    try:
        engagement, handover = await transport.engagement()
        reader = ReaderSession(engagement, handover, key)
        answer = await transport.exchange(
            reader.establishment(need.doctype, requested_elements(need), reader_identity)
        )
        outcome = verify_device_response(
            reader.open_response(answer),
            reader.transcript,
            policy,
            now=now,
            reader_key=key,
            doctype=need.doctype,
            name_check=need.recipient,
        )
        require_age(outcome, need.min_age)
        if need.recipient is not None and outcome.name_matches is not True:
            raise MdocError(MdocReason.NAME_MISMATCH, "recipient name does not match the order")
        return outcome
    finally:
        await transport.close(ReaderSession.termination())
