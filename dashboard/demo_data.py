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
            merchant, _ = Merchant.objects.get_or_create(reseller=reseller, name=merchant_name)
            merchants[merchant_name] = merchant
            for store_name in store_names:
                stores[(merchant_name, store_name)], _ = Store.objects.get_or_create(merchant=merchant, name=store_name)

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
