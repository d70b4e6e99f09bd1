"""The dashboard's Klearly adapter driven against the Klearly emulator over real HTTP."""

import pytest

from providers.base import PaymentKind, PaymentState
from providers.errors import (
    AuthError,
    BatteryLow,
    NotAbortable,
    ProviderUnavailable,
    TerminalBusy,
    TerminalOffline,
)
from providers.klearly import OriginalTerminalOffline
from providers.recovery import start_exactly_once
from sandbox import services
from sandbox.models import PaymentStatus, SandboxPayment, SandboxPaymentKind
from tests.sandbox.conftest import (
    KLEARLY_DEVICE,
    KLEARLY_MERCHANT_ID,
    KLEARLY_OTHER_DEVICE,
    KLEARLY_SECRETS,
    adapter_for,
    follow,
    refund_request,
    start_request,
)

pytestmark = pytest.mark.django_db(transaction=True)


def sale(amount_minor: int, **overrides):
    return start_request(KLEARLY_DEVICE, amount_minor, "EUR", **overrides)


def run(klearly, amount_minor: int):
    return follow(klearly, start_exactly_once(klearly, sale(amount_minor)))


def charges() -> int:
    return SandboxPayment.objects.charges().count()


def test_a_sale_is_approved_with_card_details(klearly):
    started = start_exactly_once(klearly, sale(1201))
    assert (started.state, started.raw_status) == (PaymentState.PENDING, "pending")

    result = follow(klearly, started)

    assert (result.state, result.raw_status) == (PaymentState.APPROVED, "succeeded")
    assert result.transaction_ref == result.provider_ref
    assert len(result.card_last4) == 4 and result.auth_code
    payment = SandboxPayment.objects.get()
    assert payment.request["metadata"] == {
        "storeId": "store-9",
        "posPaymentId": started.raw["metadata"]["posPaymentId"],
        "posMerchantId": KLEARLY_MERCHANT_ID,
    }
    assert charges() == 1


@pytest.mark.parametrize(
    "amount_minor,state,word",
    [
        (1202, PaymentState.DECLINED, "failed"),
        (1203, PaymentState.CANCELED, "cancelled"),
    ],
)
def test_declined_and_cancelled_by_the_customer(klearly, amount_minor, state, word):
    result = run(klearly, amount_minor)

    assert (result.state, result.raw_status) == (state, word)
    assert charges() == 0


def test_abort_while_pending(klearly):
    started = start_exactly_once(klearly, sale(1200))

    klearly.abort_payment(started.provider_ref, kind=PaymentKind.SALE)

    result = klearly.get_payment(started.provider_ref, kind=PaymentKind.SALE)
    assert (result.state, result.raw_status) == (PaymentState.CANCELED, "aborted")


def test_abort_after_approval_is_refused_and_says_to_refund(klearly):
    result = run(klearly, 1201)

    with pytest.raises(NotAbortable) as caught:
        klearly.abort_payment(result.provider_ref, kind=PaymentKind.SALE)

    assert caught.value.provider_code == "payment_already_succeeded"
    assert "Refund" in caught.value.message
    assert charges() == 1


def test_a_refund_runs_on_the_original_terminal(klearly, klearly_other_device):
    result = run(klearly, 1201)

    refund = klearly.refund(refund_request(result.transaction_ref, 1001, "EUR"))

    assert refund.state is PaymentState.PENDING
    final = follow(klearly, refund, kind=PaymentKind.REFUND)
    assert final.state is PaymentState.APPROVED
    made = SandboxPayment.objects.get(kind=SandboxPaymentKind.REFUND)
    assert made.device.ref == KLEARLY_DEVICE and made.original.provider_ref == result.provider_ref
    assert made.original.refunded_amount == 1001


