"""Magic amounts, amounts, and the services' guarantees (idempotent ensure, one winner per race)."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from sandbox import amounts, scenarios, services
from sandbox.emulators import EmulatorName
from sandbox.models import (
    PaymentStatus,
    SandboxAccount,
    SandboxDevice,
    SandboxPayment,
    SandboxPaymentKind,
)

README = Path(__file__).resolve().parents[2] / "sandbox" / "README.md"


@pytest.mark.parametrize(
    "amount_minor,outcome",
    [
        (1001, "approve"),
        (1002, "decline"),
        (1003, "cancel"),
        (1004, "timeout"),
        (1005, "fail"),
        (1000, None),
        (101, "approve"),
        (1099, None),
    ],
)
def test_the_last_two_digits_pick_the_outcome(amount_minor, outcome):
    assert scenarios.magic_outcome(amount_minor) == outcome


def test_the_readme_shows_the_magic_amount_table_from_the_one_dict():
    assert scenarios.magic_table_markdown() in README.read_text()


@pytest.mark.parametrize(
    "text,currency,minor",
    [("8.88", "USD", 888), ("1000", "JPY", 1000), (8.8, "USD", 880), ("1.005", "KWD", 1005)],
)
def test_decimal_amounts_become_minor_units_and_back(text, currency, minor):
    assert amounts.to_minor(text, currency) == minor
    assert amounts.to_minor(amounts.to_decimal_string(minor, currency), currency) == minor


@pytest.mark.parametrize("text", ["8.888", "abc", "", "NaN", True])
def test_text_that_is_not_a_usd_amount_is_refused(text):
    with pytest.raises(ValueError):
        amounts.to_minor(text, "USD")


@pytest.fixture
def device(db):
    account = services.sandbox_account_ensure(
        provider=EmulatorName.USAEPAY,
        label="Main",
        secrets={"api_key": "k", "api_pin": "1"},
        settings={},
    )
    return services.sandbox_device_ensure(
        account=account, ref="sa_1", name="Till", model="MP200", serial="1"
    )


def start(device, amount_minor=1000, timeout_s=180):
    return services.sandbox_payment_start(
        device=device,
        kind=SandboxPaymentKind.SALE,
        amount_minor=amount_minor,
        currency="USD",
        timeout_s=timeout_s,
    )


def test_ensuring_an_account_and_device_twice_makes_one_of_each(device):
    services.device_set_switches(device=device, online=False)
    account = services.sandbox_account_ensure(
        provider=EmulatorName.USAEPAY,
        label="Main",
        secrets={"api_key": "k2", "api_pin": "1"},
        settings={},
    )
    again = services.sandbox_device_ensure(
        account=account, ref="sa_1", name="Till 2", model="MP200", serial="1"
    )

    assert SandboxAccount.objects.count() == 1 and SandboxDevice.objects.count() == 1
    assert account.secrets["api_key"] == "k2" and again.name == "Till 2"
    assert again.online is False  # a tester's switch survives the demo loader


def test_two_deciders_never_both_win(device):
    payment = start(device)
    other_copy = SandboxPayment.objects.get(pk=payment.pk)

    first = services.payment_decide(payment=payment, outcome=scenarios.APPROVE)
    second = services.payment_decide(payment=other_copy, outcome=scenarios.DECLINE)

    assert (first, second) == (True, False)
    assert SandboxPayment.objects.get(pk=payment.pk).status == PaymentStatus.APPROVED


def test_a_cancel_after_the_customer_decided_is_refused(device):
    payment = start(device)
    services.payment_decide(payment=payment, outcome=scenarios.APPROVE)

    assert services.payment_cancel(payment=payment) is False
    assert payment.status == PaymentStatus.APPROVED


def test_the_timeout_is_applied_when_the_payment_is_next_read(device):
    payment = start(device, timeout_s=60)
    SandboxPayment.objects.filter(pk=payment.pk).update(
        created_at=timezone.now() - timedelta(seconds=61)
    )

    refreshed = services.payment_refresh(payment=SandboxPayment.objects.get(pk=payment.pk))

    assert refreshed.status == PaymentStatus.TIMED_OUT


def test_a_timed_out_request_no_longer_keeps_the_device_busy(device):
    payment = start(device, timeout_s=60)
    SandboxPayment.objects.filter(pk=payment.pk).update(
        created_at=timezone.now() - timedelta(seconds=61)
    )

    second = start(device)

    assert second.status == PaymentStatus.PENDING
    assert SandboxPayment.objects.get(pk=payment.pk).status == PaymentStatus.TIMED_OUT


def test_the_database_allows_one_pending_request_per_device(device):
    start(device)

    with pytest.raises(services.Refused) as refused:
        start(device)

    assert refused.value.reason == services.Refused.DEVICE_BUSY


def test_a_magic_outcome_waits_for_the_device_to_be_online(device, settings):
    settings.SANDBOX_MAGIC_DELAY_S = 0
    services.device_set_switches(device=device, online=False)
    payment = services.sandbox_payment_start(
        device=device,
        kind=SandboxPaymentKind.SALE,
        amount_minor=1001,
        currency="USD",
        timeout_s=180,
        when_offline="wait",
    )

    assert services.payment_refresh(payment=payment).status == PaymentStatus.PENDING
    services.device_set_switches(device=device, online=True)
    assert services.payment_refresh(payment=payment).status == PaymentStatus.APPROVED


def test_refunds_never_exceed_the_sale(device):
    payment = start(device, amount_minor=1000)
    services.payment_decide(payment=payment, outcome=scenarios.APPROVE)

    services.payment_refund(payment=payment, amount_minor=700)
    with pytest.raises(services.Refused) as refused:
        services.payment_refund(payment=payment, amount_minor=301)

    assert refused.value.reason == services.Refused.REFUND_EXCEEDS
    assert SandboxPayment.objects.get(pk=payment.pk).refunded_amount == 700
    assert SandboxPayment.objects.filter(kind=SandboxPaymentKind.REFUND).count() == 1
