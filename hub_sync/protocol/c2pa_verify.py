"""Verifying an evidence photo: valid C2PA manifest, signed by a device of this fleet, for the
locker the verifier expects. Used by `locker-admin evidence verify` and by the hubs on arrival of
an uploaded photo (and anyone can do the same with c2patool).

Checks, in order, each with its own reason code:
1. the file has a C2PA manifest (`no_manifest`, `unreadable`);
2. c2pa validates it against the fleet device CA as the only trust anchor: the image bytes
   match the signed hash (`image_altered`), every assertion matches its signed hash
   (`manifest_altered`), the signature verifies (`bad_signature`), the signer chains to the
   fleet CA (`untrusted_signer`), anything else c2pa reports (`invalid_manifest`);
3. the manifest carries our evidence assertion (`not_evidence`);
4. the assertion's locker is the expected one (`wrong_locker`) and is the signer certificate's
   common name (`signer_mismatch`): a photo from another locker cannot be replayed here, and a
   device cannot sign for another.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Final

import c2pa

#: the locker's own C2PA assertion (docs/evidence.md); the agent's manifests are built with it
ASSERTION_LABEL: Final = "io.locker-agent.evidence"
FORMAT: Final = "image/jpeg"

_FAILURE_REASONS = (
    ("assertion.dataHash", "image_altered"),
    ("assertion.hashedURI", "manifest_altered"),
    ("assertion.cborHash", "manifest_altered"),
    ("claimSignature", "bad_signature"),
    ("signingCredential.untrusted", "untrusted_signer"),
    ("signingCredential", "untrusted_signer"),
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of `verify_photo`: valid, or the first reason it is not."""

    valid: bool
    reason: str | None
    facts: dict[str, Any] = field(default_factory=dict)
    signer: str | None = None
    codes: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The verdict as `locker-admin evidence verify` prints it."""
        return {
            "valid": self.valid,
            "reason": self.reason,
            "signer": self.signer,
            "evidence": self.facts or None,
            "failures": list(self.codes),
        }


def _context(ca_pem: str) -> Any:
    # offline: a photo may name a remote manifest or OCSP responder; a verifier fetches nothing
    settings = {
        "verify": {"verify_trust": True, "remote_manifest_fetch": False, "ocsp_fetch": False},
        "trust": {"trust_anchors": ca_pem},
    }
    return c2pa.Context(c2pa.Settings.from_dict(settings))


def _failures(results: dict[str, Any] | None) -> tuple[str, ...]:
    if not results:
        return ()
    codes: list[str] = []
    for section in ("activeManifest", "ingredientDeltas"):
        value = results.get(section)
        entries = value if isinstance(value, list) else [value]
        for entry in entries:
            if isinstance(entry, dict):
                failures = entry.get("failure") or []
                if "validationDeltas" in entry:
                    failures = failures + (entry["validationDeltas"].get("failure") or [])
                codes.extend(str(f.get("code")) for f in failures if isinstance(f, dict))
    return tuple(codes)


def _reason_for(codes: tuple[str, ...]) -> str:
    for prefix, reason in _FAILURE_REASONS:
        if any(code.startswith(prefix) for code in codes):
            return reason
    return "invalid_manifest"


def verify_photo(data: bytes, ca_pem: str, expected_locker: str | None) -> Verdict:
    """The verdict on one photo. Blocking (c2pa, tens of ms)."""
    try:
        reader = c2pa.Reader(FORMAT, io.BytesIO(data), context=_context(ca_pem))
        state = reader.get_validation_state()
        codes = _failures(reader.get_validation_results())
        manifest = reader.get_active_manifest() or {}
    except c2pa.C2paError as err:
        missing = "ManifestNotFound" in type(err).__name__ or "not found" in str(err).lower()
        return Verdict(False, "no_manifest" if missing else "unreadable")
    signer = (manifest.get("signature_info") or {}).get("common_name")
    facts = next(
        (
            a.get("data") or {}
            for a in manifest.get("assertions", [])
            if a.get("label") == ASSERTION_LABEL
        ),
        None,
    )
    if state != "Trusted" or codes:
        return Verdict(False, _reason_for(codes), facts or {}, signer, codes)
    if not isinstance(facts, dict) or not facts:
        return Verdict(False, "not_evidence", {}, signer)
    if expected_locker is not None and facts.get("locker_id") != expected_locker:
        return Verdict(False, "wrong_locker", facts, signer)
    if facts.get("locker_id") != signer:
        return Verdict(False, "signer_mismatch", facts, signer)
    return Verdict(True, None, facts, signer)