def test_a_refund_is_refused_while_the_original_terminal_is_offline(
    klearly, klearly_device, klearly_other_device
):
    result = run(klearly, 1201)
    services.device_set_switches(device=klearly_device, online=False)

    with pytest.raises(OriginalTerminalOffline) as caught:
        klearly.refund(refund_request(result.transaction_ref, 500, "EUR"))

    assert "Bar 1" in caught.value.message and caught.value.permanent
    assert SandboxPayment.objects.filter(kind=SandboxPaymentKind.REFUND).count() == 0


@pytest.mark.parametrize(
    "switch,error",
    [
        ({"online": False}, TerminalOffline),
        ({"busy": True}, TerminalBusy),
        ({"battery_low": True}, BatteryLow),
    ],
)
def test_device_switches_are_refusals_where_nothing_runs(klearly, klearly_device, switch, error):
    services.device_set_switches(device=klearly_device, **switch)

    with pytest.raises(error) as caught:
        start_exactly_once(klearly, sale(1201))

    assert type(caught.value) is error and caught.value.permanent
    assert SandboxPayment.objects.count() == 0


def test_a_second_sale_while_one_is_pending_is_busy(klearly):
    start_exactly_once(klearly, sale(1200))

    with pytest.raises(TerminalBusy):
        start_exactly_once(klearly, sale(1201))


def test_a_5xx_is_transient(klearly, klearly_device):
    started = start_exactly_once(klearly, sale(1200))
    services.device_set_switches(device=klearly_device, fail_next_5xx=1)

    with pytest.raises(ProviderUnavailable):
        klearly.get_payment(started.provider_ref, kind=PaymentKind.SALE)

    assert (
        klearly.get_payment(started.provider_ref, kind=PaymentKind.SALE).state
        is PaymentState.PENDING
    )


def test_bad_partner_credentials_are_an_auth_error(klearly_device, klearly_base):
    wrong = adapter_for(
        "klearly",
        klearly_base,
        secrets={**KLEARLY_SECRETS, "partner_secret": "partner-secret-c41d9xyz"},
        settings={"merchant_id": KLEARLY_MERCHANT_ID},
    )
    try:
        with pytest.raises(AuthError) as caught:
            wrong.obtain_token()
    finally:
        wrong.close()

    assert "partner-secret" not in caught.value.message


def test_a_token_expired_early_is_refreshed_once_on_401(klearly, klearly_account):
    first = klearly.obtain_token()
    services.account_expire_tokens(account=klearly_account)

    terminals = klearly.list_terminals()

    assert [t.ref for t in terminals] == [KLEARLY_DEVICE]
    assert klearly.token_store.load().access_token != first.access_token


def test_a_lost_start_answer_is_replayed_with_exactly_one_charge(klearly, klearly_device):
    services.device_set_switches(device=klearly_device, lose_next_response=True)
    req = sale(1200)

    result = start_exactly_once(klearly, req)

    assert result.state is PaymentState.PENDING
    payment = SandboxPayment.objects.get()
    assert payment.provider_ref == result.provider_ref
    services.payment_decide(payment=payment, outcome="approve")
    assert follow(klearly, result).state is PaymentState.APPROVED
    assert SandboxPayment.objects.count() == 1 and charges() == 1


def test_only_connected_terminals_are_listed(klearly, klearly_other_device):
    services.device_set_switches(device=klearly_other_device, online=False)

    listed = [(t.ref, t.name, t.online) for t in klearly.list_terminals()]
    other = klearly.get_terminal(KLEARLY_OTHER_DEVICE)

    assert listed == [(KLEARLY_DEVICE, "Bar 1", True)]
    assert (other.online, other.status_text) == (False, "inactive")


def test_the_virtual_terminals_approve_decides_a_pending_sale(klearly):
    started = start_exactly_once(klearly, sale(1200))
    payment = SandboxPayment.objects.get()

    services.payment_decide(payment=payment, outcome="decline")

    result = klearly.get_payment(started.provider_ref, kind=PaymentKind.SALE)
    assert result.state is PaymentState.DECLINED
    assert result.message == "Declined by the card issuer"
    assert SandboxPayment.objects.get().status == PaymentStatus.DECLINED
