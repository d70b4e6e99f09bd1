"""Provider name -> adapter class, imported only when first needed.

``PROVIDER_CLASSES`` is the one list of providers: the credentials forms, the model choices and the
fleet filters are derived from it and from the facts on each adapter class (``display_name``,
``terminal_ref_label``, ``secret_fields``, ``setting_fields``, ``environments``,
``sandbox_endpoints``).
"""

from __future__ import annotations

import importlib

import httpx

from providers.base import (
    AccountConfig,
    AccountField,
    Capabilities,
    Endpoints,
    Environment,
    ProviderAdapter,
    TokenStore,
)

# "module:Class".
PROVIDER_CLASSES: dict[str, str] = {
    "klearly": "providers.klearly:KlearlyProvider",
    "komoju": "providers.komoju:KomojuProvider",
    "mobilepay": "providers.mobilepay:MobilepayProvider",
    "payroc": "providers.payroc:PayrocProvider",
    "usaepay": "providers.usaepay:UsaepayProvider",
}


class UnknownProvider(LookupError):
    """No adapter is registered under this name."""


def provider_names() -> list[str]:
    return sorted(PROVIDER_CLASSES)


def provider_class(name: str) -> type[ProviderAdapter]:
    # Not cached here: the import is (sys.modules), and a test may register a provider for a while.
    try:
        target = PROVIDER_CLASSES[name]
    except KeyError:
        raise UnknownProvider(f"No provider adapter named {name!r}") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def provider_choices() -> list[tuple[str, str]]:
    """(name, display name) of every provider, by display name: model and form choices."""
    choices = [(name, provider_class(name).display_name) for name in PROVIDER_CLASSES]
    return sorted(choices, key=lambda choice: choice[1].casefold())


def display_name(name: str) -> str:
    """How pages name the provider; the stored name itself if no adapter is registered for it."""
    try:
        return provider_class(name).display_name
    except UnknownProvider:
        return name


def terminal_ref_label(name: str) -> str:
    """What the provider calls a terminal's id ("Serial number"); "Terminal ID" if unknown."""
    try:
        return provider_class(name).terminal_ref_label
    except UnknownProvider:
        return "Terminal ID"


def secret_fields(name: str) -> tuple[AccountField, ...]:
    return provider_class(name).secret_fields


def setting_fields(name: str) -> tuple[AccountField, ...]:
    return provider_class(name).setting_fields


def capabilities_for(name: str) -> Capabilities:
    return provider_class(name).capabilities


def endpoints_for(name: str, environment: str, *, sandbox_base_url: str) -> Endpoints:
    """The URLs of provider ``name`` in ``environment``; LookupError if it has none there.

    Sandbox paths are joined to ``sandbox_base_url`` (the dashboard's ``SANDBOX_BASE_URL``).
    """
    adapter = provider_class(name)
    if environment == Environment.SANDBOX:
        paths = adapter.sandbox_endpoints
        if paths is None:
            raise LookupError(f"no sandbox for provider {name!r} yet")
        root = sandbox_base_url.rstrip("/")
        return Endpoints(
            root + paths.base_url, root + paths.identity_url if paths.identity_url else None
        )
    try:
        return adapter.environments[environment]
    except KeyError:
        raise LookupError(f"no known {environment!r} environment for provider {name!r}") from None


def get_provider(
    account: AccountConfig,
    token_store: TokenStore | None = None,
    client: httpx.Client | None = None,
) -> ProviderAdapter:
    """The adapter for ``account.provider``, bound to that account.

    Without ``client`` the adapter opens its own (close it with ``provider.close()``
    or use it as a context manager); without ``token_store`` tokens live in memory.
    """
    return provider_class(account.provider)(account, token_store=token_store, client=client)
