"""What every emulator checks before a value from the wire reaches the database: a real provider
refuses these with a 4xx (each emulator answers in its own provider's words), never a 500.

* **NUL** (U+0000) in a credential, a path id, a parameter or a body string: PostgreSQL text cannot
  hold it, so no key, token or id of ours contains one (a credential with one is unknown: 401; an
  id with one names nothing: 404; a body with one is invalid: 400).
* **Numbers no field holds**: `1e400` (which Python reads as infinity), `NaN`, `Infinity`, or an
  integer of 400 digits. A body's JSON is read by `parse_json`, which refuses them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

NUL = "\x00"
# The largest integer a body may carry: PostgreSQL's bigint (amounts, timeouts, limits fit in it).
INTEGER_MAX = 2**63 - 1


class WireValueError(ValueError):
    """A body the emulator cannot read; its message says why, in plain words."""


def has_nul(*values: object) -> bool:
    """Whether any of `values` (strings, or iterables of strings) carries a NUL."""
    for value in values:
        if isinstance(value, str):
            if NUL in value:
                return True
        elif isinstance(value, Iterable) and not isinstance(value, bytes | bytearray):
            if any(has_nul(item) for item in value):
                return True
    return False


def is_digits(value: object, *, max_digits: int = 18) -> bool:
    """Whether `value` is 1 to `max_digits` ASCII digits (`"²".isdigit()` is true, and `int()`
    reads Arabic-Indic digits: neither is a number on the wire)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= max_digits
        and value.isascii()
        and (value.isdigit())
    )


def query_has_nul(request) -> bool:
    """Whether a query parameter (or a POSTed form field) carries a NUL in its name or value."""
    data = [request.GET]
    if request.method == "POST" and "json" not in request.content_type:
        data.append(request.POST)
    return any(has_nul(name, values) for d in data for name, values in d.lists())


def _refuse_constant(name: str):
    raise WireValueError(f"{name} is not a number a field can hold")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise WireValueError(f"{text[:20]} is not a number a field can hold")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 19 or abs(value := int(text)) > INTEGER_MAX:
        raise WireValueError(f"{text[:20]}… is not a number a field can hold")
    return value


def _check_strings(value) -> None:
    if isinstance(value, str):
        if NUL in value:
            raise WireValueError("a string carries a NUL character")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key)
            _check_strings(item)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item)


def parse_json(raw: bytes | str):
    """The JSON value of `raw`; WireValueError when it is no JSON, or holds a NUL, `NaN`,
    `Infinity`, a number beyond a double (`1e400`) or an integer beyond bigint."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_float, parse_int=_int)
    except WireValueError:
        raise
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise WireValueError("the body is not valid JSON") from exc
    _check_strings(value)
    return value
