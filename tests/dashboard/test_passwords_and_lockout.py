"""Weak passwords are refused wherever a password is set, and the lockout counts the client's
address, taken from X-Forwarded-For only behind a configured number of trusted proxies."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from dashboard.models import Role, User
from dashboard.services import user_create_with_membership
from tests.factories import PASSWORD

WEAK = {
    "twelve spaces": " " * 12,
    "tabs and spaces": " \t \t \t \t \t \t",
    "one repeated character": "aaaaaaaaaaaa",
    "one repeated pair": "abababababab",
    "a keyboard row": "qwertyuiopas",
    "a keyboard row backwards": "lkjhgfdsapoiuytrewq",
    "a keyboard column walk": "1qaz2wsx3edc",
    "the alphabet": "abcdefghijklm",
    "short": "short-pw-11",
    "common": "password1234",
    "numeric": "739104628351",
}
STRONG = ["twelve-chars", "tangerine harbour 48", "Kx7#mQ2!vLp9"]
PROXY = "10.0.0.2"


@pytest.fixture
def manager(tenant_a):
    return tenant_a.users[Role.MERCHANT_MANAGER]


def _change_password(client, new):
    return client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )


@pytest.mark.django_db
@pytest.mark.parametrize("password", WEAK.values(), ids=WEAK.keys())
def test_the_password_change_refuses(client, manager, password):
    client.force_login(manager)
    response = _change_password(client, password)
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    manager.refresh_from_db()
    assert manager.check_password(PASSWORD) and not manager.check_password(password)


@pytest.mark.django_db
@pytest.mark.parametrize("password", STRONG)
def test_the_password_change_accepts(client, manager, password):
    client.force_login(manager)
    assert _change_password(client, password).status_code == 302
    manager.refresh_from_db()
    assert manager.check_password(password)


@pytest.mark.django_db
@pytest.mark.parametrize("password", WEAK.values(), ids=WEAK.keys())
def test_creating_a_user_refuses(tenant_a, password):
    with pytest.raises(ValidationError):
        user_create_with_membership(
            email="new-cashier@example.test",
            password=password,
            role=Role.CASHIER,
            merchant=tenant_a.merchant,
        )
    assert not User.objects.filter(email="new-cashier@example.test").exists()


@pytest.mark.django_db
def test_creating_a_user_refuses_a_password_like_the_email(tenant_a):
    with pytest.raises(ValidationError):
        user_create_with_membership(
            email="florence.baker@example.test",
            password="florence.baker",
            role=Role.CASHIER,
            merchant=tenant_a.merchant,
        )


# --- lockout behind a proxy -----------------------------------------------------------------------


def _login(client, email, password, forwarded_for):
    return client.post(
        reverse("login"),
        {"username": email, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


def _ten_failures(client, email, forwarded_for):
    for _ in range(10):
        assert _login(client, email, "wrong-password-123", forwarded_for).status_code in (200, 429)


@pytest.mark.django_db
def test_without_a_trusted_proxy_count_x_forwarded_for_is_ignored(client, manager, settings):
    assert settings.TRUSTED_PROXY_COUNT == 0
    # Sending another X-Forwarded-For with every try does not escape the lockout.
    for n in range(10):
        _login(client, manager.email, "wrong-password-123", f"198.51.100.{n}")
    assert _login(client, manager.email, PASSWORD, "198.51.100.99").status_code == 429
    from axes.models import AccessAttempt

    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {PROXY}


@pytest.mark.django_db
def test_behind_one_trusted_proxy_two_people_are_counted_apart(client, manager, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    _ten_failures(client, manager.email, "203.0.113.9")
    assert _login(client, manager.email, PASSWORD, "203.0.113.9").status_code == 429
    # The account's owner, behind the same proxy from another address, still logs in.
    response = _login(client, manager.email, PASSWORD, "198.51.100.4")
    assert response.status_code == 302
    assert "_auth_user_id" in client.session


@pytest.mark.django_db
def test_behind_one_trusted_proxy_an_address_the_client_wrote_is_not_believed(
    client, manager, settings
):
    """The proxy appends what it saw; what the attacker put in front of it is not the address."""
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(10):
        _login(client, manager.email, "wrong-password-123", f"198.51.100.{n}, 203.0.113.9")
    assert _login(client, manager.email, PASSWORD, "198.51.100.1, 203.0.113.9").status_code == 429
    assert _login(client, manager.email, PASSWORD, "198.51.100.1").status_code == 302


@pytest.mark.django_db
def test_a_request_that_did_not_pass_the_proxy_is_counted_by_its_peer(client, manager, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(10):
        client.post(
            reverse("login"),
            {"username": manager.email, "password": "wrong-password-123"},
            REMOTE_ADDR="192.0.2.50",
        )
    from axes.models import AccessAttempt

    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"192.0.2.50"}
