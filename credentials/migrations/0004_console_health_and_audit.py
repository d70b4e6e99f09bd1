"""The console's health columns on ProviderAccount (state, why, when it changed, last used for a
payment) and the append-only audit trail (AuditEntry), which takes over the old per-account
CredentialAuditEvent rows (copied, then the old table dropped).

AuditEntry is append-only in the database: a trigger refuses UPDATE, DELETE and TRUNCATE, except
* the UPDATE Django makes when an actor's user is deleted (only `actor_id` set to NULL; the
  `actor_label` keeps who it was), and
* a DELETE or TRUNCATE in a transaction that ran `SET LOCAL credentials.allow_audit_flush = 'on'`:
  the test run's flush between tests (tests/flushing.py). Nothing in the product sets it; a role
  that can set it can also drop the trigger, so it is no weaker than the table's owner.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def copy_old_events(apps, schema_editor):
    Old = apps.get_model("credentials", "CredentialAuditEvent")
    AuditEntry = apps.get_model("credentials", "AuditEntry")
    rows = Old.objects.select_related("account", "actor").order_by("pk").iterator(chunk_size=2000)
    batch = []
    for old in rows:
        batch.append(
            AuditEntry(
                created_at=old.created_at,
                action=old.action,
                outcome="failure"
                if old.action in ("verify_failed", "rotation_failed")
                else "success",
                actor_id=old.actor_id,
                actor_label=old.actor.email if old.actor_id else "system",
                account_id=old.account_id,
                merchant_id=old.account.merchant_id,
                detail=old.detail,
            )
        )
        if len(batch) >= 2000:
            AuditEntry.objects.bulk_create(batch)
            batch = []
    AuditEntry.objects.bulk_create(batch)


APPEND_ONLY = """
CREATE FUNCTION credentials_auditentry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE')
       AND coalesce(current_setting('credentials.allow_audit_flush', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.actor_id IS NOT NULL AND NEW.actor_id IS NULL
           AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'the credentials audit trail is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER credentials_auditentry_append_only_rows
    BEFORE UPDATE OR DELETE ON credentials_auditentry
    FOR EACH ROW EXECUTE FUNCTION credentials_auditentry_append_only();
CREATE TRIGGER credentials_auditentry_append_only_truncate
    BEFORE TRUNCATE ON credentials_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION credentials_auditentry_append_only();
"""

APPEND_ONLY_REVERSE = """
DROP TRIGGER IF EXISTS credentials_auditentry_append_only_truncate ON credentials_auditentry;
DROP TRIGGER IF EXISTS credentials_auditentry_append_only_rows ON credentials_auditentry;
DROP FUNCTION IF EXISTS credentials_auditentry_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("credentials", "0003_provideraccount_uuid"),
        ("dashboard", "0002_name_keys_and_store_merchant"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="provideraccount",
            name="last_used_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="provideraccount",
            name="state",
            field=models.CharField(
                choices=[
                    ("unverified", "Not verified yet"),
                    ("valid", "Valid"),
                    ("invalid", "Invalid"),
                    ("needs_attention", "Needs attention"),
                    ("rotating", "Rotation in progress"),
                ],
                default="unverified",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="provideraccount",
            name="state_changed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="provideraccount",
            name="state_reason",
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.AddIndex(
            model_name="provideraccount",
            index=models.Index(fields=["state"], name="account_state"),
        ),
        migrations.AddField(
            model_name="provideraccount",
            name="secret_expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="provideraccount",
            index=models.Index(fields=["secret_expires_at"], name="account_secret_expiry"),
        ),
        migrations.AddIndex(
            model_name="provideraccount",
            index=models.Index(fields=["last_verified_at"], name="account_last_verified"),
        ),
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(default=django.utils.timezone.now, editable=False),
                ),
                (
                    "action",
                    models.CharField(
                        choices=[
                            ("created", "Account created"),
                            ("edited", "Account edited"),
                            ("token_obtained", "Access token obtained"),
                            ("token_refreshed", "Access token refreshed"),
                            ("token_refresh_failed", "Access token refresh failed"),
                            ("verified", "Verified against the provider"),
                            ("verify_failed", "Verification failed"),
                            ("state_changed", "State changed"),
                            ("synced", "Terminal list read"),
                            ("sync_failed", "Terminal list could not be read"),
                            ("rotation_started", "New secret stored as pending"),
                            ("rotation_verified", "Pending secret verified"),
                            ("rotation_activated", "New secret verified and activated"),
                            ("rotation_retired", "Old secret retired"),
                            (
                                "rotation_failed",
                                "New secret failed verification; the old one stays active",
                            ),
                            ("policy_changed", "Rotation policy changed"),
                            (
                                "secret_reveal_refused",
                                "Secret reveal refused (secrets are write-only)",
                            ),
                            ("key_rotated", "Re-encrypted under the newest vault key"),
                        ],
                        max_length=40,
                    ),
                ),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("success", "Succeeded"),
                            ("failure", "Failed"),
                            ("refused", "Refused"),
                        ],
                        default="success",
                        max_length=10,
                    ),
                ),
                ("actor_label", models.CharField(max_length=254)),
                ("source_address", models.CharField(blank=True, max_length=45)),
                ("request_id", models.CharField(blank=True, max_length=64)),
                ("detail", models.CharField(blank=True, max_length=500)),
            ],
            options={
                "verbose_name_plural": "audit entries",
                "ordering": ["-created_at", "-pk"],
            },
        ),
        migrations.AddField(
            model_name="auditentry",
            name="account",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="audit_events",
                to="credentials.provideraccount",
            ),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="credential_audit_entries",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="merchant",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="credential_audit_entries",
                to="dashboard.merchant",
            ),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["-created_at", "-id"], name="audit_recent"),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(
                fields=["merchant", "-created_at", "-id"], name="audit_merchant_recent"
            ),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(
                fields=["account", "-created_at", "-id"], name="audit_account_recent"
            ),
        ),
        migrations.RunPython(copy_old_events, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="credentialauditevent",
            name="account",
        ),
        migrations.RemoveField(
            model_name="credentialauditevent",
            name="actor",
        ),
        migrations.DeleteModel(
            name="CredentialAuditEvent",
        ),
        migrations.RunSQL(APPEND_ONLY, reverse_sql=APPEND_ONLY_REVERSE),
    ]
