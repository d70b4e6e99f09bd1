"""Shared pieces of the engine tests: a provider account and terminal aimed at its emulator (over
the live server), a real Celery worker on both queues, and taking a payment as a cashier would."""

from __future__ import annotations

import time

import pytest

from credentials.budget import budget_reset
from payments.engine import payment_start
from payments.models import Payment
from payments.services import payment_create
from sandbox.models import SandboxPayment
from terminals.models import Terminal, TerminalStatus
from tests.contract.conftest import ACCOUNTS, make_env

PROVIDERS = list(ACCOUNTS)
DECIMALS = {"JPY": 0}


def wait_until(check, *, timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(
                f"condition not met within {timeout} s (last value: {value!r}) {_explain(check)}"
            )
        time.sleep(interval)


class Desk:
    """One provider's account, emulated device and dashboard terminal, ready to take payments."""

    def __init__(self, provider: str, tenant):
        from django.utils import timezone

        self.provider = provider
        self.tenant = tenant
        self.env = make_env(provider, tenant.merchant)
        self.env.adapter.close()
        self.account = self.env.account
        budget_reset(self.account.pk)
        self.device = self.env.device
        self.terminal = Terminal.objects.create(
            account=self.account,
            merchant_id=self.account.merchant_id,
            provider=provider,
            store=tenant.store,
            provider_ref=self.device.ref,
            name=f"{provider} lane",
            status=TerminalStatus.ONLINE,
            status_checked_at=timezone.now(),
        )

    @property
    def currency(self) -> str:
        return self.env.currency

    def amount(self, ending: int) -> int:
        """An amount whose last two minor digits are `ending` (the sandbox's magic outcomes)."""
        return 1000 + ending

    def take(self, ending: int, *, kind: str = "sale", terminal=None, **options) -> Payment:
        from django.db import transaction

        with transaction.atomic():
            payment = payment_create(
                user=self.tenant.users["cashier"],
                terminal=terminal or self.terminal,
                kind=kind,
                amount_minor=self.amount(ending),
                currency=self.currency,
                **options,
            )
            payment_start(payment=payment)
        return payment

    def charges(self, payment: Payment) -> int:
        """Approved charges at the emulator for our order id."""
        return (
            SandboxPayment.objects.charges()
            .filter(device__account=self.env.sandbox_account, order_ref=payment.reference)
            .count()
        )

    def starts(self, payment: Payment) -> int:
        return SandboxPayment.objects.filter(
            device__account=self.env.sandbox_account, order_ref=payment.reference
        ).count()


def settled(payment: Payment, *statuses: str, timeout: float = 20.0) -> Payment:
    def check():
        payment.refresh_from_db()
        return payment.status in statuses and payment

    return wait_until(check, timeout=timeout)


def _explain(check) -> str:
    payment = (check.__closure__ or [None])[0]
    payment = getattr(payment, "cell_contents", None)
    if not isinstance(payment, Payment):
        return ""
    payment.refresh_from_db()
    events = [
        (e.from_status, e.to_status, e.action, e.source, e.provider_status, e.detail)
        for e in payment.events.all()
    ]
    return f"status={payment.status} message={payment.message!r} events={events}"
