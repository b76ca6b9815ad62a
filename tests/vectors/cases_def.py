"""The golden vector cases (used by generate.py, which passes itself in as `g`)."""

from __future__ import annotations

from typing import Any

import cbor2


def _ok(name: str, desc: str, payload: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": desc, "input": payload,
            "expected": {"valid": True, "reason": None}, **extra}  # fmt: skip


def _bad(name: str, desc: str, payload: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": desc, "input": payload,
            "expected": {"valid": False, "reason": reason}, **extra}  # fmt: skip


def _b45_tail_invalid(text: str) -> bool:
    """RFC 9285: a lone final character, or a final pair above 255, is invalid Base45."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    if len(text) % 3 == 1:
        return True
    if len(text) % 3 == 2:
        return alphabet.index(text[-2]) + 45 * alphabet.index(text[-1]) > 255
    return False


def decoding(g: Any) -> list[dict[str, Any]]:
    good = g.lk1(g.cose_token())
    b45 = good[4:]
    cases = [
        _ok(
            "valid-es256",
            "VALID: ES256 pickup token for this locker",
            good,
            expected_cti=bytes(range(16)).hex(),
        ),
        _ok("valid-eddsa", "VALID: EdDSA pickup token", g.lk1(g.cose_token(key="iss-eddsa"))),
        _ok(
            "valid-aud-list",
            "VALID: aud as a list naming this locker",
            g.lk1(g.cose_token(g.claims(aud=["LCK-0009", g.LOCKER]))),
        ),
        _bad("prefix-only", "INVALID: prefix only", "LK1:", "MALFORMED"),
        _bad("prefix-lowercase", "INVALID: lowercase prefix", "lk1:" + b45, "DECODE_FAILED"),
        _bad("prefix-hc1", "INVALID: EU DCC prefix HC1:", "HC1:" + b45, "DECODE_FAILED"),
        _bad("prefix-missing", "INVALID: Base45 without prefix", b45, "DECODE_FAILED"),
        _bad(
            "b45-bad-char",
            "INVALID: lowercase letter inside Base45",
            "LK1:" + b45[:30] + "a" + b45[31:],
            "DECODE_FAILED",
        ),
        _bad(
            "b45-ggw", "INVALID: group GGW decodes above 65535", good[:-3] + "GGW", "DECODE_FAILED"
        )
        if len(b45) % 3 == 0
        else _bad("b45-ggw", "INVALID: trailing GGW group", good + "GGW", "DECODE_FAILED"),
        _bad(
            "b45-overlong-pair",
            "INVALID: final pair ZZ decodes above 255",
            "LK1:ZZ",
            "DECODE_FAILED",
        ),
        _bad(
            "b45-single-trailing",
            "INVALID: one trailing character",
            good + "A" if len(b45) % 3 == 0 else good[: len(good) - len(b45) % 3 + 1],
            "DECODE_FAILED",
        ),
        _bad("whitespace-wrapped", "INVALID: leading space", " " + good, "DECODE_FAILED"),
        _bad("newline-terminated", "INVALID: trailing newline", good + "\n", "DECODE_FAILED"),
        _bad(
            "url-wrapped", "INVALID: token inside a URL", "HTTPS://X.EU/?T=" + good, "DECODE_FAILED"
        ),
        _bad("text-over-cap", "INVALID: 1025 characters", "LK1:" + "0" * 1021, "TOO_LARGE"),
        _bad(
            "cbor-over-cap",
            "INVALID: 800 decoded bytes",
            g.lk1(cbor2.dumps(b"x" * 796)),
            "TOO_LARGE",
        ),
        _bad(
            "declared-2-32",
            "INVALID: bstr declaring 2^32 bytes",
            g.lk1(bytes.fromhex("5b0000000100000000") + b"xx"),
            "MALFORMED",
        ),
        _bad(
            "nesting-bomb",
            "INVALID: 500 nested arrays",
            g.lk1(b"\x81" * 500 + b"\x00"),
            "MALFORMED",
        ),
    ]
    for cut in (1, 2, 3, 50, 100, 150, 200):
        text = good[: len(good) - cut]
        reason = "DECODE_FAILED" if _b45_tail_invalid(text[4:]) else "MALFORMED"
        cases.append(_bad(f"truncated-{cut}", f"INVALID: last {cut} chars cut off", text, reason))
    return cases


def shape(g: Any) -> list[dict[str, Any]]:
    good = g.cose_token()
    parts = cbor2.loads(good).value
    # a map with one more entry declared and exp repeated at the end: {.., exp: a, .., exp: b}
    body = bytearray(g.codec.dumps(g.claims()))
    body[0] += 1
    dup_exp = bytes(body) + bytes([g.EXP]) + cbor2.dumps(g.T0 + 99 * g.DAY)
    kid = g.key_id(g.KEYS["iss-es256"].public_key())
    dup_alg = b"\xa3\x01\x26\x04\x48" + kid + b"\x01\x27"
    wide_exp = bytearray(g.codec.dumps(g.claims(exp=g.T0 + 2 * g.DAY)))
    enc = cbor2.dumps(g.T0 + 2 * g.DAY)
    i = bytes(wide_exp).index(b"\x04" + enc)
    wide = bytes(wide_exp[: i + 1]) + b"\x1b" + (g.T0 + 2 * g.DAY).to_bytes(8, "big")
    wide += bytes(wide_exp[i + 1 + len(enc) :])
    indefinite = b"\xd2\x9f" + b"".join(cbor2.dumps(p) for p in parts) + b"\xff"
    return [
        _bad(
            "dup-exp", "INVALID: two exp claims (signed)", g.lk1(g.cose_token(dup_exp)), "MALFORMED"
        ),
        _bad(
            "dup-alg",
            "INVALID: two alg entries in the protected header",
            g.lk1(g.cose_token(protected=dup_alg)),
            "MALFORMED",
        ),
        _bad(
            "trailing-bytes",
            "INVALID: a byte after the COSE_Sign1",
            g.lk1(good + b"\x00"),
            "MALFORMED",
        ),
        _bad(
            "indefinite-array",
            "INVALID: indefinite-length COSE array",
            g.lk1(indefinite),
            "MALFORMED",
        ),
        _bad(
            "non-minimal-int",
            "INVALID: exp as an 8-byte integer (signed)",
            g.lk1(g.cose_token(wide)),
            "MALFORMED",
        ),
        _bad("tag-17", "INVALID: COSE_Mac0 tag", g.lk1(g.cose_token(tag=17)), "MALFORMED"),
        _bad("tag-16", "INVALID: COSE_Encrypt0 tag", g.lk1(g.cose_token(tag=16)), "MALFORMED"),
        _bad("tag-98", "INVALID: COSE_Sign tag", g.lk1(g.cose_token(tag=98)), "MALFORMED"),
        _bad(
            "untagged", "INVALID: untagged COSE_Sign1", g.lk1(g.cose_token(tag=None)), "MALFORMED"
        ),
        _bad(
            "cwt-tag-61",
            "INVALID: tag 61 around the COSE_Sign1",
            g.lk1(cbor2.dumps(cbor2.CBORTag(61, cbor2.loads(good)), canonical=True)),
            "MALFORMED",
        ),
        _bad(
            "array-len-3",
            "INVALID: 3-element array",
            g.lk1(cbor2.dumps(cbor2.CBORTag(18, list(parts[:3])), canonical=True)),
            "MALFORMED",
        ),
        _bad(
            "protected-map",
            "INVALID: protected header is a map, not a bstr",
            g.lk1(
                cbor2.dumps(
                    cbor2.CBORTag(18, [{1: -7, 4: kid}, {}, parts[2], parts[3]]), canonical=True
                )
            ),
            "MALFORMED",
        ),
        _bad(
            "detached-payload",
            "INVALID: nil payload",
            g.lk1(cbor2.dumps(cbor2.CBORTag(18, [parts[0], {}, None, parts[3]]), canonical=True)),
            "MALFORMED",
        ),
        _bad(
            "alg-unprotected",
            "INVALID: alg only in the unprotected header",
            g.lk1(g.cose_token(protected={4: kid}, unprotected={1: -7})),
            "MALFORMED",
        ),
        _bad(
            "kid-unprotected",
            "INVALID: kid only in the unprotected header",
            g.lk1(g.cose_token(protected={1: -7}, unprotected={4: kid})),
            "MALFORMED",
        ),
    ]


def signature(g: Any) -> list[dict[str, Any]]:
    good = g.cose_token()
    flipped_sig = good[:-1] + bytes([good[-1] ^ 0x01])
    at = good.index(b"ORD-7F3A9C")
    flipped_body = good[:at] + b"ORD-7F3A9D" + good[at + 10 :]
    kid = g.key_id(g.KEYS["iss-es256"].public_key())
    return [
        _bad(
            "sig-bit-flip",
            "INVALID: one bit of the signature flipped",
            g.lk1(flipped_sig),
            "BAD_SIGNATURE",
        ),
        _bad(
            "payload-bit-flip",
            "INVALID: one bit of sub flipped",
            g.lk1(flipped_body),
            "BAD_SIGNATURE",
        ),
        _bad(
            "unknown-kid",
            "INVALID: key not in the bundle",
            g.lk1(g.cose_token(key="rogue")),
            "UNKNOWN_KID",
        ),
        _bad(
            "known-kid-wrong-key",
            "INVALID: trusted kid, signed by another key",
            g.lk1(g.cose_token(key="rogue", kid_of="iss-es256")),
            "BAD_SIGNATURE",
        ),
        _bad(
            "alg-es384",
            "INVALID: alg ES384 not allowlisted",
            g.lk1(g.cose_token(protected={1: -35, 4: kid})),
            "ALG_NOT_ALLOWED",
        ),
        _bad(
            "alg-eddsa-on-p256",
            "INVALID: alg EdDSA with a P-256 key",
            g.lk1(g.cose_token(protected={1: -8, 4: kid})),
            "ALG_NOT_ALLOWED",
        ),
        _bad(
            "alg-ps256-on-p256",
            "INVALID: alg PS256 with a P-256 key",
            g.lk1(g.cose_token(protected={1: -37, 4: kid})),
            "ALG_NOT_ALLOWED",
        ),
        _bad(
            "alg-text",
            "INVALID: alg as text",
            g.lk1(g.cose_token(protected={1: "ES256", 4: kid})),
            "ALG_NOT_ALLOWED",
        ),
        _bad(
            "der-signature",
            "INVALID: DER signature instead of raw r||s",
            g.lk1(g.cose_token(sig_mutator=g.to_der)),
            "BAD_SIGNATURE",
        ),
        _ok(
            "malleated-ecdsa",
            "VALID: (r, n-s) verifies; spend key cti equals valid-es256's",
            g.lk1(g.cose_token(sig_mutator=g.malleate)),
            expected_cti=bytes(range(16)).hex(),
        ),
    ]


def keys_and_claims(g: Any) -> list[dict[str, Any]]:
    T0, DAY = g.T0, g.DAY
    tok = g.cose_token
    return [
        _bad(
            "key-expired",
            "INVALID: issuing key validity ended",
            g.lk1(tok(key="iss-expired")),
            "UNKNOWN_KID",
        ),
        _bad(
            "key-not-yet-valid",
            "INVALID: issuing key not valid yet",
            g.lk1(tok(key="iss-future")),
            "UNKNOWN_KID",
        ),
        _bad(
            "key-dropped",
            "INVALID: key only in the older bundle v1",
            g.lk1(tok(key="iss-dropped")),
            "UNKNOWN_KID",
        ),
        _ok(
            "key-dropped-old-bundle",
            "VALID: the same token under bundle v1",
            g.lk1(tok(key="iss-dropped")),
            context={"bundle": "bundle-v1.cose", "grace_s": 30 * DAY},
        ),
        _bad(
            "return-key-for-pickup",
            "INVALID: return-only key signs a pickup token",
            g.lk1(tok(key="iss-return")),
            "WRONG_PURPOSE",
        ),
        _bad(
            "command-key-for-token",
            "INVALID: command key signs a pickup token",
            g.lk1(tok(key="iss-command")),
            "WRONG_PURPOSE",
        ),
        _bad("missing-exp", "INVALID: no exp", g.lk1(tok(g.claims(exp=g.DROP))), "MALFORMED"),
        _bad("missing-nbf", "INVALID: no nbf", g.lk1(tok(g.claims(nbf=g.DROP))), "MALFORMED"),
        _bad("missing-aud", "INVALID: no aud", g.lk1(tok(g.claims(aud=g.DROP))), "MALFORMED"),
        _bad("missing-cti", "INVALID: no cti", g.lk1(tok(g.claims(cti=g.DROP))), "MALFORMED"),
        _bad(
            "exp-string",
            "INVALID: exp as text",
            g.lk1(tok(g.claims(exp="1800172800"))),
            "MALFORMED",
        ),
        _bad("exp-nan", "INVALID: exp NaN", g.lk1(tok(g.claims(exp=float("nan")))), "MALFORMED"),
        _bad(
            "exp-float", "INVALID: exp as a float", g.lk1(tok(g.claims(exp=T0 + 0.5))), "MALFORMED"
        ),
        _bad("exp-2-64", "INVALID: exp 2^64-1", g.lk1(tok(g.claims(exp=2**64 - 1))), "MALFORMED"),
        _bad("exp-negative", "INVALID: exp negative", g.lk1(tok(g.claims(exp=-5))), "MALFORMED"),
        _bad("exp-bool", "INVALID: exp true", g.lk1(tok(g.claims(exp=True))), "MALFORMED"),
        _bad(
            "exp-before-nbf", "INVALID: exp < nbf", g.lk1(tok(g.claims(exp=T0 - 10))), "MALFORMED"
        ),
        _bad(
            "iat-future",
            "INVALID: iat an hour after the clock",
            g.lk1(tok(g.claims(iat=T0 + 7200))),
            "CLOCK_UNTRUSTED",
        ),
        _bad(
            "unknown-claim",
            "INVALID: unknown claim 99",
            g.lk1(tok({**g.claims(), 99: 1})),
            "MALFORMED",
        ),
        _bad(
            "unknown-flag",
            "INVALID: unknown flag bit 3",
            g.lk1(tok(g.claims(flags=8))),
            "MALFORMED",
        ),
        _bad(
            "cti-short",
            "INVALID: cti of 8 bytes",
            g.lk1(tok(g.claims(cti=b"12345678"))),
            "MALFORMED",
        ),
        _bad(
            "purpose-unknown",
            "INVALID: purpose code 9",
            g.lk1(tok(g.claims(purpose=9))),
            "MALFORMED",
        ),
        _bad(
            "aud-bytes", "INVALID: aud as bytes", g.lk1(tok(g.claims(aud=b"LCK-0001"))), "MALFORMED"
        ),
        _bad(
            "cnf-not-p256",
            "INVALID: cnf holding an Ed25519 key",
            g.lk1(tok(g.claims(cnf={1: g.cose_key(g.KEYS["iss-eddsa"].public_key())}))),
            "MALFORMED",
        ),
    ]


def time_and_binding(g: Any) -> list[dict[str, Any]]:
    T0, DAY = g.T0, g.DAY
    good = g.lk1(g.cose_token())
    tok = g.cose_token
    later = g.lk1(tok(g.claims(nbf=T0 + DAY, exp=T0 + 3 * DAY)))
    return [
        _ok(
            "nbf-minus-leeway",
            "VALID: clock exactly nbf - leeway (nbf a day after iat)",
            later,
            validation_clock=g.iso(T0 + DAY - 60),
        ),
        _bad(
            "nbf-minus-leeway-1",
            "INVALID: one second before nbf - leeway",
            later,
            "NOT_YET_VALID",
            validation_clock=g.iso(T0 + DAY - 61),
        ),
        _ok(
            "exp-plus-leeway-1",
            "VALID: one second before exp + leeway",
            good,
            validation_clock=g.iso(T0 + 2 * DAY + 59),
        ),
        _bad(
            "exp-plus-leeway",
            "INVALID: clock exactly exp + leeway",
            good,
            "EXPIRED",
            validation_clock=g.iso(T0 + 2 * DAY + 60),
        ),
        _bad(
            "clock-below-floor",
            "INVALID: clock below the persisted time floor",
            good,
            "CLOCK_UNTRUSTED",
            context={"time_floor": T0 + 2 * 3600},
        ),
        _bad(
            "clock-jump-forward",
            "INVALID: clock 100 days ahead",
            good,
            "EXPIRED",
            validation_clock=g.iso(T0 + 100 * DAY),
            context={"grace_s": 400 * DAY},
        ),
        _bad(
            "wrong-locker",
            "INVALID: aud names another locker",
            g.lk1(tok(g.claims(aud="LCK-0002"))),
            "WRONG_LOCKER",
        ),
        _bad(
            "wrong-locker-list",
            "INVALID: aud list without this locker",
            g.lk1(tok(g.claims(aud=["LCK-0002", "LCK-0003"]))),
            "WRONG_LOCKER",
        ),
        _bad(
            "wrong-compartment",
            "INVALID: token for compartment 4 at door 7",
            g.lk1(tok(g.claims(compartment=4))),
            "WRONG_LOCKER",
            context={"compartment": 7},
        ),
        _ok(
            "right-compartment",
            "VALID: token for compartment 4 at door 4",
            g.lk1(tok(g.claims(compartment=4))),
            context={"compartment": 4},
        ),
        _bad(
            "wrong-purpose",
            "INVALID: pickup token presented as a return",
            good,
            "WRONG_PURPOSE",
            context={"purpose": "return"},
        ),
        _ok(
            "return-token",
            "VALID: return token with a return-only key",
            g.lk1(tok(g.claims(purpose=2), key="iss-return")),
            context={"purpose": "return"},
        ),
        _bad(
            "revoked",
            "INVALID: cti in the bundle's revoked list",
            g.lk1(tok(g.claims(cti=g.REVOKED_CTI))),
            "REVOKED",
        ),
        _bad(
            "id-check-at-locker",
            "INVALID: ID check flag at a self-service locker",
            g.lk1(tok(g.claims(flags=2))),
            "AGE_CHECK_REQUIRED",
        ),
        _ok(
            "id-check-at-counter",
            "VALID: ID check flag at a staffed counter",
            g.lk1(tok(g.claims(flags=2))),
            context={"id_check_available": True},
        ),
        _ok(
            "stale-bundle-in-grace",
            "VALID: bundle 12 h past next_update, ordinary pickup",
            g.lk1(tok(g.claims(exp=T0 + 9 * DAY))),
            validation_clock=g.iso(T0 + 6 * DAY + 12 * 3600),
        ),
        _bad(
            "stale-bundle-past-grace",
            "INVALID: bundle 2 days past next_update",
            good,
            "TRUSTLIST_STALE",
            validation_clock=g.iso(T0 + 8 * DAY),
            context={"grace_s": DAY},
        ),
        _bad(
            "stale-bundle-high-value",
            "INVALID: high-value order, bundle 1 h stale",
            g.lk1(tok(g.claims(flags=4, exp=T0 + 9 * DAY))),
            "TRUSTLIST_STALE",
            validation_clock=g.iso(T0 + 6 * DAY + 3600),
        ),
    ]


def dynamic(g: Any) -> list[dict[str, Any]]:
    T0 = g.T0
    now = T0 + 3600
    bound = g.cose_token(g.claims(flags=1, cnf=g.holder_cnf()))
    plain = g.cose_token()
    return [
        _bad(
            "static-for-live-only",
            "INVALID: static code of a live-only token",
            g.lk1(bound),
            "HOLDER_PROOF_REQUIRED",
        ),
        _ok("live-valid", "VALID: live code signed 10 s ago", g.live(bound, now - 10)),
        _bad(
            "live-stale",
            "INVALID: live frame 31 s old",
            g.live(bound, now - 31),
            "HOLDER_PROOF_STALE",
        ),
        _bad(
            "live-future",
            "INVALID: live frame 31 s in the future",
            g.live(bound, now + 31),
            "HOLDER_PROOF_STALE",
        ),
        _bad(
            "live-screenshot-60s",
            "INVALID: screenshot of a frame shown 60 s ago",
            g.live(bound, now - 60),
            "HOLDER_PROOF_STALE",
        ),
        _bad(
            "live-wrong-device",
            "INVALID: frame signed by another phone",
            g.live(bound, now, holder="holder-other"),
            "HOLDER_PROOF_INVALID",
        ),
        _bad(
            "live-no-cnf",
            "INVALID: live code for a token without cnf",
            g.live(plain, now),
            "HOLDER_PROOF_INVALID",
        ),
        _bad(
            "live-reused-frame",
            "INVALID: the same frame shown twice (second scan)",
            g.live(bound, now - 5),
            "HOLDER_PROOF_STALE",
            repeat=2,
        ),
        _bad(
            "live-bad-frame",
            "INVALID: live frame is not a 3-element array",
            g.codec.LIVE_PREFIX + g.codec.b45encode(g.codec.dumps([bound, now])),
            "MALFORMED",
        ),
        _bad(
            "live-forged-token",
            "INVALID: live frame around a token with a bad signature",
            g.live(bound[:-1] + bytes([bound[-1] ^ 1]), now),
            "BAD_SIGNATURE",
        ),
    ]


def bundles(g: Any) -> list[dict[str, Any]]:
    def case(  # noqa: PLR0917 (a table row)
        name: str,
        desc: str,
        file: str,
        current: int | None,
        problem: str | None,
        reason: str | None,
    ) -> dict[str, Any]:
        return {
            "name": name,
            "description": desc,
            "kind": "bundle",
            "input": file,
            "roots": ["root-primary.pub.pem", "root-backup.pub.pem"],
            "current_version": current,
            "expected": {"valid": problem is None, "problem": problem, "reason": reason},
        }

    return [
        case("bundle-v2", "VALID: bundle v2 over installed v2", "bundle-v2.cose", 2, None, None),
        case(
            "bundle-backup-root",
            "VALID: v3 signed by the backup root",
            "bundle-v3-backup-root.cose",
            2,
            None,
            None,
        ),
        case(
            "bundle-rollback",
            "INVALID: v1 while v2 is installed",
            "bundle-v1.cose",
            2,
            "rollback",
            "TRUSTLIST_STALE",
        ),
        case(
            "bundle-unknown-root",
            "INVALID: signed by an unpinned root",
            "bundle-rogue-root.cose",
            2,
            "unknown_root",
            "UNKNOWN_KID",
        ),
        case(
            "bundle-bad-signature",
            "INVALID: bundle signature bit flipped",
            "bundle-bad-signature.cose",
            None,
            "bad_signature",
            "BAD_SIGNATURE",
        ),
        case(
            "bundle-truncated",
            "INVALID: truncated bundle",
            "bundle-truncated.cose",
            None,
            "malformed",
            "MALFORMED",
        ),
    ]


def build_cases(g: Any) -> list[dict[str, Any]]:
    return [
        *decoding(g), *shape(g), *signature(g), *keys_and_claims(g), *time_and_binding(g),
        *dynamic(g), *bundles(g),
    ]  # fmt: skip
