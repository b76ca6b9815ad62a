"""The document signer (DS) certificate against the configured IACA trust list (18013-5 Annex B).

The chain has exactly two links: the DS certificate from the IssuerAuth `x5chain` must be issued
directly by one of the configured IACA roots; intermediate certificates are never used. Checked,
in this order: issuer found among the IACA roots by name and signature (ISSUER_UNTRUSTED);
the IACA profile (CA with path length 0, key usage keyCertSign, a country) and the DS
profile (not a CA, key usage digitalSignature and never keyCertSign/cRLSign, extended key usage
mdlDS 1.0.18013.5.1.2, an EC key on P-256/384/521, the IACA's country, and state if the IACA
names one, the IACA key identifier when it names one, and the IACA's name constraints)
(CERT_PROFILE); both validity periods contain the check time (CERT_NOT_YET_VALID, CERT_EXPIRED).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from agent.identity.errors import MdocError, MdocReason

OID_MDL_DS = x509.ObjectIdentifier("1.0.18013.5.1.2")
OID_MDL_READER_AUTH = x509.ObjectIdentifier("1.0.18013.5.1.6")
MAX_CERT_BYTES = 8 * 1024
_ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_BROKEN_CERTIFICATE = (
    ValueError,
    TypeError,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
    CryptographyDeprecationWarning,
)


@dataclass(frozen=True, slots=True)
class IacaTrustList:
    """The IACA root certificates this reader trusts (what `--iaca` or the config names)."""

    roots: tuple[x509.Certificate, ...]

    @classmethod
    def from_pem(cls, blobs: Iterable[bytes]) -> IacaTrustList:
        """Every certificate in the PEM `blobs`; ValueError if one is not PEM or none is given."""
        roots: list[x509.Certificate] = []
        for blob in blobs:
            roots.extend(x509.load_pem_x509_certificates(blob))
        if not roots:
            raise ValueError("no IACA certificate")
        return cls(tuple(roots))


def load_ds_certificate(der: bytes) -> x509.Certificate:
    """The DS (document signer) certificate in `der`, fully parsed; MdocError if oversized, damaged
    or of an unsupported algorithm."""
    if len(der) > MAX_CERT_BYTES:
        raise MdocError(MdocReason.TOO_LARGE, "DS certificate over cap")
    # cryptography parses fields lazily: touch every one used later, so that a damaged
    # certificate fails here, and turn its deprecation warnings (negative serials) into errors.
    try:
        with warnings.catch_warnings(action="error", category=CryptographyDeprecationWarning):
            cert = x509.load_der_x509_certificate(der)
            _ = (cert.issuer, cert.subject, cert.extensions, cert.public_key())
            _ = (cert.not_valid_before_utc, cert.not_valid_after_utc, cert.signature)
            _ = cert.tbs_certificate_bytes, cert.signature_hash_algorithm, cert.version
    except _BROKEN_CERTIFICATE as err:
        raise MdocError(MdocReason.MALFORMED, "x5chain: not a valid DER certificate") from err
    except UnsupportedAlgorithm as err:
        raise MdocError(MdocReason.ALG_NOT_ALLOWED, "DS certificate algorithm") from err
    # The signature BIT STRING ends the DER; its unused-bits octet must be 0 (DER), or the
    # certificate's bytes could change without its signature noticing.
    if not der.endswith(b"\x00" + cert.signature):
        raise MdocError(MdocReason.MALFORMED, "x5chain: signature bit string not DER")
    return cert


def issuing_iaca(ds: x509.Certificate, trust: IacaTrustList) -> x509.Certificate:
    """The trusted IACA that signed `ds` directly; ISSUER_UNTRUSTED if there is none."""
    for root in trust.roots:
        if root.subject != ds.issuer:
            continue
        try:
            ds.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        return root
    raise MdocError(MdocReason.ISSUER_UNTRUSTED, "DS certificate not issued by a trusted IACA")


def check_chain(ds: x509.Certificate, iaca: x509.Certificate, now: float) -> str:
    """Profile and validity of both certificates at `now`; returns the issuing country."""
    country = _check_iaca_profile(iaca)
    _check_ds_profile(ds, iaca, country)
    _check_name_constraints(ds, iaca)
    at = datetime.fromtimestamp(now, UTC)
    for cert, what in ((iaca, "IACA"), (ds, "DS")):
        if at < cert.not_valid_before_utc:
            raise MdocError(MdocReason.CERT_NOT_YET_VALID, f"{what} certificate not yet valid")
        if at > cert.not_valid_after_utc:
            raise MdocError(MdocReason.CERT_EXPIRED, f"{what} certificate expired")
    return country


def _profile(condition: bool, detail: str) -> None:
    if not condition:
        raise MdocError(MdocReason.CERT_PROFILE, detail)


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    except ValueError as err:  # a duplicate or undecodable extension
        raise MdocError(MdocReason.CERT_PROFILE, "certificate extensions do not parse") from err


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if len(values) == 1 else None


def _check_iaca_profile(iaca: x509.Certificate) -> str:
    constraints = _ext(iaca, x509.BasicConstraints)
    _profile(
        isinstance(constraints, x509.BasicConstraints)
        and constraints.ca
        and constraints.path_length == 0,
        "IACA: not a CA with path length 0",
    )
    usage = _ext(iaca, x509.KeyUsage)
    _profile(isinstance(usage, x509.KeyUsage) and usage.key_cert_sign, "IACA: no keyCertSign")
    country = _attr(iaca.subject, NameOID.COUNTRY_NAME)
    if country is None:
        raise MdocError(MdocReason.CERT_PROFILE, "IACA: no single countryName")
    return country


def _check_ds_profile(ds: x509.Certificate, iaca: x509.Certificate, country: str) -> None:
    _profile(ds.version is x509.Version.v3, "DS: not an X.509 v3 certificate")
    key = ds.public_key()
    _profile(
        isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, _ALLOWED_CURVES),
        "DS: key not EC P-256/384/521",
    )
    constraints = _ext(ds, x509.BasicConstraints)
    _profile(not (isinstance(constraints, x509.BasicConstraints) and constraints.ca), "DS: a CA")
    usage = _ext(ds, x509.KeyUsage)
    _profile(
        isinstance(usage, x509.KeyUsage)
        and usage.digital_signature
        and not usage.key_cert_sign
        and not usage.crl_sign,
        "DS: key usage is not digitalSignature",
    )
    eku = _ext(ds, x509.ExtendedKeyUsage)
    _profile(isinstance(eku, x509.ExtendedKeyUsage) and OID_MDL_DS in eku, "DS: no mdlDS EKU")
    _profile(_attr(ds.subject, NameOID.COUNTRY_NAME) == country, "DS: country differs from IACA")
    state = _attr(iaca.subject, NameOID.STATE_OR_PROVINCE_NAME)
    if state is not None:
        _profile(_attr(ds.subject, NameOID.STATE_OR_PROVINCE_NAME) == state, "DS: state differs")
    aki = _ext(ds, x509.AuthorityKeyIdentifier)
    ski = _ext(iaca, x509.SubjectKeyIdentifier)
    if isinstance(aki, x509.AuthorityKeyIdentifier) and aki.key_identifier is not None:
        _profile(
            isinstance(ski, x509.SubjectKeyIdentifier) and ski.digest == aki.key_identifier,
            "DS: authority key identifier does not name the IACA",
        )


def _check_name_constraints(ds: x509.Certificate, iaca: x509.Certificate) -> None:
    """Directory-name constraints of the IACA over the DS subject (RFC 5280 4.2.1.10)."""
    constraints = _ext(iaca, x509.NameConstraints)
    if not isinstance(constraints, x509.NameConstraints):
        return
    subject = list(ds.subject.rdns)
    permitted = _dir_names(constraints.permitted_subtrees)
    excluded = _dir_names(constraints.excluded_subtrees)
    if permitted is not None:
        _profile(any(_within(subject, p) for p in permitted), "DS: outside permitted names")
    if excluded:
        _profile(not any(_within(subject, e) for e in excluded), "DS: inside excluded names")


def _dir_names(
    subtrees: Sequence[x509.GeneralName] | None,
) -> list[list[x509.RelativeDistinguishedName]] | None:
    if subtrees is None:
        return None
    names = [list(g.value.rdns) for g in subtrees if isinstance(g, x509.DirectoryName)]
    return names if names or not subtrees else None


def _within(
    subject: list[x509.RelativeDistinguishedName], base: list[x509.RelativeDistinguishedName]
) -> bool:
    return subject[: len(base)] == base
