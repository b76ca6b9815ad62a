"""Known-answer tests: every ISO/IEC 18013-5 Annex D vector goes through agent.identity."""

from __future__ import annotations

import time
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.identity import (
    DeviceAuthMethod,
    IacaTrustList,
    MdocError,
    MdocPolicy,
    MdocReason,
    certs,
    cose,
    device_auth,
    mso,
    parse_session_transcript,
    request,
    session,
    transcript,
    verify_device_response,
    wire,
)
from tests.identity import annexd
from tests.identity.annexd import ANNEX_D_TIME, cert, private_key, public_key, raw

# Which test takes each vector through our code; a vector added to the dataset fails here.
VECTOR_USE = {
    "D.2.1": "test_disclosed_items_match_the_published_values",
    "D.3.1": "test_device_engagement",
    "D.3.1/EDeviceKeyBytes": "test_device_engagement",
    "D.4.1.1": "test_device_request_and_reader_auth",
    "D.4.1.1/ItemsRequest": "test_device_request_and_reader_auth",
    "D.4.1.2": "test_annex_d_device_response_verifies_with_device_mac",
    "D.4.1.2/portrait": "test_disclosed_items_match_the_published_values",
    "D.5.1/EDeviceKey.priv": "test_session_keys_from_both_sides",
    "D.5.1/EDeviceKey.pub": "test_device_engagement",
    "D.5.1/EReaderKey.priv": "test_session_keys_from_both_sides",
    "D.5.1/EReaderKey.pub": "test_session_transcript_both_encodings",
    "D.5.1/SessionTranscriptBytes": "test_session_transcript_both_encodings",
    "D.5.1/NFC-DeviceEngagement": "test_session_transcript_both_encodings",
    "D.5.1/HandoverSelect": "test_session_transcript_both_encodings",
    "D.5.1/HandoverRequest": "test_session_transcript_both_encodings",
    "D.5.1/ZAB": "test_session_keys_from_both_sides",
    "D.5.1/SKReader": "test_session_keys_from_both_sides",
    "D.5.1/SKDevice": "test_session_keys_from_both_sides",
    "D.5.1/SessionEstablishment": "test_session_establishment_both_roles",
    "D.5.1/SessionData": "test_session_data_decrypts_to_a_valid_response",
    "D.5.1/SessionData-termination": "test_session_termination",
    "D.5.2/IssuerAuth": "test_issuer_auth_and_mso",
    "D.5.2/MobileSecurityObjectBytes": "test_issuer_auth_and_mso",
    "D.5.2/DS-cert": "test_ds_certificate_chains_to_the_iaca",
    "D.5.2/IACA-cert": "test_ds_certificate_chains_to_the_iaca",
    "D.5.3/SDeviceKey.priv": "test_device_signature_by_the_annex_d_device_key",
    "D.5.3/SDeviceKey.pub": "test_issuer_auth_and_mso",
    "D.5.3/DeviceAuthenticationBytes": "test_device_authentication_bytes_and_emac_key",
    "D.5.3/EMacKey": "test_device_authentication_bytes_and_emac_key",
    "D.5.3/DeviceAuth": "test_device_authentication_bytes_and_emac_key",
    "D.5.4/ReaderAuth": "test_device_request_and_reader_auth",
    "D.5.4/ReaderAuthenticationBytes": "test_device_request_and_reader_auth",
    "D.5.4/reader-cert": "test_device_request_and_reader_auth",
    "D.5.4/reader-root-cert": "test_device_request_and_reader_auth",
}


def _policy() -> MdocPolicy:
    return MdocPolicy(IacaTrustList((cert("D.5.2/IACA-cert"),)))


def _transcript() -> transcript.SessionTranscript:
    return parse_session_transcript(raw("D.5.1/SessionTranscriptBytes"))


def _refusal(data: bytes, *, now: float = ANNEX_D_TIME, **options: object) -> MdocReason:
    with pytest.raises(MdocError) as caught:
        verify_device_response(data, _transcript(), _policy(), now=now, **options)  # type: ignore[arg-type]
    return caught.value.code


def test_every_vector_is_taken_through_the_verifier() -> None:
    assert set(annexd.ids()) == set(VECTOR_USE)
    names = {name for name in globals() if name.startswith("test_")}
    assert set(VECTOR_USE.values()) <= names


def test_annex_d_device_response_verifies_with_device_mac() -> None:
    outcome = verify_device_response(
        raw("D.4.1.2"),
        _transcript(),
        _policy(),
        now=ANNEX_D_TIME,
        reader_key=private_key("D.5.1/EReaderKey.priv"),
    )
    assert outcome.doctype == "org.iso.18013.5.1.mDL"
    assert outcome.issuer_country == "US"
    assert outcome.device_auth is DeviceAuthMethod.MAC
    assert outcome.age_over == {}  # Annex D discloses no age_over_NN


