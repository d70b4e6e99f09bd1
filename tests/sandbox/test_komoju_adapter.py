"""The dashboard's KOMOJU adapter driven against the KOMOJU emulator over real HTTP."""

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
from providers.recovery import start_exactly_once
from sandbox import services
from sandbox.models import PaymentStatus, SandboxPayment, SandboxReceipt, SandboxSession
from tests.sandbox.conftest import (
    KOMOJU_SECRET_KEY,
    KOMOJU_TERMINAL,
    adapter_for,
    follow,
    new_key,
    refund_request,
    start_request,
)

pytestmark = pytest.mark.django_db(transaction=True)


def sale(amount_minor: int, **overrides):
    return start_request(KOMOJU_TERMINAL, amount_minor, "JPY", **overrides)


def run(komoju, amount_minor: int, **overrides):
    return follow(komoju, start_exactly_once(komoju, sale(amount_minor, **overrides)))


def charges() -> int:
    return SandboxPayment.objects.charges().count()


def test_a_sale_is_approved_with_card_and_receipt_data(komoju):
    started = start_exactly_once(komoju, sale(1001))
    assert (started.state, started.raw_status) == (PaymentState.PENDING, "pending")

    result = follow(komoju, started)

    assert (result.state, result.raw_status) == (PaymentState.APPROVED, "completed/captured")
    assert result.transaction_ref and len(result.card_last4) == 4
    assert (result.amount_minor, result.currency) == (1001, "JPY")
    receipt = result.raw["receipt"]
    assert receipt["aid"].startswith("A0000") and receipt["application_label"]
    assert charges() == 1


@pytest.mark.parametrize(
    "amount_minor,state",
    [(1002, PaymentState.DECLINED), (1003, PaymentState.CANCELED)],
)
def test_declined_and_cancelled_by_the_customer(komoju, amount_minor, state):
    assert run(komoju, amount_minor).state is state
    assert charges() == 0


def test_abort_while_pending_cancels_the_session(komoju):
    started = start_exactly_once(komoju, sale(1000))

    komoju.abort_payment(started.provider_ref, kind=PaymentKind.SALE)

    assert (
        komoju.get_payment(started.provider_ref, kind=PaymentKind.SALE).state
        is PaymentState.CANCELED
    )
    assert SandboxPayment.objects.get().status == PaymentStatus.CANCELED


def test_abort_after_approval_is_not_abortable(komoju):
    result = run(komoju, 1001)

    with pytest.raises(NotAbortable) as caught:
        komoju.abort_payment(result.provider_ref, kind=PaymentKind.SALE)

    assert caught.value.permanent
    assert charges() == 1


def test_an_auth_only_payment_is_captured(komoju):
    started = start_exactly_once(komoju, sale(5001, kind=PaymentKind.AUTH))
    result = follow(komoju, started, kind=PaymentKind.AUTH, until={PaymentState.AUTHORIZED})
    assert result.state is PaymentState.AUTHORIZED

    captured = komoju.capture(
        result.transaction_ref, idempotency_key=new_key(), amount_minor=4000, currency="JPY"
    )

    assert (captured.state, captured.transaction_ref) == (
        PaymentState.APPROVED,
        result.transaction_ref,
    )
    assert SandboxPayment.objects.get().captured_amount == 4000


def test_an_uncaptured_authorisation_is_voided_by_abort(komoju):
    started = start_exactly_once(komoju, sale(5001, kind=PaymentKind.AUTH))
    follow(komoju, started, kind=PaymentKind.AUTH, until={PaymentState.AUTHORIZED})

    komoju.abort_payment(started.provider_ref, kind=PaymentKind.AUTH)

    payment = SandboxPayment.objects.get()
    assert payment.status == PaymentStatus.CANCELED and not payment.captured


def test_a_refund_by_reference(komoju):
    result = run(komoju, 1001)

    refund = komoju.refund(
        refund_request(result.transaction_ref, 600, "JPY", description="Returned")
    )

    assert (refund.state, refund.amount_minor) == (PaymentState.APPROVED, 600)
    assert refund.provider_ref != result.transaction_ref
    assert SandboxPayment.objects.get(provider_ref=result.provider_ref).refunded_amount == 600


def test_an_offline_terminal_is_refused_and_the_session_can_never_be_paid(komoju, komoju_device):
    services.device_set_switches(device=komoju_device, online=False)

    with pytest.raises(TerminalOffline) as caught:
        start_exactly_once(komoju, sale(1001))

    assert caught.value.permanent and "offline" in caught.value.message.lower()
    assert SandboxPayment.objects.count() == 0
    assert SandboxSession.objects.get().cancelled_at is not None


