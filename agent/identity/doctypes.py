"""The document types this reader accepts and the namespace that holds their age attestations.

- `org.iso.18013.5.1.mDL`: ISO/IEC 18013-5 mobile driving licence, namespace `org.iso.18013.5.1`.
- `eu.europa.ec.eudi.pid.1`: the EU digital identity wallet's PID (ARF PID rulebook), namespace
  `eu.europa.ec.eudi.pid.1`.
- `eu.europa.ec.av.1`: the EU age-verification ("proof of age") attestation of the EU age
  verification blueprint (ageverification.dev), namespace `eu.europa.ec.av.1`, elements
  `age_over_NN` (the doctype name as the EU's reference implementation and multipaz use it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MDL = "org.iso.18013.5.1.mDL"
EU_PID = "eu.europa.ec.eudi.pid.1"
EU_AV = "eu.europa.ec.av.1"

AGE_NAMESPACE: Mapping[str, str] = {
    MDL: "org.iso.18013.5.1",
    EU_PID: "eu.europa.ec.eudi.pid.1",
    EU_AV: "eu.europa.ec.av.1",
}
SUPPORTED = frozenset(AGE_NAMESPACE)
_AGE_OVER = re.compile(r"age_over_([0-9]{2})")


def age_over_element(age: int) -> str:
    """The data element name for a threshold (18013-5 7.2.5: two digits)."""
    if not 0 <= age <= 99:
        raise ValueError("age threshold must be 0..99")
    return f"age_over_{age:02d}"


def age_over_results(doctype: str, elements: Iterable[tuple[str, str, object]]) -> dict[int, bool]:
    """`{NN: value}` of every boolean `age_over_NN` in the doctype's namespace.

    `elements` are (namespace, identifier, value) of digest-checked issuer-signed items.
    """
    namespace = AGE_NAMESPACE.get(doctype)
    results: dict[int, bool] = {}
    for ns, identifier, value in elements:
        match = _AGE_OVER.fullmatch(identifier)
        if ns == namespace and match and isinstance(value, bool):
            results[int(match.group(1))] = value
    return results


def name_elements(doctype: str) -> tuple[str, str] | None:
    """The (given name, family name) elements of a doctype; None for the age attestation."""
    return None if doctype == EU_AV else ("given_name", "family_name")
