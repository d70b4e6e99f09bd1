"""Names unique apart from case and width within their parent (a functional unique index on
lower(normalize(name, NFKC)): PostgreSQL 13 or newer, a UTF-8 database), and a store's merchant fixed
for what stands in it: Store (id, merchant_id) is unique, and a cashier's membership names its store
with its merchant, (store_id, merchant_id) → Store (id, merchant_id), so the database refuses a
cashier tied to a store of another merchant, and refuses to move such a store to another merchant.
Terminals get the same foreign key in terminals 0003."""

import django.db.models.functions.text
from django.db import migrations, models

MEMBERSHIP_FK = "membership_store_of_its_merchant"


def refuse_memberships_in_stores_of_other_merchants(apps, schema_editor):
    """A cashier tied to a store of another merchant (a store moved before this rule): neither fix
    is safe to guess (no store widens the cashier to the whole merchant; the store's merchant would
    give the cashier another merchant), so a person decides."""
    Membership = apps.get_model("dashboard", "Membership")
    wrong = (
        Membership.objects.filter(store__isnull=False)
        .exclude(store__merchant_id=models.F("merchant_id"))
        .values_list("pk", flat=True)
    )
    if wrong:
        raise RuntimeError(
            "These memberships are tied to a store of another merchant than their own: "
            f"{sorted(wrong)}. Give each the right store (or merchant) and migrate again."
        )


class Migration(migrations.Migration):

    dependencies = [
        ('dashboard', '0001_initial'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='merchant',
            name='merchant_name_unique_in_reseller',
        ),
        migrations.RemoveConstraint(
            model_name='store',
            name='store_name_unique_in_merchant',
        ),
        migrations.AddConstraint(
            model_name='merchant',
            constraint=models.UniqueConstraint(models.F('reseller'), django.db.models.functions.text.Lower(models.Func(models.F('name'), template='normalize(%(expressions)s, NFKC)')), name='merchant_name_key_unique_in_reseller', violation_error_message='This reseller already has a merchant with this name.'),
        ),
        migrations.AddConstraint(
            model_name='reseller',
            constraint=models.UniqueConstraint(django.db.models.functions.text.Lower(models.Func(models.F('name'), template='normalize(%(expressions)s, NFKC)')), name='reseller_name_key_unique', violation_error_message='A reseller with this name already exists.'),
        ),
        migrations.AddConstraint(
            model_name='store',
            constraint=models.UniqueConstraint(models.F('merchant'), django.db.models.functions.text.Lower(models.Func(models.F('name'), template='normalize(%(expressions)s, NFKC)')), name='store_name_key_unique_in_merchant', violation_error_message='This merchant already has a store with this name.'),
        ),
        migrations.AddConstraint(
            model_name='store',
            constraint=models.UniqueConstraint(fields=('id', 'merchant'), name='store_id_merchant_unique'),
        ),
        migrations.RunPython(
            refuse_memberships_in_stores_of_other_merchants, migrations.RunPython.noop
        ),
        # MATCH SIMPLE: a membership without a store (every role but a store's cashier) is not
        # checked. Not deferrable: the statement that would break it fails, where it is written.
        migrations.RunSQL(
            sql=f"""
                ALTER TABLE dashboard_membership
                ADD CONSTRAINT {MEMBERSHIP_FK}
                FOREIGN KEY (store_id, merchant_id) REFERENCES dashboard_store (id, merchant_id)
                MATCH SIMPLE ON UPDATE NO ACTION ON DELETE NO ACTION NOT DEFERRABLE
            """,
            reverse_sql=f"ALTER TABLE dashboard_membership DROP CONSTRAINT {MEMBERSHIP_FK}",
        ),
    ]
