"""The environments an account can run in, and the URLs of each provider there.

A base URL is chosen from the adapter's known environments (``providers/<name>.py``:
``environments`` and ``sandbox_endpoints``), never typed in by a merchant: a free URL would let a
tenant point our servers at any address.
"""

from __future__ import annotations

from django.conf import settings

from providers import registry
from providers.base import Endpoints, Environment

ENVIRONMENT_CHOICES = [
    (Environment.SANDBOX.value, "Our sandbox"),
    (Environment.PROVIDER_TEST.value, "Provider test"),
    (Environment.LIVE.value, "Live"),
]

__all__ = ["ENVIRONMENT_CHOICES", "Endpoints", "Environment", "endpoints_for"]


def endpoints_for(provider: str, environment: str) -> Endpoints:
    """The URLs of ``provider`` in ``environment``; LookupError if it has none there."""
    return registry.endpoints_for(provider, environment, sandbox_base_url=settings.SANDBOX_BASE_URL)
