"""A locker proves an age (and the named recipient) with a simulated wallet, end to end."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent.identity import MdocError, MdocReason
from agent.identity.names import NameCheck, name_digest, normalise_name
from agent.identity.proximity import (
    AgeRequirement,
    ReaderIdentity,
    prove_age,
    requested_elements,
)
from tests.identity.conftest import NOW, World, new_world
from tests.identity.holder import AV_NS, PERSON, PID_NS
from tests.identity.pki import make_iaca, make_reader_cert
from tests.identity.wallet_sim import SimulatedWallet


def _name_check(given: str = "Zuzanna Quill", family: str = "Privacyova") -> NameCheck:
    salt = os.urandom(16)
    return NameCheck(salt, name_digest(salt, given, family))


async def _refusal(wallet: SimulatedWallet, need: AgeRequirement, world: World) -> MdocReason:
    with pytest.raises(MdocError) as caught:
        await prove_age(wallet, need, world.policy, now=NOW)
    assert wallet.closed_with == {"status": 20}  # the session is always ended
    return caught.value.code


@pytest.mark.parametrize("method", ["signature", "mac"])
async def test_an_adult_wallet_proves_18_and_discloses_nothing_else(method: str) -> None:
    world = new_world()
    wallet = SimulatedWallet(world.doc, method=method)
    outcome = await prove_age(wallet, AgeRequirement(18), world.policy, now=NOW)
    assert outcome.age_over == {18: True}
    assert outcome.device_auth == method
    assert outcome.name_matches is None
    assert wallet.requested == [{PID_NS: {"age_over_18": False}}]
    assert wallet.closed_with == {"status": 20}


async def test_under_age_and_undisclosed_thresholds_are_refused() -> None:
    world = new_world()
    minor = world.issuer.issue(world.doc.doctype, {PID_NS: {**PERSON, "age_over_18": False}})
    assert await _refusal(SimulatedWallet(minor), AgeRequirement(18), world) is MdocReason.UNDER_AGE
    none = world.issuer.issue(world.doc.doctype, {PID_NS: {"family_name": "X"}})
    reason = await _refusal(SimulatedWallet(none), AgeRequirement(18), world)
    assert reason is MdocReason.AGE_NOT_DISCLOSED


async def test_a_wallet_from_an_untrusted_issuer_is_refused() -> None:
    world, stranger = new_world(), new_world()
    reason = await _refusal(SimulatedWallet(stranger.doc), AgeRequirement(18), world)
    assert reason is MdocReason.ISSUER_UNTRUSTED


async def test_the_named_recipient_is_checked_by_digest() -> None:
    world = new_world()
    need = AgeRequirement(18, recipient=_name_check("  ZUZANNA   quill ", "PRIVACYOVA"))
    wallet = SimulatedWallet(world.doc)
    outcome = await prove_age(wallet, need, world.policy, now=NOW)
    assert outcome.name_matches is True
    assert wallet.requested == [
        {PID_NS: {"age_over_18": False, "given_name": False, "family_name": False}}
    ]
    other = AgeRequirement(18, recipient=_name_check("Someone", "Else"))
    reason = await _refusal(SimulatedWallet(world.doc), other, world)
    assert reason is MdocReason.NAME_MISMATCH


async def test_an_age_attestation_cannot_prove_a_name() -> None:
    world = new_world()
    av = world.issuer.issue("eu.europa.ec.av.1", {AV_NS: {"age_over_18": True}})
    outcome = await prove_age(
        SimulatedWallet(av), AgeRequirement(18, "eu.europa.ec.av.1"), world.policy, now=NOW
    )
    assert outcome.age_over == {18: True}
    named = AgeRequirement(18, "eu.europa.ec.av.1", recipient=_name_check())
    assert requested_elements(named) == {AV_NS: {"age_over_18": False}}
    reason = await _refusal(SimulatedWallet(av), named, world)
    assert reason is MdocReason.NAME_MISMATCH


async def test_session_failures() -> None:
    world = new_world()
    declined = SimulatedWallet(world.doc, decline=True)
    assert await _refusal(declined, AgeRequirement(18), world) is MdocReason.SESSION_CLOSED
    garbled = SimulatedWallet(world.doc, garble=True)
    reason = await _refusal(garbled, AgeRequirement(18), world)
    assert reason is MdocReason.SESSION_DECRYPT_FAILED


def test_name_normalisation_and_check_arguments() -> None:
    assert normalise_name(" Zuzanna\tQuill ", "PRIVACYOVA") == "zuzanna quill privacyova"
    assert normalise_name("ﬁona", "STRAẞE") == normalise_name("fiona", "strasse")
    with pytest.raises(ValueError, match="salt"):
        NameCheck(b"short", bytes(32))


async def test_reader_authentication_towards_the_wallet() -> None:
    """The locker signs its request; the wallet checks it against the reader roots it trusts."""
    world = new_world()
    root_key, root = make_iaca(cn="Locker reader root")
    reader_key, reader_cert = make_reader_cert(root_key, root)
    identity = ReaderIdentity(reader_key, reader_cert.public_bytes(serialization.Encoding.DER))
    wallet = SimulatedWallet(world.doc, reader_roots=[root])
    outcome = await prove_age(
        wallet, AgeRequirement(18), world.policy, now=NOW, reader_identity=identity
    )
    assert outcome.age_over == {18: True}
    assert wallet.reader_seen == ["CN=Test reader,C=UT"]
    # an unsigned request, or one signed under another root, gets nothing from this wallet
    for reader in (None, ReaderIdentity(*_other_reader())):
        refusing = SimulatedWallet(world.doc, reader_roots=[root])
        with pytest.raises(MdocError) as caught:
            await prove_age(
                refusing, AgeRequirement(18), world.policy, now=NOW, reader_identity=reader
            )
        assert caught.value.code is MdocReason.SESSION_CLOSED


def _other_reader() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    other_root_key, other_root = make_iaca(cn="Locker reader root")
    key, cert = make_reader_cert(other_root_key, other_root)
    return key, cert.public_bytes(serialization.Encoding.DER)
