"""Provider name -> adapter class, imported only when first needed."""

from __future__ import annotations

import importlib
from functools import cache

import httpx

from providers.base import AccountConfig, Capabilities, Provider, TokenStore

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


@cache
def provider_class(name: str) -> type[Provider]:
    try:
        target = PROVIDER_CLASSES[name]
    except KeyError:
        raise UnknownProvider(f"No provider adapter named {name!r}") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def capabilities_for(name: str) -> Capabilities:
    return provider_class(name).capabilities


def get_provider(
    account: AccountConfig,
    token_store: TokenStore | None = None,
    client: httpx.Client | None = None,
) -> Provider:
    """The adapter for ``account.provider``, bound to that account.

    Without ``client`` the adapter opens its own (close it with ``provider.close()``
    or use it as a context manager); without ``token_store`` tokens live in memory.
    """
    return provider_class(account.provider)(account, token_store=token_store, client=client)
