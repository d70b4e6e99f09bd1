from django.core.management.base import BaseCommand, CommandError

from credentials.environments import Environment
from credentials.management.provider_check import run_check
from credentials.models import ProviderAccount
from credentials.services import provider_for


class Command(BaseCommand):
    help = (
        "Check one provider account end to end: auth, list terminals, a sale followed to its end, a second "
        "sale aborted while pending, and a refund of the first. Exits 0 only if every step passed."
    )

    def add_arguments(self, parser):
        parser.add_argument("provider")
        parser.add_argument(
            "--account", type=int, help="ProviderAccount id (default: the first sandbox account)"
        )

    def handle(self, *args, provider, account=None, **options):
        accounts = ProviderAccount.objects.filter(provider=provider, is_active=True)
        if account is not None:
            chosen = accounts.filter(pk=account).first()
        else:
            chosen = accounts.filter(environment=Environment.SANDBOX).order_by("pk").first()
        if chosen is None:
            raise CommandError(
                f"No active {provider} account"
                + (f" with id {account}" if account else " in the sandbox")
            )
        # Live accounts move real money outside the payment ledger: only auth and terminals are checked.
        money = chosen.environment != Environment.LIVE
        self.stdout.write(
            f"Checking {chosen} of {chosen.merchant.name} at {chosen.endpoints.base_url}"
        )

        def show(step):
            mark = self.style.SUCCESS("PASS") if step.passed else self.style.ERROR("FAIL")
            self.stdout.write(f"{mark}  {step.name:<15} {step.detail}")

        with provider_for(chosen) as adapter:
            report = run_check(
                adapter, currency=chosen.merchant.default_currency, money=money, on_step=show
            )
        if not money:
            self.stdout.write("Live account: sale, abort and refund are not run on real money.")
        if not report.passed:
            raise CommandError("provider check failed")
        self.stdout.write(self.style.SUCCESS("All steps passed."))
