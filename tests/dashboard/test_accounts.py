import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from dashboard.models import Role
from tests.factories import PASSWORD
from tests.sessions import set_session_expiry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def manager(tenant_a):
    return tenant_a.users[Role.MERCHANT_MANAGER]


def _login(client, email, password):
    return client.post(
        reverse("login"), {"username": email, "password": password}, REMOTE_ADDR="10.0.0.7"
    )


@pytest.mark.django_db
def test_ten_failed_logins_lock_the_account_even_for_the_right_password(client, manager):
    for _ in range(10):
        response = _login(client, manager.email, "wrong-password-123")
        assert response.status_code in (200, 429)
    response = _login(client, manager.email, PASSWORD)
    assert response.status_code == 429
    assert "locked for 30 minutes" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_nine_failed_logins_do_not_lock(client, manager):
    for _ in range(9):
        _login(client, manager.email, "wrong-password-123")
    response = _login(client, manager.email, PASSWORD)
    assert response.status_code == 302


@pytest.mark.django_db
def test_lockout_lasts_thirty_minutes(client, manager):
    assert settings.AXES_FAILURE_LIMIT == 10
    assert settings.AXES_COOLOFF_TIME == timedelta(minutes=30)
    from axes.models import AccessAttempt

    for _ in range(10):
        _login(client, manager.email, "wrong-password-123")
    assert _login(client, manager.email, PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=31))
    assert _login(client, manager.email, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_a_session_idle_for_15_minutes_is_logged_out(client, manager):
    from django.contrib.sessions.models import Session

    client.force_login(manager)
    assert client.get(reverse("home")).status_code == 200
    session = Session.objects.get(session_key=client.session.session_key)
    assert session.expire_date - timezone.now() <= timedelta(minutes=15)
    set_session_expiry(timezone.now() - timedelta(seconds=1), pk=session.pk)
    response = client.get(reverse("home"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_activity_renews_the_idle_timeout(client, manager):
    from django.contrib.sessions.models import Session

    client.force_login(manager)
    set_session_expiry(timezone.now() + timedelta(minutes=1))
    client.get(reverse("home"))
    assert Session.objects.get().expire_date > timezone.now() + timedelta(minutes=14)


@pytest.mark.django_db
@pytest.mark.parametrize("new_password,accepted", [("short-pw-11", False), ("twelve-chars", True)])
def test_password_change_requires_12_characters(client, manager, new_password, accepted):
    client.force_login(manager)
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )
    if accepted:
        assert response.status_code == 302
    else:
        assert response.status_code == 200
        assert "at least 12 characters" in response.content.decode()
    manager.refresh_from_db()
    assert manager.check_password(new_password) is accepted


@pytest.mark.django_db
def test_every_form_carries_a_csrf_token(client, manager):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("login"), {"username": manager.email, "password": PASSWORD})
    assert response.status_code == 403
    page = strict.get(reverse("login")).content.decode()
    assert "csrfmiddlewaretoken" in page


@pytest.mark.django_db
def test_htmx_requests_carry_the_csrf_token_in_hx_headers(client, manager):
    client.force_login(manager)
    body = client.get(reverse("home")).content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in body


def _production_env(**overrides):
    dropped = ("DATABASE_URL", "SECRET_KEY", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    db = settings.DATABASES["default"]
    env.update(
        DJANGO_SETTINGS_MODULE="config.production",
        SECRET_KEY="x" * 20 + "production-secret-key-for-the-deploy-check-9f8e7d6c5b4a",
        DATABASE_URL=f"postgres://{db['USER']}@/{db['NAME']}?host={db['HOST']}",
        REDIS_URL=settings.REDIS_URL,
        CREDENTIALS_KEYS="MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=",
        ALLOWED_HOSTS="dashboard.example.com",
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def test_check_deploy_gives_no_warning_under_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL"])
def test_production_refuses_to_start_without(missing):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=_production_env(**{missing: None}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert missing in result.stderr
