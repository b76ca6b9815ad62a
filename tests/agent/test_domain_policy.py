"""The order policy table (agent/domain/policy.py): every credential against every flag."""

from dataclasses import replace

import pytest

from agent.domain.orders import HoldClock, Order, OrderPolicy, OrderState
from agent.domain.policy import (
    INTERRUPTED_OPENING,
    Attempt,
    Credential,
    Flag,
    IdOutcome,
    Setting,
    Withdrawal,
    credential_refusal,
    id_outcome_to_record,
    pickup_refusal,
)
from agent.reasons import Reason

T0 = 1_800_000_000.0
DAY = 86400.0
U, S = Setting.UNATTENDED, Setting.STAFFED
TYPED, STATIC, LIVE = Credential.TYPED_CODE, Credential.STATIC_TOKEN, Credential.LIVE_CODE
IDENTITY, STAFF = Credential.VERIFIED_IDENTITY, Credential.STAFF


def loaded(policy: OrderPolicy = OrderPolicy(), hold_s: float = 2 * DAY) -> Order:  # noqa: B008
    return Order("ORD-1", OrderState.LOADED, "S", 3, HoldClock(hold_s).start(T0), policy)


LIVE_ONLY = OrderPolicy(live_required=True)
HIGH_VALUE = OrderPolicy(high_value=True)
ID_CHECK = OrderPolicy(id_check_required=True)


@pytest.mark.parametrize(
    ("policy", "credential", "setting", "expected"),
    [
        # no flags: anything a customer holds opens
        (OrderPolicy(), TYPED, U, None),
        (OrderPolicy(), STATIC, U, None),
        (OrderPolicy(), LIVE, U, None),
        (OrderPolicy(), STAFF, S, None),
        # live-code only: screenshots, paper and typed codes are refused, also at a counter
        (LIVE_ONLY, TYPED, U, Reason.HOLDER_PROOF_REQUIRED),
        (LIVE_ONLY, STATIC, U, Reason.HOLDER_PROOF_REQUIRED),
        (LIVE_ONLY, TYPED, S, Reason.HOLDER_PROOF_REQUIRED),
        (LIVE_ONLY, STATIC, S, Reason.HOLDER_PROOF_REQUIRED),
        (LIVE_ONLY, LIVE, U, None),
        (LIVE_ONLY, IDENTITY, U, None),
        (LIVE_ONLY, STAFF, S, None),
        # high value: a typed code (guessable, shoulder-surfed) never opens it
        (HIGH_VALUE, TYPED, U, Reason.TOKEN_REQUIRED),
        (HIGH_VALUE, TYPED, S, Reason.TOKEN_REQUIRED),
        (HIGH_VALUE, STATIC, U, None),
        (HIGH_VALUE, LIVE, U, None),
        (HIGH_VALUE, STAFF, S, None),
        # ID check: never unattended unless the identity is verified (the wallet's hook)
        (ID_CHECK, TYPED, U, Reason.AGE_CHECK_REQUIRED),
        (ID_CHECK, STATIC, U, Reason.AGE_CHECK_REQUIRED),
        (ID_CHECK, LIVE, U, Reason.AGE_CHECK_REQUIRED),
        (ID_CHECK, IDENTITY, U, None),
        (ID_CHECK, TYPED, S, Reason.ID_CHECK_NEEDED),
        (ID_CHECK, STAFF, S, Reason.ID_CHECK_NEEDED),
    ],
)
def test_the_table(
    policy: OrderPolicy, credential: Credential, setting: Setting, expected: Reason | None
) -> None:
    attempt = Attempt(credential, setting)
    assert pickup_refusal(loaded(policy), attempt, now=T0 + 60) is expected


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (IdOutcome.PASSED, None),
        (IdOutcome.FAILED, Reason.ID_CHECK_FAILED),
        (IdOutcome.NOT_POSSIBLE, Reason.ID_CHECK_UNAVAILABLE),
    ],
)
def test_staff_hand_an_id_check_order_out_only_after_it_passed(
    outcome: IdOutcome, expected: Reason | None
) -> None:
    order = loaded(ID_CHECK)
    for credential in (TYPED, STATIC, LIVE, STAFF):
        attempt = Attempt(credential, S, outcome)
        refusal = pickup_refusal(order, attempt, now=T0 + 60)
        assert refusal is expected
        assert id_outcome_to_record(order, attempt, refusal)
    # unattended, an outcome nobody could have checked changes nothing
    assert pickup_refusal(order, Attempt(TYPED, U, IdOutcome.PASSED), now=T0) is (
        Reason.AGE_CHECK_REQUIRED
    )


