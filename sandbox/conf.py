"""The sandbox's settings, each read with a default so the sandbox needs no entry in settings.py.

| setting | default | meaning |
|---|---|---|
| SANDBOX_PAYROC_TOKEN_TTL_S | 3600 | lifetime of a Payroc bearer token (`expires_in`) |
| SANDBOX_PAYROC_LONG_POLL_S | 30 | how long `GET /payment-instructions/{id}` holds while `inProgress` |
| SANDBOX_HELD_CALL_READ_S | 10 | longest wait of a held status call between two reads when no change is announced (sandbox/wakeups.py) |
| SANDBOX_PAYROC_INSTRUCTION_TIMEOUT_S | 120 | how long a Payroc device waits for the card |
| SANDBOX_MAGIC_DELAY_S | 2 | pause between the start and a magic amount's outcome |
| SANDBOX_MOBILEPAY_TIMEOUT_S | 120 | how long a MobilePay payment waits for the customer |
| SANDBOX_KOMOJU_TIMEOUT_S | 120 | how long a KOMOJU terminal waits for the card |
| SANDBOX_KLEARLY_TIMEOUT_S | 120 | how long the Klearly app waits for the card |
| SANDBOX_KLEARLY_TOKEN_TTL_S | 3600 | lifetime of a Klearly merchant token (`expiresIn`) |
| SANDBOX_WEBHOOK_MAX_ATTEMPTS | 5 | attempts per webhook delivery before it is given up |
| SANDBOX_WEBHOOK_RETRY_S | 30 | pause before retry n is n times this |
| SANDBOX_WEBHOOK_TIMEOUT_S | 5 | how long one delivery attempt may take |
| SANDBOX_WEBHOOK_HOLD_MAX_S | 60 | longest wait of an out-of-order webhook for the next one |
"""

from django.conf import settings

DEFAULTS: dict[str, float] = {
    "SANDBOX_PAYROC_TOKEN_TTL_S": 3600,
    "SANDBOX_PAYROC_LONG_POLL_S": 30,
    "SANDBOX_HELD_CALL_READ_S": 10,
    "SANDBOX_PAYROC_INSTRUCTION_TIMEOUT_S": 120,
    "SANDBOX_MAGIC_DELAY_S": 2,
    "SANDBOX_MOBILEPAY_TIMEOUT_S": 120,
    "SANDBOX_KOMOJU_TIMEOUT_S": 120,
    "SANDBOX_KLEARLY_TIMEOUT_S": 120,
    "SANDBOX_KLEARLY_TOKEN_TTL_S": 3600,
    "SANDBOX_WEBHOOK_MAX_ATTEMPTS": 5,
    "SANDBOX_WEBHOOK_RETRY_S": 30,
    "SANDBOX_WEBHOOK_TIMEOUT_S": 5,
    "SANDBOX_WEBHOOK_HOLD_MAX_S": 60,
}


def setting(name: str) -> float:
    """The setting's current value (read on every call, so tests may override it)."""
    return getattr(settings, name, DEFAULTS[name])
