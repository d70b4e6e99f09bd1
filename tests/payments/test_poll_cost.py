"""What a page's poll of the status card costs the database: the session comes from the cache
(`cached_db`), the user and its membership from one query (`PasswordBackend.get_user`, the backend
a real login stores), and the payment from one more: two queries in all, for every role."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dashboard.models import Role
from payments.models import PaymentStatus
from tests.factories import PASSWORD, PaymentFactory

pytestmark = pytest.mark.django_db

BACKEND = "dashboard.backends.PasswordBackend"


@pytest.mark.parametrize("role", [Role.CASHIER, Role.MERCHANT_MANAGER, Role.RESELLER_ADMIN])
@pytest.mark.parametrize("status", [PaymentStatus.PENDING, PaymentStatus.APPROVED])
def test_a_status_poll_is_two_queries(client, tenant_a, terminal, role, status):
    payment = PaymentFactory(terminal=terminal, status=status)
    client.force_login(tenant_a.users[role], backend=BACKEND)
    url = reverse("payments:status", args=[payment.uuid])
    client.get(
        url, HTTP_HX_REQUEST="true", HTTP_X_POLL="1"
    )  # the first poll warms the session cache

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, HTTP_HX_REQUEST="true", HTTP_X_POLL="1")

    assert response.status_code == (200 if status == PaymentStatus.PENDING else 286)
    sql = [q["sql"] for q in queries]
    assert len(sql) <= 2, "\n".join(s[:150] + " ... " + s[-150:] for s in sql)
    assert not [q for q in sql if "django_session" in q]
    assert 'FROM "dashboard_user"' in sql[0] and "dashboard_membership" in sql[0]


def test_the_payment_page_loads_its_terminal_and_merchant_with_the_payment(
    client, tenant_a, terminal
):
    """`scoped(Payment, related=("merchant", "terminal"))`: the page's scoped read brings the
    relations it shows, so the page is the user, the payment, its timeline and its refunds."""
    payment = PaymentFactory(terminal=terminal, status=PaymentStatus.PENDING)
    client.force_login(tenant_a.users[Role.CASHIER], backend=BACKEND)
    url = reverse("payments:detail", args=[payment.uuid])
    client.get(url, HTTP_X_POLL="1")

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, HTTP_X_POLL="1")

    assert response.status_code == 200 and terminal.name in response.content.decode()
    sql = [q["sql"] for q in queries]
    assert not [q for q in sql if 'FROM "terminals_terminal"' in q.split(" WHERE ")[0][:60]]
    assert not [q for q in sql if q.startswith('SELECT "dashboard_merchant"')]
    assert len(sql) <= 4, "\n".join(s[:150] for s in sql)


def test_a_login_through_the_form_stores_the_backend_that_loads_the_membership(
    client, tenant_a, terminal
):
    from django.contrib.auth import BACKEND_SESSION_KEY

    cashier = tenant_a.users[Role.CASHIER]
    response = client.post(reverse("login"), {"username": cashier.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session[BACKEND_SESSION_KEY] == BACKEND
    payment = PaymentFactory(terminal=terminal, status=PaymentStatus.PENDING)
    url = reverse("payments:status", args=[payment.uuid])
    client.get(url, HTTP_HX_REQUEST="true", HTTP_X_POLL="1")

    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, HTTP_HX_REQUEST="true", HTTP_X_POLL="1").status_code == 200

    assert len(queries) <= 2, [q["sql"][:120] for q in queries]
