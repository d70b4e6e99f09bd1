"""The dashboard's MobilePay adapter driven against the Integra emulator over real HTTP."""

import httpx
import pytest

from providers.base import PaymentKind, PaymentState
from providers.errors import (
    AuthError,
    InvalidRequest,
    NotAbortable,
    ProviderUnavailable,
    TerminalBusy,
    TerminalOffline,
)
from providers.http import tls_context
from providers.recovery import start_exactly_once
from sandbox import services
from sandbox.models import PaymentStatus, SandboxPayment
from tests.sandbox.conftest import (
    MOBILEPAY_BIO_CODE,
    MOBILEPAY_TERMINAL,
    MOBILEPAY_TOKEN,
    adapter_for,
    follow,
    refund_request,
    start_request,
)

pytestmark = pytest.mark.django_db(transaction=True)


def sale(amount_minor: int, **overrides):
    return start_request(MOBILEPAY_TERMINAL, amount_minor, "DKK", **overrides)


def reserved(mobilepay, amount_minor=2701):
    started = start_exactly_once(mobilepay, sale(amount_minor))
    return follow(mobilepay, started, until={PaymentState.AUTHORIZED})


def test_a_sale_is_reserved_then_captured_by_the_pos(mobilepay):
    started = start_exactly_once(mobilepay, sale(2701))
    assert (started.state, started.raw_status) == (PaymentState.PENDING, "Initiated")

    result = follow(mobilepay, started, until={PaymentState.AUTHORIZED})
    assert (result.state, result.raw_status, result.amount_minor) == (
        PaymentState.AUTHORIZED,
        "Reserved",
        2701,
    )
    captured = mobilepay.capture(result.transaction_ref, idempotency_key=started.provider_ref)

    assert (captured.state, captured.amount_minor) == (PaymentState.APPROVED, 2701)
    final = mobilepay.get_payment(started.provider_ref, kind=PaymentKind.SALE)
    assert (final.state, final.raw_status) == (PaymentState.APPROVED, "Captured")
    payment = SandboxPayment.objects.get()
    assert payment.captured and payment.captured_amount == 2701


@pytest.mark.parametrize(
    "amount_minor,state,word",
    [
        (2702, PaymentState.DECLINED, "RejectedByMobilePayDueToAgeRestrictions"),
        (2703, PaymentState.CANCELED, "CancelledByUser"),
    ],
)
def test_declined_and_cancelled_by_the_customer(mobilepay, amount_minor, state, word):
    result = follow(mobilepay, start_exactly_once(mobilepay, sale(amount_minor)))

    assert (result.state, result.raw_status) == (state, word)
    assert SandboxPayment.objects.charges().filter(captured=True).count() == 0


def test_abort_while_pending_cancels_it(mobilepay):
    started = start_exactly_once(mobilepay, sale(2700))

    mobilepay.abort_payment(started.provider_ref, kind=PaymentKind.SALE)

    result = mobilepay.get_payment(started.provider_ref, kind=PaymentKind.SALE)
    assert (result.state, result.raw_status) == (PaymentState.CANCELED, "CancelledByClient")


def test_abort_of_a_reserved_payment_releases_it(mobilepay):
    result = reserved(mobilepay)

    mobilepay.abort_payment(result.provider_ref, kind=PaymentKind.SALE)

    assert (
        mobilepay.get_payment(result.provider_ref, kind=PaymentKind.SALE).state
        is PaymentState.CANCELED
    )
    assert SandboxPayment.objects.get().status == PaymentStatus.CANCELED


def test_abort_after_capture_is_refused_as_not_abortable(mobilepay):
    result = reserved(mobilepay)
    mobilepay.capture(result.transaction_ref, idempotency_key=result.provider_ref)

    with pytest.raises(NotAbortable) as caught:
        mobilepay.abort_payment(result.provider_ref, kind=PaymentKind.SALE)

    assert caught.value.permanent and "refund" in caught.value.message


def test_a_refund_is_created_and_captured(mobilepay):
    result = reserved(mobilepay, 5001)
    mobilepay.capture(result.transaction_ref, idempotency_key=result.provider_ref)

    refund = mobilepay.refund(refund_request(result.transaction_ref, 2000, "DKK"))

    assert (refund.state, refund.raw_status, refund.amount_minor) == (
        PaymentState.APPROVED,
        "Captured",
        2000,
    )
    assert mobilepay.list_refunds(result.transaction_ref) == [refund.provider_ref]
    read = mobilepay.get_payment(refund.provider_ref, kind=PaymentKind.REFUND)
    assert (read.state, read.amount_minor) == (PaymentState.APPROVED, 2000)
    assert SandboxPayment.objects.get(original__isnull=True).refunded_amount == 2000


def test_a_refund_of_more_than_captured_is_refused(mobilepay):
    result = reserved(mobilepay, 1001)
    mobilepay.capture(result.transaction_ref, idempotency_key=result.provider_ref)

    with pytest.raises(InvalidRequest, match="exceeds"):
        mobilepay.refund(refund_request(result.transaction_ref, 1500, "DKK"))


def test_the_prepared_flow(mobilepay):
    prepared = mobilepay.prepare_payment(terminal_ref=MOBILEPAY_TERMINAL, reference="ORDER-P1")
    assert (prepared.state, prepared.raw_status) == (PaymentState.PENDING, "Prepared")

    readied = mobilepay.ready_payment(
        prepared.provider_ref,
        terminal_ref=MOBILEPAY_TERMINAL,
        reference="ORDER-P1",
        amount_minor=4501,
        currency="DKK",
    )
    result = follow(mobilepay, readied, until={PaymentState.AUTHORIZED})

    assert (result.state, result.amount_minor) == (PaymentState.AUTHORIZED, 4501)
    assert mobilepay.capture(result.transaction_ref, idempotency_key=result.provider_ref).state is (
        PaymentState.APPROVED
    )


