from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from home.demo_data import (
    DEMO_PASSWORD,
    load_demo_data,
    load_demo_provider_accounts,
    place_demo_terminals,
    sync_demo_terminals,
)


class Command(BaseCommand):
    help = "Load the demo organisation (idempotent: a second run reuses what exists)."

    def handle(self, *args, **options):
        if not settings.SANDBOX_ENABLED:
            # Every demo provider account lives in the sandbox, whose app is installed only when on.
            raise CommandError("The demo needs the sandbox: set SANDBOX_ENABLED=1.")
        with transaction.atomic():
            logins = load_demo_data()
            accounts = load_demo_provider_accounts()
            place_demo_terminals()  # the terminals an earlier run listed; run_demo places the rest
            sync_demo_terminals()  # queued on commit; the worker reads each account's terminal list
        self.stdout.write(
            self.style.SUCCESS(f"Demo data ready ({accounts} sandbox provider accounts).")
        )
        for email, role in logins:
            self.stdout.write(f"  {email:<28} {role}")
        self.stdout.write(f"  password for every demo login: {DEMO_PASSWORD}")
