"""The contract every adapter keeps, run against each sandbox emulator over real HTTP."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from django.db.models import Q
from django.utils import timezone

from credentials.management.provider_check import follow_to_final
from credentials.models import AccessToken
from credentials.services import DatabaseTokenStore
from providers.base import BearerTokenAdapter, PaymentKind, PaymentState, RefundRequest
from providers.errors import (
    AuthError,
    NotAbortable,
    ProviderError,
    TerminalBusy,
    TerminalOffline,
    UnsupportedOperation,
)
from providers.recovery import start_exactly_once
from sandbox.models import SandboxPayment
from sandbox.scenarios import APPROVE
from sandbox.services import account_expire_tokens, device_set_switches, payment_decide
from tests.contract.conftest import for_providers_where, make_env

pytestmark = pytest.mark.django_db(transaction=True)

APPROVE_AMOUNT, DECLINE_AMOUNT, CANCEL_AMOUNT, WAIT_AMOUNT = 1001, 1002, 1003, 1000


def run_sale(env, amount, **kwargs):
    started = start_exactly_once(env.adapter, env.start_request(amount, **kwargs))
    assert started.provider_ref
    return settle(env, follow_to_final(env.adapter, started, kind=PaymentKind.SALE, timeout_s=30))


def settle(env, result):
    if result.state == PaymentState.AUTHORIZED:
        # MobilePay reserves a sale; the POS captures it (Integra's direct flow).
        assert env.adapter.capabilities.needs_capture
        result = env.adapter.capture(
            result.transaction_ref or result.provider_ref, idempotency_key=str(uuid.uuid4())
        )
    return result


def has_expiring_tokens(adapter) -> bool:
    return issubclass(adapter, BearerTokenAdapter)


def refunds_on_the_terminal(adapter) -> bool:
    return adapter.capabilities.refund_mode != "referenced"


def reports_online(adapter) -> bool:
    return adapter.capabilities.reports_online


@for_providers_where(has_expiring_tokens)
def test_tokens_are_obtained_cached_and_refreshed_before_expiry(env):
    token = env.adapter.obtain_token()
    assert token.expires_at > timezone.now() + timedelta(minutes=50)
    assert DatabaseTokenStore(env.account).load().access_token == token.access_token
    # Within two minutes of expiry the adapter fetches a new one before calling.
    AccessToken.objects.filter(account=env.account).update(
        expires_at=timezone.now() + timedelta(seconds=90)
    )
    env.adapter.list_terminals()
    assert DatabaseTokenStore(env.account).load().access_token != token.access_token


@for_providers_where(lambda adapter: not has_expiring_tokens(adapter))
def test_a_provider_without_expiring_tokens_calls_with_its_secret_and_stores_no_token(env):
    # USAePay signs each request; KOMOJU and Integra use long-lived secrets: nothing to refresh
    # (Integra's long-lived token is not refreshed but rotated: see the MobilePay token reset tests).
    assert env.adapter.obtain_token() is None
    assert {t.ref for t in env.adapter.list_terminals()} == {d.ref for d in env.devices}
    assert AccessToken.objects.filter(account=env.account).count() == 0


@for_providers_where(has_expiring_tokens)
def test_a_token_the_provider_expired_early_is_refreshed_once_on_401(env):
    env.adapter.obtain_token()
    assert account_expire_tokens(account=env.sandbox_account) >= 1
    assert [t.ref for t in env.adapter.list_terminals()]
    assert AccessToken.objects.get(account=env.account).expires_at > timezone.now() + timedelta(
        minutes=50
    )


def test_list_terminals_returns_every_device(env):
    terminals = {t.ref: t for t in env.adapter.list_terminals()}
    assert set(terminals) == {d.ref for d in env.devices}


@for_providers_where(reports_online)
def test_list_terminals_reports_an_offline_device_honestly(env):
    device_set_switches(device=env.devices[1], online=False)
    terminals = {t.ref: t for t in env.adapter.list_terminals()}
    assert terminals[env.devices[0].ref].online is True
    # Klearly lists connected terminals only: an offline one is absent rather than offline.
    assert env.devices[1].ref not in terminals or terminals[env.devices[1].ref].online is False


@for_providers_where(lambda adapter: not reports_online(adapter))
def test_a_provider_without_status_never_claims_online(env):
    device_set_switches(device=env.devices[1], online=False)
    terminals = {t.ref: t for t in env.adapter.list_terminals()}
    assert set(terminals) == {d.ref for d in env.devices}
    assert {t.online for t in terminals.values()} == {None}


def test_sale_approved(env):
    result = run_sale(env, APPROVE_AMOUNT)
    assert result.state == PaymentState.APPROVED
    assert result.transaction_ref
    if env.shows_card:
        assert result.card_last4 and len(result.card_last4) == 4
    assert env.charges() == 1


def test_sale_declined(env):
    result = run_sale(env, DECLINE_AMOUNT)
    assert result.state == PaymentState.DECLINED
    assert env.charges() == 0


def test_sale_cancelled_by_the_customer(env):
    result = run_sale(env, CANCEL_AMOUNT)
    assert result.state == PaymentState.CANCELED


def test_sale_aborted_while_pending(env):
    started = start_exactly_once(env.adapter, env.start_request(WAIT_AMOUNT))
    assert (
        env.adapter.get_payment(started.provider_ref, kind=PaymentKind.SALE).state
        == PaymentState.PENDING
    )
    env.adapter.abort_payment(started.provider_ref, kind=PaymentKind.SALE)
    result = follow_to_final(env.adapter, started, kind=PaymentKind.SALE, timeout_s=30)
    assert result.state == PaymentState.CANCELED
    assert env.charges() == 0


def test_abort_after_approval_is_refused_as_not_abortable(env):
    result = run_sale(env, APPROVE_AMOUNT)
    assert result.state == PaymentState.APPROVED
    with pytest.raises(NotAbortable) as excinfo:
        env.adapter.abort_payment(result.provider_ref, kind=PaymentKind.SALE)
    assert excinfo.value.permanent
    assert env.charges() == 1


def test_refund_by_reference(env):
    sale = run_sale(env, APPROVE_AMOUNT)
    refund = env.adapter.refund(
        RefundRequest(
            original_transaction_ref=sale.transaction_ref,
            amount_minor=APPROVE_AMOUNT,
            currency=env.currency,
            idempotency_key=env.start_request(1).idempotency_key,
            reference="rf-" + sale.provider_ref[-8:],
            description="contract refund",
        )
    )
    # Klearly runs a referenced refund on the original terminal: it is followed like a payment.
    refund = follow_to_final(env.adapter, refund, kind=PaymentKind.REFUND, timeout_s=30)
    assert refund.state == PaymentState.APPROVED
    # The provider's id for the sale: a transaction key (most) or the payment id itself (Integra).
    original = SandboxPayment.objects.get(
        Q(transaction_ref=sale.transaction_ref) | Q(provider_ref=sale.transaction_ref),
        device__account=env.sandbox_account,
    )
    assert original.refunded_amount == APPROVE_AMOUNT


@for_providers_where(lambda adapter: not refunds_on_the_terminal(adapter))
def test_a_refund_on_the_terminal_is_refused_where_refunds_are_by_reference_only(env):
    with pytest.raises(UnsupportedOperation):
        env.adapter.start_payment(env.start_request(APPROVE_AMOUNT, kind=PaymentKind.REFUND))
    assert env.starts_total() == 0


@for_providers_where(refunds_on_the_terminal)
def test_refund_on_the_terminal(env):
    started = start_exactly_once(
        env.adapter, env.start_request(APPROVE_AMOUNT, kind=PaymentKind.REFUND)
    )
    result = follow_to_final(env.adapter, started, kind=PaymentKind.REFUND, timeout_s=30)
    assert result.state == PaymentState.APPROVED


def test_terminal_offline_is_refused_and_nothing_runs(env):
    device_set_switches(device=env.device, online=False)
    req = env.start_request(APPROVE_AMOUNT)
    try:
        result = start_exactly_once(env.adapter, req)
    except TerminalOffline as exc:
        assert exc.permanent and "offline" in exc.message.lower()
    else:
        # Payroc documents no offline error: the instruction fails on the device instead.
        result = follow_to_final(env.adapter, result, kind=PaymentKind.SALE, timeout_s=30)
        assert result.state == PaymentState.FAILED
        assert "offline" in result.message.lower()
    assert env.charges() == 0


def test_terminal_busy_is_refused_and_nothing_runs(env):
    device_set_switches(device=env.device, busy=True)
    with pytest.raises(TerminalBusy) as excinfo:
        start_exactly_once(env.adapter, env.start_request(APPROVE_AMOUNT))
    assert excinfo.value.permanent
    assert env.charges() == 0


def test_a_second_start_on_a_terminal_with_an_active_payment_is_refused(env):
    start_exactly_once(env.adapter, env.start_request(WAIT_AMOUNT))
    with pytest.raises(TerminalBusy):
        start_exactly_once(env.adapter, env.start_request(APPROVE_AMOUNT))


def test_a_5xx_is_a_transient_error(env):
    started = start_exactly_once(env.adapter, env.start_request(WAIT_AMOUNT))
    device_set_switches(device=env.device, fail_next_5xx=1)
    with pytest.raises(ProviderError) as excinfo:
        env.adapter.get_payment(started.provider_ref, kind=PaymentKind.SALE)
    assert excinfo.value.permanent is False
    # The next call gets through.
    assert (
        env.adapter.get_payment(started.provider_ref, kind=PaymentKind.SALE).state
        == PaymentState.PENDING
    )


def test_bad_credentials_are_an_auth_error(env, tenant_a):
    wrong = {name: value[:-3] + "xyz" for name, value in env.account.secrets().items()}
    bad = make_env(env.provider_name, tenant_a.merchant, secrets=wrong)
    try:
        with pytest.raises(AuthError) as excinfo:
            bad.adapter.obtain_token() or bad.adapter.list_terminals()
        assert excinfo.value.permanent
        for value in wrong.values():
            assert value not in excinfo.value.message
    finally:
        bad.adapter.close()


def test_a_response_lost_after_the_charge_is_recovered_by_the_retry_with_exactly_one_charge(env):
    device_set_switches(device=env.device, lose_next_response=True)
    req = env.start_request(WAIT_AMOUNT)
    result = start_exactly_once(env.adapter, req)
    assert result.state == PaymentState.PENDING
    assert env.starts(req.reference) == 1
    payment = SandboxPayment.objects.get(order_ref=req.reference)
    assert payment_decide(payment=payment, outcome=APPROVE)
    final = settle(env, follow_to_final(env.adapter, result, kind=PaymentKind.SALE, timeout_s=30))
    assert final.state == PaymentState.APPROVED
    assert env.charges(req.reference) == 1
    assert env.starts(req.reference) == 1


def test_provider_check_runs_every_step_and_exits_0(env):

    from django.core.management import call_command

    out = io.StringIO()
    call_command("provider_check", env.provider_name, "--account", str(env.account.pk), stdout=out)
    lines = [line for line in out.getvalue().splitlines() if line.startswith(("PASS", "FAIL"))]
    assert [line.split()[1] for line in lines] == ["auth", "list", "sale", "abort", "refund"]
    assert all(line.startswith("PASS") for line in lines)
    assert env.charges() == 1


def test_provider_check_exits_non_zero_when_a_step_fails(env):
    from django.core.management import CommandError, call_command

    for device in env.devices:
        device_set_switches(device=device, online=False)
    with pytest.raises(CommandError):
        call_command(
            "provider_check",
            env.provider_name,
            "--account",
            str(env.account.pk),
            stdout=io.StringIO(),
        )


LOST_RESPONSE_RUNS = 100


def test_a_lost_start_response_never_makes_a_second_charge_in_100_runs(env):
    references = []
    for _ in range(LOST_RESPONSE_RUNS):
        device_set_switches(device=env.device, lose_next_response=True)
        req = env.start_request(APPROVE_AMOUNT)
        started = start_exactly_once(env.adapter, req)
        final = settle(
            env, follow_to_final(env.adapter, started, kind=PaymentKind.SALE, timeout_s=30)
        )
        assert final.state == PaymentState.APPROVED
        references.append(req.reference)
    for reference in references:
        assert env.starts(reference) == 1
        assert env.charges(reference) == 1
    assert env.charges() == LOST_RESPONSE_RUNS


@for_providers_where(lambda adapter: adapter.capabilities.needs_capture)
def test_an_authorisation_nobody_captured_is_voided_by_abort_payment(env):
    started = start_exactly_once(
        env.adapter, env.start_request(APPROVE_AMOUNT, kind=PaymentKind.AUTH)
    )
    authorised = follow_to_final(env.adapter, started, kind=PaymentKind.AUTH, timeout_s=30)
    assert authorised.state == PaymentState.AUTHORIZED

    env.adapter.abort_payment(started.provider_ref, kind=PaymentKind.AUTH)

    voided = env.adapter.get_payment(started.provider_ref, kind=PaymentKind.AUTH)
    assert voided.state == PaymentState.CANCELED
    assert env.charges() == 0  # nothing held on the card any more
    assert SandboxPayment.objects.filter(device=env.device, status="canceled").count() == 1
