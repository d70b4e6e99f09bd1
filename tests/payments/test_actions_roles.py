"""Who may abort, capture and refund: cashiers abort; reseller admins do none of these."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from dashboard.models import Role
from payments import actions
from payments.models import Payment, PaymentStatus
from payments.services import payment_create


def test_a_cashier_aborts_a_payment_not_yet_sent_without_a_provider_call(tenant_a, terminal):
    cashier = tenant_a.users[Role.CASHIER]
    payment = payment_create(
        user=cashier, terminal=terminal, kind="sale", amount_minor=1000, currency="USD"
    )
    result = actions.payment_abort(payment=payment, user=cashier)
    assert result.outcome == actions.AbortOutcome.ABORTED
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert payment.message == "Canceled before it was sent to the terminal."


def test_a_reseller_admin_may_not_abort_capture_or_refund(tenant_a, terminal):
    manager = tenant_a.users[Role.MERCHANT_MANAGER]
    reseller_admin = tenant_a.users[Role.RESELLER_ADMIN]
    payment = payment_create(
        user=manager, terminal=terminal, kind="sale", amount_minor=1000, currency="USD"
    )
    with pytest.raises(PermissionDenied):
        actions.payment_abort(payment=payment, user=reseller_admin)
    with pytest.raises(PermissionDenied):
        actions.payment_capture(payment=payment, user=reseller_admin)
    with pytest.raises(PermissionDenied):
        actions.payment_refund(sale=payment, user=reseller_admin, amount_minor=100)
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CREATED


def test_refund_preflight_explains_why_a_sale_not_approved_cannot_be_refunded(tenant_a, terminal):
    manager = tenant_a.users[Role.MERCHANT_MANAGER]
    payment = payment_create(
        user=manager, terminal=terminal, kind="sale", amount_minor=1000, currency="USD"
    )
    assert actions.refund_preflight(payment, manager) == (
        "Only an approved payment can be refunded; this one is created."
    )
