"""The migration that adds "a terminal's store belongs to the terminal's merchant" to the database takes
terminals out of a store that was moved to another merchant before the rule, each with a history line."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [
    ("terminals", "0003_provider_choices_from_registry"),
    ("dashboard", "0001_initial"),
    ("credentials", "0002_provider_choices_from_registry"),
]
AFTER = [("terminals", "0004_store_belongs_to_merchant")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_terminals_in_a_store_of_another_merchant_leave_it_with_a_history_line():
    old = migrate(BEFORE)
    Reseller = old.get_model("dashboard", "Reseller")
    Merchant = old.get_model("dashboard", "Merchant")
    Store = old.get_model("dashboard", "Store")
    Account = old.get_model("credentials", "ProviderAccount")
    Terminal = old.get_model("terminals", "Terminal")
    try:
        reseller = Reseller.objects.create(name="R")
        first = Merchant.objects.create(reseller=reseller, name="First")
        second = Merchant.objects.create(reseller=reseller, name="Second")
        store = Store.objects.create(merchant=first, name="Harbour")
        account = Account.objects.create(
            merchant=first, provider="payroc", environment="sandbox", label="P"
        )
        common = {"account": account, "merchant": first, "provider": "payroc", "store": store}
        moved = Terminal.objects.create(provider_ref="a", name="Moved along", **common)
        kept = Terminal.objects.create(provider_ref="b", name="Kept", **common)
        Store.objects.filter(pk=store.pk).update(merchant=second)  # the old bug
        Terminal.objects.filter(pk=kept.pk).update(merchant=second)

        new = migrate(AFTER)

        Terminal = new.get_model("terminals", "Terminal")
        assert Terminal.objects.get(pk=moved.pk).store_id is None
        assert Terminal.objects.get(pk=kept.pk).store_id == store.pk
        events = new.get_model("terminals", "TerminalEvent").objects.filter(kind="assigned")
        assert [(e.terminal_id, e.old_value) for e in events] == [(moved.pk, "Harbour")]
        assert "belongs to another merchant" in events[0].detail
    finally:
        migrate(executor_leaf_nodes())


def executor_leaf_nodes():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()
