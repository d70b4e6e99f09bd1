"""Payments in the browser, end to end and with nothing mocked: a cashier takes a payment on an
emulated terminal of each provider, a real Celery worker (threads of this process, both queues)
starts and follows it over real HTTP against the sandbox emulators (the live server), the customer
presses Approve on the sandbox's virtual terminal page in a second tab, and the payment page says
"Approved" without a reload (its HTMX status partial). Also: an abort from the payment page, a
double click on Charge, a manager's partial refund, a phone's width; axe-core audits every page
(the `page` fixture) and each payment page once more in its final state."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dashboard.models import Role
from payments.forms import format_minor
from payments.models import Payment, PaymentKind, PaymentStatus
from terminals.models import Terminal, TerminalStatus
from tests.browser.conftest import ARTIFACTS, PHONE
from tests.browser.test_pages import assert_fits
from tests.browser.test_roles import log_in
from tests.payments.engine_support import PROVIDERS, Desk, settled
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PRINTED_BRANDS = "(Visa|Mastercard|American Express|Discover|JCB|Diners Club|UnionPay)"
WAIT_MS = 30_000  # a worker start, a tracker read, and a 1 s poll, on a loaded two-core machine


@pytest.fixture(scope="module")
def worker():
    """One real Celery worker for the module: threads of this process, consuming both queues.
    Each test's rows are its own (ids are never reused after a flush), so a tracker step left over
    from an earlier test finds nothing to do."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app
    from tests.broker import Broker

    broker = Broker()
    broker.purge()
    with start_worker(
        app,
        pool="threads",
        concurrency=4,
        queues=["celery", "tracking"],
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
    ) as running:
        yield running
    broker.purge()


def make_desk(provider: str, tenant) -> Desk:
    """`provider`'s emulated device and its dashboard terminal; the merchant charges in the
    currency of that provider's account (JPY at KOMOJU, DKK at MobilePay, ...)."""
    desk = Desk(provider, tenant)
    tenant.merchant.default_currency = desk.currency
    tenant.merchant.save(update_fields=["default_currency"])
    return desk


@pytest.fixture(params=PROVIDERS)
def desk(request, sandbox_settings, tenant_a, worker):
    return make_desk(request.param, tenant_a)


def typed(amount_minor: int, currency: str) -> str:
    """The amount as the merchant types it: "12.50", "1,250" (JPY)."""
    return format_minor(amount_minor, currency)


def charge(page, desk, amount_minor: int, *, from_terminal_page: bool = False) -> Payment:
    """New payment (or the terminal's Charge) → the amount → Charge → the payment's page."""
    if from_terminal_page:
        page.goto(f"/terminals/{desk.terminal.pk}/")
        page.get_by_test_id("charge").click()
    else:
        page.goto("/payments/new/")
        page.get_by_role("button", name=desk.terminal.name).click()
    expect(page.get_by_role("heading", name=f"Charge on {desk.terminal.name}")).to_be_visible()
    page.get_by_label(f"Amount ({desk.currency})").fill(typed(amount_minor, desk.currency))
    page.get_by_role("button", name="Charge").click()
    page.wait_for_url("**/payments/*-*/")
    payment = Payment.objects.get(terminal=desk.terminal, kind=PaymentKind.SALE)
    assert (payment.amount_minor, payment.currency) == (amount_minor, desk.currency)
    assert page.url.endswith(f"/payments/{payment.uuid}/")
    page.evaluate("window.__stillTheSamePage = true")
    return payment


def on_the_virtual_terminal(
    page, desk, button: str = "Approve", *, headline: str, shot: str | None = None
):
    """Opens the sandbox's virtual terminal page in a second tab, presses `button` as the customer
    once the request is on the screen, and waits for the screen's `headline`. `shot`: the waiting
    screen is saved under that name in test-artifacts/ first."""
    virtual = page.context.new_page()
    virtual.goto(f"/sandbox/terminals/{desk.device.pk}/")
    if shot:
        expect(virtual.get_by_role("button", name=button, exact=True)).to_be_visible(
            timeout=WAIT_MS
        )
        ARTIFACTS.mkdir(exist_ok=True)
        virtual.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    virtual.get_by_role("button", name=button, exact=True).click(timeout=WAIT_MS)
    expect(virtual.get_by_test_id("screen-headline")).to_have_text(headline, timeout=WAIT_MS)
    virtual.close()


def approved_headline(desk) -> str:
    # MobilePay stops at Reserved; the dashboard captures the sale at once.
    return re.compile("Reserved|Captured") if desk.provider == "mobilepay" else "Approved"


def status_words(page):
    return page.get_by_test_id("status-words")


def assert_not_reloaded(page):
    assert page.evaluate("window.__stillTheSamePage === true"), "the payment page was reloaded"


