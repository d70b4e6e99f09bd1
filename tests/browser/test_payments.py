"""A cashier takes a payment in the browser: New payment → Charge → the payment page, which follows
the payment live (the status card polls its partial) until it says "Approved", without a reload.

FOR THE LEAD: the engine (payments.engine.payment_start and its worker task) is not on this branch,
so here the payment's later states are applied with `payments.state.payment_transition` from the
test, as the tracker would apply them. Once the engine is merged, replace `advance()` with a real
Celery worker (tests/browser/test_terminals.py's `celery_worker`) and press Approve on the sandbox
virtual terminal page /sandbox/terminals/<id>/.
"""

import pytest
from playwright.sync_api import expect

from payments.models import Payment
from payments.state import payment_transition
from tests.browser.conftest import PHONE
from tests.browser.test_roles import log_in
from tests.factories import make_account, make_payment_terminal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def advance(payment):
    payment_transition(payment_id=payment.pk, to="pending", source="tracker")
    payment_transition(
        payment_id=payment.pk,
        to="approved",
        source="tracker",
        card_brand="Visa",
        card_last4="0010",
        auth_code="123456",
    )


def take_a_payment(page, tenant_a, screenshot, label):
    account = make_account(tenant_a.merchant, "payroc", label="Payroc A")
    terminal = make_payment_terminal(account, store=tenant_a.store, name="Lane 1")
    log_in(page, tenant_a.users["cashier"].email)
    screenshot(f"payments-home-{label}")
    page.goto("/payments/new/")
    screenshot(f"payments-new-{label}")
    page.get_by_role("button", name="Lane 1").click()
    page.get_by_label("Amount").fill("12.50")
    screenshot(f"payments-charge-{label}")
    page.get_by_role("button", name="Charge").click()
    page.wait_for_url("**/payments/*-*/")
    payment = Payment.objects.get(terminal=terminal)
    assert payment.amount_minor == 1250
    expect(page.get_by_test_id("status-words")).to_have_text("Sending to the terminal…")
    screenshot(f"payments-sending-{label}")
    url = page.url
    advance(payment)
    expect(page.get_by_test_id("status-words")).to_have_text(
        "Approved: Visa ••••0010, authorisation 123456"
    )
    assert page.url == url  # no reload: the card swapped itself
    screenshot(f"payments-approved-{label}")


def test_a_cashier_takes_a_payment_and_sees_it_approved_without_reloading(
    page, tenant_a, screenshot
):
    take_a_payment(page, tenant_a, screenshot, "desktop")


class TestOnAPhone:
    @pytest.fixture
    def viewport(self):
        return PHONE

    def test_a_cashier_takes_a_payment_on_a_390px_screen(self, page, tenant_a, screenshot):
        take_a_payment(page, tenant_a, screenshot, "phone")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
