"""mdoc authentication (18013-5 9.1.3): DeviceSignature or DeviceMac over DeviceAuthentication.

`DeviceAuthenticationBytes = #6.24(bstr .cbor ["DeviceAuthentication", SessionTranscript,
DocType, DeviceNameSpacesBytes])`, with the transcript and the device name spaces embedded as
received. A DeviceSignature is a COSE_Sign1 with a detached payload by the MSO's device key (its
algorithm bound to the key's curve); a DeviceMac is a COSE_Mac0 (HMAC 256/256) with a detached
payload under `EMacKey = HKDF-SHA256(ECDH(EReaderKey.priv, MSO deviceKey), salt = SHA-256(
SessionTranscriptBytes), info "EMacKey", 32 bytes)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from agent.identity import cose, wire
from agent.identity.errors import MdocError, MdocReason
from agent.identity.session import hkdf32
from agent.identity.transcript import SessionTranscript

_DEVICE_AUTHENTICATION = wire.dumps("DeviceAuthentication")


class DeviceAuthMethod(StrEnum):
    """How the device authenticated the response: a signature or a MAC."""

    SIGNATURE = "signature"
    MAC = "mac"


def device_authentication_bytes(
    transcript: SessionTranscript, doctype: str, device_name_spaces: bytes
) -> bytes:
    """DeviceAuthenticationBytes; `device_name_spaces` is the embedded DeviceNameSpaces CBOR."""
    body = b"".join(
        (
            b"\x84",
            _DEVICE_AUTHENTICATION,
            transcript.array,
            wire.dumps(doctype),
            wire.tag24(device_name_spaces),
        )
    )
    return wire.tag24(body)


def emac_key(
    reader_key: ec.EllipticCurvePrivateKey,
    device_key: ec.EllipticCurvePublicKey,
    transcript: SessionTranscript,
) -> bytes:
    """The DeviceMac key (the holder derives the same from its private key and EReaderKey)."""
    if reader_key.curve.name != device_key.curve.name:
        raise MdocError(MdocReason.BAD_DEVICE_MAC, "reader key and device key on different curves")
    return hkdf32(reader_key.exchange(ec.ECDH(), device_key), transcript.salt, b"EMacKey")


def verify_device_auth(
    device_signed: object,
    *,
    doctype: str,
    transcript: SessionTranscript,
    device_key: ec.EllipticCurvePublicKey,
    reader_key: ec.EllipticCurvePrivateKey | None,
) -> DeviceAuthMethod:
    """Check the document's DeviceSigned; returns the method that proved possession."""
    what = "DeviceSigned"
    signed = wire.as_map(device_signed, what)
    if set(signed) != {"nameSpaces", "deviceAuth"}:
        raise MdocError(MdocReason.MALFORMED, f"{what}: keys are not nameSpaces and deviceAuth")
    name_spaces = wire.untag24(signed.get("nameSpaces"), what)
    wire.as_map(wire.loads(name_spaces, "DeviceNameSpaces"), "DeviceNameSpaces")
    auth: Mapping[Any, Any] = wire.as_map(signed.get("deviceAuth"), what)
    if len(auth) != 1:
        raise MdocError(MdocReason.DEVICE_AUTH_MISSING, "deviceAuth needs exactly one method")
    data = device_authentication_bytes(transcript, doctype, name_spaces)
    if "deviceSignature" in auth:
        _check_signature(auth["deviceSignature"], data, device_key)
        return DeviceAuthMethod.SIGNATURE
    if "deviceMac" in auth:
        if reader_key is None:
            raise MdocError(MdocReason.READER_KEY_REQUIRED, "DeviceMac needs the reader key")
        _check_mac(auth["deviceMac"], data, emac_key(reader_key, device_key, transcript))
        return DeviceAuthMethod.MAC
    raise MdocError(MdocReason.DEVICE_AUTH_MISSING, "no deviceSignature or deviceMac")


def _check_signature(item: object, data: bytes, device_key: ec.EllipticCurvePublicKey) -> None:
    message = cose.parse(item, "deviceSignature")
    if message.payload is not None:
        raise MdocError(MdocReason.MALFORMED, "deviceSignature payload is not detached")
    spec = cose.ecdsa_alg(message.alg, device_key, "deviceSignature")
    if not cose.verify_ecdsa(
        device_key, spec, message.tail, cose.sig_structure(message.protected, data)
    ):
        raise MdocError(MdocReason.BAD_DEVICE_SIGNATURE, "deviceSignature does not verify")


def _check_mac(item: object, data: bytes, key: bytes) -> None:
    message = cose.parse(item, "deviceMac", mac=True)
    if message.payload is not None:
        raise MdocError(MdocReason.MALFORMED, "deviceMac payload is not detached")
    if message.alg != cose.ALG_HMAC256:
        raise MdocError(MdocReason.ALG_NOT_ALLOWED, "deviceMac alg is not HMAC 256/256")
    if not cose.hmac_sha256_ok(key, message.tail, cose.mac_structure(message.protected, data)):
        raise MdocError(MdocReason.BAD_DEVICE_MAC, "deviceMac does not verify")
