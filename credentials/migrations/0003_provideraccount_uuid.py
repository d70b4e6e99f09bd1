"""Each provider account gets a UUID for its webhook address; existing rows get one each."""

import uuid

from django.db import migrations, models


def fill_uuids(apps, schema_editor):
    ProviderAccount = apps.get_model("credentials", "ProviderAccount")
    for account in ProviderAccount.objects.filter(uuid__isnull=True).only("pk"):
        ProviderAccount.objects.filter(pk=account.pk).update(uuid=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [("credentials", "0002_provider_choices_from_registry")]

    operations = [
        migrations.AddField(
            model_name="provideraccount", name="uuid", field=models.UUIDField(null=True)
        ),
        migrations.RunPython(fill_uuids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="provideraccount",
            name="uuid",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
    ]
