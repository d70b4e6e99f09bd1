"""Role capabilities (the architecture's table) as django-rules permissions.

Object scoping is not done here: views reach objects through `for_user(user)` first (404 outside the
scope), then ask these permissions (403 for a forbidden action on a visible object).
"""

import rules

from dashboard.models import Role, membership_of


def _has_role(*roles):
    @rules.predicate
    def predicate(user) -> bool:
        membership = membership_of(user)
        return membership is not None and membership.role in roles

    return predicate


is_platform_admin = _has_role(Role.PLATFORM_ADMIN)
is_reseller_admin = _has_role(Role.RESELLER_ADMIN)
is_merchant_manager = _has_role(Role.MERCHANT_MANAGER)
is_cashier = _has_role(Role.CASHIER)
is_member = _has_role(*Role.values)

# Organisation management
rules.add_perm("dashboard.manage_resellers", is_platform_admin)
rules.add_perm("dashboard.manage_merchants", is_platform_admin | is_reseller_admin)
rules.add_perm("dashboard.manage_stores", is_platform_admin | is_reseller_admin)

# Terminals
rules.add_perm("terminals.view_terminals", is_member)
rules.add_perm(
    "terminals.rename_terminal", is_platform_admin | is_reseller_admin | is_merchant_manager
)

# Payments
rules.add_perm("payments.view_payments", is_member)
rules.add_perm("payments.take_payment", is_platform_admin | is_merchant_manager | is_cashier)
rules.add_perm("payments.abort_payment", is_platform_admin | is_merchant_manager | is_cashier)
rules.add_perm("payments.refund_payment", is_platform_admin | is_merchant_manager)
rules.add_perm("payments.capture_payment", is_platform_admin | is_merchant_manager)
rules.add_perm(
    "payments.export_payments", is_platform_admin | is_reseller_admin | is_merchant_manager
)

# Credentials
rules.add_perm("credentials.view_accounts", is_platform_admin | is_reseller_admin)
rules.add_perm("credentials.verify_account", is_platform_admin | is_reseller_admin)
rules.add_perm("credentials.manage_accounts", is_platform_admin)
rules.add_perm("credentials.view_audit", is_platform_admin | is_reseller_admin)
