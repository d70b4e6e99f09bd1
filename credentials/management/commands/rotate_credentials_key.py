from django.core.management.base import BaseCommand, CommandError

from credentials.rotation import vault_reencrypt_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored provider secret and token under the newest key of CREDENTIALS_KEYS. "
        "Put the new key first, keep the old ones after it, run this, then drop the old keys. "
        "Safe to run twice and to interrupt: each batch commits on its own, and a value already "
        "under the newest key is left as it is."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=200, help="accounts per transaction (default 200)"
        )

    def handle(self, *args, batch_size: int, **options):
        def progress(counts, total):
            self.stdout.write(
                f"{counts.accounts}/{total} accounts: {counts.values_reencrypted} secret value(s) and "
                f"{counts.tokens_reencrypted} token(s) re-encrypted, {counts.already_current} already "
                "under the newest key"
            )

        counts = vault_reencrypt_all(batch_size=max(1, batch_size), on_progress=progress)
        self.stdout.write(
            f"Done: {counts.accounts} account(s); re-encrypted {counts.values_reencrypted} secret "
            f"value(s) and {counts.tokens_reencrypted} token(s); {counts.already_current} already "
            f"under the newest key; {counts.unreadable} unreadable."
        )
        if counts.unreadable:
            raise CommandError(
                f"{counts.unreadable} stored value(s) open with none of the configured keys: put the "
                "key they were encrypted with back into CREDENTIALS_KEYS (after the newest) and run "
                "this again."
            )
        self.stdout.write(
            self.style.SUCCESS(
                "Every secret and token is under the newest key: the old keys may go."
            )
        )
