"""A simulated EU wallet: a real mdoc holder (the mdoc side of 18013-5) with its own issuer.

The demo and the tests use it as the phone in front of the locker: `SimulatedIssuer` makes an
IACA root and a document signer and issues a PID to a `MadeUpPerson`; `SimulatedWallet` shows its
QR device engagement and answers one SessionEstablishment with a selectively disclosed
DeviceResponse (DeviceSignature or DeviceMac); `SimulatedWalletLink` is the `WalletLink` the
locker reaches it through (where a BLE driver would connect to the phone).

Its issuing, presenting and session cryptography are written here with cbor2 and cryptography
directly, not with the verifier's encoders or `session.py`, so the two sides of a check are
independent implementations. Test identities only: nothing here is a real credential.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

from agent.identity import doctypes
from agent.identity.certs import OID_MDL_DS
from agent.identity.errors import MdocError, WalletUnreachable
from agent.identity.proximity import MdocTransport
from agent.identity.request import parse_device_request, verify_reader_auth
from agent.identity.transcript import engagement_qr, parse_session_transcript

_DAY = timedelta(days=1)


def tag24(data: bytes) -> cbor2.CBORTag:
    """`data` as embedded CBOR (tag 24)."""
    return cbor2.CBORTag(24, data)


def cose_key(key: ec.EllipticCurvePublicKey) -> dict[int, Any]:
    """EC2 COSE_Key of a P-256 public key."""
    numbers = key.public_numbers()
    return {1: 2, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}


def _sign1(key: ec.EllipticCurvePrivateKey, payload: bytes) -> bytes:
    """ES256 signature (raw r || s) over the Sig_structure of a COSE_Sign1 (alg in protected)."""
    protected = cbor2.dumps({1: -7})
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    r, s = decode_dss_signature(key.sign(tbs, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _hkdf(secret: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt, info).derive(secret)


@dataclass(frozen=True, slots=True)
class MadeUpPerson:
    """A made-up person for the demo and the tests (its fields stay out of `repr`)."""

    given_name: str = field(repr=False)
    family_name: str = field(repr=False)
    birth_date: date = field(repr=False)
    document_number: str = field(repr=False)

    def age_on(self, day: date) -> int:
        """The person's age in whole years on `day`."""
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday


def person_aged(age: int, *, today: date, given: str, family: str) -> MadeUpPerson:
    """A test person exactly `age` years old (born `age` years and 40 days before `today`)."""
    birth = (today - timedelta(days=40)).replace(year=today.year - age)
    number = f"SIM{secrets.randbelow(10**8):08d}"
    return MadeUpPerson(given, family, birth, number)


@dataclass(frozen=True, slots=True)
class IssuedDocument:
    """What an issuer hands to a wallet: items (IssuerSignedItemBytes) and the IssuerAuth."""

    doctype: str
    items: dict[str, list[bytes]]
    issuer_auth: list[Any]
    device_key: ec.EllipticCurvePrivateKey


