"""Magic amounts: the last two digits of an amount decide what the virtual customer does.

The digits are those of the amount in minor units, so 10.01 USD (1001 cents) and 1,001 JPY
both end in 01. The outcome happens SANDBOX_MAGIC_DELAY_S seconds after the start (default 2,
so a demo shows "waiting"; tests set 0), and only while the terminal is online. Any other
ending waits for a button on the virtual terminal page, or for the request's timeout.

This dict is the only place the table lives; `sandbox/README.md` shows it, and a test checks
that the README matches `magic_table_markdown()`.
"""

from dataclasses import dataclass

# What the customer (or the terminal) does. The virtual terminal's buttons use the same words.
APPROVE = "approve"
DECLINE = "decline"
CANCEL = "cancel"
TIMEOUT = "timeout"
FAIL = "fail"

OUTCOMES = (APPROVE, DECLINE, CANCEL, TIMEOUT, FAIL)

# The virtual terminal's buttons, in the order shown.
BUTTONS: dict[str, str] = {
    APPROVE: "Approve",
    DECLINE: "Decline",
    CANCEL: "Cancel as customer",
    TIMEOUT: "Let it time out",
    FAIL: "Terminal error",
}


@dataclass(frozen=True)
class MagicAmount:
    outcome: str
    result: str  # what the dashboard should end up showing
    story: str  # what happens at the terminal


MAGIC_AMOUNTS: dict[int, MagicAmount] = {
    1: MagicAmount(APPROVE, "approved", "The customer taps a card and the issuer approves."),
    2: MagicAmount(DECLINE, "declined", "The customer taps a card and the issuer declines."),
    3: MagicAmount(CANCEL, "canceled", "The customer presses Cancel on the terminal."),
    4: MagicAmount(
        TIMEOUT,
        "timed out",
        "Nobody presents a card: the request stays pending until its timeout passes.",
    ),
    5: MagicAmount(FAIL, "failed", "The terminal reports an error; no money moves."),
}

EXAMPLES = {
    1: "10.01 USD, 1,001 JPY",
    2: "10.02 USD",
    3: "10.03 USD",
    4: "10.04 USD",
    5: "10.05 USD",
}


def magic_outcome(amount_minor: int) -> str | None:
    """The outcome the amount asks for, or None when the buttons decide."""
    magic = MAGIC_AMOUNTS.get(abs(amount_minor) % 100)
    return magic.outcome if magic else None


def magic_table_markdown() -> str:
    """The table as Markdown, for the README."""
    lines = [
        "| amount ends in | outcome | what happens at the terminal | example |",
        "|---|---|---|---|",
    ]
    for ending, magic in MAGIC_AMOUNTS.items():
        lines.append(f"| `{ending:02d}` | {magic.result} | {magic.story} | {EXAMPLES[ending]} |")
    lines.append(
        "| anything else | decided on the virtual terminal | The request waits for Approve, Decline, "
        "Cancel as customer, Let it time out or Terminal error on `/sandbox/terminals/<id>/`. | 10.00 USD |"
    )
    return "\n".join(lines)
