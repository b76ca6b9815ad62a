"""A test IACA root and document signer, with switches to break each 18013-5 profile rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.identity.certs import OID_MDL_DS, OID_MDL_READER_AUTH

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_HASH_FOR: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}


def _name(country: str | None, cn: str, state: str | None = None) -> x509.Name:
    attrs = []
    if country is not None:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    if state is not None:
        attrs.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, state))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _usage(*, sign: bool, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True)
class Pki:
    iaca_key: ec.EllipticCurvePrivateKey
    iaca: x509.Certificate
    ds_key: ec.EllipticCurvePrivateKey
    ds: x509.Certificate


def make_iaca(
    *,
    country: str | None = "UT",
    cn: str = "Test IACA",
    state: str | None = None,
    curve: ec.EllipticCurve | None = None,
    cert_sign: bool = True,
    ca: bool = True,
    path_length: int | None = 0,
    name_constraints: x509.NameConstraints | None = None,
    not_before: datetime = T0 - timedelta(days=365),
    not_after: datetime = T0 + timedelta(days=3650),
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = key or ec.generate_private_key(curve or ec.SECP256R1())
    name = _name(country, cn, state)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), True)
        .add_extension(_usage(sign=False, cert_sign=cert_sign), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if name_constraints is not None:
        builder = builder.add_extension(name_constraints, critical=True)
    return key, builder.sign(key, _HASH_FOR[key.curve.name]())


def make_ds(
    iaca_key: ec.EllipticCurvePrivateKey,
    iaca: x509.Certificate,
    *,
    country: str | None = "UT",
    cn: str = "Test DS",
    state: str | None = None,
    curve: ec.EllipticCurve | None = None,
    eku: x509.ObjectIdentifier | None = OID_MDL_DS,
    sign: bool = True,
    cert_sign: bool = False,
    not_before: datetime = T0 - timedelta(days=30),
    not_after: datetime = T0 + timedelta(days=365),
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(curve or ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(country, cn, state))
        .issuer_name(iaca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(_usage(sign=sign, cert_sign=cert_sign), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(iaca_key.public_key()), False
        )
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=True)
    return key, builder.sign(iaca_key, _HASH_FOR[iaca_key.curve.name]())


def make_pki(**ds_options: object) -> Pki:
    iaca_key, iaca = make_iaca()
    ds_key, ds = make_ds(iaca_key, iaca, **ds_options)  # type: ignore[arg-type]
    return Pki(iaca_key, iaca, ds_key, ds)


def make_reader_cert(
    root_key: ec.EllipticCurvePrivateKey, root: x509.Certificate
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    return make_ds(root_key, root, cn="Test reader", eku=OID_MDL_READER_AUTH)
