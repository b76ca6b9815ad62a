"""Strict JSON for the wire: what a hub and many devices of different versions can agree on.

Duplicate keys, NaN and infinities, integers outside int64, lone surrogates, nesting deeper than
`MAX_DEPTH` and oversized payloads are refused with a `WireError`; `canonical_json` is the one
byte form that is signed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

from hub_sync.errors import WireError

MAX_PAYLOAD: Final = 1_048_576
#: deepest nesting any message needs is 4 (events > event > body > value); room to spare
MAX_DEPTH: Final = 32
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**63 - 1
_INT_DIGITS_MAX: Final = 20  # sign and 19 digits
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def canonical_json(obj: object) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8, no NaN (RFC 8785 for our subset)."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise WireError("MALFORMED", f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise WireError("MALFORMED", f"non-finite number {name}")


def _int64(text: str) -> int:
    # checked on the digits before int() runs: a 5,000-digit literal is refused, not converted
    if len(text) > _INT_DIGITS_MAX:
        raise WireError("MALFORMED", "integer out of range")
    value = int(text)
    if not _INT_MIN <= value <= _INT_MAX:
        raise WireError("MALFORMED", "integer out of range")
    return value


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise WireError("MALFORMED", "non-finite number")
    return value


def _check_tree(root: object) -> None:
    """Depth at most `MAX_DEPTH`; no lone surrogates in keys or strings (they cannot be UTF-8)."""
    stack: list[tuple[object, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if not node.isascii() and _SURROGATE.search(node):
                raise WireError("MALFORMED", "string is not valid Unicode")
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise WireError("MALFORMED", f"nested deeper than {MAX_DEPTH}")
        if isinstance(node, dict):
            stack.extend((key, depth) for key in node)
            stack.extend((value, depth + 1) for value in node.values())
        else:
            stack.extend((value, depth + 1) for value in node)


def loads_strict(payload: bytes) -> Mapping[str, Any]:
    """Parse a JSON object strictly; any defect is a `WireError` (never a library exception).

    Refused: more than 1 MiB, invalid UTF-8, duplicate keys, NaN/Infinity or a float that
    overflows, integers outside the signed 64-bit range, lone surrogates (`"\\ud800"`), nesting
    deeper than `MAX_DEPTH`, and anything but an object at the top.
    """
    if len(payload) > MAX_PAYLOAD:
        raise WireError("TOO_LARGE", f"{len(payload)} bytes")
    try:
        obj = json.loads(
            payload.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_int=_int64,
            parse_float=_finite,
        )
    except WireError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        # ValueError covers JSONDecodeError and int()'s digit limit
        raise WireError("MALFORMED", "not JSON") from err
    if not isinstance(obj, dict):
        raise WireError("MALFORMED", "not a JSON object")
    _check_tree(obj)
    return obj


def get(
    obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], *, optional: bool = False
) -> Any:
    """A typed field; bools are refused where numbers are expected (JSON `true` is not `1`)."""
    if key not in obj or obj[key] is None:
        if optional:
            return None
        raise WireError("MALFORMED", f"missing {key}")
    value = obj[key]
    numeric = kind in (int, float, (int, float))
    if (numeric and isinstance(value, bool)) or not isinstance(value, kind):
        raise WireError("MALFORMED", f"{key} has the wrong type")
    return value
