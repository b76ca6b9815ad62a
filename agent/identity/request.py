"""DeviceRequest (18013-5 8.3.2.1.2.1) and mdoc reader authentication (9.1.4).

The locker builds requests that ask only for what an order needs (e.g. `age_over_18`, never the
birth date). ReaderAuth is a COSE_Sign1 with a detached payload over
`ReaderAuthenticationBytes = #6.24(bstr .cbor ["ReaderAuthentication", SessionTranscript,
ItemsRequestBytes])` by a reader certificate (extended key usage 1.0.18013.5.1.6) issued directly
by a reader root; the holder (wallet) side checks it with `verify_reader_auth`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from agent.identity import cose, wire
from agent.identity.certs import OID_MDL_READER_AUTH
from agent.identity.errors import MdocError, MdocReason
from agent.identity.transcript import SessionTranscript

_READER_AUTHENTICATION = wire.dumps("ReaderAuthentication")


@dataclass(frozen=True, slots=True)
class DocRequest:
    """One requested document: ItemsRequestBytes as received, decoded, and its ReaderAuth."""

    items_request: bytes
    doctype: str
    name_spaces: Mapping[str, Mapping[str, bool]]
    reader_auth: Any


def items_request(doctype: str, name_spaces: Mapping[str, Mapping[str, bool]]) -> bytes:
    """ItemsRequest CBOR: element -> IntentToRetain (the locker never retains: False)."""
    return wire.dumps(
        {"docType": doctype, "nameSpaces": {ns: dict(e) for ns, e in name_spaces.items()}}
    )


def device_request(requests: Sequence[tuple[bytes, Any]]) -> bytes:
    """DeviceRequest of (ItemsRequestBytes, ReaderAuth or None) pairs."""
    doc_requests: list[dict[str, Any]] = []
    for items, reader_auth in requests:
        entry: dict[str, Any] = {"itemsRequest": cbor2.CBORTag(wire.TAG_ENCODED_CBOR, items)}
        if reader_auth is not None:
            entry["readerAuth"] = reader_auth
        doc_requests.append(entry)
    return wire.dumps({"version": "1.0", "docRequests": doc_requests})


def parse_device_request(data: bytes) -> list[DocRequest]:
    """The DocRequests of a DeviceRequest (the wallet's side); MdocError if malformed."""
    what = "DeviceRequest"
    request = wire.as_map(wire.loads(data, what), what)
    if not wire.field(request, "version", str, what).startswith("1."):
        raise MdocError(MdocReason.MALFORMED, f"{what}: version not supported")
    out: list[DocRequest] = []
    for entry in wire.as_array(wire.field(request, "docRequests", wire.ARRAY_TYPES, what), what):
        doc = wire.as_map(entry, "DocRequest")
        raw = wire.untag24(doc.get("itemsRequest"), "ItemsRequest")
        items = wire.as_map(wire.loads(raw, "ItemsRequest"), "ItemsRequest")
        name_spaces = wire.as_map(items.get("nameSpaces"), "ItemsRequest")
        checked: dict[str, dict[str, bool]] = {}
        for ns, elements in name_spaces.items():
            elements_map = wire.as_map(elements, "DataElements")
            if not isinstance(ns, str) or not all(
                isinstance(k, str) and isinstance(v, bool) for k, v in elements_map.items()
            ):
                raise MdocError(MdocReason.MALFORMED, "ItemsRequest: bad data elements")
            checked[ns] = dict(elements_map)
        doctype = wire.field(items, "docType", str, "ItemsRequest")
        out.append(DocRequest(raw, doctype, checked, doc.get("readerAuth")))
    return out


def reader_authentication_bytes(transcript: SessionTranscript, items: bytes) -> bytes:
    """ReaderAuthenticationBytes: what ReaderAuth signs, for `items` (the ItemsRequest CBOR)."""
    body = b"".join((b"\x83", _READER_AUTHENTICATION, transcript.array, wire.tag24(items)))
    return wire.tag24(body)


def sign_reader_auth(
    key: ec.EllipticCurvePrivateKey, cert_der: bytes, transcript: SessionTranscript, items: bytes
) -> list[Any]:
    """ReaderAuth (COSE_Sign1, detached payload, x5chain in the unprotected header)."""
    spec = cose.alg_for_key(key.public_key())
    protected = wire.dumps({cose.HDR_ALG: spec.cose_id})
    tbs = cose.sig_structure(protected, reader_authentication_bytes(transcript, items))
    return [protected, {cose.HDR_X5CHAIN: cert_der}, None, cose.sign_raw(key, spec, tbs)]


def verify_reader_auth(
    request: DocRequest,
    transcript: SessionTranscript,
    roots: Sequence[x509.Certificate],
    *,
    now: float,
) -> x509.Certificate:
    """The reader certificate, after checking ReaderAuth; BAD_READER_AUTH otherwise."""
    message = cose.parse(request.reader_auth, "readerAuth")
    chain = message.unprotected.get(cose.HDR_X5CHAIN)
    der = chain[0] if isinstance(chain, wire.ARRAY_TYPES) and chain else chain
    if message.payload is not None or not isinstance(der, bytes):
        raise MdocError(MdocReason.BAD_READER_AUTH, "readerAuth shape")
    try:
        cert = x509.load_der_x509_certificate(der)
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (ValueError, x509.ExtensionNotFound) as err:
        raise MdocError(MdocReason.BAD_READER_AUTH, "reader certificate") from err
    at = datetime.fromtimestamp(now, UTC)
    if OID_MDL_READER_AUTH not in eku or not (
        cert.not_valid_before_utc <= at <= cert.not_valid_after_utc
    ):
        raise MdocError(MdocReason.BAD_READER_AUTH, "reader certificate profile or validity")
    if not any(_issued_by(cert, root) for root in roots):
        raise MdocError(MdocReason.BAD_READER_AUTH, "reader certificate not from a trusted root")
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise MdocError(MdocReason.BAD_READER_AUTH, "reader key is not EC")
    spec = cose.ecdsa_alg(message.alg, key, "readerAuth")
    tbs = cose.sig_structure(
        message.protected, reader_authentication_bytes(transcript, request.items_request)
    )
    if not cose.verify_ecdsa(key, spec, message.tail, tbs):
        raise MdocError(MdocReason.BAD_READER_AUTH, "readerAuth does not verify")
    return cert


def _issued_by(cert: x509.Certificate, root: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
