"""The order policy table: what each credential may do for an order, on every path. Pure.

One function, `pickup_refusal`, answers for every way a parcel can leave its door or the counter
(typed code, scanned token, "the door did not open", counter handout, staff opening for a
customer): `None` when allowed, otherwise the `Reason` to refuse with. The rules, by flag:

| credential        | no flags | live-code only        | high value     | ID check              |
|-------------------|----------|-----------------------|----------------|-----------------------|
| typed code        | yes      | HOLDER_PROOF_REQUIRED | TOKEN_REQUIRED | staffed, ID `passed`  |
| static token      | yes      | HOLDER_PROOF_REQUIRED | yes            | staffed, ID `passed`  |
| live code         | yes      | yes                   | yes            | staffed, ID `passed`  |
| verified identity | yes      | yes                   | yes            | yes                   |
| staff (session)   | yes      | yes                   | yes            | staffed, ID `passed`  |

A delegate token is a token: it counts as a live code when it carries its holder's proof, as a
static token otherwise. "Unattended" is a locker door (pickup, "the door did not open"); an
ID-check order is then refused with AGE_CHECK_REQUIRED. "Staffed" is the counter and a staff
member opening a door for a customer: the ID check outcome must be recorded as `passed`
(ID_CHECK_NEEDED if none, ID_CHECK_FAILED / ID_CHECK_UNAVAILABLE otherwise). At a counter the
customer's own credential still obeys its row: staff add the ID check, they remove nothing.

`VERIFIED_IDENTITY` is a wallet that proved the order's age (and named recipient) at the door
(`agent/services/identity_check.py`). The wallet never stands alone: the customer's own code or
token must also pass its row without the ID check (`with_verified_identity`), so the wallet adds
the ID check and removes nothing. An order with `min_age` is an ID-check order.

Before the credential, the order itself must be collectable now: not cancelled or returning to
the sender (the hub's decisions), not collected, its hold not ended (checked against the
fault-paused hold clock at `now`, not only by the expiry sweep), and, once collected, no door
opening of it cut off by a restart (staff decide those, never the customer's word).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from agent.domain.orders import Order, OrderPolicy, OrderState
from agent.reasons import Reason


class Credential(StrEnum):
    """What the customer (or the staff member acting for them) presented."""

    TYPED_CODE = "typed_code"
    STATIC_TOKEN = "static_token"  # noqa: S105 - a signed token without holder proof (screenshot, paper)
    LIVE_CODE = "live_code"  # a signed token with a fresh holder proof
    VERIFIED_IDENTITY = "verified_identity"  # a wallet verified the order's age at the door
    STAFF = "staff"  # a signed-in staff member acting for the customer


class Setting(StrEnum):
    """Where the credential is used: alone at a door, or with a person who can check an ID."""

    UNATTENDED = "unattended"  # a locker door: pickup and "the door did not open"
    STAFFED = "staffed"  # the counter, or staff opening a door for a customer


class IdOutcome(StrEnum):
    """The ID check outcome staff record (only the outcome, never document data)."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_POSSIBLE = "not_possible"  # e.g. the check system is down


class Flag(StrEnum):
    """The order flags a token can carry, by their names in the token."""

    LIVE_ONLY = "live_required"
    HIGH_VALUE = "high_value"
    ID_CHECK = "id_check_required"


class Withdrawal(StrEnum):
    """The hub's decision that a parcel in a door is not for the customer any more."""

    CANCELLED = "cancelled"
    RETURN_TO_SENDER = "return_to_sender"


INTERRUPTED_OPENING = "door_open_interrupted"  # needs_attention of an order a restart cut off

# (flag, credential) -> refusal. Absent: allowed. ID checks are decided by `_id_check`.
_CREDENTIAL_RULES: dict[tuple[Flag, Credential], Reason] = {
    (Flag.LIVE_ONLY, Credential.TYPED_CODE): Reason.HOLDER_PROOF_REQUIRED,
    (Flag.LIVE_ONLY, Credential.STATIC_TOKEN): Reason.HOLDER_PROOF_REQUIRED,
    (Flag.HIGH_VALUE, Credential.TYPED_CODE): Reason.TOKEN_REQUIRED,
}

_WITHDRAWN = {
    Withdrawal.CANCELLED: Reason.ORDER_CANCELLED,
    Withdrawal.RETURN_TO_SENDER: Reason.ORDER_RETURNING,
}

