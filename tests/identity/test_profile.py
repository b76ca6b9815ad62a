"""The 18013-5 certificate profile and algorithm/curve binding, one broken rule at a time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.identity import (
    DeviceAuthMethod,
    IacaTrustList,
    MdocError,
    MdocPolicy,
    MdocReason,
    verify_device_response,
)
from agent.identity.certs import OID_MDL_READER_AUTH
from agent.identity.device_auth import device_authentication_bytes
from tests.identity.conftest import NOW, World, new_world
from tests.identity.holder import PERSON, PID_NS, Issuer, sign1_detached_or_not
from tests.identity.pki import T0, Pki, make_ds, make_iaca


def _world(iaca_options: dict[str, Any] | None = None, **ds_options: Any) -> World:
    iaca_key, iaca = make_iaca(**(iaca_options or {}))
    ds_key, ds = make_ds(iaca_key, iaca, **ds_options)
    return new_world(Pki(iaca_key, iaca, ds_key, ds))


def _check(world: World, data: bytes | None = None, now: float = NOW) -> DeviceAuthMethod:
    data = data or world.present()
    policy = MdocPolicy(IacaTrustList((world.pki.iaca,)))
    outcome = verify_device_response(
        data, world.transcript, policy, now=now, reader_key=world.reader
    )
    return outcome.device_auth


def _refusal(world: World, data: bytes | None = None, now: float = NOW) -> MdocReason:
    with pytest.raises(MdocError) as caught:
        _check(world, data, now)
    return caught.value.code


@pytest.mark.parametrize(
    ("iaca_curve", "ds_curve"),
    [
        (ec.SECP256R1(), ec.SECP256R1()),
        (ec.SECP256R1(), ec.SECP384R1()),
        (ec.SECP384R1(), ec.SECP521R1()),
        (ec.SECP521R1(), ec.SECP256R1()),
    ],
)
def test_each_curve_verifies_with_its_own_algorithm(
    iaca_curve: ec.EllipticCurve, ds_curve: ec.EllipticCurve
) -> None:
    world = _world({"curve": iaca_curve}, curve=ds_curve)
    assert _check(world) is DeviceAuthMethod.SIGNATURE


@pytest.mark.parametrize(
    ("curve", "alg"),
    [(ec.SECP384R1(), -7), (ec.SECP256R1(), -35), (ec.SECP521R1(), -35), (ec.SECP256R1(), -8)],
)
def test_an_algorithm_on_another_curve_is_not_allowed(curve: ec.EllipticCurve, alg: int) -> None:
    world = _world(curve=curve)
    doc = world.issuer.issue(world.doc.doctype, {PID_NS: PERSON}, alg=alg)
    assert _refusal(world, world.present(doc)) is MdocReason.ALG_NOT_ALLOWED


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
def test_device_keys_on_each_curve(curve: ec.EllipticCurve) -> None:
    world = new_world()
    doc = world.issuer.issue(
        world.doc.doctype, {PID_NS: PERSON}, device_key=ec.generate_private_key(curve)
    )
    assert _check(world, world.present(doc)) is DeviceAuthMethod.SIGNATURE


def test_a_device_signature_with_a_mismatched_algorithm_is_not_allowed() -> None:
    world = new_world()
    structure = world.wallet.response_structure(world.doc, world.transcript_array)
    document = structure["documents"][0]
    name_spaces = cbor2.dumps({})
    payload = device_authentication_bytes(world.transcript, world.doc.doctype, name_spaces)
    forged = sign1_detached_or_not(world.doc.device_key, payload, {}, detached=True, alg=-35)
    document["deviceSigned"]["deviceAuth"] = {"deviceSignature": forged}
    assert _refusal(world, cbor2.dumps(structure)) is MdocReason.ALG_NOT_ALLOWED


@pytest.mark.parametrize("digest", ["SHA-384", "SHA-512"])
def test_other_digest_algorithms(digest: str) -> None:
    world = new_world()
    issuer = Issuer(world.pki, digest_alg=digest)
    assert (
        _check(world, world.present(issuer.issue(world.doc.doctype, {PID_NS: PERSON})))
        == "signature"
    )


def test_a_weak_digest_algorithm_is_not_allowed() -> None:
    world = new_world()
    issuer = Issuer(world.pki, digest_alg="SHA-1")
    doc = issuer.issue(world.doc.doctype, {PID_NS: PERSON})
    assert _refusal(world, world.present(doc)) is MdocReason.ALG_NOT_ALLOWED


@pytest.mark.parametrize(
    ("iaca_options", "ds_options"),
    [
        ({}, {"eku": None}),
        ({}, {"eku": OID_MDL_READER_AUTH}),
        ({}, {"sign": False}),
        ({}, {"cert_sign": True}),
        ({}, {"country": "XX"}),
        ({}, {"country": None}),
        ({"state": "North"}, {"state": "South"}),
        ({"cert_sign": False}, {}),
        ({"path_length": 1}, {}),
        ({"path_length": None}, {}),
        ({"country": None}, {"country": None}),
    ],
)
def test_certificate_profile_violations(
    iaca_options: dict[str, Any], ds_options: dict[str, Any]
) -> None:
    assert _refusal(_world(iaca_options, **ds_options)) is MdocReason.CERT_PROFILE


def test_a_matching_state_is_accepted() -> None:
    assert _check(_world({"state": "North"}, state="North")) is DeviceAuthMethod.SIGNATURE


def test_name_constraints_of_the_iaca() -> None:
    utopia = x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "UT")]))
    elsewhere = x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "ZZ")]))
    permitted = x509.NameConstraints(permitted_subtrees=[utopia], excluded_subtrees=None)
    assert _check(_world({"name_constraints": permitted})) is DeviceAuthMethod.SIGNATURE
    other = x509.NameConstraints(permitted_subtrees=[elsewhere], excluded_subtrees=None)
    assert _refusal(_world({"name_constraints": other})) is MdocReason.CERT_PROFILE
    excluded = x509.NameConstraints(permitted_subtrees=None, excluded_subtrees=[utopia])
    assert _refusal(_world({"name_constraints": excluded})) is MdocReason.CERT_PROFILE


def test_certificate_validity_at_the_check_time() -> None:
    late = _world(not_before=T0 + timedelta(days=1))
    assert _refusal(late) is MdocReason.CERT_NOT_YET_VALID
    ended = _world(not_after=T0 + timedelta(minutes=30))
    assert _refusal(ended) is MdocReason.CERT_EXPIRED
    old_root = _world({"not_after": T0 + timedelta(minutes=30)})
    assert _refusal(old_root) is MdocReason.CERT_EXPIRED


def test_several_iaca_roots_and_the_right_one_is_found() -> None:
    world = new_world()
    others = [make_iaca(cn=f"Other {i}")[1] for i in range(3)]
    policy = MdocPolicy(IacaTrustList((*others, make_iaca()[1], world.pki.iaca)))
    outcome = verify_device_response(world.present(), world.transcript, policy, now=NOW)
    assert outcome.issuer_country == "UT"
