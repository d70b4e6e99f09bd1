"""The known environments of each provider. A base URL is chosen from here, never typed in by a
merchant: a free URL would let a tenant point our servers at any address."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


class Environment:
    SANDBOX = "sandbox"
    PROVIDER_TEST = "test"
    LIVE = "live"
    CHOICES = [(SANDBOX, "Our sandbox"), (PROVIDER_TEST, "Provider test"), (LIVE, "Live")]


class Provider:
    PAYROC = "payroc"
    USAEPAY = "usaepay"
    KLEARLY = "klearly"
    MOBILEPAY = "mobilepay"
    KOMOJU = "komoju"
    CHOICES = [
        (KLEARLY, "Klearly"),
        (PAYROC, "Payroc Cloud"),
        (MOBILEPAY, "MobilePay PoS (Integra)"),
        (KOMOJU, "KOMOJU"),
        (USAEPAY, "USAePay"),
    ]


@dataclass(frozen=True)
class Endpoints:
    base_url: str
    identity_url: str | None = None


# Real hosts from ../shared/providers/*.md. Sandbox entries are paths below settings.SANDBOX_BASE_URL.
_REAL = {
    (Provider.PAYROC, Environment.LIVE): Endpoints(
        "https://api.payroc.com/v1", "https://identity.payroc.com/authorize"
    ),
    (Provider.PAYROC, Environment.PROVIDER_TEST): Endpoints(
        "https://api.uat.payroc.com/v1", "https://identity.uat.payroc.com/authorize"
    ),
    (Provider.USAEPAY, Environment.LIVE): Endpoints("https://usaepay.com/api/v2"),
    (Provider.USAEPAY, Environment.PROVIDER_TEST): Endpoints("https://sandbox.usaepay.com/api/v2"),
    # KOMOJU selects test or live by the key pair, on one host.
    (Provider.KOMOJU, Environment.LIVE): Endpoints("https://komoju.com/api/v1"),
    (Provider.KOMOJU, Environment.PROVIDER_TEST): Endpoints("https://komoju.com/api/v1"),
    (Provider.MOBILEPAY, Environment.LIVE): Endpoints("https://mobilepay-pos.poweredbyintegra.dk"),
    # Klearly's API host is not public (../shared/providers/klearly.md): only our sandbox until a partner
    # account tells us; a merchant can never type one in.
}
_SANDBOX_PATHS = {
    Provider.PAYROC: Endpoints("/sandbox/payroc/v1", "/sandbox/payroc/identity/authorize"),
    Provider.USAEPAY: Endpoints("/sandbox/usaepay/api/v2"),
    Provider.KOMOJU: Endpoints("/sandbox/komoju/api/v1"),
    Provider.KLEARLY: Endpoints("/sandbox/klearly/v1"),
    Provider.MOBILEPAY: Endpoints("/sandbox/mobilepay"),
}

# Which secrets and settings each provider needs (field name, label).
SECRET_FIELDS = {
    Provider.PAYROC: [("api_key", "API key")],
    Provider.USAEPAY: [
        ("api_key", "API key"),
        ("api_pin", "API PIN"),
        ("webhook_signature_key", "Webhook signature key"),
    ],
    Provider.KOMOJU: [("secret_key", "Secret key"), ("webhook_secret", "Webhook secret")],
    Provider.KLEARLY: [
        ("partner_id", "Partner ID"),
        ("partner_secret", "Partner secret"),
        ("webhook_secret", "Webhook secret"),
    ],
    Provider.MOBILEPAY: [("access_token", "Access token"), ("bio_code", "bioCode")],
}
SETTING_FIELDS = {
    Provider.PAYROC: [("processing_terminal_id", "Processing terminal ID")],
    Provider.USAEPAY: [],
    Provider.KOMOJU: [("terminal_ids", "Terminal IDs")],
    Provider.KLEARLY: [("merchant_id", "Klearly merchant ID"), ("store_id", "Klearly store ID")],
    Provider.MOBILEPAY: [("terminal_ids", "PoS IDs")],
}


def endpoints_for(provider: str, environment: str) -> Endpoints:
    if environment == Environment.SANDBOX:
        paths = _SANDBOX_PATHS.get(provider)
        if paths is None:
            raise LookupError(f"no sandbox for provider {provider!r} yet")
        root = settings.SANDBOX_BASE_URL.rstrip("/")
        return Endpoints(
            root + paths.base_url, root + paths.identity_url if paths.identity_url else None
        )
    try:
        return _REAL[(provider, environment)]
    except KeyError:
        raise LookupError(
            f"no known {environment!r} environment for provider {provider!r}"
        ) from None


def supported_providers() -> list[str]:
    return list(_SANDBOX_PATHS)
