import factory

from dashboard.models import Membership, Merchant, Reseller, Role, Store, User

PASSWORD = "correct-horse-battery-staple"


class ResellerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reseller

    name = factory.Sequence(lambda n: f"Reseller {n}")


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    reseller = factory.SubFactory(ResellerFactory)
    name = factory.Sequence(lambda n: f"Merchant {n}")


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Store {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def member(role: str, *, reseller=None, merchant=None, store=None, email=None) -> User:
    """A user with one membership; the organisation columns that fit the role."""
    user = UserFactory(**({"email": email} if email else {}))
    Membership.objects.create(
        user=user, role=role, reseller=reseller, merchant=merchant, store=store
    )
    return user


__all__ = ["Role", "member", "PASSWORD"]


# --- payments -------------------------------------------------------------------------------------

import uuid  # noqa: E402

from django.utils import timezone  # noqa: E402

from credentials.services import account_create  # noqa: E402
from providers.registry import capabilities_for  # noqa: E402
from terminals.models import Terminal, TerminalStatus  # noqa: E402


def make_account(merchant, provider: str = "payroc", *, label: str | None = None):
    """A ProviderAccount of `merchant` (sandbox environment; the secrets are never used here)."""
    return account_create(
        merchant=merchant,
        provider=provider,
        environment="sandbox",
        label=label or f"{provider} {uuid.uuid4().hex[:6]}",
        secrets={"api_key": f"{provider}-{uuid.uuid4().hex}"},
    )


def make_payment_terminal(account, *, store=None, name: str | None = None) -> Terminal:
    """An online terminal of `account`, in `store` (or in no store)."""
    ref = uuid.uuid4().hex[:12]
    return Terminal.objects.create(
        account=account,
        merchant_id=account.merchant_id,
        provider=account.provider,
        store=store,
        provider_ref=f"ref-{ref}",
        name=name or f"Lane {ref[:4]}",
        status=TerminalStatus.ONLINE,
        status_checked_at=timezone.now(),
    )


class PaymentFactory(factory.django.DjangoModelFactory):
    """A payment row made directly (no service, no event), its columns copied from `terminal`.

    Pass `terminal=`; `status` defaults to created. For tests of the ledger's own constraints; other
    tests create payments with `payments.services.payment_create`.
    """

    class Meta:
        model = "payments.Payment"

    kind = "sale"
    amount_minor = 1250
    currency = "USD"
    terminal = None
    account = factory.LazyAttribute(lambda o: o.terminal.account)
    merchant = factory.LazyAttribute(lambda o: o.terminal.merchant)
    store = factory.LazyAttribute(lambda o: o.terminal.store)
    provider = factory.LazyAttribute(lambda o: o.account.provider)
    authorized_occupies_terminal = factory.LazyAttribute(
        lambda o: capabilities_for(o.provider).authorized_occupies_terminal
    )
    reference = factory.Sequence(lambda n: f"REF{n:08d}")
    status = "created"
    created_at = factory.LazyFunction(timezone.now)
