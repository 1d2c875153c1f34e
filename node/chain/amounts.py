"""Ether amounts as the CLI reads and prints them.

Amounts are integers of wei everywhere inside provernet; this module is the only
place that turns text into wei and back. ``parse_amount`` accepts a number with an
optional unit (``0.01eth``, ``10 gwei``, ``5 wei``); a bare number is wei.
"""

from __future__ import annotations

import re

# Denominations as defined in the Ethereum yellow paper, appendix E.
UNITS: dict[str, int] = {
    "wei": 1,
    "gwei": 10**9,
    "eth": 10**18,
    "ether": 10**18,
}
_AMOUNT = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9][0-9_]*)?|\.[0-9][0-9_]*)\s*([a-zA-Z]*)\s*$")


class AmountError(ValueError):
    """Text that is not a valid amount of ether."""


def parse_amount(text: str) -> int:
    """Wei in ``text``: ``"0.01eth"``, ``"10 gwei"``, ``"5 wei"``, ``"1_000"`` (wei)."""
    match = _AMOUNT.match(text)
    if match is None:
        raise AmountError(
            f"{text!r} is not an amount; write a number with an optional unit "
            "(wei, gwei, eth), e.g. 0.01eth or 10gwei"
        )
    number, unit = match.group(1).replace("_", ""), match.group(2).lower() or "wei"
    if unit not in UNITS:
        raise AmountError(f"unknown unit {match.group(2)!r} in {text!r}; use wei, gwei or eth")
    whole, _, frac = number.partition(".")
    scale = UNITS[unit]
    digits = len(str(scale)) - 1
    frac = frac.rstrip("0")
    if len(frac) > digits:
        raise AmountError(f"{text!r} is not a whole number of wei")
    # Integer arithmetic throughout: Decimal's default 28-digit context would round.
    return int(whole or "0") * scale + int(frac.ljust(digits, "0") or "0")


def format_amount(wei: int) -> str:
    """A readable amount that ``parse_amount`` maps back to exactly ``wei``."""
    if wei < 0:
        raise AmountError(f"negative amount {wei}")
    if wei >= UNITS["eth"] // 1000:
        unit = "eth"
    elif wei >= UNITS["gwei"] // 1000:
        unit = "gwei"
    else:
        return f"{wei} wei"
    whole, frac = divmod(wei, UNITS[unit])
    digits = len(str(UNITS[unit])) - 1
    frac_text = str(frac).rjust(digits, "0").rstrip("0")
    return f"{whole}.{frac_text} {unit}" if frac_text else f"{whole} {unit}"
