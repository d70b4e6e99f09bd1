from django.urls import reverse

from dashboard.models import membership_of

# (label, url name, permission or None for any member)
_NAVIGATION = [
    ("Overview", "home", None),
    ("Terminals", "terminals:fleet", "terminals.view_terminals"),
    ("Payments", "payments:history", "payments.view_payments"),
    ("Resellers", "dashboard:reseller_list", "dashboard.manage_resellers"),
    ("Merchants", "dashboard:merchant_list", "dashboard.manage_merchants"),
    ("Stores", "dashboard:store_list", "dashboard.manage_stores"),
    ("Provider accounts", "credentials:account_list", "credentials.view_accounts"),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "membership": None}
    items = [
        {"label": label, "url": reverse(name), "active": request.path == reverse(name)}
        for label, name, perm in _NAVIGATION
        if perm is None or user.has_perm(perm)
    ]
    return {"nav_items": items, "membership": membership_of(user)}
