"""Token verification: one payload string in, one `VerifiedToken` or one `TokenError` out.

The checks run in the documented order (docs/tokens.md, FIELD-NOTES 2b) and nothing from the
payload is used before the signature has been verified. Pure: no I/O, no clock reads, no
spending. Spending (`cti` once) and opening the door are the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.reasons import Reason
from agent.tokens import clock, codec, cose
from agent.tokens.claims import Claims, Purpose, TokenFlags, parse_claims
from agent.tokens.errors import TokenError
from agent.tokens.live import DEFAULT_WINDOW_S, LiveFrame, SeenFrames, check_frame, decode_frame
from agent.tokens.trust import TrustBundle, TrustedKey


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token that passed every check up to holder proof. `cti` is the spend key."""

    cti: bytes
    order_ref: str
    purpose: Purpose
    audience: tuple[str, ...]
    not_before: float
    expires: float
    issued_at: float
    flags: TokenFlags
    compartment: int | None
    holder_key: bytes | None
    kid: bytes
    issuer: str
    holder_proven: bool


@dataclass(frozen=True, slots=True)
class VerifyContext:
    """What a locker knows when it checks a token.

    `time_floor` is the persisted floor (clock policy); `grace_s` how long past its `next_update`
    the bundle is still trusted for ordinary pickups; `id_check_available` is True only where staff
    can check an ID (a counter), never at a self-service locker.
    """

    locker_id: str
    trust: TrustBundle
    leeway_s: float = clock.DEFAULT_LEEWAY_S
    time_floor: float = 0.0
    grace_s: float = 7 * 24 * 3600.0
    live_window_s: float = DEFAULT_WINDOW_S
    id_check_available: bool = False


def verify_token(
    payload: str,
    ctx: VerifyContext,
    *,
    now: float,
    purpose: Purpose = Purpose.PICKUP,
    compartment: int | None = None,
    live_frame_seen: SeenFrames | None = None,
) -> VerifiedToken:
    """Verify a static (`LK1:`) or live (`LK1L:`) code for `purpose` at this locker.

    Raises `TokenError` with the reason of the first failed check; never anything else.
    `compartment`, when given, must match the token's compartment claim (if it has one).
    With `live_frame_seen`, an accepted live frame is remembered there and a repeat refused.
    """
    token_bytes, frame = _decode_outer(payload)
    msg = cose.decode_sign1(token_bytes)  # steps 4-5
    # Key validity is judged by our clock, so an untrusted clock must stop us before step 6:
    # otherwise a board that booted in the past reports every good token as UNKNOWN_KID.
    clock.check_clock(now, ctx.time_floor, ctx.leeway_s)
    key = _signer(msg, ctx.trust, now)  # steps 6-7
    claims = parse_claims(msg.payload)  # step 8
    _check_time(claims, ctx, now)  # step 9
    _check_binding(claims, key, ctx, purpose, compartment)  # step 10
    if claims.cti in ctx.trust.revoked:  # step 11
        raise TokenError("cti revoked", reason=Reason.REVOKED)
    _check_holder(claims, frame, ctx, now, live_frame_seen)  # step 12
    return VerifiedToken(
        cti=claims.cti,
        order_ref=claims.order_ref,
        purpose=claims.purpose,
        audience=claims.audience,
        not_before=float(claims.not_before),
        expires=float(claims.expires),
        issued_at=float(claims.issued_at),
        flags=claims.flags,
        compartment=claims.compartment,
        holder_key=claims.holder_key,
        kid=key.kid,
        issuer=claims.issuer,
        holder_proven=frame is not None,
    )


def _decode_outer(payload: str) -> tuple[bytes, LiveFrame | None]:
    """Steps 1-4 for both forms: size cap, prefix, Base45, and (live) the frame's strict CBOR."""
    if not isinstance(payload, str):
        raise TokenError("payload is not text", reason=Reason.DECODE_FAILED)
    codec.check_text_size(payload)
    if payload.startswith(codec.LIVE_PREFIX):
        frame = decode_frame(codec.b45decode(payload[len(codec.LIVE_PREFIX) :]))
        return frame.token, frame
    if payload.startswith(codec.TOKEN_PREFIX):
        return codec.b45decode(payload[len(codec.TOKEN_PREFIX) :]), None
    raise TokenError("unknown prefix", reason=Reason.DECODE_FAILED)


def _signer(msg: cose.Sign1, trust: TrustBundle, now: float) -> TrustedKey:
    candidates = trust.candidates(msg.kid or b"", now)
    public = cose.find_signer(msg, [(k.public_key, k.alg) for k in candidates])
    for key in candidates:
        if key.public_key is public:
            return key
    raise AssertionError("find_signer returns one of the candidates")  # pragma: no cover


def _check_time(claims: Claims, ctx: VerifyContext, now: float) -> None:
    clock.check_clock(now, ctx.time_floor, ctx.leeway_s)
    strict = claims.flags.high_value or claims.flags.id_check
    clock.check_bundle_fresh(now, ctx.trust.next_update, ctx.grace_s, strict=strict)
    clock.check_validity(now, claims.not_before, claims.expires, claims.issued_at, ctx.leeway_s)


def _check_binding(
    claims: Claims,
    key: TrustedKey,
    ctx: VerifyContext,
    purpose: Purpose,
    compartment: int | None,
) -> None:
    if ctx.locker_id not in claims.audience:
        raise TokenError("aud does not name this locker", reason=Reason.WRONG_LOCKER)
    if compartment is not None and claims.compartment not in (None, compartment):
        # no finer reason exists: another compartment is "not for this door of this locker"
        raise TokenError("token for another compartment", reason=Reason.WRONG_LOCKER)
    if claims.purpose is not purpose or claims.purpose not in key.purposes:
        raise TokenError("purpose of token or key does not match", reason=Reason.WRONG_PURPOSE)
    if claims.flags.id_check and not ctx.id_check_available:
        raise TokenError("ID check needs a staffed counter", reason=Reason.AGE_CHECK_REQUIRED)


def _check_holder(
    claims: Claims,
    frame: LiveFrame | None,
    ctx: VerifyContext,
    now: float,
    seen: SeenFrames | None,
) -> None:
    if frame is None:
        if claims.flags.live_required:
            raise TokenError(
                "static code for a live-only token", reason=Reason.HOLDER_PROOF_REQUIRED
            )
        return
    check_frame(frame, claims.holder_key, now=now, window_s=ctx.live_window_s)
    if seen is not None:
        if seen.seen(claims.cti, frame.t):
            raise TokenError("live frame already used", reason=Reason.HOLDER_PROOF_STALE)
        seen.remember(claims.cti, frame.t, now)
