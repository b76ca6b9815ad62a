"""Enrollment and credential messages: invite strings, topics, signed replies, sealed secrets.

A device starts with an invite string `LKE1:<fleet>:<code>:<pin>` (printed or shown as a QR by
`locker-admin device invite`): `code` is the one-time enrollment code (160 random bits, base32),
`pin` the base32 of the first 20 bytes of SHA-256 over the fleet device CA's SubjectPublicKeyInfo.
Every hub answer on the enrollment topics is signed (ES256, raw r||s) by that CA's key over the
canonical JSON of the answer without `sig`, and carries the CA certificate, so the device accepts
only answers whose CA matches the pin in its invite: whoever can publish on the broker cannot hand
it a fake config. Secrets (a broker password) are sealed to the device's own new key (ECDH P-256,
HKDF-SHA256, AES-256-GCM) so reading a reply does not reveal them.

Topics (docs/protocol.md, "Enrollment"):
- `lk/v1/F/enroll/req`            device -> hub, first boot; the anonymous user may only write it
- `lk/v1/F/enroll/N/reply`        hub -> device, retained; `N` = the request's nonce
- `lk/v1/F/D/credreq`             device -> hub: a rotation request, signed with the current key
- `lk/v1/F/D/cred`                hub -> device, retained: "rotate now" or the new credential
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub_sync.errors import EnrollmentError, WireError
from hub_sync.protocol.strict_json import canonical_json, loads_strict
from hub_sync.protocol.wire import check_id

INVITE_PREFIX: Final = "LKE1"
CODE_BYTES: Final = 20
PIN_BYTES: Final = 20
NONCE_RE: Final = re.compile(r"^[a-f0-9]{32}$")
SIGN_CONTEXT: Final = "lk-enroll/v1"
DEVICE_KEY_CONTEXT: Final = "lk-enroll-device-key/v1"
_SEAL_INFO: Final = b"lk-enroll/v1 sealed secret"
_B32 = re.compile(r"^[A-Z2-7]+$")


def request_topic(fleet: str) -> str:
    """The topic a first-boot device publishes its enrollment request on."""
    return f"lk/v1/{check_id(fleet, 'fleet')}/enroll/req"


def reply_topic(fleet: str, nonce: str) -> str:
    """The retained topic the hub answers the request with nonce `nonce` on."""
    if not NONCE_RE.match(nonce):
        raise EnrollmentError("BAD_NONCE", "a nonce is 32 lower-case hex digits")
    return f"lk/v1/{check_id(fleet, 'fleet')}/enroll/{nonce}/reply"


def cred_topic(fleet: str, device: str) -> str:
    """The retained topic the hub sends a device "rotate now" and its new credential on."""
    return f"lk/v1/{check_id(fleet, 'fleet')}/{check_id(device, 'device')}/cred"


def credreq_topic(fleet: str, device: str) -> str:
    """The topic a device sends its signed rotation request and `cred.active` on."""
    return f"lk/v1/{check_id(fleet, 'fleet')}/{check_id(device, 'device')}/credreq"


def enroll_client_id(nonce: str) -> str:
    """The MQTT client id of a first-boot connection: the broker ACL lets it read only the reply
    topic that names its own nonce (Mosquitto `pattern read lk/v1/F/enroll/%c/reply`)."""
    return nonce


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def _unb32(text: str) -> bytes:
    if not _B32.match(text):
        raise EnrollmentError("BAD_INVITE", "not base32")
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except ValueError as err:
        raise EnrollmentError("BAD_INVITE", "not base32") from err


def spki_pin(key: ec.EllipticCurvePublicKey) -> str:
    """The invite's pin for a CA key: base32 of the first 20 bytes of SHA-256 over its SPKI."""
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _b32(hashlib.sha256(spki).digest()[:PIN_BYTES])


@dataclass(frozen=True, slots=True)
class Invite:
    """An invite: the fleet, the one-time enrollment code and the pin of the fleet device CA."""

    fleet: str
    code: str
    pin: str

    def text(self) -> str:
        """The invite string `LKE1:<fleet>:<code>:<pin>` (holds the code: not for logs)."""
        return f"{INVITE_PREFIX}:{self.fleet}:{self.code}:{self.pin}"

    def __repr__(self) -> str:  # never print the code into a log
        return f"Invite(fleet={self.fleet!r}, pin={self.pin!r})"


def new_code() -> str:
    """A new one-time enrollment code (160 random bits, base32)."""
    return _b32(secrets.token_bytes(CODE_BYTES))