def test_annex_d_response_is_refused_at_the_wrong_time_or_without_the_reader_key() -> None:
    reader = private_key("D.5.1/EReaderKey.priv")
    assert _refusal(raw("D.4.1.2"), now=time.time(), reader_key=reader) is MdocReason.CERT_EXPIRED
    # 2021-10-01T06:00Z: the MSO is still valid, the DS certificate ended at midnight
    assert _refusal(raw("D.4.1.2"), now=1633068000.0, reader_key=reader) is MdocReason.CERT_EXPIRED
    assert _refusal(raw("D.4.1.2")) is MdocReason.READER_KEY_REQUIRED
    wrong = private_key("D.5.1/EDeviceKey.priv")
    assert _refusal(raw("D.4.1.2"), reader_key=wrong) is MdocReason.BAD_DEVICE_MAC


def test_session_transcript_both_encodings() -> None:
    tagged = raw("D.5.1/SessionTranscriptBytes")
    parsed = parse_session_transcript(tagged)
    untagged = parse_session_transcript(parsed.array)
    assert parsed == untagged
    assert parsed.tagged == tagged
    assert parsed.device_engagement == raw("D.5.1/NFC-DeviceEngagement")
    assert list(parsed.handover) == [raw("D.5.1/HandoverSelect"), raw("D.5.1/HandoverRequest")]
    assert parsed.e_reader_key is not None
    reader_key = cose.public_key_from_cose(wire.loads(parsed.e_reader_key, "k"), "k")
    assert reader_key.public_numbers() == public_key("D.5.1/EReaderKey.pub").public_numbers()
    reader = private_key("D.5.1/EReaderKey.priv")
    for encoding in (tagged, parsed.array):
        outcome = verify_device_response(
            raw("D.4.1.2"),
            parse_session_transcript(encoding),
            _policy(),
            now=ANNEX_D_TIME,
            reader_key=reader,
        )
        assert outcome.device_auth is DeviceAuthMethod.MAC


def test_device_engagement() -> None:
    qr = transcript.parse_device_engagement(raw("D.3.1"))
    nfc = transcript.parse_device_engagement(raw("D.5.1/NFC-DeviceEngagement"))
    published = public_key("D.5.1/EDeviceKey.pub").public_numbers()
    assert qr.e_device_key.public_numbers() == nfc.e_device_key.public_numbers() == published
    assert wire.tag24(qr.e_device_key_bytes) == raw("D.3.1/EDeviceKeyBytes")
    assert qr.version == "1.0"
    # shown as a QR code: mdoc: + base64url (no padding), read back to the same bytes
    text = transcript.engagement_qr(raw("D.3.1"))
    assert text.startswith("mdoc:")
    assert "=" not in text
    assert transcript.engagement_from_qr(text) == raw("D.3.1")
    for bad in ("mdoc:", "MDOC:" + text[5:], text + "=", text + "+", "mdoc:" + "A" * 5000):
        with pytest.raises(MdocError):
            transcript.engagement_from_qr(bad)
    assert qr.retrieval_methods[0][0] == 2


def test_session_keys_from_both_sides() -> None:
    reader = private_key("D.5.1/EReaderKey.priv")
    device = private_key("D.5.1/EDeviceKey.priv")
    zab = session.shared_secret(reader, public_key("D.5.1/EDeviceKey.pub"))
    assert zab == session.shared_secret(device, public_key("D.5.1/EReaderKey.pub"))
    assert zab == raw("D.5.1/ZAB")
    for own, peer in ((reader, "D.5.1/EDeviceKey.pub"), (device, "D.5.1/EReaderKey.pub")):
        keys = session.derive_session_keys(own, public_key(peer), _transcript())
        assert keys.sk_reader == raw("D.5.1/SKReader")
        assert keys.sk_device == raw("D.5.1/SKDevice")


def _keys() -> session.SessionKeys:
    return session.derive_session_keys(
        private_key("D.5.1/EReaderKey.priv"), public_key("D.5.1/EDeviceKey.pub"), _transcript()
    )


def test_session_establishment_both_roles() -> None:
    published = raw("D.5.1/SessionEstablishment")
    key_bytes, e_reader_key, encrypted = session.parse_session_establishment(published)
    assert e_reader_key.public_numbers() == public_key("D.5.1/EReaderKey.pub").public_numbers()
    assert key_bytes == _transcript().e_reader_key
    # the reader seals the DeviceRequest with SKReader, counter 1: the published ciphertext
    reader = session.Session(_keys(), reader=True)
    assert reader.encrypt(raw("D.4.1.1")) == encrypted
    assert session.session_establishment(e_reader_key, encrypted) == published
    # the mdoc side opens it with its own key derivation
    device_keys = session.derive_session_keys(
        private_key("D.5.1/EDeviceKey.priv"), e_reader_key, _transcript()
    )
    assert session.Session(device_keys, reader=False).decrypt(encrypted) == raw("D.4.1.1")
    # the reader's own message can't be opened as an mdoc message (wrong key and identifier)
    with pytest.raises(MdocError) as caught:
        session.Session(_keys(), reader=True).decrypt(encrypted)
    assert caught.value.code is MdocReason.SESSION_DECRYPT_FAILED