def test_a_tokens_own_flags_bind_as_much_as_the_orders() -> None:
    static = Attempt(STATIC, U, extra_flags=frozenset({Flag.LIVE_ONLY}))
    assert credential_refusal(frozenset(), static) is Reason.HOLDER_PROOF_REQUIRED
    id_flagged = Attempt(LIVE, U, extra_flags=frozenset({Flag.ID_CHECK}))
    assert credential_refusal(frozenset(), id_flagged) is Reason.AGE_CHECK_REQUIRED


def test_flags_combine_and_every_one_must_allow() -> None:
    both = OrderPolicy(live_required=True, id_check_required=True)
    assert pickup_refusal(loaded(both), Attempt(LIVE, U), now=T0) is Reason.AGE_CHECK_REQUIRED
    assert pickup_refusal(loaded(both), Attempt(LIVE, S, IdOutcome.PASSED), now=T0) is None
    assert pickup_refusal(loaded(both), Attempt(STATIC, S, IdOutcome.PASSED), now=T0) is (
        Reason.HOLDER_PROOF_REQUIRED
    )


@pytest.mark.parametrize(
    ("withdrawal", "expected"),
    [(Withdrawal.CANCELLED, Reason.ORDER_CANCELLED),
     (Withdrawal.RETURN_TO_SENDER, Reason.ORDER_RETURNING)],
)  # fmt: skip
def test_a_hub_withdrawal_refuses_every_credential(
    withdrawal: Withdrawal, expected: Reason
) -> None:
    for credential, setting in [(TYPED, U), (STATIC, U), (LIVE, U), (IDENTITY, U), (STAFF, S)]:
        attempt = Attempt(credential, setting)
        assert pickup_refusal(loaded(), attempt, now=T0, withdrawn=withdrawal) is expected
        expired = replace(loaded(), state=OrderState.EXPIRED)
        assert pickup_refusal(expired, attempt, now=T0, withdrawn=withdrawal) is expected


def test_the_hold_is_checked_at_pickup_time_on_the_paused_clock() -> None:
    order = loaded(hold_s=DAY)
    typed = Attempt(TYPED, U)
    assert pickup_refusal(order, typed, now=T0 + DAY - 1) is None
    # ended, and the expiry sweep has not run yet
    assert pickup_refusal(order, typed, now=T0 + DAY) is Reason.HOLD_EXPIRED
    # two hours of a faulted door do not count
    paused = replace(order, hold=order.hold.pause(T0 + 3600).resume(T0 + 3 * 3600))
    assert pickup_refusal(paused, typed, now=T0 + DAY + 3600) is None
    assert pickup_refusal(paused, typed, now=T0 + DAY + 2 * 3600) is Reason.HOLD_EXPIRED
    swept = replace(order, state=OrderState.EXPIRED)
    assert pickup_refusal(swept, typed, now=T0 + DAY) is Reason.HOLD_EXPIRED


def test_an_interrupted_opening_is_staffs_to_judge() -> None:
    collected = replace(loaded(), state=OrderState.COLLECTED, needs_attention=INTERRUPTED_OPENING)
    typed = Attempt(TYPED, U)
    assert pickup_refusal(collected, typed, now=T0) is Reason.OPENING_UNCONFIRMED
    assert pickup_refusal(collected, typed, now=T0, reported=True) is Reason.OPENING_UNCONFIRMED
    plain = replace(collected, needs_attention=None)
    assert pickup_refusal(plain, typed, now=T0) is Reason.ALREADY_USED
    assert pickup_refusal(plain, typed, now=T0, reported=True) is None


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (OrderState.ANNOUNCED, Reason.ORDER_NOT_COLLECTABLE),
        (OrderState.RETRIEVED, Reason.ORDER_NOT_COLLECTABLE),
        (OrderState.CANCELLED, Reason.ORDER_NOT_COLLECTABLE),
        (OrderState.RETURNED, Reason.ORDER_NOT_COLLECTABLE),
        (OrderState.COLLECTED, Reason.ALREADY_USED),
    ],
)
def test_only_a_loaded_order_is_collectable(state: OrderState, expected: Reason) -> None:
    order = replace(loaded(), state=state)
    assert pickup_refusal(order, Attempt(STAFF, S), now=T0) is expected