def _name(cn: str, country: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


class SimulatedIssuer:
    """A PID issuer with its own IACA root and document signer (18013-5 Annex B profile)."""

    def __init__(self, *, now: float, country: str = "UT", name: str = "Simulated") -> None:
        start = datetime.fromtimestamp(now, UTC) - _DAY
        self.iaca_key = ec.generate_private_key(ec.SECP256R1())
        iaca_name = _name(f"{name} IACA", country)
        self.iaca = (
            self._builder(iaca_name, iaca_name, self.iaca_key.public_key(), start, 3650)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .sign(self.iaca_key, hashes.SHA256())
        )
        self.ds_key = ec.generate_private_key(ec.SECP256R1())
        ds_name = _name(f"{name} document signer", country)
        self.ds = (
            self._builder(ds_name, iaca_name, self.ds_key.public_key(), start, 365)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([OID_MDL_DS]), critical=True)
            .sign(self.iaca_key, hashes.SHA256())
        )

    @staticmethod
    def _builder(
        subject: x509.Name,
        issuer: x509.Name,
        key: ec.EllipticCurvePublicKey,
        start: datetime,
        days: int,
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + days * _DAY)
        )

    @property
    def iaca_pem(self) -> bytes:
        """The IACA root a locker configures (`[identity] iaca`)."""
        return self.iaca.public_bytes(serialization.Encoding.PEM)

    def issue_pid(self, person: MadeUpPerson, *, now: float) -> IssuedDocument:
        """An EU PID for `person` with age_over_18/21/65 as of `now`."""
        age = person.age_on(datetime.fromtimestamp(now, UTC).date())
        values: dict[str, Any] = {
            "family_name": person.family_name,
            "given_name": person.given_name,
            "birth_date": person.birth_date,
            "document_number": person.document_number,
            **{doctypes.age_over_element(n): age >= n for n in (18, 21, 65)},
        }
        return self.issue(doctypes.EU_PID, {doctypes.AGE_NAMESPACE[doctypes.EU_PID]: values}, now)

    def issue(
        self, doctype: str, elements: dict[str, dict[str, Any]], now: float
    ) -> IssuedDocument:
        """An mdoc of `doctype` with `elements` (namespace -> name -> value), signed as of `now`."""
        device_key = ec.generate_private_key(ec.SECP256R1())
        items: dict[str, list[bytes]] = {}
        digests: dict[str, dict[int, bytes]] = {}
        for digest_id, (ns, name, value) in enumerate(
            (ns, name, value) for ns, values in elements.items() for name, value in values.items()
        ):
            item = cbor2.dumps(
                {
                    "digestID": digest_id,
                    "random": secrets.token_bytes(16),
                    "elementIdentifier": name,
                    "elementValue": value,
                }
            )
            items.setdefault(ns, []).append(item)
            digests.setdefault(ns, {})[digest_id] = hashlib.sha256(
                cbor2.dumps(tag24(item))
            ).digest()
        signed = datetime.fromtimestamp(int(now) - 60, UTC)
        mso = {
            "version": "1.0",
            "digestAlgorithm": "SHA-256",
            "valueDigests": digests,
            "deviceKeyInfo": {"deviceKey": cose_key(device_key.public_key())},
            "docType": doctype,
            "validityInfo": {
                "signed": signed,
                "validFrom": signed,
                "validUntil": signed + 90 * _DAY,
            },
        }
        payload = cbor2.dumps(tag24(cbor2.dumps(mso)))
        der = self.ds.public_bytes(serialization.Encoding.DER)
        protected = cbor2.dumps({1: -7})
        auth = [protected, {33: der}, payload, _sign1(self.ds_key, payload)]
        return IssuedDocument(doctype, items, auth, device_key)


def present(
    doc: IssuedDocument,
    transcript_array: bytes,
    *,
    disclose: dict[str, list[str]],
    method: str = "signature",
    reader_public: ec.EllipticCurvePublicKey | None = None,
) -> bytes:
    """A DeviceResponse disclosing only the `disclose` elements, with mdoc authentication."""
    name_spaces: dict[str, list[cbor2.CBORTag]] = {}
    for ns, items in doc.items.items():
        wanted = set(disclose.get(ns, []))
        chosen = [tag24(i) for i in items if cbor2.loads(i)["elementIdentifier"] in wanted]
        if chosen:
            name_spaces[ns] = chosen
    device_ns = cbor2.dumps({})
    transcript = cbor2.loads(transcript_array)
    auth = ["DeviceAuthentication", transcript, doc.doctype, tag24(device_ns)]
    auth_bytes = cbor2.dumps(tag24(cbor2.dumps(auth)))
    device_auth: dict[str, Any]
    if method == "signature":
        protected = cbor2.dumps({1: -7})
        signature = _sign1(doc.device_key, auth_bytes)
        device_auth = {"deviceSignature": [protected, {}, None, signature]}
    else:
        if reader_public is None:
            raise ValueError("a DeviceMac needs the reader's ephemeral key")
        salt = hashlib.sha256(cbor2.dumps(tag24(transcript_array))).digest()
        mac_key = _hkdf(doc.device_key.exchange(ec.ECDH(), reader_public), salt, b"EMacKey")
        protected = cbor2.dumps({1: 5})
        tag = hmac.new(mac_key, cbor2.dumps(["MAC0", protected, b"", auth_bytes]), "sha256")
        device_auth = {"deviceMac": [protected, {}, None, tag.digest()]}
    document = {
        "docType": doc.doctype,
        "issuerSigned": {"nameSpaces": name_spaces, "issuerAuth": doc.issuer_auth},
        "deviceSigned": {"nameSpaces": tag24(device_ns), "deviceAuth": device_auth},
    }
    return cbor2.dumps({"version": "1.0", "documents": [document], "status": 0})


