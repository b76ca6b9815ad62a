"""Generated forgeries (hypothesis and targeted): every one is refused with the right reason."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.identity import (
    DeviceAuthMethod,
    IacaTrustList,
    MdocError,
    MdocOutcome,
    MdocPolicy,
    MdocReason,
    parse_session_transcript,
    require_age,
    verify_device_response,
)
from tests.identity.conftest import NOW, World, new_world
from tests.identity.holder import PERSON, PID_NS, at, tag24
from tests.identity.holder import session_transcript as make_transcript
from tests.identity.pki import T0, make_ds, make_iaca

_SETTINGS = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_METHODS = st.sampled_from(["signature", "mac"])


def _verify(world: World, data: bytes, **options: Any) -> MdocOutcome:
    options.setdefault("reader_key", world.reader)
    options.setdefault("now", NOW)
    policy = options.pop("policy", world.policy)
    transcript = options.pop("transcript", world.transcript)
    return verify_device_response(data, transcript, policy, **options)


def _refusal(world: World, data: bytes, **options: Any) -> MdocReason:
    with pytest.raises(MdocError) as caught:
        _verify(world, data, **options)
    return caught.value.code


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@pytest.mark.parametrize("method", ["signature", "mac"])
def test_genuine_presentations_verify(world: World, method: str) -> None:
    outcome = _verify(world, world.present(method=method))
    assert outcome.device_auth is DeviceAuthMethod(method)
    assert outcome.age_over == {18: True, 21: True, 65: False}
    assert outcome.issuer_country == "UT"
    require_age(outcome, 18)


@_SETTINGS
@given(st.data(), _METHODS)
def test_any_single_bit_flip_of_a_response_is_refused(
    world: World, data: st.DataObject, method: str
) -> None:
    genuine = world.present(method=method, disclose={PID_NS: ["age_over_18", "family_name"]})
    bit = data.draw(st.integers(0, len(genuine) * 8 - 1))
    with pytest.raises(MdocError):
        _verify(world, _flip(genuine, bit))


@_SETTINGS
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_mdoc_errors(world: World, blob: bytes) -> None:
    with pytest.raises(MdocError):
        _verify(world, blob)


def _structure(world: World, method: str = "signature", **options: Any) -> dict[str, Any]:
    options.setdefault("reader_public", world.reader.public_key())
    return world.wallet.response_structure(
        options.pop("doc", world.doc), world.transcript_array, method=method, **options
    )


def _document(structure: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = structure["documents"][0]
    return document


@_SETTINGS
@given(st.data())
def test_flips_in_issuer_signature_are_bad_issuer_signatures(
    world: World, data: st.DataObject
) -> None:
    structure = _structure(world)
    auth = list(_document(structure)["issuerSigned"]["issuerAuth"])
    auth[3] = _flip(auth[3], data.draw(st.integers(0, len(auth[3]) * 8 - 1)))
    _document(structure)["issuerSigned"]["issuerAuth"] = auth
    assert _refusal(world, cbor2.dumps(structure)) is MdocReason.BAD_ISSUER_SIGNATURE


@_SETTINGS
@given(st.data())
def test_flips_in_the_mso_are_refused(world: World, data: st.DataObject) -> None:
    structure = _structure(world)
    auth = list(_document(structure)["issuerSigned"]["issuerAuth"])
    auth[2] = _flip(auth[2], data.draw(st.integers(0, len(auth[2]) * 8 - 1)))
    _document(structure)["issuerSigned"]["issuerAuth"] = auth
    assert _refusal(world, cbor2.dumps(structure)) in {
        MdocReason.BAD_ISSUER_SIGNATURE,
        MdocReason.MALFORMED,
    }


@_SETTINGS
@given(st.data())
def test_flips_in_a_disclosed_item_are_refused(world: World, data: st.DataObject) -> None:
    structure = _structure(world)
    items = _document(structure)["issuerSigned"]["nameSpaces"][PID_NS]
    index = data.draw(st.integers(0, len(items) - 1))
    item = items[index].value
    items[index] = tag24(_flip(item, data.draw(st.integers(0, len(item) * 8 - 1))))
    assert _refusal(world, cbor2.dumps(structure)) in {
        MdocReason.DIGEST_MISMATCH,
        MdocReason.DIGEST_MISSING,
        MdocReason.MALFORMED,
    }


@_SETTINGS
@given(st.data(), _METHODS)
def test_flips_in_device_auth_are_refused(world: World, data: st.DataObject, method: str) -> None:
    structure = _structure(world, method)
    auth = _document(structure)["deviceSigned"]["deviceAuth"]
    name = "deviceSignature" if method == "signature" else "deviceMac"
    message = list(auth[name])
    message[3] = _flip(message[3], data.draw(st.integers(0, len(message[3]) * 8 - 1)))
    auth[name] = message
    expected = (
        MdocReason.BAD_DEVICE_SIGNATURE if method == "signature" else MdocReason.BAD_DEVICE_MAC
    )
    assert _refusal(world, cbor2.dumps(structure)) is expected


def test_an_issuer_signed_wrong_digest_is_a_digest_mismatch(world: World) -> None:
    doc = world.issuer.issue("eu.europa.ec.eudi.pid.1", {PID_NS: PERSON}, corrupt_digest=True)
    assert _refusal(world, world.present(doc)) is MdocReason.DIGEST_MISMATCH


def test_an_item_the_mso_does_not_cover_is_refused(world: World) -> None:
    structure = _structure(world)
    stray = cbor2.dumps(
        {
            "digestID": 999,
            "random": bytes(16),
            "elementIdentifier": "age_over_16",
            "elementValue": True,
        }
    )
    _document(structure)["issuerSigned"]["nameSpaces"][PID_NS].append(tag24(stray))
    assert _refusal(world, cbor2.dumps(structure)) is MdocReason.DIGEST_MISSING


def test_an_item_disclosed_twice_is_malformed(world: World) -> None:
    structure = _structure(world)
    items = _document(structure)["issuerSigned"]["nameSpaces"][PID_NS]
    items.append(items[0])
    assert _refusal(world, cbor2.dumps(structure)) is MdocReason.MALFORMED


def test_wrong_doctypes_are_refused(world: World) -> None:
    mislabelled = world.present(doctype="org.iso.18013.5.1.mDL")
    assert _refusal(world, mislabelled) is MdocReason.DOCTYPE_MISMATCH
    foreign = world.issuer.issue("org.example.loyalty.1", {"org.example": {"age_over_18": True}})
    assert _refusal(world, world.present(foreign)) is MdocReason.DOCTYPE_NOT_ALLOWED
    genuine = world.present()
    assert _refusal(world, genuine, doctype=foreign.doctype) is MdocReason.DOCUMENT_MISSING
    pid_only = MdocPolicy(world.policy.trust, doctypes=frozenset({"eu.europa.ec.av.1"}))
    assert _refusal(world, genuine, policy=pid_only) is MdocReason.DOCTYPE_NOT_ALLOWED


def test_mso_validity_and_the_clock_floor(world: World) -> None:
    expired = world.issuer.issue(
        world.doc.doctype,
        {PID_NS: PERSON},
        signed=T0 - timedelta(days=100),
        valid_until=T0 - timedelta(days=10),
    )
    assert _refusal(world, world.present(expired)) is MdocReason.MSO_EXPIRED
    early = world.issuer.issue(
        world.doc.doctype,
        {PID_NS: PERSON},
        signed=T0 - timedelta(days=1),
        valid_from=T0 + timedelta(days=10),
        valid_until=T0 + timedelta(days=90),
    )
    assert _refusal(world, world.present(early)) is MdocReason.MSO_NOT_YET_VALID
    future = world.issuer.issue(world.doc.doctype, {PID_NS: PERSON}, signed=T0 + timedelta(days=2))
    assert _refusal(world, world.present(future)) is MdocReason.CLOCK_UNTRUSTED
    floored = MdocPolicy(world.policy.trust, time_floor=NOW + 3600)
    assert _refusal(world, world.present(), policy=floored) is MdocReason.CLOCK_UNTRUSTED
    # within the leeway of 60 s around validUntil: still accepted, beyond it: expired
    edge = world.issuer.issue(
        world.doc.doctype, {PID_NS: PERSON}, signed=T0, valid_until=T0 + timedelta(seconds=3570)
    )
    assert _verify(world, world.present(edge)).doctype == world.doc.doctype
    assert _refusal(world, world.present(edge), now=NOW + 60) is MdocReason.MSO_EXPIRED


def test_a_look_alike_iaca_is_untrusted(world: World) -> None:
    _, impostor = make_iaca()  # same name "Test IACA", another key
    trust = MdocPolicy(IacaTrustList((impostor,)))
    assert _refusal(world, world.present(), policy=trust) is MdocReason.ISSUER_UNTRUSTED


def test_a_ds_under_an_intermediate_is_untrusted(world: World) -> None:
    # The intermediate is a CA issued by the IACA; its DS is one link too far.
    mid_key, mid = make_ds(
        world.pki.iaca_key,
        world.pki.iaca,
        cn="Intermediate",
        eku=None,
        sign=False,
        cert_sign=True,
    )
    ds_key, ds = make_ds(mid_key, mid)
    from tests.identity.holder import Issuer
    from tests.identity.pki import Pki

    issuer = Issuer(Pki(world.pki.iaca_key, world.pki.iaca, ds_key, ds))
    doc = issuer.issue(world.doc.doctype, {PID_NS: PERSON})
    assert _refusal(world, world.present(doc)) is MdocReason.ISSUER_UNTRUSTED


@pytest.mark.parametrize("method", ["signature", "mac"])
def test_a_swapped_device_key_is_refused(world: World, method: str) -> None:
    thief = ec.generate_private_key(ec.SECP256R1())
    forged = world.present(method=method, signing_key=thief)
    expected = (
        MdocReason.BAD_DEVICE_SIGNATURE if method == "signature" else MdocReason.BAD_DEVICE_MAC
    )
    assert _refusal(world, forged) is expected
    # an MSO bound to another device: the holder's own key no longer proves it
    other = world.issuer.issue(
        world.doc.doctype, {PID_NS: PERSON}, mso_device_key=thief.public_key()
    )
    assert _refusal(world, world.present(other, method=method)) is expected


@pytest.mark.parametrize("method", ["signature", "mac"])
def test_a_response_for_another_transcript_is_refused(world: World, method: str) -> None:
    other_array, _ = make_transcript(world.reader.public_key())
    replayed = world.present(method=method)
    expected = (
        MdocReason.BAD_DEVICE_SIGNATURE if method == "signature" else MdocReason.BAD_DEVICE_MAC
    )
    other = parse_session_transcript(other_array)
    assert _refusal(world, replayed, transcript=other) is expected


def test_mac_with_another_reader_key_is_refused(world: World) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    data = world.present(method="mac")
    assert _refusal(world, data, reader_key=stranger) is MdocReason.BAD_DEVICE_MAC
    assert _refusal(world, data, reader_key=None) is MdocReason.READER_KEY_REQUIRED
    p384 = ec.generate_private_key(ec.SECP384R1())
    assert _refusal(world, data, reader_key=p384) is MdocReason.BAD_DEVICE_MAC


def test_device_auth_must_be_present_and_single(world: World) -> None:
    structure = _structure(world)
    _document(structure)["deviceSigned"]["deviceAuth"] = {}
    assert _refusal(world, cbor2.dumps(structure)) is MdocReason.DEVICE_AUTH_MISSING
    both = _structure(world)
    mac = _structure(world, "mac")
    _document(both)["deviceSigned"]["deviceAuth"].update(
        _document(mac)["deviceSigned"]["deviceAuth"]
    )
    assert _refusal(world, cbor2.dumps(both)) is MdocReason.DEVICE_AUTH_MISSING


def test_status_and_version(world: World) -> None:
    for key, value, reason in (
        ("status", 10, MdocReason.RESPONSE_STATUS),
        ("version", "1.1", MdocReason.MALFORMED),
        ("documents", [], MdocReason.DOCUMENT_MISSING),
    ):
        structure = _structure(world)
        structure[key] = value
        assert _refusal(world, cbor2.dumps(structure)) is reason


def test_strict_cbor(world: World) -> None:
    genuine = world.present()
    assert _refusal(world, genuine + b"\x00") is MdocReason.MALFORMED
    # the same map with a non-shortest length head (0xb9 0x00 0x03 instead of 0xa3)
    assert genuine[0] == 0xA3
    assert _refusal(world, b"\xb9\x00\x03" + genuine[1:]) is MdocReason.MALFORMED
    # indefinite-length map
    assert _refusal(world, b"\xbf" + genuine[1:] + b"\xff") is MdocReason.MALFORMED
    assert _refusal(world, b"\x40" * (512 * 1024 + 1)) is MdocReason.TOO_LARGE


def test_age_requirement(world: World) -> None:
    outcome = _verify(world, world.present(disclose={PID_NS: ["age_over_18", "age_over_65"]}))
    require_age(outcome, 18)
    for age, reason in ((65, MdocReason.UNDER_AGE), (21, MdocReason.AGE_NOT_DISCLOSED)):
        with pytest.raises(MdocError) as caught:
            require_age(outcome, age)
        assert caught.value.code is reason


def test_an_age_over_outside_the_doctype_namespace_does_not_count(world: World) -> None:
    doc = world.issuer.issue(world.doc.doctype, {"org.example.other": {"age_over_18": True}})
    outcome = _verify(world, world.present(doc))
    assert outcome.age_over == {}


def test_a_new_world_is_independent() -> None:
    one, two = new_world(), new_world()
    assert _refusal(one, two.present(), transcript=two.transcript) is MdocReason.ISSUER_UNTRUSTED
    assert at(T0) < NOW
