"""The request parsers every view uses (dashboard/params.py), and the faults the outsider's probe
found: each was a 500 and is now a message where the person is (a form error, or a 400 saying
which parameter was wrong)."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from dashboard.models import Role
from dashboard.params import (
    BadParameter,
    clean_text,
    get_choice,
    get_id,
    get_ids,
    parse_id,
)
from tests.factories import UserFactory

# -- the parsers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        ("1", 1),
        ("0042", 42),
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", None),  # beyond bigint
        ("9" * 400, None),
        ("²", None),  # "²".isdigit() is True, int("²") fails
        ("١٢", None),  # int() reads Arabic-Indic digits
        ("１２", None),  # and full-width ones
        ("-1", None),
        (" 1", None),
        ("1\x00", None),
        ("1e3", None),
        ("", None),
        (None, None),
        (12, None),
    ],
)
def test_an_id_is_ascii_digits_that_fit_a_bigint(value, expected):
    assert parse_id(value) == expected


def test_get_id_is_none_when_absent_and_refuses_what_is_no_id():
    assert get_id(QueryDict("merchant=7"), "merchant") == 7
    assert get_id(QueryDict(""), "merchant") is None
    assert get_id(QueryDict("merchant="), "merchant") is None
    with pytest.raises(BadParameter, match="“merchant” must be the number"):
        get_id(QueryDict("merchant=%C2%B2"), "merchant")


def test_get_ids_reads_the_first_values_and_refuses_one_that_is_no_id():
    assert get_ids(QueryDict("id=1&id=22"), "id", limit=5) == [1, 22]
    assert get_ids(QueryDict("id=1&id=2&id=3"), "id", limit=2) == [1, 2]
    with pytest.raises(BadParameter, match="“id” must be the numbers"):
        get_ids(QueryDict("id=1&id=%00"), "id", limit=5)


def test_get_choice_names_the_choices():
    assert get_choice(QueryDict("p=usaepay"), "p", ["usaepay", "payroc"]) == "usaepay"
    assert get_choice(QueryDict(""), "p", ["usaepay"], default="payroc") == "payroc"
    with pytest.raises(BadParameter, match="must be one of: usaepay, payroc"):
        get_choice(QueryDict("p=x"), "p", ["usaepay", "payroc"])


def test_text_is_stripped_capped_and_free_of_control_characters():
    assert clean_text("  bakery ", "q") == "bakery"
    with pytest.raises(BadParameter, match="at most 5 characters"):
        clean_text("x" * 6, "q", max_length=5)
    for bad in ("a\x00b", "a\x1bb", "a\nb"):
        with pytest.raises(BadParameter, match="control characters"):
            clean_text(bad, "q")


# -- the faults the probe found --------------------------------------------------------------------


@pytest.fixture
def fleet(tenant_a):
    from tests.factories import make_account, make_payment_terminal

    account = make_account(tenant_a.merchant, "usaepay")
    return make_payment_terminal(account, store=tenant_a.store)


@pytest.mark.parametrize(
    "method,url,data,parameter",
    [
        ("get", "/terminals/statuses/", {"id": "²"}, "id"),
        ("get", "/terminals/sync/", {"run": "²"}, "run"),
        ("post", "/terminals/sync/", {"merchant": "²"}, "merchant"),
        ("post", "/terminals/sync/", {"provider": "nobody"}, "provider"),
        ("post", "/terminals/assign/", {"terminal": "²"}, "terminal"),
        ("get", "/stores/", {"merchant": "²"}, "merchant"),
        ("get", "/stores/new/", {"merchant": "²"}, "merchant"),
        ("get", "/merchants/", {"q": "bakery\x00"}, "q"),
        ("get", "/merchants/", {"q": "x" * 101}, "q"),
        ("get", "/payments/new/", {"terminal": "²"}, "terminal"),
    ],
)
def test_a_parameter_that_is_no_id_choice_or_text_gets_400_saying_which(
    client, tenant_a, fleet, method, url, data, parameter
):
    client.force_login(tenant_a.users[Role.RESELLER_ADMIN])
    if url.startswith("/payments/"):
        client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])
    response = getattr(client, method)(url, data)
    assert response.status_code == 400
    assert f"“{parameter}”" in response.content.decode()


@pytest.mark.parametrize("parameter", ["store", "merchant"])
def test_the_fleet_says_a_superscript_filter_was_ignored(client, tenant_a, fleet, parameter):
    """The fleet's filters are a form: a value it does not offer is shown as ignored."""
    from tests.conftest import make_tenant

    make_tenant("second")  # a platform admin sees two merchants: the store list is not preloaded
    from tests.factories import member

    client.force_login(member(Role.PLATFORM_ADMIN, email="admin-fleet@example.test"))
    response = client.get("/terminals/", {parameter: "²"})
    assert response.status_code == 200
    assert "(ignored)" in response.content.decode()


def test_a_login_with_a_256_character_username_is_a_form_error(client, db):
    from axes.models import AccessAttempt

    response = client.post(
        "/accounts/login/", {"username": "a" * 250 + "@x.test", "password": "whatever-it-is"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["username"] == [
        "An email address has at most 254 characters."
    ]
    assert "Enter your email address." in response.content.decode()
    assert not AccessAttempt.objects.exists()  # no account has such a name: nothing to count


def test_a_user_without_a_membership_sees_the_home_page(client, db):
    client.force_login(UserFactory(email="nobody@example.test"))
    response = client.get("/")
    assert response.status_code == 200
    assert "belongs to no organisation yet" in response.content.decode()
