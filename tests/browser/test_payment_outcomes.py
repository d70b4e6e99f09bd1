"""The payment page's abort outcomes and receipt in Chromium, at a desk's width and a phone's: each
state is readable, axe-core finds no serious or critical violation (the `page` fixture audits every
load), nothing scrolls sideways at 390 px, and the one-click refund after "too late" is one press.
The states are set as the engine sets them (transitions and abort notes); the flows that reach
them over the emulators are in tests/payments/test_abort_outcomes.py."""

import pytest
from playwright.sync_api import expect

from payments.state import payment_note, payment_transition
from tests.browser.conftest import PHONE
from tests.browser.test_roles import log_in
from tests.factories import PaymentFactory, make_account, make_payment_terminal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def too_late(tenant):
    account = make_account(tenant.merchant, "komoju", label="KOMOJU A")
    terminal = make_payment_terminal(account, store=tenant.store, name="Counter 1")
    payment = PaymentFactory(
        terminal=terminal, status="pending", amount_minor=1250, currency="USD", provider_ref="s-1"
    )
    payment_note(payment_id=payment.pk, action="abort_requested", source="user")
    payment_transition(
        payment_id=payment.pk,
        to="approved",
        source="worker",
        card_brand="Visa",
        card_last4="0010",
        auth_code="123456",
        captured_minor=1250,
        provider_data={"receipt": {"aid": "A0000000031010", "application_label": "VISA CREDIT"}},
    )
    return payment


def unreachable(tenant):
    account = make_account(tenant.merchant, "usaepay", label="USAePay A")
    terminal = make_payment_terminal(account, store=tenant.store, name="Counter 2")
    payment = PaymentFactory(terminal=terminal, status="pending", currency="USD")
    payment_note(payment_id=payment.pk, action="abort_requested", source="user")
    payment_note(payment_id=payment.pk, action="abort_unreachable", source="worker")
    return payment


def check(page, payment, screenshot, label):
    page.goto(f"/payments/{payment.uuid}/")
    outcome = page.get_by_test_id("abort-outcome")
    expect(outcome).to_be_visible()
    screenshot(label)
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    return outcome


def test_too_late_shows_the_one_click_refund_and_the_receipt(page, tenant_a, screenshot):
    payment = too_late(tenant_a)
    log_in(page, tenant_a.users["merchant_manager"].email)

    outcome = check(page, payment, screenshot, "payment-too-late-desktop")

    expect(outcome).to_contain_text("Too late to abort: the payment went through")
    expect(page.get_by_role("button", name="Refund 12.50 USD")).to_be_visible()
    expect(page.get_by_role("button", name="Print the receipt on Counter 1")).to_be_visible()
    expect(page.locator("section[aria-labelledby=receipt-h]")).to_contain_text("A0000000031010")


def test_an_unreachable_abort_says_cancel_on_the_terminal(page, tenant_a, screenshot):
    payment = unreachable(tenant_a)
    log_in(page, tenant_a.users["cashier"].email)

    outcome = check(page, payment, screenshot, "payment-abort-unreachable-desktop")

    expect(outcome).to_contain_text("Press Cancel on the terminal itself")


class TestOnAPhone:
    @pytest.fixture
    def viewport(self):
        return PHONE

    def test_too_late_fits_a_390px_screen(self, page, tenant_a, screenshot):
        payment = too_late(tenant_a)
        log_in(page, tenant_a.users["merchant_manager"].email)

        check(page, payment, screenshot, "payment-too-late-phone")

        button = page.get_by_role("button", name="Refund 12.50 USD")
        assert button.bounding_box()["height"] >= 44  # large enough to hit at the counter

    def test_an_unreachable_abort_fits_a_390px_screen(self, page, tenant_a, screenshot):
        payment = unreachable(tenant_a)
        log_in(page, tenant_a.users["cashier"].email)

        check(page, payment, screenshot, "payment-abort-unreachable-phone")