def test_session_data_decrypts_to_a_valid_response() -> None:
    encrypted, status = session.parse_session_data(raw("D.5.1/SessionData"))
    assert status is None
    assert encrypted is not None
    reader = session.Session(_keys(), reader=True)
    response = reader.decrypt(encrypted)
    assert response == raw("D.4.1.2")
    mdoc = session.Session(_keys(), reader=False)
    assert session.session_data(mdoc.encrypt(response)) == raw("D.5.1/SessionData")
    # replaying the same message: counter 2 now, so it no longer opens and the session ends
    with pytest.raises(MdocError) as caught:
        reader.decrypt(encrypted)
    assert caught.value.code is MdocReason.SESSION_DECRYPT_FAILED
    with pytest.raises(MdocError) as closed:
        reader.encrypt(b"x")
    assert closed.value.code is MdocReason.SESSION_CLOSED
    outcome = verify_device_response(
        response,
        _transcript(),
        _policy(),
        now=ANNEX_D_TIME,
        reader_key=private_key("D.5.1/EReaderKey.priv"),
    )
    assert outcome.device_auth is DeviceAuthMethod.MAC


def test_session_termination() -> None:
    published = raw("D.5.1/SessionData-termination")
    assert session.parse_session_data(published) == (None, session.STATUS_SESSION_TERMINATION)
    assert session.session_data(status=session.STATUS_SESSION_TERMINATION) == published


def test_device_request_and_reader_auth() -> None:
    published = raw("D.4.1.1")
    (doc_request,) = request.parse_device_request(published)
    assert doc_request.items_request == raw("D.4.1.1/ItemsRequest")
    assert doc_request.doctype == "org.iso.18013.5.1.mDL"
    assert doc_request.name_spaces["org.iso.18013.5.1"]["portrait"] is False
    rebuilt = request.items_request(doc_request.doctype, doc_request.name_spaces)
    assert rebuilt == raw("D.4.1.1/ItemsRequest")
    assert wire.dumps(doc_request.reader_auth) == raw("D.5.4/ReaderAuth")
    assert request.device_request([(rebuilt, doc_request.reader_auth)]) == published
    tbs = request.reader_authentication_bytes(_transcript(), doc_request.items_request)
    assert tbs == raw("D.5.4/ReaderAuthenticationBytes")
    root = cert("D.5.4/reader-root-cert")
    reader_cert = request.verify_reader_auth(doc_request, _transcript(), [root], now=ANNEX_D_TIME)
    assert reader_cert.public_bytes(serialization.Encoding.DER) == raw("D.5.4/reader-cert")
    # expired at "now"; another transcript; an untrusted root: all refused
    other = parse_session_transcript(cbor2.dumps([None, None, None]))
    for transcript_, roots, now in (
        (_transcript(), [root], time.time()),
        (other, [root], ANNEX_D_TIME),
        (_transcript(), [cert("D.5.2/IACA-cert")], ANNEX_D_TIME),
    ):
        with pytest.raises(MdocError) as caught:
            request.verify_reader_auth(doc_request, transcript_, roots, now=now)
        assert caught.value.code is MdocReason.BAD_READER_AUTH


def test_ds_certificate_chains_to_the_iaca() -> None:
    ds = certs.load_ds_certificate(raw("D.5.2/DS-cert"))
    trust = IacaTrustList((cert("D.5.2/IACA-cert"),))
    iaca = certs.issuing_iaca(ds, trust)
    assert certs.check_chain(ds, iaca, ANNEX_D_TIME) == "US"
    with pytest.raises(MdocError) as caught:
        certs.issuing_iaca(ds, IacaTrustList((cert("D.5.4/reader-root-cert"),)))
    assert caught.value.code is MdocReason.ISSUER_UNTRUSTED


