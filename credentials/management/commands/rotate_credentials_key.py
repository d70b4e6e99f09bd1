from django.core.management.base import BaseCommand

from credentials.services import credentials_reencrypt_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored provider secret and token under the newest key of CREDENTIALS_KEYS. "
        "Put the new key first, keep the old ones after it, run this, then drop the old keys."
    )

    def handle(self, *args, **options):
        count = credentials_reencrypt_all()
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-encrypted the secrets of {count} provider account(s) under the newest key."
            )
        )
