"""Terminal permissions beyond dashboard/rules.py (view and rename live there), found by rules'
autodiscovery. Object scoping is done by Terminal.objects.for_user() first (404), these give 403."""

import rules

from dashboard.rules import is_member, is_merchant_manager, is_platform_admin, is_reseller_admin

# "Sync now", store assignment (one or many terminals) and the CSV export: people who manage a fleet.
rules.add_perm(
    "terminals.sync_terminals", is_platform_admin | is_reseller_admin | is_merchant_manager
)
rules.add_perm(
    "terminals.assign_store", is_platform_admin | is_reseller_admin | is_merchant_manager
)
rules.add_perm(
    "terminals.export_terminals", is_platform_admin | is_reseller_admin | is_merchant_manager
)
# Probing asks the provider about one terminal; anyone who may see it may ask, a cashier too.
rules.add_perm("terminals.probe_terminal", is_member)
