"""C2PA evidence photos: valid for standard validators, every tampering detected."""

from __future__ import annotations

import io
import json
from pathlib import Path

import c2pa
import cv2
import numpy as np
import pytest

from agent.evidence.manifest import ASSERTION_LABEL
from agent.evidence.verify import verify_photo
from provisioning.cli import main
from tests.evidence.conftest import Fleet, compartment_jpeg, facts_for


def _verify_cli(
    capsys: pytest.CaptureFixture[str], fleet: Fleet, data: bytes, tmp_path: Path, locker: str
) -> tuple[int, dict[str, object]]:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(data)
    status = main(
        ["evidence", "verify", str(photo), "--ca", str(fleet.ca_pem_path), "--locker", locker]
    )
    return status, json.loads(capsys.readouterr().out)


def test_c2pa_reader_trusts_the_photo_with_the_fleet_ca(fleet: Fleet) -> None:
    signed = fleet.signer("locker-a").sign(compartment_jpeg(), facts_for("locker-a"))
    settings = {
        "verify": {"verify_trust": True},
        "trust": {"trust_anchors": fleet.ca_pem_path.read_text()},
    }
    reader = c2pa.Reader(
        "image/jpeg", io.BytesIO(signed), context=c2pa.Context(c2pa.Settings.from_dict(settings))
    )
    assert reader.get_validation_state() == "Trusted"
    manifest = reader.get_active_manifest()
    assert manifest["signature_info"]["alg"].lower() == "es256"
    ours = next(a["data"] for a in manifest["assertions"] if a["label"] == ASSERTION_LABEL)
    assert ours["locker_id"] == "locker-a"
    assert ours["audit"] == {"seq": 42, "hash": "ab" * 32}
    assert ours["order_ref"] == "ORD-1001"


def test_verify_accepts_a_genuine_photo(
    fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed = fleet.signer("locker-a").sign(compartment_jpeg(), facts_for("locker-a"))
    status, line = _verify_cli(capsys, fleet, signed, tmp_path, "locker-a")
    assert (status, line["valid"], line["reason"]) == (0, True, None)


def test_one_changed_pixel_is_detected(
    fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = compartment_jpeg()
    signed = fleet.signer("locker-a").sign(original, facts_for("locker-a"))
    tampered = bytearray(signed)
    # one byte of the entropy-coded scan near the end of the image: a few pixels change
    tampered[len(signed) - 40] ^= 0x01
    before = cv2.imdecode(np.frombuffer(signed, np.uint8), cv2.IMREAD_COLOR)
    after = cv2.imdecode(np.frombuffer(bytes(tampered), np.uint8), cv2.IMREAD_COLOR)
    assert int(np.count_nonzero(before != after)) > 0
    status, line = _verify_cli(capsys, fleet, bytes(tampered), tmp_path, "locker-a")
    assert (status, line["valid"], line["reason"]) == (4, False, "image_altered")


def test_one_changed_assertion_is_detected(
    fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed = fleet.signer("locker-a").sign(compartment_jpeg(), facts_for("locker-a"))
    assert signed.count(b"ORD-1001") == 1
    tampered = signed.replace(b"ORD-1001", b"ORD-1002")
    status, line = _verify_cli(capsys, fleet, tampered, tmp_path, "locker-a")
    assert (status, line["valid"], line["reason"]) == (4, False, "manifest_altered")


def test_a_copy_resigned_by_a_device_of_another_fleet_is_refused(
    fleet: Fleet, other_fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forged = other_fleet.signer("locker-a").sign(compartment_jpeg(), facts_for("locker-a"))
    status, line = _verify_cli(capsys, fleet, forged, tmp_path, "locker-a")
    assert (status, line["valid"], line["reason"]) == (4, False, "untrusted_signer")


def test_a_photo_replayed_from_another_locker_is_refused(
    fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from_b = fleet.signer("locker-b").sign(compartment_jpeg(), facts_for("locker-b"))
    status, line = _verify_cli(capsys, fleet, from_b, tmp_path, "locker-a")
    assert (status, line["valid"], line["reason"]) == (4, False, "wrong_locker")


def test_a_device_cannot_sign_for_another_locker(fleet: Fleet) -> None:
    claims_a = fleet.signer("locker-b").sign(compartment_jpeg(), facts_for("locker-a"))
    verdict = verify_photo(claims_a, fleet.ca_pem_path.read_text(), "locker-a")
    assert (verdict.valid, verdict.reason, verdict.signer) == (False, "signer_mismatch", "locker-b")


def test_a_photo_without_manifest_is_refused(fleet: Fleet) -> None:
    verdict = verify_photo(compartment_jpeg(), fleet.ca_pem_path.read_text(), "locker-a")
    assert (verdict.valid, verdict.reason) == (False, "no_manifest")


def test_the_after_photo_links_the_before_photo_as_ingredient(fleet: Fleet) -> None:
    signer = fleet.signer("locker-a")
    before = signer.sign(compartment_jpeg(1), facts_for("locker-a", photo_id="ph-1"))
    after = signer.sign(
        compartment_jpeg(2), facts_for("locker-a", photo_id="ph-2"), before=("ph-1", before)
    )
    verdict = verify_photo(after, fleet.ca_pem_path.read_text(), "locker-a")
    assert verdict.valid, verdict
    reader = c2pa.Reader("image/jpeg", io.BytesIO(after))
    ingredients = reader.get_active_manifest()["ingredients"]
    assert [(i["title"], i["relationship"]) for i in ingredients] == [("ph-1.jpg", "componentOf")]