def test_issuer_auth_and_mso() -> None:
    response = wire.loads(raw("D.4.1.2"), "r")
    issuer_auth = response["documents"][0]["issuerSigned"]["issuerAuth"]
    assert wire.dumps(issuer_auth) == raw("D.5.2/IssuerAuth")
    assert issuer_auth[1][33] == raw("D.5.2/DS-cert")
    assert issuer_auth[2] == raw("D.5.2/MobileSecurityObjectBytes")
    parsed = mso.parse_mso(raw("D.5.2/MobileSecurityObjectBytes"))
    want = annexd.expected("D.5.2/IssuerAuth")
    assert parsed.doctype == want["mso"]["docType"]  # type: ignore[index]
    device = public_key("D.5.3/SDeviceKey.pub").public_numbers()
    assert parsed.device_key.public_numbers() == device
    digests = {
        ns: {str(k): v.hex() for k, v in d.items()} for ns, d in parsed.value_digests.items()
    }
    assert digests == want["valueDigests"]
    validity = want["mso"]["validityInfo"]  # type: ignore[index]
    assert mso.as_utc(parsed.valid_until) == validity["validUntil"]
    assert mso.as_utc(parsed.signed) == validity["signed"]


def test_disclosed_items_match_the_published_values() -> None:
    response = wire.loads(raw("D.4.1.2"), "r")
    name_spaces = response["documents"][0]["issuerSigned"]["nameSpaces"]
    parsed = mso.parse_mso(raw("D.5.2/MobileSecurityObjectBytes"))
    items = {i.identifier: i for i in mso.check_items(parsed, name_spaces)}
    want = annexd.expected("D.4.1.2")
    assert [(i.digest_id, i.identifier) for i in items.values()] == [
        (w["digestID"], w["elementIdentifier"])
        for w in want["items"]  # type: ignore[attr-defined]
    ]
    assert items["family_name"].value == "Doe"
    assert items["document_number"].value == "123456789"
    assert items["portrait"].value == raw("D.4.1.2/portrait")
    assert wire.dumps(items["driving_privileges"].value) == raw("D.2.1")


def test_device_authentication_bytes_and_emac_key() -> None:
    response = wire.loads(raw("D.4.1.2"), "r")
    device_signed = response["documents"][0]["deviceSigned"]
    assert wire.dumps(device_signed["deviceAuth"]) == raw("D.5.3/DeviceAuth")
    name_spaces = wire.untag24(device_signed["nameSpaces"], "ns")
    built = device_auth.device_authentication_bytes(
        _transcript(), "org.iso.18013.5.1.mDL", name_spaces
    )
    assert built == raw("D.5.3/DeviceAuthenticationBytes")
    reader_side = device_auth.emac_key(
        private_key("D.5.1/EReaderKey.priv"), public_key("D.5.3/SDeviceKey.pub"), _transcript()
    )
    holder_side = device_auth.emac_key(
        private_key("D.5.3/SDeviceKey.priv"), public_key("D.5.1/EReaderKey.pub"), _transcript()
    )
    assert reader_side == holder_side == raw("D.5.3/EMacKey")


def test_device_signature_by_the_annex_d_device_key() -> None:
    """Annex D has no DeviceSignature: sign its DeviceAuthentication with SDeviceKey.priv."""
    from tests.identity.holder import sign1_detached_or_not

    response = wire.loads(raw("D.4.1.2"), "r")
    signature = sign1_detached_or_not(
        private_key("D.5.3/SDeviceKey.priv"),
        raw("D.5.3/DeviceAuthenticationBytes"),
        {},
        detached=True,
    )
    response["documents"][0]["deviceSigned"]["deviceAuth"] = {"deviceSignature": signature}
    data = wire.dumps(response)
    outcome = verify_device_response(data, _transcript(), _policy(), now=ANNEX_D_TIME)
    assert outcome.device_auth is DeviceAuthMethod.SIGNATURE
    # signed by the reader's key instead of the MSO's device key
    signature = sign1_detached_or_not(
        private_key("D.5.1/EReaderKey.priv"),
        raw("D.5.3/DeviceAuthenticationBytes"),
        {},
        detached=True,
    )
    response["documents"][0]["deviceSigned"]["deviceAuth"] = {"deviceSignature": signature}
    assert _refusal(wire.dumps(response)) is MdocReason.BAD_DEVICE_SIGNATURE


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(raw("D.4.1.2")) * 8 - 1))
def test_any_single_bit_flip_of_the_annex_d_response_is_refused(bit: int) -> None:
    """(An exhaustive run over all 28,496 bits refused every one; see docs/identity.md.)"""
    data = bytearray(raw("D.4.1.2"))
    data[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(MdocError):
        verify_device_response(
            bytes(data),
            _transcript(),
            _policy(),
            now=ANNEX_D_TIME,
            reader_key=private_key("D.5.1/EReaderKey.priv"),
        )


def test_the_spec_lists_every_reason_code() -> None:
    spec = (Path(__file__).resolve().parents[2] / "docs" / "identity.md").read_text()
    assert [r.value for r in MdocReason if f"`{r.value}`" not in spec] == []
