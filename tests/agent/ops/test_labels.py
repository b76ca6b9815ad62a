"""The parcel label format `PCL:<order_id>:<parcel_id>`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.domain.labels import ParcelLabel, parse_label
from agent.errors import RequestError
from agent.reasons import Reason

_ID = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-",
    min_size=1,
    max_size=64,
)


@given(_ID, _ID)
def test_every_well_formed_label_reads_back(order_id: str, parcel_id: str) -> None:
    assert parse_label(f"PCL:{order_id}:{parcel_id}") == ParcelLabel(order_id, parcel_id)


def test_scanner_whitespace_around_a_label_is_ignored() -> None:
    assert parse_label(" PCL:ORD-1:P1\r\n") == ParcelLabel("ORD-1", "P1")


@given(st.text(max_size=200))
def test_any_text_is_a_label_or_a_label_invalid_request_error(text: str) -> None:
    reason = None
    try:
        label = parse_label(text)
    except RequestError as err:
        reason = err.reason
    if reason is None:
        assert text.strip() == f"PCL:{label.order_id}:{label.parcel_id}"
    else:
        assert reason is Reason.LABEL_INVALID


def test_a_label_longer_than_any_real_one_is_refused() -> None:
    with pytest.raises(RequestError):
        parse_label("PCL:" + "A" * 64 + ":" + "B" * 80)
