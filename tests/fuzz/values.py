"""Hypothesis strategies for what a person, a browser or a client of an emulator may send: empty,
huge, NUL and other control characters, unicode digits and direction marks, numbers no field holds
(`1e400`, 400 nines), and values of the wrong type."""

from __future__ import annotations

import json

from hypothesis import strategies as st

HUGE_NUMBER = "9" * 400
SPECIAL_TEXT = [
    "",
    " ",
    "\x00",
    "1\x00",
    "a\x00b",
    "\x00" * 3,
    "\x01\x02\x1b[31m\x7f",
    "\r\n",
    "\t",
    "²",  # a digit to str.isdigit(), not to int()
    "¹²³",
    "١٢٣",  # Arabic-Indic digits: int() reads them
    "１２",  # full-width digits
    "Ⅻ",
    "1e400",
    "-1e400",
    "1e-400",
    "1e999999",
    "1E+999999999",
    HUGE_NUMBER,
    "-" + HUGE_NUMBER,
    "9223372036854775808",  # 2**63
    "2147483648",  # 2**31
    "-1",
    "0",
    "-0",
    "00",
    "0x10",
    "1_000",
    "1.5",
    "NaN",
    "inf",
    "-Infinity",
    "null",
    "None",
    "true",
    "[]",
    "{}",
    '{"a": 1}',
    "\u202eevil",  # right-to-left override
    "\u200b",  # zero-width space
    "\ufeff",
    "\ud7ff\ue000",
    "𝟘𝟙",
    "💳" * 50,
    "x" * 256,
    "x" * 5000,
    "a" * 100_000,
    "../../etc/passwd",
    "%00",
    "%",
    "'; DROP TABLE x; --",
    "<script>alert(1)</script>",
    "=1+2",
]

# Text with any code point Hypothesis likes (surrogates excluded: they cannot be sent as UTF-8).
any_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
control_text = st.text(alphabet=st.characters(max_codepoint=0x9F, categories=["Cc"]), max_size=8)
nasty_text = st.one_of(
    st.sampled_from(SPECIAL_TEXT),
    any_text,
    control_text,
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


def text_values(plausible: list[str]) -> st.SearchStrategy[str]:
    """A nasty string, or now and then one that may pass (so the code behind the parsing runs)."""
    if not plausible:
        return nasty_text
    return st.one_of(nasty_text, st.sampled_from(plausible))


def parameters(names, plausible: list[str]) -> st.SearchStrategy[dict]:
    """A query or form: some of `names` (and now and then another), each once or repeated."""
    return st.dictionaries(
        keys=st.one_of(st.sampled_from(list(names)), any_text),
        values=st.lists(text_values(plausible), min_size=1, max_size=3),
        max_size=8,
    )


# -- JSON bodies -----------------------------------------------------------------------------------


class Raw:
    """A JSON number written as is (`1e400`, 400 nines), which json.dumps cannot produce."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self):
        return f"Raw({self.text[:20]!r})"


RAW_NUMBERS = [
    "1e400",
    "-1e400",
    "1e-400",
    HUGE_NUMBER,
    "-" + HUGE_NUMBER,
    "9223372036854775808",
    "2147483648",
    "NaN",
    "Infinity",
    "-Infinity",
    "0.1",
    "-0",
    "1E+2",
    "12.345",
]


def encode(value) -> str:
    """JSON text of `value`, with Raw numbers written as they are."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return json.dumps(value)


def json_values(plausible: list) -> st.SearchStrategy:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(RAW_NUMBERS).map(Raw),
        nasty_text,
        st.sampled_from(plausible) if plausible else nasty_text,
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=3), st.dictionaries(any_text, children, max_size=3)
        ),
        max_leaves=6,
    )


def json_objects(names, plausible: list) -> st.SearchStrategy[dict]:
    """A JSON object of some of `names`, each nested value again an object of `names` now and then
    (Payroc's `order.amount`)."""
    values = json_values(plausible)
    inner = st.dictionaries(st.sampled_from(list(names)), values, max_size=4)
    return st.dictionaries(
        st.one_of(st.sampled_from(list(names)), any_text),
        st.one_of(values, inner),
        max_size=8,
    )