def test_a_cashier_takes_a_payment_and_sees_it_approved_without_reloading(
    page, desk, tenant_a, screenshot, accessibility_audit
):
    log_in(page, tenant_a.users[Role.CASHIER].email)
    # KOMOJU through the terminal page's Charge, the others through New payment.
    payment = charge(page, desk, 1250, from_terminal_page=desk.provider == "komoju")
    expect(page.get_by_test_id("status-card")).to_be_visible()

    # The customer approves on the virtual terminal; the worker's tracker sees it at the emulator.
    expect(status_words(page)).to_have_text(re.compile("Waiting for the customer"), timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Abort")).to_be_visible()
    on_the_virtual_terminal(
        page,
        desk,
        "Approve",
        headline=approved_headline(desk),
        shot=f"virtual-terminal-waiting-{desk.provider}",
    )

    expect(status_words(page)).to_have_text(re.compile(r"^Approved"), timeout=WAIT_MS)
    expect(page.get_by_test_id("status-card")).to_have_attribute("data-status", "approved")
    # The rest of the page follows the card in place: no Abort any more, the receipt filled in.
    expect(page.get_by_role("button", name="Abort")).to_have_count(0)
    assert_not_reloaded(page)
    settled(payment, PaymentStatus.APPROVED)
    assert payment.captured_minor == 1250
    assert desk.charges(payment) == 1
    if desk.env.shows_card:
        # The brand as printed on the card, whatever the provider calls it ("master", "visa").
        expect(status_words(page)).to_have_text(
            re.compile(rf"^Approved: {PRINTED_BRANDS} ••••{payment.card_last4}")
        )
        expect(page.get_by_role("region", name="Receipt")).to_contain_text(
            f"••••{payment.card_last4}"
        )
    screenshot(f"payment-approved-{desk.provider}")
    assert not accessibility_audit.check(page), accessibility_audit.report()


# Every provider's abort is covered at the service level (tests/payments/test_actions_refund.py);
# here the two whose abort meets a tracker mid-call: Payroc's long-poll, KOMOJU's pushed session.
@pytest.mark.parametrize("provider", ["payroc", "komoju"])
def test_a_cashier_aborts_a_pending_payment_and_sees_it_aborted(
    page, provider, sandbox_settings, tenant_a, worker, screenshot, accessibility_audit
):
    desk = make_desk(provider, tenant_a)
    log_in(page, tenant_a.users[Role.CASHIER].email)
    payment = charge(page, desk, 1250)
    expect(status_words(page)).to_have_text(re.compile("Waiting for the customer"), timeout=WAIT_MS)
    page.get_by_role("button", name="Abort").click()

    expect(page.get_by_test_id("status-card")).to_have_attribute(
        "data-status", "canceled", timeout=WAIT_MS
    )
    expect(status_words(page)).to_contain_text("Aborted")
    settled(payment, PaymentStatus.CANCELED)
    assert desk.charges(payment) == 0
    expect(page.get_by_role("button", name="Abort")).to_have_count(0)
    screenshot(f"payment-aborted-{provider}")
    assert not accessibility_audit.check(page), accessibility_audit.report()


SUBMIT_TWICE_AT_ONCE = """async (form) => {
  const post = () => fetch(form.action, {method: "POST", body: new FormData(form)});
  const answers = await Promise.all([post(), post()]);
  return answers.map((answer) => [answer.status, new URL(answer.url).pathname]);
}"""


def test_a_double_click_on_charge_makes_one_payment(
    page, sandbox_settings, tenant_a, worker, screenshot
):
    desk = make_desk("payroc", tenant_a)
    posts = []
    page.on(
        "request", lambda r: r.method == "POST" and "/payments/new/" in r.url and posts.append(r)
    )
    log_in(page, tenant_a.users[Role.CASHIER].email)
    page.goto(f"/payments/new/?terminal={desk.terminal.pk}")
    page.get_by_label("Amount (USD)").fill("12.50")
    page.get_by_role("button", name="Charge").dblclick()

    page.wait_for_url("**/payments/*-*/")
    expect(page.get_by_test_id("status-card")).to_be_visible()
    payment = Payment.objects.get()  # exactly one
    assert (payment.amount_minor, payment.terminal_id) == (1250, desk.terminal.pk)
    assert page.url.endswith(f"/payments/{payment.uuid}/")
    assert posts, "the Charge form was not posted"
    screenshot("payment-double-click")

    # Chromium may fold a double click into one request; a slow network may not: the same form
    # reaching the server twice at once is still one payment, and both answers show that payment.
    lane_2 = Terminal.objects.create(
        account=desk.account,
        merchant_id=desk.account.merchant_id,
        provider=desk.provider,
        store=tenant_a.store,
        provider_ref=desk.env.devices[1].ref,
        name="payroc lane 2",
        status=TerminalStatus.ONLINE,
        status_checked_at=timezone.now(),
    )
    page.goto(f"/payments/new/?terminal={lane_2.pk}")
    page.get_by_label("Amount (USD)").fill("7.50")
    answers = page.get_by_test_id("charge-form").evaluate(SUBMIT_TWICE_AT_ONCE)
    second = Payment.objects.get(terminal=lane_2)  # exactly one
    assert second.amount_minor == 750
    assert answers == [[200, f"/payments/{second.uuid}/"]] * 2
    assert Payment.objects.count() == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_manager_refunds_part_of_a_sale_and_sees_the_refund_approved(
    page, provider, sandbox_settings, tenant_a, worker, screenshot, accessibility_audit
):
    desk = make_desk(provider, tenant_a)
    sale = settled(desk.take(1), PaymentStatus.APPROVED)  # 10.01: the magic amount approves
    part = 400
    log_in(page, tenant_a.users[Role.MERCHANT_MANAGER].email)
    page.goto(f"/payments/{sale.uuid}/")
    page.get_by_role("button", name="Refund").first.click()
    form = page.get_by_test_id("refund-form")
    form.get_by_label(f"Amount to refund ({desk.currency})").fill(typed(part, desk.currency))
    form.get_by_label("Yes, give this money back to the customer").check()
    form.get_by_role("button", name="Refund").click()

    page.wait_for_url(re.compile(rf"/payments/(?!{sale.uuid})[0-9a-f-]+/$"))
    refund = Payment.objects.get(parent=sale)
    assert (refund.kind, refund.amount_minor) == (PaymentKind.REFUND, part)
    assert page.url.endswith(f"/payments/{refund.uuid}/")
    page.evaluate("window.__stillTheSamePage = true")
    if provider == "klearly":  # Klearly's refund runs on the sale's terminal, with the card
        on_the_virtual_terminal(page, desk, "Approve", headline="Approved")
    expect(status_words(page)).to_have_text(re.compile(r"^Approved"), timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Abort")).to_have_count(0)
    assert_not_reloaded(page)
    screenshot(f"payment-refund-approved-{provider}")
    assert not accessibility_audit.check(page), accessibility_audit.report()

    refund.refresh_from_db()
    assert refund.status == PaymentStatus.APPROVED
    assert refund.started_at and refund.deadline_at  # followed like any payment, to a deadline
    sale.refresh_from_db()
    assert sale.refunded_minor == part
    page.goto(f"/payments/{sale.uuid}/")
    related = page.get_by_role("region", name="Related payments")
    expect(related).to_contain_text(refund.reference)
    expect(
        page.get_by_text(f"Refundable: {typed(sale.captured_minor - part, desk.currency)}")
    ).to_be_visible()


def assert_easy_to_hit(button):
    """A button a thumb hits at the counter: at least 44 px high and half the screen wide."""
    box = wait_until(button.bounding_box)  # None while htmx swaps the part of the page it is in
    assert box and box["height"] >= 44 and box["width"] >= PHONE["width"] / 2, box


class TestOnAPhone:
    @pytest.fixture
    def viewport(self):
        return PHONE

    def test_a_cashier_takes_a_payment_on_a_390px_screen(
        self, page, sandbox_settings, tenant_a, worker, screenshot, accessibility_audit
    ):
        desk = make_desk("usaepay", tenant_a)
        log_in(page, tenant_a.users[Role.CASHIER].email)
        page.goto("/payments/new/")
        assert_fits(page, PHONE["width"])
        assert_easy_to_hit(page.get_by_role("button", name=desk.terminal.name))
        screenshot("payments-new-phone")
        page.get_by_role("button", name=desk.terminal.name).click()
        expect(page.get_by_label("Amount (USD)")).to_be_visible()
        assert_fits(page, PHONE["width"])
        screenshot("payments-charge-phone")
        page.get_by_label("Amount (USD)").fill("12.50")
        assert_easy_to_hit(page.get_by_role("button", name="Charge"))
        page.get_by_role("button", name="Charge").click()
        page.wait_for_url("**/payments/*-*/")
        page.evaluate("window.__stillTheSamePage = true")
        expect(status_words(page)).to_have_text(
            re.compile("Waiting for the customer"), timeout=WAIT_MS
        )
        assert_fits(page, PHONE["width"])
        assert_easy_to_hit(page.get_by_role("button", name="Abort"))
        screenshot("payment-waiting-phone")

        on_the_virtual_terminal(page, desk, "Approve", headline="Approved")
        expect(status_words(page)).to_have_text(re.compile(r"^Approved"), timeout=WAIT_MS)
        expect(page.get_by_role("region", name="Receipt")).to_contain_text("••••")
        assert_not_reloaded(page)
        assert_fits(page, PHONE["width"])
        screenshot("payment-approved-phone")
        assert not accessibility_audit.check(page), accessibility_audit.report()
