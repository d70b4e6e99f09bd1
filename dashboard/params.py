"""Reading ids, numbers, choices and text from a request's query or form: every view of ours parses
through these, so no value a person (or a script) sends reaches the database unchecked.

A value that is not what the page offers raises `BadParameter`, answered **400** with its reason
(`dashboard.views.bad_request`, the root URLconf's `handler400`). A missing or empty value is
`None` (or the default): the page shows everything.

Why not `str.isdigit()`: `"²".isdigit()` is true and `int("²")` fails; `int()` itself reads
Arabic-Indic and full-width digits (`int("١٢") == 12`). An id is 1 to 19 ASCII digits and fits
PostgreSQL's bigint; a value with a NUL (which PostgreSQL text cannot hold) or another control
character is refused, and text is capped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from django.core.exceptions import BadRequest

BIGINT_MAX = 2**63 - 1
TEXT_MAX = 200  # the default cap of a free-text parameter (a search box)
_ID = re.compile(r"[0-9]{1,19}")


class BadParameter(BadRequest):
    """A request parameter that is not what the page offers. Its message says which and why."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason
        super().__init__(f"“{name}” {reason}.")


def parse_id(value: object) -> int | None:
    """`value` as a row id (1 to 19 ASCII digits, at most bigint's maximum), else None."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        return None
    number = int(value)
    return number if number <= BIGINT_MAX else None


def get_id(data, name: str) -> int | None:
    """The id in `data[name]` (a QueryDict), None when absent or empty; BadParameter otherwise."""
    value = data.get(name, "")
    if value == "":
        return None
    number = parse_id(value)
    if number is None:
        raise BadParameter(name, "must be the number of one of the items the page lists")
    return number


def get_ids(data, name: str, *, limit: int) -> list[int]:
    """The ids given as `name`, the first `limit` of them (a page never sends more; the rest are
    ignored); BadParameter for one that is no id."""
    numbers = []
    for value in data.getlist(name)[:limit]:
        number = parse_id(value)
        if number is None:
            raise BadParameter(name, "must be the numbers of items the page lists")
        numbers.append(number)
    return numbers


def get_choice(data, name: str, choices: Iterable[str], *, default: str | None = None):
    """`data[name]` when it is one of `choices`, `default` when absent or empty; BadParameter
    otherwise."""
    value = data.get(name, "")
    if value == "":
        return default
    allowed = [str(choice) for choice in choices]
    if value not in allowed:
        shown = ", ".join(allowed[:8]) + (", …" if len(allowed) > 8 else "")
        raise BadParameter(name, f"must be one of: {shown}")
    return value


def clean_text(value: str, name: str, *, max_length: int = TEXT_MAX) -> str:
    """`value` stripped; BadParameter when longer than `max_length` or carrying a control
    character (a NUL, an escape, a line break)."""
    value = value.strip()
    if len(value) > max_length:
        raise BadParameter(name, f"must be at most {max_length} characters (this has {len(value)})")
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise BadParameter(name, "may not contain control characters")
    return value


def get_text(data, name: str, *, max_length: int = TEXT_MAX) -> str:
    """`data[name]` as `clean_text`, "" when absent."""
    return clean_text(data.get(name, ""), name, max_length=max_length)
