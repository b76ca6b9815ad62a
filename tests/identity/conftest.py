"""A test issuer, wallet and reader: the world every generated DeviceResponse lives in."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from agent.identity import IacaTrustList, MdocPolicy, SessionTranscript, parse_session_transcript
from agent.identity.simulated_wallet import IssuedDocument
from tests.identity.holder import PERSON, PID_NS, Issuer, Wallet, at
from tests.identity.holder import session_transcript as make_transcript
from tests.identity.pki import T0, Pki, make_pki

NOW = at(T0) + 3600.0


@dataclass
class World:
    pki: Pki
    issuer: Issuer
    wallet: Wallet
    reader: ec.EllipticCurvePrivateKey
    transcript_array: bytes
    doc: IssuedDocument

    @property
    def transcript(self) -> SessionTranscript:
        return parse_session_transcript(self.transcript_array)

    @property
    def policy(self) -> MdocPolicy:
        return MdocPolicy(IacaTrustList((self.pki.iaca,)))

    def present(self, doc: IssuedDocument | None = None, **options: object) -> bytes:
        options.setdefault("reader_public", self.reader.public_key())
        return self.wallet.present(doc or self.doc, self.transcript_array, **options)


def new_world(pki: Pki | None = None) -> World:
    pki = pki or make_pki()
    issuer = Issuer(pki)
    reader = ec.generate_private_key(ec.SECP256R1())
    array, _ = make_transcript(reader.public_key())
    doc = issuer.issue("eu.europa.ec.eudi.pid.1", {PID_NS: PERSON})
    return World(pki, issuer, Wallet(), reader, array, doc)


@pytest.fixture(scope="module")
def world() -> World:
    return new_world()