@dataclass
class SimulatedWallet:
    """One phone with one credential: shows its QR engagement, answers one request, ends.

    `decline` answers with a session termination, `garble` damages the sealed answer,
    `reader_roots` (with `reader_check_at`) makes it require and check ReaderAuth."""

    doc: IssuedDocument
    method: str = "signature"
    decline: bool = False
    garble: bool = False
    reader_roots: list[x509.Certificate] | None = None
    reader_check_at: float = 0.0
    requested: list[dict[str, dict[str, bool]]] = field(default_factory=list)
    reader_seen: list[str] = field(default_factory=list)
    closed_with: Any = None
    e_device: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def __post_init__(self) -> None:
        security = [1, tag24(cbor2.dumps(cose_key(self.e_device.public_key())))]
        # BLE: both modes offered (peripheral server: the locker is the central, as with bleak)
        ble = {0: True, 1: True, 10: secrets.token_bytes(16), 11: secrets.token_bytes(16)}
        retrieval = [[2, 1, ble]]
        self.engagement_bytes = cbor2.dumps({0: "1.0", 1: security, 2: retrieval})

    @property
    def qr(self) -> str:
        """The QR code the phone shows: `mdoc:` + base64url DeviceEngagement."""
        return engagement_qr(self.engagement_bytes)

    async def engagement(self) -> tuple[bytes, Any]:
        """The phone's DeviceEngagement, and no Handover (QR engagement)."""
        return self.engagement_bytes, None  # QR engagement: Handover is null

    async def exchange(self, message: bytes) -> bytes:
        """Answer a SessionEstablishment as a phone: the encrypted DeviceResponse, or status 20."""
        establishment = cbor2.loads(message)
        key_bytes = establishment["eReaderKey"].value
        key = cbor2.loads(key_bytes)
        reader_public = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), b"\x04" + key[-2] + key[-3]
        )
        transcript = cbor2.dumps([tag24(self.engagement_bytes), tag24(key_bytes), None])
        salt = hashlib.sha256(cbor2.dumps(tag24(transcript))).digest()
        shared = self.e_device.exchange(ec.ECDH(), reader_public)
        sk_reader, sk_device = _hkdf(shared, salt, b"SKReader"), _hkdf(shared, salt, b"SKDevice")
        plain = AESGCM(sk_reader).decrypt(bytes(8) + b"\0\0\0\1", establishment["data"], None)
        if self.reader_roots is not None and not self._reader_trusted(plain, transcript):
            return cbor2.dumps({"status": 20})  # an unknown reader gets nothing
        items = cbor2.loads(cbor2.loads(plain)["docRequests"][0]["itemsRequest"].value)
        self.requested.append(items["nameSpaces"])
        if self.decline:
            return cbor2.dumps({"status": 20})
        disclose = {ns: list(elements) for ns, elements in items["nameSpaces"].items()}
        response = present(
            self.doc, transcript, disclose=disclose, method=self.method, reader_public=reader_public
        )
        sealed = AESGCM(sk_device).encrypt(bytes(7) + b"\1\0\0\0\1", response, None)
        if self.garble:
            sealed = sealed[:-1] + bytes([sealed[-1] ^ 1])
        return cbor2.dumps({"data": sealed})

    def _reader_trusted(self, plain: bytes, transcript: bytes) -> bool:
        (doc_request,) = parse_device_request(plain)
        try:
            cert = verify_reader_auth(
                doc_request,
                parse_session_transcript(transcript),
                self.reader_roots or [],
                now=self.reader_check_at,
            )
        except MdocError:
            return False
        self.reader_seen.append(cert.subject.rfc4514_string())
        return True

    async def close(self, message: bytes) -> None:
        """The reader ended the session; keep its last message for the tests."""
        self.closed_with = cbor2.loads(message)


class SimulatedWalletLink:
    """The locker's link to simulated phones: a phone is reachable once it shows its QR code
    (`show`), and only for one session (as a BLE peripheral advertising for one reader)."""

    def __init__(self) -> None:
        self._waiting: dict[bytes, SimulatedWallet] = {}

    def show(self, wallet: SimulatedWallet) -> str:
        """The phone shows its QR code: reachable until a reader connects. Returns the QR."""
        self._waiting[wallet.engagement_bytes] = wallet
        return wallet.qr

    async def connect(self, device_engagement: bytes) -> MdocTransport:
        """The phone showing `device_engagement`; WalletUnreachable if no phone shows it."""
        wallet = self._waiting.pop(device_engagement, None)
        if wallet is None:
            raise WalletUnreachable("no phone advertises this engagement")
        return wallet