def test_a_busy_terminal_is_refused(komoju, komoju_device):
    services.device_set_switches(device=komoju_device, busy=True)

    with pytest.raises(TerminalBusy):
        start_exactly_once(komoju, sale(1001))
    assert charges() == 0


def test_a_second_start_on_a_terminal_with_a_session_on_screen_is_busy(komoju):
    start_exactly_once(komoju, sale(1000))

    with pytest.raises(TerminalBusy):
        start_exactly_once(komoju, sale(1001))


def test_a_low_battery_is_refused_in_komojus_words(komoju, komoju_device):
    # KOMOJU has no battery error; the adapter reports the push refusal's text.
    services.device_set_switches(device=komoju_device, battery_low=True)

    with pytest.raises(InvalidRequest, match="battery"):
        start_exactly_once(komoju, sale(1001))


def test_a_5xx_is_transient(komoju, komoju_device):
    started = start_exactly_once(komoju, sale(1000))
    services.device_set_switches(device=komoju_device, fail_next_5xx=1)

    with pytest.raises(ProviderUnavailable) as caught:
        komoju.get_payment(started.provider_ref, kind=PaymentKind.SALE)

    assert caught.value.permanent is False
    assert (
        komoju.get_payment(started.provider_ref, kind=PaymentKind.SALE).state
        is PaymentState.PENDING
    )


def test_bad_credentials_are_an_auth_error(komoju_device, komoju_base):
    wrong = adapter_for(
        "komoju",
        komoju_base,
        secrets={"secret_key": KOMOJU_SECRET_KEY[:-3] + "xyz"},
        settings={"terminal_ids": [KOMOJU_TERMINAL]},
    )
    try:
        with pytest.raises(AuthError) as caught:
            wrong.list_terminals()
    finally:
        wrong.close()

    assert KOMOJU_SECRET_KEY[:-3] not in caught.value.message


def test_a_lost_push_answer_is_recovered_with_exactly_one_charge(komoju, komoju_device):
    services.device_set_switches(device=komoju_device, lose_next_response=True)
    req = sale(1000)

    result = start_exactly_once(komoju, req)

    assert result.state is PaymentState.PENDING
    assert SandboxSession.objects.count() == 1 and SandboxPayment.objects.count() == 1
    services.payment_decide(payment=SandboxPayment.objects.get(), outcome="approve")
    assert follow(komoju, result).state is PaymentState.APPROVED
    assert charges() == 1


def test_a_receipt_is_printed_on_the_terminal(komoju):
    result = run(komoju, 1001)

    komoju.print_receipt(result.provider_ref, KOMOJU_TERMINAL)

    receipt = SandboxReceipt.objects.get()
    assert result.card_last4 in "\n".join(receipt.lines)


def test_a_pending_session_cannot_be_printed(komoju):
    started = start_exactly_once(komoju, sale(1000))

    with pytest.raises(InvalidRequest, match="could not print"):
        komoju.print_receipt(started.provider_ref, KOMOJU_TERMINAL)


def test_terminals_report_enabled_as_online(komoju, komoju_device):
    (terminal,) = komoju.list_terminals()
    services.device_set_switches(device=komoju_device, online=False)

    assert (terminal.ref, terminal.name, terminal.online) == (KOMOJU_TERMINAL, "Front desk", True)
    assert komoju.get_terminal(KOMOJU_TERMINAL).online is False


def test_aborting_a_session_whose_push_never_left_us_cancels_it_so_it_can_never_be_paid(komoju):
    import httpx

    def push_never_sent(request):
        if request.url.path.endswith("/push"):
            raise httpx.ConnectError("connection refused", request=request)

    komoju.client.event_hooks["request"].append(push_never_sent)
    req = sale(1000)
    with pytest.raises(ProviderUnavailable) as caught:
        start_exactly_once(komoju, req)
    komoju.client.event_hooks["request"].remove(push_never_sent)
    assert caught.value.sent is False
    session = SandboxSession.objects.get()
    assert SandboxPayment.objects.count() == 0  # the session exists; nothing is on the terminal

    komoju.abort_payment(session.ref, kind=PaymentKind.SALE)  # not "it has probably finished"

    assert komoju.get_payment(session.ref, kind=PaymentKind.SALE).state is PaymentState.CANCELED
    # The session can no longer reach the terminal: the same start again (same key) is the
    # cancelled session, and nothing runs on the terminal.
    assert start_exactly_once(komoju, req).state is PaymentState.CANCELED
    assert SandboxPayment.objects.count() == 0 and SandboxSession.objects.count() == 1
