"""Two-phase rotation, needs-attention and the refresh lease on ProviderAccount
(credentials/rotation.py, credentials/refresh.py). Existing accounts count their secrets' age from
their creation."""

from django.db import migrations, models
from django.db.models import F


def secrets_age_from_creation(apps, schema_editor):
    ProviderAccount = apps.get_model("credentials", "ProviderAccount")
    ProviderAccount.objects.filter(secrets_changed_at__isnull=True).update(
        secrets_changed_at=F("created_at")
    )


class Migration(migrations.Migration):
    dependencies = [("credentials", "0004_console_health_and_audit")]

    operations = [
        migrations.AddField(
            model_name="provideraccount",
            name="rotation_step",
            field=models.CharField(
                blank=True,
                choices=[
                    ("pending", "New secret stored, being verified"),
                    ("activated", "New secret active, old one not yet retired"),
                ],
                default="",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="provideraccount",
            name="rotation_started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="provideraccount",
            name="previous_secrets_encrypted",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="provideraccount",
            name="secrets_changed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="provideraccount",
            name="self_rotate_every_days",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="provideraccount",
            name="key_age_limit_days",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="provideraccount",
            name="key_reminded_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="provideraccount",
            name="needs_attention_cause",
            field=models.CharField(
                blank=True,
                choices=[
                    ("refresh", "Token refresh failed"),
                    ("rotation", "Rotation needs a person"),
                    ("reminder", "Key close to its age limit"),
                ],
                default="",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="provideraccount",
            name="recovery_steps",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="provideraccount",
            name="refresh_lease_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(secrets_age_from_creation, migrations.RunPython.noop),
    ]
