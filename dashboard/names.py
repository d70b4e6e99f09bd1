"""What a name shown to people may be, for every name a person types in: a reseller's, a merchant's,
a store's, a terminal's.

A name is stored in Unicode NFKC form, so the full-width "Ｐixel Repair" is saved as "Pixel Repair"
and a ligature or a non-breaking space as its plain letters. A name never holds a character that is
invisible or that changes how the text around it reads: a right-to-left override can make
"Pixel Repair" read as another name, a zero-width space can make two equal-looking names different.
Two names of one parent (merchants of a reseller, stores of a merchant) may not be the same once
case and width are set aside: `names_collide`.

Not covered: look-alikes from another script (a Cyrillic "Р" for a Latin "P"); telling those apart
needs the Unicode confusables table (UTS #39), which NFKC does not apply.
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.db.models import F, Func
from django.db.models.functions import Lower

# Unicode general categories a name may not hold: format characters (zero-width spaces and joiners,
# bidirectional marks, overrides and isolates, the byte-order mark, soft hyphen), control characters,
# private-use and surrogate code points, line and paragraph separators, and unassigned code points
# (they have no agreed look yet). Plain spaces are allowed; other spaces become plain ones under NFKC
# or when runs of white space are made one.
REFUSED_CATEGORIES = frozenset({"Cf", "Cc", "Co", "Cs", "Cn", "Zl", "Zp"})

# Bidirectional controls: named as such, because they are what reorders the text around them.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

_PROBLEMS = {
    "Cc": "a control character",
    "Co": "a private-use character",
    "Cs": "a lone surrogate",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def _describe(ch: str) -> str:
    code = f"U+{ord(ch):04X}"
    label = unicodedata.name(ch, "")
    named = f"{code} {label}" if label else code
    if ch in _BIDI_CONTROLS:
        return f"a text-direction control character ({named}), which changes how the name reads"
    if ch == "\t" or ch == "\n" or ch == "\r":
        return f"a tab or line break ({named})"
    category = unicodedata.category(ch)
    if category == "Cf":
        return f"an invisible character ({named})"
    return f"{_PROBLEMS.get(category, 'a character that cannot be shown')} ({named})"


def clean_display_name(value, *, max_length: int, min_length: int = 1) -> str:
    """The name as stored: NFKC-normalised, trimmed, inner runs of white space made one plain space,
    `min_length` to `max_length` characters (counted after normalisation).

    Raises ValidationError (code "invalid") naming the first refused character, or "required",
    "min_length", "max_length"; the message is written for the person who typed the name.
    """
    text = unicodedata.normalize("NFKC", str(value or ""))
    for ch in text:
        # Tabs and line breaks are white space a paste may bring along: they become one space.
        if ch in "\t\n\r":
            continue
        if unicodedata.category(ch) in REFUSED_CATEGORIES:
            raise ValidationError(
                f"The name contains {_describe(ch)}. Remove it and type the name again.",
                code="invalid",
            )
    name = " ".join(text.split())
    if not name:
        raise ValidationError("Enter a name.", code="required")
    if len(name) < min_length:
        raise ValidationError(f"Use at least {min_length} characters.", code="min_length")
    if len(name) > max_length:
        raise ValidationError(
            f"Use at most {max_length} characters (this has {len(name)}).", code="max_length"
        )
    return name


def name_key(value: str) -> str:
    """What two names are compared by: NFKC, case folded (so "STRASSE" meets "Straße"), white space
    made one space. The database backs this with a unique index on lower(normalize(name, NFKC)),
    which agrees with it for every name that differs in more than case folding's special pairs."""
    text = unicodedata.normalize("NFKC", str(value or ""))
    text = unicodedata.normalize("NFKC", text.casefold())
    return " ".join(text.split())


def names_collide(a: str, b: str) -> bool:
    """Whether two names would read as the same name: equal apart from case and width."""
    return name_key(a) == name_key(b)


def normalized_lower(expression):
    """lower(normalize(<expression>, NFKC)) in SQL: what the database compares names by (PostgreSQL 13
    or newer, a UTF-8 database). It is the expression of the unique indexes on names."""
    if isinstance(expression, str):
        expression = F(expression)
    return Lower(Func(expression, template="normalize(%(expressions)s, NFKC)"))


def name_clash(queryset, name: str, *, exclude_pk=None) -> str | None:
    """The name of a row of `queryset` (the siblings: one parent's merchants, or stores) that
    collides with `name` (`names_collide`), or None. One indexed read; only a name whose case folding
    goes beyond lower case (ß, final sigma, …) has its siblings' names compared one by one."""
    siblings = queryset.exclude(pk=exclude_pk) if exclude_pk is not None else queryset
    key = name_key(name)
    lowered = " ".join(unicodedata.normalize("NFKC", str(name or "")).lower().split())
    if key == unicodedata.normalize("NFKC", lowered):
        return (
            siblings.alias(_key=normalized_lower("name"))
            .filter(_key=lowered)
            .values_list("name", flat=True)
            .first()
        )
    return next(
        (other for other in siblings.values_list("name", flat=True) if name_key(other) == key),
        None,
    )


def clash_message(taken: str, name: str, message: str) -> str:
    """`message`, and where the existing name looks different, which name it is."""
    if taken == name:
        return message
    return f"{message[:-1]} (“{taken}”): names are compared apart from case and width."
