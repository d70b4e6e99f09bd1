"""The login page as a new user meets it: errors for an empty form, an email in any case, a word on
why they landed there, and the error pages inside the layout."""

from datetime import timedelta

import pytest
from django.template import RequestContext, Template
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from dashboard.models import Role, User
from tests.factories import PASSWORD
from tests.sessions import set_session_expiry

pytestmark = pytest.mark.django_db


def test_submitting_the_login_form_empty_says_what_is_missing(client):
    response = client.post(reverse("login"), {"username": "", "password": ""})
    body = response.content.decode()
    assert response.status_code == 200
    assert 'role="alert"' in body
    assert "Enter your email address." in body
    assert "Enter your password." in body
    assert body.count('aria-invalid="true"') == 2


def test_a_wrong_password_says_so(client, tenant_a):
    manager = tenant_a.users[Role.MERCHANT_MANAGER]
    response = client.post(reverse("login"), {"username": manager.email, "password": "nope"})
    assert "Please enter a correct email address and password." in response.content.decode()


def test_the_login_email_is_matched_in_any_case(client, tenant_a):
    manager = tenant_a.users[Role.MERCHANT_MANAGER]
    response = client.post(
        reverse("login"), {"username": f"  {manager.email.upper()} ", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == manager.pk


def test_a_new_user_email_is_stored_in_lower_case():
    user = User.objects.create_user(email="Manager@Bakery.TEST", password=PASSWORD)
    assert user.email == "manager@bakery.test"
    assert User.objects.get_by_natural_key("MANAGER@bakery.test") == user


def test_failed_logins_in_other_cases_count_for_one_lockout(client, tenant_a):
    manager = tenant_a.users[Role.MERCHANT_MANAGER]
    for i in range(10):
        email = manager.email.upper() if i % 2 else manager.email.title()
        client.post(
            reverse("login"), {"username": email, "password": "wrong"}, REMOTE_ADDR="10.0.0.8"
        )
    response = client.post(
        reverse("login"), {"username": manager.email, "password": PASSWORD}, REMOTE_ADDR="10.0.0.8"
    )
    assert response.status_code == 429


def test_logging_out_lands_on_the_login_page_saying_so(client, tenant_a):
    client.force_login(tenant_a.users[Role.CASHIER])
    response = client.post(reverse("logout"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("login")
    assert "You have been logged out." in response.content.decode()


def test_an_expired_session_lands_on_the_login_page_saying_why(client, tenant_a):
    client.force_login(tenant_a.users[Role.CASHIER])
    set_session_expiry(timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("home"), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("login"))
    assert "Your session ended, please log in again." in response.content.decode()


def test_a_first_visit_lands_on_the_login_page_without_a_note(client):
    response = client.get(reverse("home"), follow=True)
    body = response.content.decode()
    assert "Log in" in body
    assert "session ended" not in body and "logged out" not in body


def test_the_404_and_403_pages_keep_the_navigation(client, tenant_a, tenant_b):
    client.force_login(tenant_a.users[Role.CASHIER])
    not_found = client.get(reverse("dashboard:merchant_detail", args=[tenant_b.merchant.pk]))
    forbidden = client.get(reverse("dashboard:merchant_edit", args=[tenant_a.merchant.pk]))
    assert (not_found.status_code, forbidden.status_code) == (404, 403)
    for response, heading in ((not_found, "Not found"), (forbidden, "Not allowed")):
        body = response.content.decode()
        assert f"<h1>{heading}</h1>" in body
        assert 'data-testid="main-nav"' in body
        assert tenant_a.users[Role.CASHIER].email in body


def test_every_page_links_the_svg_favicon(client):
    from django.contrib.staticfiles import finders

    body = client.get(reverse("login")).content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in body
    assert finders.find("favicon.svg").endswith("static/favicon.svg")
    with open(finders.find("favicon.svg")) as svg:
        assert svg.read().startswith("<svg")


def test_pagination_keeps_every_filter_of_the_page():
    from django.core.paginator import Paginator

    request = RequestFactory().get("/terminals/", {"q": "lane", "store": "7", "page": "2"})
    page = Paginator(range(60), 25).get_page(2)
    html = Template('{% include "_pagination.html" %}').render(
        RequestContext(request, {"page": page})
    )
    assert 'href="?q=lane&amp;store=7&amp;page=1"' in html
    assert 'href="?q=lane&amp;store=7&amp;page=3"' in html
