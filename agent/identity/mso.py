"""The MobileSecurityObject (18013-5 9.1.2.4) and the value digests of disclosed items.

The MSO arrives as the IssuerAuth payload, `#6.24(bstr .cbor MobileSecurityObject)`. Its times
are tag-0 date-times in UTC. Validity is checked under the same clock policy as tokens: a clock
below the time floor is not trusted; `signed` after the local time means our clock is behind.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from agent.identity import cose, wire
from agent.identity.errors import MdocError, MdocReason

DIGEST_ALGS = {"SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}
MAX_DIGESTS = 2048
MIN_RANDOM_BYTES = 16
_ITEM_KEYS = frozenset({"digestID", "random", "elementIdentifier", "elementValue"})


@dataclass(frozen=True, slots=True)
class Mso:
    """The checked fields of an MSO; times are POSIX seconds."""

    doctype: str
    digest_alg: str
    value_digests: Mapping[str, Mapping[int, bytes]]
    device_key: ec.EllipticCurvePublicKey
    signed: float
    valid_from: float
    valid_until: float


@dataclass(frozen=True, slots=True)
class IssuerSignedItem:
    """One disclosed data element whose digest matched the MSO (kept in memory only)."""

    namespace: str
    digest_id: int
    identifier: str
    value: Any


def parse_mso(payload: bytes) -> Mso:
    """Decode MobileSecurityObjectBytes; MALFORMED for any field of the wrong shape."""
    what = "MSO"
    mso = wire.as_map(wire.loads(wire.untag24(wire.loads(payload, what), what), what), what)
    if wire.field(mso, "version", str, what) != "1.0":
        raise MdocError(MdocReason.MALFORMED, "MSO: version is not 1.0")
    alg = DIGEST_ALGS.get(wire.field(mso, "digestAlgorithm", str, what))
    if alg is None:
        raise MdocError(MdocReason.ALG_NOT_ALLOWED, "MSO: digest algorithm not allowed")
    key_info = wire.as_map(wire.field(mso, "deviceKeyInfo", wire.MAP_TYPES, what), what)
    device_key = cose.public_key_from_cose(key_info.get("deviceKey"), "MSO deviceKey")
    validity = wire.as_map(wire.field(mso, "validityInfo", wire.MAP_TYPES, what), what)
    return Mso(
        doctype=wire.field(mso, "docType", str, what),
        digest_alg=alg,
        value_digests=_digests(wire.field(mso, "valueDigests", wire.MAP_TYPES, what)),
        device_key=device_key,
        signed=_tdate(validity, "signed"),
        valid_from=_tdate(validity, "validFrom"),
        valid_until=_tdate(validity, "validUntil"),
    )


def _digests(value: Mapping[Any, Any]) -> dict[str, dict[int, bytes]]:
    out: dict[str, dict[int, bytes]] = {}
    count = 0
    for namespace, digests in value.items():
        if not isinstance(namespace, str) or not isinstance(digests, wire.MAP_TYPES):
            raise MdocError(MdocReason.MALFORMED, "MSO: valueDigests of the wrong shape")
        count += len(digests)
        if count > MAX_DIGESTS:
            raise MdocError(MdocReason.TOO_LARGE, "MSO: too many digests")
        for digest_id, digest in digests.items():
            if type(digest_id) is not int or digest_id < 0 or not isinstance(digest, bytes):
                raise MdocError(MdocReason.MALFORMED, "MSO: digest entry of the wrong type")
        out[namespace] = dict(digests)
    return out


def _tdate(validity: Mapping[Any, Any], key: str) -> float:
    value = validity.get(key)
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise MdocError(MdocReason.MALFORMED, f"MSO: {key} is not a tdate")
    seconds = value.timestamp()
    if not math.isfinite(seconds):
        raise MdocError(MdocReason.MALFORMED, f"MSO: {key} out of range")
    return seconds


def check_mso_time(mso: Mso, now: float, floor: float, leeway_s: float) -> None:
    """Clock floor, then `signed`, `validFrom`, `validUntil` (18013-5 9.3.1 step 5)."""
    if not math.isfinite(now) or now + leeway_s < floor:
        raise MdocError(MdocReason.CLOCK_UNTRUSTED, "clock below the time floor")
    if mso.signed > now + leeway_s:
        raise MdocError(MdocReason.CLOCK_UNTRUSTED, "MSO signed after the local time")
    if not mso.valid_from <= mso.valid_until or mso.signed > mso.valid_until:
        raise MdocError(MdocReason.MALFORMED, "MSO validity times out of order")
    if now < mso.valid_from - leeway_s:
        raise MdocError(MdocReason.MSO_NOT_YET_VALID, "before validFrom")
    if now > mso.valid_until + leeway_s:
        raise MdocError(MdocReason.MSO_EXPIRED, "after validUntil")


def check_items(mso: Mso, name_spaces: object) -> list[IssuerSignedItem]:
    """Every disclosed `IssuerSignedItemBytes` against the MSO digest with its digestID."""
    what = "IssuerNameSpaces"
    items: list[IssuerSignedItem] = []
    for namespace, tagged_items in wire.as_map(name_spaces, what).items():
        if not isinstance(namespace, str):
            raise MdocError(MdocReason.MALFORMED, f"{what}: namespace not a text")
        digests = mso.value_digests.get(namespace, {})
        seen: set[int] = set()
        names: set[str] = set()
        for tagged in wire.as_array(tagged_items, what, max_len=MAX_DIGESTS):
            embedded = wire.untag24(tagged, "IssuerSignedItemBytes")
            item = _item(namespace, embedded)
            if item.digest_id in seen or item.identifier in names:
                raise MdocError(MdocReason.MALFORMED, f"{what}: an element disclosed twice")
            seen.add(item.digest_id)
            names.add(item.identifier)
            expected = digests.get(item.digest_id)
            if expected is None:
                raise MdocError(MdocReason.DIGEST_MISSING, "digestID not in the MSO")
            # Strict decoding made the received bytes equal to `tag24(embedded)`.
            actual = hashlib.new(mso.digest_alg, wire.tag24(embedded)).digest()
            if not hmac.compare_digest(expected, actual):
                raise MdocError(MdocReason.DIGEST_MISMATCH, "value digest does not match")
            items.append(item)
    return items


def _item(namespace: str, data: bytes) -> IssuerSignedItem:
    what = "IssuerSignedItem"
    item = wire.as_map(wire.loads(data, what), what)
    if set(item) != _ITEM_KEYS:
        raise MdocError(MdocReason.MALFORMED, f"{what}: wrong keys")
    random = wire.field(item, "random", bytes, what)
    if len(random) < MIN_RANDOM_BYTES:
        raise MdocError(MdocReason.MALFORMED, f"{what}: random shorter than 16 bytes")
    digest_id = wire.field(item, "digestID", int, what)
    return IssuerSignedItem(
        namespace, digest_id, wire.field(item, "elementIdentifier", str, what), item["elementValue"]
    )


def as_utc(seconds: float) -> str:
    """A Unix time as ISO 8601 in UTC (`Z`)."""
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
