"""Sessions end 15 minutes after the person's last own request: a page's polls (`X-Poll: 1`) do not
keep them alive, and the first poll after the end sends the whole page to the login page, which
says why."""

import re
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from dashboard.middleware import LAST_ACTIVITY_KEY
from dashboard.models import Role
from tests.sessions import set_session_expiry

ROOT = Path(__file__).resolve().parents[2]
POLL = {"HTTP_HX_REQUEST": "true", "HTTP_X_POLL": "1"}


@pytest.fixture
def manager_client(client, tenant_a):
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])
    assert client.get(reverse("home")).status_code == 200
    return client


def _poll(client):
    return client.get(
        reverse("terminals:statuses") + "?id=1",
        HTTP_HX_CURRENT_URL="http://testserver/terminals/?store=3",
        **POLL,
    )


def _the_session():
    return Session.objects.get()


@pytest.mark.django_db
def test_a_poll_does_not_extend_the_session(manager_client):
    one_minute_left = timezone.now() + timedelta(minutes=1)
    set_session_expiry(one_minute_left)
    for _ in range(3):
        assert _poll(manager_client).status_code == 200
    assert _the_session().expire_date == one_minute_left


@pytest.mark.django_db
def test_a_persons_own_htmx_request_extends_the_session(manager_client):
    set_session_expiry(timezone.now() + timedelta(minutes=1))
    manager_client.get(reverse("terminals:statuses") + "?id=1", HTTP_HX_REQUEST="true")
    assert _the_session().expire_date > timezone.now() + timedelta(minutes=14)


@pytest.mark.django_db
def test_a_poll_after_the_session_expired_sends_the_page_to_login_saying_why(manager_client):
    set_session_expiry(timezone.now() - timedelta(seconds=1))
    response = _poll(manager_client)
    assert response.status_code == 200 and "HX-Redirect" in response.headers
    target = urlsplit(response["HX-Redirect"])
    assert target.path == reverse("login")
    assert parse_qs(target.query) == {"next": ["/terminals/?store=3"], "reason": ["session-ended"]}
    assert b"<form" not in response.content
    login_page = manager_client.get(response["HX-Redirect"]).content.decode()
    assert "Your session ended, please log in again." in login_page


@pytest.mark.django_db
def test_a_session_idle_for_15_minutes_ends_even_if_something_saved_it_meanwhile(
    manager_client,
):
    """The last own request is what counts: a session saved by other means during polls still ends."""
    session = manager_client.session
    session[LAST_ACTIVITY_KEY] = int(time.time()) - 15 * 60 - 1
    session.save()
    assert _the_session().expire_date > timezone.now() + timedelta(minutes=14)
    response = _poll(manager_client)
    assert reverse("login") in response["HX-Redirect"]
    page = manager_client.get(reverse("home"))
    assert page.status_code == 302 and reverse("login") in page["Location"]


@pytest.mark.django_db
def test_a_plain_page_load_after_expiry_redirects_to_login(manager_client):
    set_session_expiry(timezone.now() - timedelta(seconds=1))
    response = manager_client.get(reverse("terminals:fleet"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_every_polling_element_marks_its_requests_as_polls():
    """The one mechanism: an element with `hx-trigger="every …"` carries `hx-headers='{"X-Poll": "1"}'`."""
    pollers = []
    for path in (ROOT / "templates").glob("**/*.html"):
        for tag in re.findall(r"<[a-z][^>]*hx-trigger=\"[^\"]*\bevery\b[^>]*>", path.read_text()):
            pollers.append((path.name, tag))
    assert len(pollers) >= 3, pollers
    for name, tag in pollers:
        assert """hx-headers='{"X-Poll": "1"}'""" in tag, f"{name}: {tag}"
