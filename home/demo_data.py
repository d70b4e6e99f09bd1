"""The demo organisation: one platform admin, two resellers with three merchants each, two stores per
merchant, and a user of every role. Loading is idempotent: a second run finds and reuses every row."""

from dashboard.models import Membership, Merchant, Reseller, Role, Store, User

DEMO_PASSWORD = "demo-password-2026"

RESELLERS = {
    "Northwind Payments": {
        "Harbour Bakery": ["Main Street", "Harbour Front"],
        "Green Leaf Cafe": ["Old Town", "Station"],
        "Pixel Repair": ["City Centre", "Mall"],
    },
    "Southbay Retail Systems": {
        "Corner Books": ["Downtown", "Airport"],
        "Sunset Florist": ["Beach Road", "Market Hall"],
        "Bolt Bikes": ["Workshop", "Showroom"],
    },
}

# Merchants whose providers work in another currency than USD.
MERCHANT_CURRENCIES = {"Pixel Repair": "JPY", "Bolt Bikes": "DKK"}

# (email, role, reseller, merchant, store)
USERS = [
    ("admin@demo.test", Role.PLATFORM_ADMIN, None, None, None),
    ("reseller@northwind.test", Role.RESELLER_ADMIN, "Northwind Payments", None, None),
    ("manager@bakery.test", Role.MERCHANT_MANAGER, None, "Harbour Bakery", None),
    ("cashier@bakery.test", Role.CASHIER, None, "Harbour Bakery", "Main Street"),
    ("reseller@southbay.test", Role.RESELLER_ADMIN, "Southbay Retail Systems", None, None),
    ("manager@books.test", Role.MERCHANT_MANAGER, None, "Corner Books", None),
    ("cashier@books.test", Role.CASHIER, None, "Corner Books", "Downtown"),
]


def load_demo_data() -> list[tuple[str, str]]:
    """Create what is missing; return (email, role label) of the demo logins."""
    resellers, merchants, stores = {}, {}, {}
    for reseller_name, merchant_map in RESELLERS.items():
        reseller, _ = Reseller.objects.get_or_create(name=reseller_name)
        resellers[reseller_name] = reseller
        for merchant_name, store_names in merchant_map.items():
            merchant, _ = Merchant.objects.get_or_create(
                reseller=reseller,
                name=merchant_name,
                defaults={"default_currency": MERCHANT_CURRENCIES.get(merchant_name, "USD")},
            )
            merchants[merchant_name] = merchant
            for store_name in store_names:
                stores[(merchant_name, store_name)], _ = Store.objects.get_or_create(
                    merchant=merchant, name=store_name
                )

    logins = []
    for email, role, reseller_name, merchant_name, store_name in USERS:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=DEMO_PASSWORD)
        Membership.objects.update_or_create(
            user=user,
            defaults={
                "role": role,
                "reseller": resellers.get(reseller_name),
                "merchant": merchants.get(merchant_name),
                "store": stores.get((merchant_name, store_name)),
            },
        )
        logins.append((email, Role(role).label))
    return logins


# Sandbox provider accounts of the demo: (merchant, provider, label, secrets, settings, devices).
# Each becomes a SandboxAccount + SandboxDevices in the emulator and a ProviderAccount (environment
# "sandbox") of the merchant with the same secrets, so a demo user can take a payment at once.
# A device is (ref, name, store, manufacturer, model[, serial]): one name per terminal, the same in
# the sandbox and in the dashboard, and the merchant's store it stands in (place_demo_terminals).
DEMO_PROVIDER_ACCOUNTS = [
    (
        "Harbour Bakery",
        "payroc",
        "Bakery Payroc",
        {"api_key": "demo-payroc-bakery-5f2c9e81a7d34b06"},
        {"processing_terminal_id": "1234001"},
        [
            ("1850010868", "Counter 1", "Main Street", "Ingenico", "Lane/3000"),
            ("1850010869", "Counter 2", "Harbour Front", "Ingenico", "Lane/3000"),
        ],
    ),
    (
        "Harbour Bakery",
        "usaepay",
        "Bakery USAePay",
        {
            "api_key": "_DemoBakeryUsaepayKey7QtbC0TbtJWe",
            "api_pin": "246810",
            "webhook_signature_key": "demo-bakery-whsec-31c4",
        },
        {},
        [("sa_DemoBakeryTerminal0000000001", "Patio", "Harbour Front", "Castles", "MP200")],
    ),
    (
        "Green Leaf Cafe",
        "usaepay",
        "Cafe USAePay",
        {
            "api_key": "_DemoCafeUsaepayKeyV87Qtb513Cd3va",
            "api_pin": "135791",
            "webhook_signature_key": "demo-cafe-whsec-77a0",
        },
        {},
        [
            ("sa_DemoCafeTerminal000000000001", "Bar", "Old Town", "Castles", "MP200"),
            ("sa_DemoCafeTerminal000000000002", "Terrace", "Station", "Castles", "MP200"),
        ],
    ),
    (
        "Corner Books",
        "payroc",
        "Books Payroc",
        {"api_key": "demo-payroc-books-0b9d3f6e2c1a4785"},
        {"processing_terminal_id": "1234002"},
        [("1850020001", "Till", "Downtown", "PAX", "A920")],
    ),
    (
        "Corner Books",
        "usaepay",
        "Books USAePay",
        {
            "api_key": "_DemoBooksUsaepayKeyWeSo8p7V87Qtb",
            "api_pin": "112233",
            "webhook_signature_key": "demo-books-whsec-9e12",
        },
        {},
        [("sa_DemoBooksTerminal00000000001", "Front desk", "Airport", "Castles", "MP200")],
    ),
    (
        "Sunset Florist",
        "payroc",
        "Florist Payroc",
        {"api_key": "demo-payroc-florist-8a7e6d5c4b3a2910"},
        {"processing_terminal_id": "1234003"},
        [("1850030001", "Shop", "Beach Road", "PAX", "A920")],
    ),
    (
        "Sunset Florist",
        "klearly",
        "Florist Klearly",
        {
            "partner_id": "demo-partner-florist",
            "partner_secret": "demo-klearly-florist-3d9c2b7a",
            "webhook_secret": "demo-florist-whsec-0c5e",
        },
        {"merchant_id": "kl-merchant-florist", "store_id": "kl-store-beach-road"},
        [("kl-florist-till-1", "Market stall", "Market Hall", "Sunmi", "P2")],
    ),
    (
        "Pixel Repair",
        "komoju",
        "Pixel KOMOJU",
        {"secret_key": "sk_test_demo_pixel_5b8e1f2c7a", "webhook_secret": "demo-pixel-whsec-6f1a"},
        {"terminal_ids": ["tm_pixel_counter"]},
        [("tm_pixel_counter", "Repair desk", "City Centre", "Castles", "S1F2")],
    ),
    (
        "Bolt Bikes",
        "mobilepay",
        "Bikes MobilePay",
        {"access_token": "demo-integra-token-bolt-2e7d91", "bio_code": "demo-bio-bolt-4410"},
        {"terminal_ids": ["mp-bolt-workshop"]},
        [
            (
                "mp-bolt-workshop",
                "Workshop",
                "Workshop",
                "MobilePay",
                "Beacon",
                "3b1f8c2e-6d4a-4f0b-9c7e-5a2d1e0f9b31",
            )
        ],
    ),
]


