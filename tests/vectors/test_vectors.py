"""Run every golden vector in cases/ against the real verifier and trust-bundle loader."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from agent.tokens import (
    Purpose,
    SeenFrames,
    TokenError,
    TrustBundle,
    TrustBundleError,
    VerifyContext,
    load_trust_bundle,
    verify_token,
)
from agent.tokens.keys import PublicKey, load_public_key_pem

HERE = Path(__file__).resolve().parent
CASES = sorted((HERE / "cases").glob("*.json"))


@cache
def _root(name: str) -> PublicKey:
    return load_public_key_pem((HERE / "keys" / name).read_bytes())


@cache
def _bundle(name: str) -> TrustBundle:
    roots = [_root("root-primary.pub.pem"), _root("root-backup.pub.pem")]
    return load_trust_bundle((HERE / "bundles" / name).read_bytes(), roots, current_version=None)


def _clock(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _run_token_case(case: dict[str, Any]) -> dict[str, Any]:
    context = case["context"]
    ctx = VerifyContext(
        locker_id=context["locker_id"],
        trust=_bundle(context["bundle"]),
        leeway_s=context["leeway_s"],
        time_floor=context["time_floor"],
        grace_s=context["grace_s"],
        id_check_available=context["id_check_available"],
    )
    seen = SeenFrames()
    result: dict[str, Any] = {}
    for _ in range(case.get("repeat", 1)):
        try:
            token = verify_token(
                case["input"],
                ctx,
                now=_clock(case["validation_clock"]),
                purpose=Purpose(context["purpose"]),
                compartment=context["compartment"],
                live_frame_seen=seen,
            )
            result = {"valid": True, "reason": None, "cti": token.cti.hex()}
        except TokenError as err:
            result = {"valid": False, "reason": err.reason.value}
    return result


def _run_bundle_case(case: dict[str, Any]) -> dict[str, Any]:
    roots = [_root(name) for name in case["roots"]]
    data = (HERE / "bundles" / case["input"]).read_bytes()
    try:
        load_trust_bundle(data, roots, current_version=case["current_version"])
    except TrustBundleError as err:
        return {"valid": False, "problem": err.problem.value, "reason": err.reason.value}
    return {"valid": True, "problem": None, "reason": None}


def test_there_are_at_least_60_vectors() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    if case.get("kind") == "bundle":
        assert _run_bundle_case(case) == case["expected"], case["description"]
        return
    result = _run_token_case(case)
    assert result["valid"] == case["expected"]["valid"], (case["description"], result)
    assert result["reason"] == case["expected"]["reason"], case["description"]
    if "expected_cti" in case:
        assert result["cti"] == case["expected_cti"]


def test_generator_reproduces_the_committed_vectors(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("lk1_generate", HERE / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for sub in ("cases", "bundles", "keys"):
        fresh = {p.name: p.read_bytes() for p in (tmp_path / sub).iterdir()}
        committed = {p.name: p.read_bytes() for p in (HERE / sub).iterdir()}
        assert fresh == committed, f"{sub}/ differs from a fresh generate.py run"
