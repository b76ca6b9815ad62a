"""Verify an ISO/IEC 18013-5 DeviceResponse offline (reader side). Pure: no I/O, time passed in.

The order of the checks (docs/identity.md states it and the reason codes):

1. clock: `now` above the time floor;
2. DeviceResponse: size cap, strict CBOR, version 1.0, status 0, a document of an allowed doctype;
3. IssuerAuth: COSE_Sign1 shape, DS certificate from `x5chain`, issued directly by a trusted IACA,
   both certificates' profile and validity at `now`;
4. the IssuerAuth signature (algorithm bound to the DS key's curve) over the MSO;
5. MSO: well formed, docType equal to the document's, signed/validFrom/validUntil at `now`;
6. the digest of every disclosed IssuerSignedItem;
7. mdoc authentication: DeviceSignature or DeviceMac over the SessionTranscript.

The outcome holds no data element value except the `age_over_NN` booleans.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from agent.identity import certs, cose, doctypes, mso, wire
from agent.identity.certs import IacaTrustList
from agent.identity.device_auth import DeviceAuthMethod, verify_device_auth
from agent.identity.errors import MdocError, MdocReason
from agent.identity.names import NameCheck
from agent.identity.transcript import SessionTranscript

DEFAULT_LEEWAY_S = 60.0
MAX_DOCUMENTS = 8
MAX_X5CHAIN = 4
# Unknown keys are refused: nothing unauthenticated may change what a response says.
_RESPONSE_KEYS = frozenset({"version", "documents", "documentErrors", "status"})
_DOCUMENT_KEYS = frozenset({"docType", "issuerSigned", "deviceSigned", "errors"})
_ISSUER_SIGNED_KEYS = frozenset({"nameSpaces", "issuerAuth"})


@dataclass(frozen=True, slots=True)
class MdocPolicy:
    """What this reader trusts and accepts."""

    trust: IacaTrustList
    doctypes: frozenset[str] = doctypes.SUPPORTED
    time_floor: float = 0.0
    leeway_s: float = DEFAULT_LEEWAY_S


@dataclass(frozen=True, slots=True)
class MdocOutcome:
    """The result of a successful verification: nothing personal beyond age thresholds."""

    doctype: str
    issuer_country: str
    age_over: Mapping[int, bool]
    device_auth: DeviceAuthMethod
    signed: float = field(repr=False)  # the issuer's verified signing time (raises the floor)
    name_matches: bool | None = None  # None: no name check was asked for


def verify_device_response(
    data: bytes,
    transcript: SessionTranscript,
    policy: MdocPolicy,
    *,
    now: float,
    reader_key: ec.EllipticCurvePrivateKey | None = None,
    doctype: str | None = None,
    name_check: NameCheck | None = None,
) -> MdocOutcome:
    """Verify the document of `doctype` (default: the first) in a DeviceResponse.

    Raises `MdocError` only. `reader_key` is the reader's ephemeral private key, needed when
    the mdoc authenticates with a DeviceMac. With `name_check`, the disclosed given and family
    names are compared with the order's salted digest; only the yes/no answer is kept.
    """
    if not math.isfinite(now) or now + policy.leeway_s < policy.time_floor:
        raise MdocError(MdocReason.CLOCK_UNTRUSTED, "clock below the time floor")
    document = _select_document(wire.loads(data, "DeviceResponse"), policy, doctype)
    doc_type: str = document["docType"]
    issuer_signed = _exact_keys(document.get("issuerSigned"), "IssuerSigned", _ISSUER_SIGNED_KEYS)
    payload, country = _issuer_auth(issuer_signed.get("issuerAuth"), policy.trust, now)
    checked = mso.parse_mso(payload)
    if checked.doctype != doc_type:
        raise MdocError(MdocReason.DOCTYPE_MISMATCH, "MSO docType differs from the document's")
    mso.check_mso_time(checked, now, policy.time_floor, policy.leeway_s)
    items = mso.check_items(checked, issuer_signed.get("nameSpaces", {}))
    method = verify_device_auth(
        document.get("deviceSigned"),
        doctype=doc_type,
        transcript=transcript,
        device_key=checked.device_key,
        reader_key=reader_key,
    )
    ages = doctypes.age_over_results(
        doc_type, ((i.namespace, i.identifier, i.value) for i in items)
    )
    matches = None if name_check is None else _name_matches(doc_type, items, name_check)
    return MdocOutcome(doc_type, country, ages, method, checked.signed, matches)


def require_age(outcome: MdocOutcome, min_age: int) -> None:
    """AGE_NOT_DISCLOSED without `age_over_NN` for exactly this NN, UNDER_AGE when it is false."""
    proven = outcome.age_over.get(min_age)
    if proven is None:
        raise MdocError(MdocReason.AGE_NOT_DISCLOSED, f"no {doctypes.age_over_element(min_age)}")
    if not proven:
        raise MdocError(MdocReason.UNDER_AGE, "age threshold not met")


def _name_matches(doc_type: str, items: list[mso.IssuerSignedItem], check: NameCheck) -> bool:
    names = doctypes.name_elements(doc_type)
    namespace = doctypes.AGE_NAMESPACE.get(doc_type)
    values = {i.identifier: i.value for i in items if i.namespace == namespace}
    if names is None or not all(isinstance(values.get(n), str) for n in names):
        return False
    return check.matches(values[names[0]], values[names[1]])


def _select_document(
    response: object, policy: MdocPolicy, doctype: str | None
) -> Mapping[str, Any]:
    what = "DeviceResponse"
    top = _exact_keys(response, what, _RESPONSE_KEYS)
    # Only "1.0" exists; the version is not authenticated, so nothing else is let through.
    if wire.field(top, "version", str, what) != "1.0":
        raise MdocError(MdocReason.MALFORMED, f"{what}: version is not 1.0")
    if wire.field(top, "status", int, what) != 0:
        raise MdocError(MdocReason.RESPONSE_STATUS, f"{what}: status is not OK")
    documents = wire.as_array(top.get("documents", []), what, max_len=MAX_DOCUMENTS)
    if not documents:
        raise MdocError(MdocReason.DOCUMENT_MISSING, f"{what}: no document")
    for item in documents:
        document = _exact_keys(item, "Document", _DOCUMENT_KEYS)
        doc_type = wire.field(document, "docType", str, "Document")
        if doctype is None or doc_type == doctype:
            if doc_type not in policy.doctypes:
                raise MdocError(MdocReason.DOCTYPE_NOT_ALLOWED, "doctype not accepted here")
            return document
    raise MdocError(MdocReason.DOCUMENT_MISSING, f"{what}: no document of the requested doctype")


def _issuer_auth(item: object, trust: IacaTrustList, now: float) -> tuple[bytes, str]:
    """Verify the IssuerAuth; returns (MobileSecurityObjectBytes, issuing country)."""
    message = cose.parse(item, "issuerAuth")
    if message.payload is None:
        raise MdocError(MdocReason.MALFORMED, "issuerAuth has no payload")
    ds = certs.load_ds_certificate(_x5chain_first(message.unprotected))
    iaca = certs.issuing_iaca(ds, trust)
    country = certs.check_chain(ds, iaca, now)
    key = ds.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):  # check_chain refused other keys
        raise MdocError(MdocReason.CERT_PROFILE, "DS key is not EC")
    spec = cose.ecdsa_alg(message.alg, key, "issuerAuth")
    tbs = cose.sig_structure(message.protected, message.payload)
    if not cose.verify_ecdsa(key, spec, message.tail, tbs):
        raise MdocError(MdocReason.BAD_ISSUER_SIGNATURE, "issuerAuth does not verify")
    return message.payload, country


def _x5chain_first(unprotected: Mapping[Any, Any]) -> bytes:
    chain = unprotected.get(cose.HDR_X5CHAIN)
    if isinstance(chain, bytes):
        return chain
    if isinstance(chain, wire.ARRAY_TYPES) and 0 < len(chain) <= MAX_X5CHAIN:
        first = chain[0]
        if isinstance(first, bytes):
            return first
    raise MdocError(MdocReason.MALFORMED, "issuerAuth: no x5chain with the DS certificate")


def _exact_keys(item: object, what: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    mapping = wire.as_map(item, what)
    if not mapping.keys() <= allowed:
        raise MdocError(MdocReason.MALFORMED, f"{what}: unknown keys")
    return mapping