def load_demo_provider_accounts() -> int:
    """Create the sandbox side and the dashboard side of each demo provider account (idempotent)."""
    from django.conf import settings as django_settings

    from credentials.services import account_ensure
    from providers.registry import capabilities_for
    from sandbox.services import sandbox_account_ensure, sandbox_device_ensure

    for (
        merchant_name,
        provider,
        label,
        secrets,
        account_settings,
        devices,
    ) in DEMO_PROVIDER_ACCOUNTS:
        merchant = Merchant.objects.get(name=merchant_name)
        sandbox_account = sandbox_account_ensure(
            provider=provider, label=label, secrets=secrets, settings=account_settings
        )
        for ref, name, _store, manufacturer, model, *serial in devices:
            # Integra addresses a PoS by terminal id and knows it by its posId (the serial).
            sandbox_device_ensure(
                account=sandbox_account,
                ref=ref,
                name=name,
                model=model,
                serial=serial[0] if serial else ref,
                manufacturer=manufacturer,
            )
        account = account_ensure(
            merchant=merchant,
            provider=provider,
            environment="sandbox",
            label=label,
            secrets=secrets,
            settings=account_settings,
        )
        if capabilities_for(provider).has_webhooks:
            # The emulator delivers its webhooks to our endpoint: the demo's KOMOJU, Klearly and
            # USAePay payments are webhook-driven.
            sandbox_account.settings = {
                **sandbox_account.settings,
                "webhook_url": (
                    f"{django_settings.SANDBOX_BASE_URL}/webhooks/{provider}/{account.uuid}/"
                ),
            }
            sandbox_account.save(update_fields=["settings"])
    return len(DEMO_PROVIDER_ACCOUNTS)


def place_demo_terminals() -> int:
    """Put each demo terminal the dashboard has listed in its store (when it is in none) and give it
    its sandbox device's name (Payroc keeps no name: there it is the dashboard's own).
    Idempotent; returns how many demo terminals the dashboard has not listed yet (a sync is due)."""
    from terminals.models import Terminal
    from terminals.services import RenameRefused, terminal_rename, terminals_assign_store

    missing = 0
    for merchant_name, provider, label, _secrets, _settings, devices in DEMO_PROVIDER_ACCOUNTS:
        for ref, name, store_name, *_ in devices:
            terminal = Terminal.objects.filter(
                account__merchant__name=merchant_name,
                account__provider=provider,
                account__label=label,
                provider_ref=ref,
            ).first()
            if terminal is None:
                missing += 1
                continue
            if terminal.store_id is None:
                store = Store.objects.get(merchant_id=terminal.merchant_id, name=store_name)
                terminals_assign_store(
                    terminals=Terminal.objects.filter(pk=terminal.pk), store=store, actor=None
                )
            if terminal.name != name:
                # Payroc keeps no name: the dashboard shows its own. Elsewhere the provider's name
                # is the device's already, and a rename would go to the sandbox.
                try:
                    terminal_rename(terminal=terminal, name=name, actor=None)
                except RenameRefused:  # recorded on the terminal; the sandbox is not up yet
                    missing += 1
    return missing


def sync_demo_terminals() -> int:
    """Queue a terminal sync of every demo provider account. The worker runs them once the web
    process (which serves the sandbox) answers; a sync that finds it not up yet tries again."""
    from terminals.services import terminals_sync_all

    return len(terminals_sync_all())
