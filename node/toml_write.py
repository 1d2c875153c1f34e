"""Writing the small TOML documents provernet keeps (config.toml): tables of plain values.

Only what the configuration holds is written: tables of strings, integers,
floats, booleans and arrays of those. The output is read back by ``tomllib``;
a test checks the round trip for arbitrary text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
# TOML 1.0 basic strings: these must be escaped; every other control character
# (U+0000-U+001F and U+007F) as \\uXXXX.
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}

Value = str | int | float | bool | Path | Sequence[str | int | float | bool]


def _string(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value} to TOML")
        return repr(value)
    if isinstance(value, str | Path):
        return _string(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"cannot write a {type(value).__name__} to TOML")


def dumps_tables(tables: Mapping[str, Mapping[str, object]], header: str = "") -> str:
    """TOML text of ``tables`` (section -> key -> value); None values are left out."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for section, table in tables.items():
        if lines:
            lines.append("")
        lines.append(f"[{_key(section)}]")
        lines.extend(f"{_key(k)} = {_value(v)}" for k, v in table.items() if v is not None)
    return "\n".join(lines) + "\n"
