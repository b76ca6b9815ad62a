"""Generate the golden token vectors in this folder (run: python tests/vectors/generate.py).

Output: keys/ (TEST-ONLY keys derived from fixed seeds), bundles/ (signed trust bundles) and
cases/*.json, one case each in the style of the EU DCC test data: input, validation clock,
context, expected result and reason, description. Deterministic: fixed seeds, fixed cti values
and RFC 6979 ECDSA, so a re-run reproduces the committed files byte for byte.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from agent.tokens import claims as cl
from agent.tokens import codec, cose
from agent.tokens.claims import AUD, CTI, EXP, IAT, ISS, NBF, PURPOSE, SUB, Purpose
from agent.tokens.keys import PrivateKey, cose_key, key_id, sign
from agent.tokens.live import frame_signed_bytes
from agent.tokens.trust import TrustedKey, make_bundle, sign_bundle
from provisioning.keyfiles import write_key_pair

HERE = Path(__file__).resolve().parent
T0 = 1_800_000_000  # 2027-01-15T08:00:00Z
DAY = 86400
LOCKER = "LCK-0001"
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
DEFAULT_CTX = {
    "locker_id": LOCKER,
    "bundle": "bundle-v2.cose",
    "time_floor": T0 - DAY,
    "leeway_s": 60,
    "grace_s": DAY,
    "id_check_available": False,
    "purpose": "pickup",
    "compartment": None,
}


def p256(name: str) -> ec.EllipticCurvePrivateKey:
    seed = int.from_bytes(hashlib.sha256(b"lk1-test-" + name.encode()).digest(), "big")
    return ec.derive_private_key(seed % (P256_N - 1) + 1, ec.SECP256R1())


def ed(name: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())


KEYS: dict[str, PrivateKey] = {
    "root-primary": p256("root-primary"),
    "root-backup": p256("root-backup"),
    "root-rogue": p256("root-rogue"),
    "iss-es256": p256("iss-es256"),
    "iss-eddsa": ed("iss-eddsa"),
    "iss-return": p256("iss-return"),
    "iss-command": p256("iss-command"),
    "iss-expired": p256("iss-expired"),
    "iss-future": p256("iss-future"),
    "iss-dropped": p256("iss-dropped"),
    "rogue": p256("rogue"),
    "holder": p256("holder"),
    "holder-other": p256("holder-other"),
}
ALL_TOKEN = frozenset({Purpose.PICKUP, Purpose.RETURN, Purpose.COURIER, Purpose.STAFF})


def trusted(name: str, purposes: frozenset[Purpose], nbf: int, exp: int) -> TrustedKey:
    from agent.tokens.keys import alg_for_key

    pub = KEYS[name].public_key()
    return TrustedKey(key_id(pub), alg_for_key(pub), pub, purposes, nbf, exp)


def bundle_keys(version: int) -> list[TrustedKey]:
    keys = [
        trusted("iss-es256", ALL_TOKEN, T0 - 30 * DAY, T0 + 365 * DAY),
        trusted("iss-eddsa", frozenset({Purpose.PICKUP}), T0 - 30 * DAY, T0 + 365 * DAY),
        trusted("iss-return", frozenset({Purpose.RETURN}), T0 - 30 * DAY, T0 + 365 * DAY),
        trusted("iss-command", frozenset({Purpose.COMMAND}), T0 - 30 * DAY, T0 + 365 * DAY),
        trusted("iss-expired", ALL_TOKEN, T0 - 60 * DAY, T0 - 1),
        trusted("iss-future", ALL_TOKEN, T0 + 10 * DAY, T0 + 365 * DAY),
    ]
    if version == 1:
        keys.append(trusted("iss-dropped", ALL_TOKEN, T0 - 30 * DAY, T0 + 365 * DAY))
    return keys


REVOKED_CTI = bytes.fromhex("dead" * 8)


def write_bundles(out: Path) -> None:
    def bundle(version: int, root: str, iat: int) -> bytes:
        b = make_bundle(
            version=version,
            issued_at=iat,
            next_update=iat + 7 * DAY,
            keys=bundle_keys(version),
            revoked=frozenset({REVOKED_CTI}),
        )
        return sign_bundle(b, KEYS[root])

    v2 = bundle(2, "root-primary", T0 - DAY)
    files = {
        "bundle-v1.cose": bundle(1, "root-primary", T0 - 20 * DAY),
        "bundle-v2.cose": v2,
        "bundle-v3-backup-root.cose": bundle(3, "root-backup", T0),
        "bundle-rogue-root.cose": bundle(4, "root-rogue", T0),
        "bundle-bad-signature.cose": v2[:-1] + bytes([v2[-1] ^ 1]),
        "bundle-truncated.cose": v2[:-10],
    }
    for name, data in files.items():
        (out / name).write_bytes(data)


# ---- token building -------------------------------------------------------------------------


def claims(**override: Any) -> dict[Any, Any]:
    base: dict[Any, Any] = {
        ISS: "hub",
        SUB: "ORD-7F3A9C",
        AUD: LOCKER,
        EXP: T0 + 2 * DAY,
        NBF: T0,
        IAT: T0,
        CTI: bytes(range(16)),
        PURPOSE: 1,
    }
    for key, value in override.items():
        label = LABELS[key]
        if value is DROP:
            base.pop(label)
        else:
            base[label] = value
    return base


DROP = object()
LABELS = {
    "iss": cl.ISS, "sub": cl.SUB, "aud": cl.AUD, "exp": cl.EXP, "nbf": cl.NBF, "iat": cl.IAT,
    "cti": cl.CTI, "cnf": cl.CNF, "purpose": cl.PURPOSE, "flags": cl.FLAGS,
    "compartment": cl.COMPARTMENT,
}  # fmt: skip


def cose_token(
    payload: bytes | dict[Any, Any] | None = None,
    *,
    key: str = "iss-es256",
    protected: dict[Any, Any] | bytes | None = None,
    unprotected: dict[Any, Any] | None = None,
    kid_of: str | None = None,
    sig_mutator: Callable[[bytes], bytes] | None = None,
    tag: int | None = 18,
) -> bytes:
    body = codec.dumps(claims()) if payload is None else payload
    body = codec.dumps(body) if isinstance(body, dict) else body
    signer = KEYS[key]
    alg = -8 if isinstance(signer, ed25519.Ed25519PrivateKey) else -7
    kid = key_id(KEYS[kid_of or key].public_key())
    prot = protected if protected is not None else {1: alg, 4: kid}
    prot_bytes = prot if isinstance(prot, bytes) else codec.dumps(prot)
    signature = sign(signer, cose.sig_structure(prot_bytes, body))
    if sig_mutator is not None:
        signature = sig_mutator(signature)
    array = [prot_bytes, unprotected or {}, body, signature]
    return cbor2.dumps(array if tag is None else cbor2.CBORTag(tag, array), canonical=True)


def lk1(data: bytes) -> str:
    return codec.TOKEN_PREFIX + codec.b45encode(data)


def live(token: bytes, t: int, holder: str = "holder") -> str:
    holder_key = KEYS[holder]
    signature = sign(holder_key, frame_signed_bytes(token, t))
    return codec.LIVE_PREFIX + codec.b45encode(codec.dumps([token, t, signature]))


def holder_cnf(name: str = "holder") -> dict[int, Any]:
    pub = KEYS[name].public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    return {1: cose_key(pub)}


def malleate(signature: bytes) -> bytes:
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    return r.to_bytes(32, "big") + (P256_N - s).to_bytes(32, "big")


def to_der(signature: bytes) -> bytes:
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    der = encode_dss_signature(r, s)
    assert decode_dss_signature(der) == (r, s)
    return der


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _load_cases_module() -> Any:
    spec = importlib.util.spec_from_file_location("lk1_cases_def", HERE / "cases_def.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(out: Path = HERE) -> int:
    for sub in ("keys", "bundles", "cases"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir(parents=True)
    for name, key in KEYS.items():
        write_key_pair(out / "keys" / f"{name}.key.pem", out / "keys" / f"{name}.pub.pem", key)
    write_bundles(out / "bundles")
    cases = _load_cases_module().build_cases(SimpleNamespace(**globals()))
    for number, case in enumerate(cases, start=1):
        context = {**DEFAULT_CTX, **case.pop("context", {})}
        doc = {"id": f"{number:03d}-{case['name']}", **case, "context": context}
        doc.setdefault("validation_clock", iso(T0 + 3600))
        path = out / "cases" / f"{doc['id']}.json"
        path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print(f"{len(cases)} cases written to {out / 'cases'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
