from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sandbox", "0005_emulator_choices_from_registry")]

    operations = [
        migrations.AddField(
            model_name="sandboxaccount",
            name="issued_secrets",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="sandboxaccount",
            name="credential_fail_next_5xx",
            field=models.PositiveIntegerField(
                default=0,
                help_text="Answer the next N credential checks with a 5xx, processing nothing",
            ),
        ),
        migrations.AddField(
            model_name="sandboxaccount",
            name="credential_lose_next_response",
            field=models.BooleanField(
                default=False, help_text="Process the next credential call, then break its response"
            ),
        ),
        migrations.AddField(
            model_name="sandboxaccount",
            name="credential_refuse_next",
            field=models.BooleanField(
                default=False, help_text="Refuse the next credential check as wrong credentials"
            ),
        ),
    ]
