import pytest

from agent.domain.labels import ID_PATTERN, ParcelLabel, parse_label, support_ref
from agent.errors import RequestError
from agent.reasons import Reason


def test_a_label_names_an_order_and_a_parcel() -> None:
    assert parse_label("  PCL:ORD-1:P.2_a  ") == ParcelLabel("ORD-1", "P.2_a")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ORD-1:P1",
        "PCL:ORD-1",
        "PCL:ORD-1:P1:X",
        "PCL::P1",
        "PCL:ORD 1:P1",
        "PCL:" + "A" * 65 + ":P",
    ],
)
def test_junk_is_refused_as_an_invalid_label(text: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_label(text)
    assert caught.value.reason is Reason.LABEL_INVALID


def test_an_order_reference_is_one_to_64_safe_characters() -> None:
    assert ID_PATTERN.fullmatch("A" * 64)
    assert not ID_PATTERN.fullmatch("A" * 65)
    assert not ID_PATTERN.fullmatch("ORD/1")


def test_the_support_reference_is_the_end_of_the_order_id_in_capitals() -> None:
    assert support_ref("ord-2026-abc123") == "E-ABC123"
    assert support_ref("x1") == "E-X1"
