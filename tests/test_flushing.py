"""The test run's flush (tests/flushing.py) empties every table, whatever references what, except
the content types and permissions the migrations made, which it keeps without a `post_migrate`."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection

from tests.factories import make_account, make_payment_terminal
from tests.flushing import ALLOW_AUDIT_FLUSH, KEPT


@pytest.mark.django_db(transaction=True)
def test_a_flush_empties_every_table_of_a_full_tenant(tenant_a):
    account = make_account(tenant_a.merchant, "payroc", label="Payroc A")
    make_payment_terminal(account, store=tenant_a.store, name="Lane 1")
    statements = connection.ops.sql_flush(
        no_style(),
        connection.introspection.django_table_names(only_existing=True, include_views=False),
    )
    # One statement (one round trip): the audit trail's escape for this transaction only, then
    # deferred keys, then DELETEs.
    assert len(statements) == 1
    lines = statements[0].splitlines()
    assert lines[0] == ALLOW_AUDIT_FLUSH
    assert lines[1].startswith("SET CONSTRAINTS")
    assert all(s.startswith("DELETE FROM") for s in lines[2:])

    call_command("flush", verbosity=0, interactive=False)

    with connection.cursor() as cursor:
        for model in apps.get_models(include_auto_created=True):
            table = model._meta.db_table
            if table in KEPT or model._meta.proxy or not model._meta.managed:
                continue
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            assert cursor.fetchone()[0] == 0, table


@pytest.mark.django_db(transaction=True)
def test_a_flush_keeps_every_content_type_and_permission_and_sends_no_post_migrate(tenant_a):
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType
    from django.db.models.signals import post_migrate

    kept = (
        set(ContentType.objects.values_list("app_label", "model")),
        set(Permission.objects.values_list("content_type__app_label", "codename")),
    )
    # Every model's content type and default permissions are there, as migrate made them.
    assert ("payments", "payment") in kept[0]
    assert ("payments", "view_payment") in kept[1]
    sent = []

    def receiver(**kwargs):
        sent.append(kwargs)

    post_migrate.connect(receiver, weak=False)
    try:
        call_command("flush", verbosity=0, interactive=False)
    finally:
        post_migrate.disconnect(receiver)

    assert sent == []
    ContentType.objects.clear_cache()
    assert set(ContentType.objects.values_list("app_label", "model")) == kept[0]
    assert set(Permission.objects.values_list("content_type__app_label", "codename")) == kept[1]