def test_a_second_start_is_refused_as_busy_while_one_is_active(mobilepay):
    start_exactly_once(mobilepay, sale(2700))

    with pytest.raises(TerminalBusy) as caught:
        start_exactly_once(mobilepay, sale(2700))

    assert caught.value.permanent
    assert SandboxPayment.objects.count() == 1


def test_a_reserved_payment_keeps_the_terminal_busy(mobilepay):
    reserved(mobilepay)

    with pytest.raises(TerminalBusy):
        start_exactly_once(mobilepay, sale(2700))


def test_the_busy_switch_is_terminal_busy(mobilepay, mobilepay_device):
    services.device_set_switches(device=mobilepay_device, busy=True)

    with pytest.raises(TerminalBusy):
        start_exactly_once(mobilepay, sale(2701))
    assert SandboxPayment.objects.count() == 0


def test_an_offline_pos_is_refused_and_nothing_runs(mobilepay, mobilepay_device):
    services.device_set_switches(device=mobilepay_device, online=False)

    with pytest.raises(TerminalOffline) as caught:
        start_exactly_once(mobilepay, sale(2701))

    assert caught.value.permanent and "offline" in caught.value.message
    assert SandboxPayment.objects.count() == 0


def test_a_5xx_is_transient_and_the_next_call_gets_through(mobilepay, mobilepay_device):
    started = start_exactly_once(mobilepay, sale(2700))
    services.device_set_switches(device=mobilepay_device, fail_next_5xx=1)

    with pytest.raises(ProviderUnavailable) as caught:
        mobilepay.get_payment(started.provider_ref, kind=PaymentKind.SALE)

    assert caught.value.permanent is False
    assert mobilepay.get_payment(started.provider_ref, kind=PaymentKind.SALE).state is (
        PaymentState.PENDING
    )


def test_bad_credentials_are_an_auth_error(mobilepay_device, mobilepay_base):
    wrong = adapter_for(
        "mobilepay",
        mobilepay_base,
        secrets={"access_token": MOBILEPAY_TOKEN[:-3] + "xyz", "bio_code": MOBILEPAY_BIO_CODE},
        settings={"terminal_ids": [MOBILEPAY_TERMINAL]},
    )
    try:
        with pytest.raises(AuthError) as caught:
            wrong.list_terminals()
    finally:
        wrong.close()

    assert MOBILEPAY_TOKEN[:-3] not in caught.value.message


def test_a_lost_start_answer_is_found_by_its_order_with_exactly_one_payment(
    mobilepay, mobilepay_device
):
    services.device_set_switches(device=mobilepay_device, lose_next_response=True)
    req = sale(2700)

    result = start_exactly_once(mobilepay, req)

    assert result.state is PaymentState.PENDING
    payment = SandboxPayment.objects.get(order_ref=req.reference)
    assert result.provider_ref == payment.provider_ref
    services.payment_decide(payment=payment, outcome="approve")
    assert (
        follow(mobilepay, result, until={PaymentState.AUTHORIZED}).state is PaymentState.AUTHORIZED
    )
    assert SandboxPayment.objects.filter(order_ref=req.reference).count() == 1


def test_a_lost_start_of_a_payment_that_already_ended_is_retrieved(mobilepay, mobilepay_device):
    services.device_set_switches(device=mobilepay_device, lose_next_response=True)
    req = sale(2702)  # declined at once: no longer in the active list

    result = start_exactly_once(mobilepay, req)

    assert result.state is PaymentState.DECLINED
    assert SandboxPayment.objects.filter(order_ref=req.reference).count() == 1


def test_tokens_are_created_once_and_reset_with_the_previous(
    mobilepay, mobilepay_account, mobilepay_base
):
    with pytest.raises(AuthError):
        mobilepay.token_create()  # the account already has one
    services.account_expire_tokens(account=mobilepay_account)
    first = mobilepay.token_create()
    second = mobilepay.token_reset(first)

    def adapter_with(token):
        return adapter_for(
            "mobilepay",
            mobilepay_base,
            secrets={"access_token": token, "bio_code": MOBILEPAY_BIO_CODE},
            settings={"terminal_ids": [MOBILEPAY_TERMINAL]},
        )

    with adapter_with(second) as fresh, adapter_with(first) as stale:
        assert [t.ref for t in fresh.list_terminals()] == [MOBILEPAY_TERMINAL]
        with pytest.raises(AuthError):
            stale.list_terminals()
    with pytest.raises(AuthError):
        mobilepay.token_reset(first)


def test_terminals_qr_code_and_check_in(mobilepay, mobilepay_device):
    (terminal,) = mobilepay.list_terminals()
    link = mobilepay.qr_code_link(MOBILEPAY_TERMINAL)
    before = mobilepay.check_in_status(MOBILEPAY_TERMINAL).checked_in
    services.device_set_switches(device=mobilepay_device, customer_checked_in=True)

    assert (terminal.ref, terminal.name, terminal.serial, terminal.online) == (
        MOBILEPAY_TERMINAL,
        "Kiosk",
        mobilepay_device.serial,
        None,
    )
    assert httpx.get(link, verify=tls_context()).headers["content-type"] == "image/svg+xml"
    assert (before, mobilepay.check_in_status(MOBILEPAY_TERMINAL).checked_in) == (False, True)
