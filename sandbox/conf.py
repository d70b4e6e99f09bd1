"""The sandbox's settings, each read with a default so the sandbox needs no entry in settings.py.

| setting | default | meaning |
|---|---|---|
| SANDBOX_PAYROC_TOKEN_TTL_S | 3600 | lifetime of a Payroc bearer token (`expires_in`) |
| SANDBOX_PAYROC_LONG_POLL_S | 30 | how long `GET /payment-instructions/{id}` holds while `inProgress` |
| SANDBOX_PAYROC_INSTRUCTION_TIMEOUT_S | 120 | how long a Payroc device waits for the card |
| SANDBOX_MAGIC_DELAY_S | 2 | pause between the start and a magic amount's outcome |
"""

from django.conf import settings

DEFAULTS: dict[str, float] = {
    "SANDBOX_PAYROC_TOKEN_TTL_S": 3600,
    "SANDBOX_PAYROC_LONG_POLL_S": 30,
    "SANDBOX_PAYROC_INSTRUCTION_TIMEOUT_S": 120,
    "SANDBOX_MAGIC_DELAY_S": 2,
}


def setting(name: str) -> float:
    """The setting's current value (read on every call, so tests may override it)."""
    return getattr(settings, name, DEFAULTS[name])
