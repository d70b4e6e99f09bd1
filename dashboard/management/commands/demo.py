from django.core.management.base import BaseCommand
from django.db import transaction

from dashboard.demo_data import DEMO_PASSWORD, load_demo_data


class Command(BaseCommand):
    help = "Load the demo organisation (idempotent: a second run reuses what exists)."

    def handle(self, *args, **options):
        with transaction.atomic():
            logins = load_demo_data()
            for loader in _extra_loaders():
                loader()
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        for email, role in logins:
            self.stdout.write(f"  {email:<28} {role}")
        self.stdout.write(f"  password for every demo login: {DEMO_PASSWORD}")


def _extra_loaders():
    """Apps that add demo rows (terminals, provider accounts, sandbox devices) register here."""
    from importlib import import_module

    loaders = []
    for module_name in ("credentials.demo", "sandbox.demo", "terminals.demo"):
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        loaders.append(module.load_demo_data)
    return loaders