_ID_REFUSALS = {
    IdOutcome.FAILED: Reason.ID_CHECK_FAILED,
    IdOutcome.NOT_POSSIBLE: Reason.ID_CHECK_UNAVAILABLE,
}


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt to take a parcel: who presented what, where, with which ID outcome."""

    credential: Credential
    setting: Setting
    id_check: IdOutcome | None = None
    extra_flags: frozenset[Flag] = frozenset()  # flags a token carries besides the order's


def flags_from(*, live_required: bool, high_value: bool, id_check: bool) -> frozenset[Flag]:
    """The flags set among the three bits (an order's policy, or a token's flag claim)."""
    bits = {Flag.LIVE_ONLY: live_required, Flag.HIGH_VALUE: high_value, Flag.ID_CHECK: id_check}
    return frozenset(flag for flag, on in bits.items() if on)


def flags_of(policy: OrderPolicy) -> frozenset[Flag]:
    """An order's flags; an age to prove (`min_age`) is an ID check."""
    return flags_from(
        live_required=policy.live_required,
        high_value=policy.high_value,
        id_check=policy.id_check_required or policy.min_age is not None,
    )


def credential_refusal(flags: frozenset[Flag], attempt: Attempt) -> Reason | None:
    """The table: may `attempt` open an order with `flags`? None if so."""
    for flag in sorted(flags | attempt.extra_flags):
        if flag is Flag.ID_CHECK:
            refusal = _id_check(attempt)
        else:
            refusal = _CREDENTIAL_RULES.get((flag, attempt.credential))
        if refusal is not None:
            return refusal
    return None


def with_verified_identity(flags: frozenset[Flag], customer: Attempt) -> Reason | None:
    """The customer's own credential (typed code or token) when a wallet verified the order's
    age (and recipient) at the door: the wallet satisfies the ID check and removes nothing
    else, so the credential still obeys its row for every other flag. None if allowed; the
    order itself is then checked with `VERIFIED_IDENTITY` by `pickup_refusal`."""
    without_id = replace(customer, extra_flags=customer.extra_flags - {Flag.ID_CHECK})
    return credential_refusal(flags - {Flag.ID_CHECK}, without_id)


def _id_check(attempt: Attempt) -> Reason | None:
    if attempt.credential is Credential.VERIFIED_IDENTITY:
        return None
    if attempt.setting is Setting.UNATTENDED:
        return Reason.AGE_CHECK_REQUIRED
    if attempt.id_check is None:
        return Reason.ID_CHECK_NEEDED
    return _ID_REFUSALS.get(attempt.id_check)


def order_refusal(
    order: Order, *, now: float, withdrawn: Withdrawal | None, reported: bool = False
) -> Reason | None:
    """Is `order` itself collectable at `now`? `reported`: for "the door did not open", where a
    collected order is the expected case (the grace period is the caller's business)."""
    if order.state is OrderState.COLLECTED and order.needs_attention == INTERRUPTED_OPENING:
        return Reason.OPENING_UNCONFIRMED
    if withdrawn is not None and order.state in (OrderState.LOADED, OrderState.EXPIRED):
        return _WITHDRAWN[withdrawn]
    if order.state is OrderState.COLLECTED:
        return None if reported else Reason.ALREADY_USED
    ended = order.kind == "pickup" and order.hold.is_expired(now)
    if order.state is OrderState.EXPIRED or (order.state is OrderState.LOADED and ended):
        return Reason.HOLD_EXPIRED
    return None if order.state is OrderState.LOADED else Reason.ORDER_NOT_COLLECTABLE


def pickup_refusal(
    order: Order,
    attempt: Attempt,
    *,
    now: float,
    withdrawn: Withdrawal | None = None,
    reported: bool = False,
) -> Reason | None:
    """Every path asks this before a parcel leaves: None if `attempt` may take `order` now."""
    refusal = order_refusal(order, now=now, withdrawn=withdrawn, reported=reported)
    if refusal is not None:
        return refusal
    return credential_refusal(flags_of(order.policy), attempt)


def id_outcome_to_record(order: Order, attempt: Attempt, refusal: Reason | None) -> bool:
    """Whether staff's ID check outcome is recorded for this attempt: when the order (or the
    token) asks for the check, an outcome was given, and nothing but the outcome refuses it. It
    is recorded even when it refuses the handout (only the outcome, never document data)."""
    asked = Flag.ID_CHECK in flags_of(order.policy) | attempt.extra_flags
    return asked and attempt.id_check is not None and refusal in _ID_OUTCOME_REASONS


_ID_OUTCOME_REASONS = (None, Reason.ID_CHECK_FAILED, Reason.ID_CHECK_UNAVAILABLE)
