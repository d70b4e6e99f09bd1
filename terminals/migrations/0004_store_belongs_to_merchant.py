"""A terminal's store belongs to the terminal's merchant, held by the database: a composite foreign key
(store_id, merchant_id) → dashboard_store (id, merchant_id) (the unique pair dashboard 0002 adds).
No code path can put a terminal in another merchant's store, and a store that has terminals cannot be
moved to another merchant (the UPDATE of the store fails). MATCH SIMPLE: a terminal without a store is
not checked. Not deferrable: the statement that would break it fails, where it is written.

Terminals already standing in a store of another merchant (a store moved to another merchant before
this rule) leave that store first, each with a history line saying why."""

from django.db import migrations, models
from django.utils import timezone

TERMINAL_FK = "terminal_store_of_its_merchant"


def take_terminals_out_of_stores_of_other_merchants(apps, schema_editor):
    Terminal = apps.get_model("terminals", "Terminal")
    TerminalEvent = apps.get_model("terminals", "TerminalEvent")
    misplaced = list(
        Terminal.objects.filter(store__isnull=False)
        .exclude(store__merchant_id=models.F("merchant_id"))
        .select_related("store")
    )
    if not misplaced:
        return
    now = timezone.now()
    TerminalEvent.objects.bulk_create(
        TerminalEvent(
            terminal_id=terminal.pk,
            kind="assigned",
            created_at=now,
            old_value=terminal.store.name[:200],
            new_value="",
            detail="Taken out of its store: the store belongs to another merchant.",
        )
        for terminal in misplaced
    )
    Terminal.objects.filter(pk__in=[t.pk for t in misplaced]).update(store=None)


class Migration(migrations.Migration):
    dependencies = [
        ("terminals", "0003_provider_choices_from_registry"),
        ("dashboard", "0002_name_keys_and_store_merchant"),
    ]

    operations = [
        migrations.RunPython(
            take_terminals_out_of_stores_of_other_merchants, migrations.RunPython.noop
        ),
        migrations.RunSQL(
            # IMMEDIATE first: the rows moved above leave no pending trigger events to block the ALTER.
            sql=f"""
                SET CONSTRAINTS ALL IMMEDIATE;
                ALTER TABLE terminals_terminal
                ADD CONSTRAINT {TERMINAL_FK}
                FOREIGN KEY (store_id, merchant_id) REFERENCES dashboard_store (id, merchant_id)
                MATCH SIMPLE ON UPDATE NO ACTION ON DELETE NO ACTION NOT DEFERRABLE
            """,
            reverse_sql=f"ALTER TABLE terminals_terminal DROP CONSTRAINT {TERMINAL_FK}",
        ),
    ]