def parse_invite(text: str) -> Invite:
    """The invite in `text`; `EnrollmentError` (BAD_INVITE) when it is not a well-formed one."""
    parts = text.strip().split(":")
    if len(parts) != 4 or parts[0] != INVITE_PREFIX:
        raise EnrollmentError("BAD_INVITE", f"an invite looks like {INVITE_PREFIX}:FLEET:CODE:PIN")
    _, fleet, code, pin = parts
    try:
        check_id(fleet, "fleet")
    except WireError as err:
        raise EnrollmentError("BAD_INVITE", err.detail) from err
    if len(_unb32(code)) != CODE_BYTES or len(_unb32(pin)) != PIN_BYTES:
        raise EnrollmentError("BAD_INVITE", "code or pin has the wrong length")
    return Invite(fleet, code, pin)


def code_digest(secret: bytes, code: str) -> bytes:
    """The keyed digest the hub stores instead of the code (HMAC-SHA256 with the hub's secret)."""
    return hmac.new(secret, b"lk-invite/v1\x00" + code.encode("ascii"), hashlib.sha256).digest()


# -- signing (hub: the fleet device CA key) ------------------------------------------------


def _raw_sig(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise EnrollmentError("MALFORMED", "expected base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as err:
        raise EnrollmentError("MALFORMED", "not base64url") from err


def _signed_part(message: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in message.items() if k != "sig"}
    return canonical_json({"ctx": SIGN_CONTEXT, "body": body})


def sign_message(key: ec.EllipticCurvePrivateKey, message: Mapping[str, Any]) -> bytes:
    """`message` plus `sig` (ES256 by `key`) as the JSON payload."""
    der = key.sign(_signed_part(message), ec.ECDSA(hashes.SHA256()))
    return canonical_json({**message, "sig": {"alg": "ES256", "value": _b64(_raw_sig(der))}})


def verify_with(key: ec.EllipticCurvePublicKey, message: Mapping[str, Any]) -> None:
    """Check `message`'s ES256 `sig` against `key`; `EnrollmentError` when missing or wrong."""
    sig = message.get("sig")
    if not isinstance(sig, Mapping) or sig.get("alg") != "ES256":
        raise EnrollmentError("SIG_MISSING", "no ES256 signature")
    raw = _unb64(sig.get("value"))
    if len(raw) != 64:
        raise EnrollmentError("SIG_MALFORMED", "an ES256 signature is 64 bytes")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        key.verify(der, _signed_part(message), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as err:
        raise EnrollmentError("BAD_SIGNATURE", "signature does not verify") from err


def load_cert(pem: object) -> x509.Certificate:
    """The certificate in a PEM string; `EnrollmentError` (MALFORMED) when it is not one.

    Its public key is read here too: cryptography parses it lazily, so a certificate whose key
    is not a valid point (anyone can write one, no CA needed) passed this check and raised
    `ValueError` from `public_key()` later, outside every handler: on the credential topic
    that ended the credential task, and with it the agent's task group."""
    if not isinstance(pem, str):
        raise EnrollmentError("MALFORMED", "expected a PEM certificate")
    try:
        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
        cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as err:
        raise EnrollmentError("MALFORMED", "not a PEM certificate with a usable key") from err
    return cert


def verify_hub_message(payload: bytes, pin: str) -> tuple[Mapping[str, Any], x509.Certificate]:
    """Decode a hub answer, check its CA against `pin` and its signature; (message, CA cert)."""
    try:
        message = loads_strict(payload)
    except WireError as err:
        raise EnrollmentError("MALFORMED", err.detail) from err
    ca = load_cert(message.get("ca_pem"))
    ca_key = ca.public_key()
    if not isinstance(ca_key, ec.EllipticCurvePublicKey) or spki_pin(ca_key) != pin:
        raise EnrollmentError("WRONG_CA", "the answer is not from the CA pinned in the invite")
    verify_with(ca_key, message)
    return message, ca


def check_issued_cert(
    cert: x509.Certificate, ca: x509.Certificate, key: ec.EllipticCurvePrivateKey, device: str
) -> None:
    """The issued certificate is the CA's, for our key and our locker id."""
    ca_key = ca.public_key()
    if not isinstance(ca_key, ec.EllipticCurvePublicKey):
        raise EnrollmentError("WRONG_CA", "the CA key is not P-256")
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as err:
        raise EnrollmentError("BAD_CERT", "certificate not issued by the pinned CA") from err
    if cert.public_key() != key.public_key():
        raise EnrollmentError("BAD_CERT", "certificate is not for this device's key")
    cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if not cns or cns[0].value != device:
        raise EnrollmentError("BAD_CERT", "certificate names another locker")


# -- sealed secrets (hub -> device) --------------------------------------------------------


def _seal_key(shared: bytes, aad: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=aad, info=_SEAL_INFO).derive(shared)


def seal(recipient: ec.EllipticCurvePublicKey, secret: bytes, aad: bytes) -> dict[str, str]:
    """Encrypt `secret` so only the holder of `recipient`'s private key can read it."""
    eph = ec.generate_private_key(ec.SECP256R1())
    key = _seal_key(eph.exchange(ec.ECDH(), recipient), aad)
    iv = os.urandom(12)
    eph_pub = eph.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {"epk": _b64(eph_pub), "iv": _b64(iv), "ct": _b64(AESGCM(key).encrypt(iv, secret, aad))}


def unseal(private: ec.EllipticCurvePrivateKey, box: object, aad: bytes) -> bytes:
    """Open a box `seal` made for our key; `EnrollmentError` (BAD_SEAL) if it does not open."""
    if not isinstance(box, Mapping):
        raise EnrollmentError("MALFORMED", "sealed secret is not an object")
    try:
        eph = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64(box.get("epk")))
        key = _seal_key(private.exchange(ec.ECDH(), eph), aad)
        return AESGCM(key).decrypt(_unb64(box.get("iv")), _unb64(box.get("ct")), aad)
    except (ValueError, InvalidTag) as err:
        raise EnrollmentError("BAD_SEAL", "sealed secret does not open with this key") from err


# -- device requests ------------------------------------------------------------------------


def new_nonce() -> str:
    """A new request nonce (32 lower-case hex digits, also the reply topic's key)."""
    return secrets.token_hex(16)


def csr_pem(key: ec.EllipticCurvePrivateKey, device_hint: str = "enrolling") -> str:
    """A PEM certificate signing request for `key`; the CA sets the real subject."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, device_hint)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def load_csr_key(pem: object) -> ec.EllipticCurvePublicKey:
    """The P-256 public key of a CSR whose self-signature verifies."""
    if not isinstance(pem, str) or len(pem) > 4096:
        raise EnrollmentError("MALFORMED", "csr must be a PEM text")
    try:
        csr = x509.load_pem_x509_csr(pem.encode("ascii"))
    except ValueError as err:
        raise EnrollmentError("MALFORMED", "not a PEM CSR") from err
    key = csr.public_key()
    if not csr.is_signature_valid or not isinstance(key, ec.EllipticCurvePublicKey):
        raise EnrollmentError("BAD_CSR", "CSR must be P-256 and self-signed")
    if not isinstance(key.curve, ec.SECP256R1):
        raise EnrollmentError("BAD_CSR", "CSR key must be P-256")
    return key


def sign_device_request(key: ec.EllipticCurvePrivateKey, message: Mapping[str, Any]) -> bytes:
    """A rotation request, signed with the device's current key (same format as hub answers)."""
    return sign_message(key, message)


# -- the device key (Ed25519, signs audit checkpoints and replies) ---------------------------


def device_key_bytes(fleet: str, nonce: str, public_key: str) -> bytes:
    """What the device key signs to prove it is held by the enrolling device: canonical JSON of
    `{"ctx": "lk-enroll-device-key/v1", "fleet", "nonce", "public_key"}` (`public_key`: the raw
    32-byte Ed25519 key, base64url without padding)."""
    return canonical_json(
        {"ctx": DEVICE_KEY_CONTEXT, "fleet": fleet, "nonce": nonce, "public_key": public_key}
    )


def device_key_proof(key: ed25519.Ed25519PrivateKey, fleet: str, nonce: str) -> dict[str, str]:
    """The request's `device_key` object: `{alg: "EdDSA", public_key, sig}`, the signature by
    `key` over `device_key_bytes` (binds the key to this fleet and this request's nonce)."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    public = _b64(raw)
    return {"alg": "EdDSA", "public_key": public,
            "sig": _b64(key.sign(device_key_bytes(fleet, nonce, public)))}  # fmt: skip


def verify_device_key(proof: object, fleet: str, nonce: str) -> bytes:
    """The raw Ed25519 device key of a request's `device_key` object, once its proof verifies
    for `fleet` and `nonce`; `EnrollmentError` (DEVICE_KEY_MISSING, DEVICE_KEY_MALFORMED,
    DEVICE_KEY_BAD_PROOF) otherwise."""
    if proof is None:
        raise EnrollmentError("DEVICE_KEY_MISSING", "the request carries no device key")
    if not isinstance(proof, Mapping) or proof.get("alg") != "EdDSA":
        raise EnrollmentError("DEVICE_KEY_MALFORMED", "device_key is {alg: EdDSA, public_key, sig}")
    public, sig = proof.get("public_key"), proof.get("sig")
    try:
        raw, value = _unb64(public), _unb64(sig)
        key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
    except (EnrollmentError, ValueError) as err:
        raise EnrollmentError("DEVICE_KEY_MALFORMED", "not a raw Ed25519 key") from err
    try:
        key.verify(value, device_key_bytes(fleet, nonce, str(public)))
    except InvalidSignature as err:
        raise EnrollmentError("DEVICE_KEY_BAD_PROOF", "the proof does not verify") from err
    return raw
