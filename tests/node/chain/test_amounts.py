from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.chain.amounts import AmountError, format_amount, parse_amount


@pytest.mark.parametrize(
    ("text", "wei"),
    [
        ("0.01eth", 10**16),
        ("10gwei", 10 * 10**9),
        ("5 wei", 5),
        ("5", 5),
        ("1_000", 1000),
        ("1.5 ETH", 15 * 10**17),
        ("2 ether", 2 * 10**18),
        (".5gwei", 5 * 10**8),
        ("0.000000000000000001eth", 1),
        ("1.000000000000000000000eth", 10**18),  # trailing zeros past wei are exact
        ("  7gwei  ", 7 * 10**9),
        (
            "123456789012345678901234567890.5eth",
            123456789012345678901234567890 * 10**18 + 5 * 10**17,
        ),
    ],
)
def test_parse_amount(text: str, wei: int) -> None:
    assert parse_amount(text) == wei


@pytest.mark.parametrize(
    "text",
    [
        "",
        "eth",
        "-1",
        "1e18",
        "1..2",
        "1.",
        ".",
        "1 btc",
        "0x10",
        "1.5wei",
        "0.0000000001gwei",
        "0.0000000000000000001eth",
        "1 2 eth",
    ],
)
def test_parse_amount_rejects(text: str) -> None:
    with pytest.raises(AmountError):
        parse_amount(text)


@pytest.mark.parametrize(
    ("wei", "text"),
    [
        (0, "0 wei"),
        (999_999, "999999 wei"),
        (10**9, "1 gwei"),
        (15 * 10**17, "1.5 eth"),
        (10**15, "0.001 eth"),
        (10**6, "0.001 gwei"),
    ],
)
def test_format_amount(wei: int, text: str) -> None:
    assert format_amount(wei) == text


@given(st.integers(min_value=0, max_value=10**40))
def test_format_then_parse_is_exact(wei: int) -> None:
    assert parse_amount(format_amount(wei)) == wei


@given(st.integers(min_value=0, max_value=10**30), st.sampled_from(["wei", "gwei", "eth"]))
def test_whole_units_scale_exactly(n: int, unit: str) -> None:
    assert parse_amount(f"{n}{unit}") == n * {"wei": 1, "gwei": 10**9, "eth": 10**18}[unit]


def test_negative_amounts_cannot_be_formatted() -> None:
    with pytest.raises(AmountError):
        format_amount(-1)
