"""Read-only helpers around verification: the `token check` JSON and hub-signed envelopes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from agent.reasons import Reason, user_message
from agent.tokens import cose
from agent.tokens.claims import Purpose
from agent.tokens.errors import TokenError
from agent.tokens.trust import TrustBundle
from agent.tokens.verify import VerifyContext, verify_token


def check_token(
    payload: str, ctx: VerifyContext, *, now: float, purpose: Purpose = Purpose.PICKUP
) -> dict[str, object]:
    """The JSON-ready result of `locker-agent token check`: verifies, spends nothing.

    `{"valid": true, "reason": null, ...claims}` or `{"valid": false, "reason": CODE,
    "message": user message, "detail": failed check}`. Live frames are not remembered.
    """
    checked_at = _iso(now)
    try:
        token = verify_token(payload, ctx, now=now, purpose=purpose)
    except TokenError as err:
        return {
            "valid": False,
            "reason": err.reason.value,
            "message": user_message(err.reason),
            "detail": err.detail,
            "checked_at": checked_at,
        }
    return {
        "valid": True,
        "reason": None,
        "checked_at": checked_at,
        "order_ref": token.order_ref,
        "cti": token.cti.hex(),
        "purpose": token.purpose.value,
        "audience": list(token.audience),
        "not_before": _iso(token.not_before),
        "expires": _iso(token.expires),
        "issued_at": _iso(token.issued_at),
        "flags": {
            "live_required": token.flags.live_required,
            "id_check": token.flags.id_check,
            "high_value": token.flags.high_value,
        },
        "compartment": token.compartment,
        "holder_bound": token.holder_key is not None,
        "holder_proven": token.holder_proven,
        "kid": token.kid.hex(),
        "issuer": token.issuer,
    }


@dataclass(frozen=True, slots=True)
class LockerView:
    """What this locker's database says about a verified token (read-only, spends nothing)."""

    spent_at: float | None  # when its cti was spent here, if it was
    order_state: str | None  # the order's state here; None when the locker has no such order
    door: int | None = None
    revoked_locally: bool = False  # the hub revoked its cti or key since the bundle


_COLLECTABLE = "loaded"


def apply_locker_view(result: dict[str, object], view: LockerView | None) -> dict[str, object]:
    """`result` of `check_token` turned into what the locker would do now.

    A token can verify and still be refused here: spent, revoked by the hub since the bundle, or
    its order is unknown, collected, or not (any more) in a door. Without a database (`view` is
    None) only the token itself was checked, which `locker` says."""
    if view is None:
        return {**result, "locker": {"database": False}}
    locker: dict[str, object] = {
        "database": True,
        "spent": view.spent_at is not None,
        "spent_at": None if view.spent_at is None else _iso(view.spent_at),
        "order_state": view.order_state,
        "door": view.door,
    }
    out = {**result, "locker": locker}
    if not result.get("valid") or result.get("purpose") != "pickup":
        return out
    reason = None
    if view.revoked_locally:
        reason = Reason.REVOKED
    elif view.spent_at is not None or view.order_state == "collected":
        reason = Reason.ALREADY_USED
    elif view.order_state is None:
        reason = Reason.ORDER_UNKNOWN
    elif view.order_state != _COLLECTABLE:
        reason = Reason.ORDER_NOT_COLLECTABLE
    if reason is None:
        return out
    return {
        **out,
        "valid": False,
        "token_valid": True,
        "reason": reason.value,
        "message": user_message(reason),
        "detail": "the token verifies, but this locker would refuse it now",
    }


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return str(ts)


def verify_signed(data: bytes, trust: TrustBundle, *, purpose: Purpose, now: float) -> bytes:
    """Verify a strict COSE_Sign1 envelope signed by a bundle key holding `purpose`.

    For hub-signed remote commands (`Purpose.COMMAND`). Returns the payload bytes, which the
    caller decodes (with `agent.tokens.codec.loads_strict`). Raises `TokenError` only.
    """
    msg = cose.decode_sign1(data)
    candidates = [k for k in trust.candidates(msg.kid or b"", now) if purpose in k.purposes]
    if not candidates and trust.candidates(msg.kid or b"", now):
        raise TokenError("key not allowed for this purpose", reason=Reason.WRONG_PURPOSE)
    cose.find_signer(msg, ((k.public_key, k.alg) for k in candidates))
    return msg.payload
