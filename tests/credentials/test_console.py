"""The credentials console: every account grouped by reseller and merchant, its state in words and a
badge, when it was last verified and used, the expiry countdown, filters in the URL; the home page's
summary; a reseller admin sees its merchants' accounts only, a merchant manager only whether its
accounts work, a cashier nothing."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from credentials.console import account_health, console_summary
from credentials.models import AccessToken, AccountState, ProviderAccount
from credentials.services import account_mark_used, account_set_state
from dashboard.models import Role
from tests.factories import make_account
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db

SECRET_PIN = "86420"


def _account(merchant, provider="usaepay", *, label, state=None, reason="", **fields):
    account = make_account(merchant, provider, label=label)
    if state:
        account_set_state(account=account, state=state, reason=reason)
    if fields:
        ProviderAccount.objects.filter(pk=account.pk).update(**fields)
    account.refresh_from_db()
    return account


def _rows(body: str) -> list[str]:
    return re.findall(r'data-testid="console-row".*?</tr>', body, re.S)


def test_each_state_reads_in_words_and_a_badge(tenant_a):
    now = timezone.now()
    m = tenant_a.merchant
    valid = _account(m, label="Valid", state=AccountState.VALID)
    invalid = _account(m, label="Invalid", state=AccountState.INVALID, reason="key refused")
    attention = _account(
        m,
        label="Attention",
        state=AccountState.NEEDS_ATTENTION,
        reason="the reset's answer was lost: ask Integra for a new token",
    )
    rotating = _account(m, label="Rotating", state=AccountState.ROTATING)
    expired = _account(
        m, label="Expired", state=AccountState.VALID, secret_expires_at=now - timedelta(days=2)
    )
    soon = _account(
        m,
        label="Soon",
        state=AccountState.VALID,
        secret_expires_at=now + timedelta(days=3, hours=1),
    )
    token = _account(m, "payroc", label="Token", state=AccountState.VALID)
    AccessToken.objects.create(
        account=token, token_encrypted="x", expires_at=now + timedelta(minutes=12, seconds=30)
    )
    token = ProviderAccount.objects.select_related("access_token").get(pk=token.pk)
    never = _account(m, label="Never")

    health = {a.label: account_health(a, now=now) for a in (valid, invalid, attention, rotating)}
    assert (health["Valid"].badge, health["Valid"].tone) == ("Valid", "ok")
    assert health["Invalid"].badge == "Invalid" and "key refused" in health["Invalid"].words
    assert health["Attention"].badge == "Needs attention"
    assert "ask Integra for a new token" in health["Attention"].words
    assert health["Rotating"].badge == "Rotation in progress"
    assert account_health(expired, now=now).badge == "Expired"
    assert account_health(expired, now=now).countdown == "expired 2 days ago"
    assert account_health(soon, now=now).badge == "Expires soon"
    assert account_health(soon, now=now).countdown == "secret due in 3 days"
    assert account_health(token, now=now).countdown == "token expires in 12 minutes"
    assert account_health(token, now=now + timedelta(minutes=13)).badge == "Token expired"
    assert account_health(never, now=now).badge == "Not verified"


def test_the_console_groups_by_reseller_and_merchant_and_filters_in_the_url(
    client, tenant_a, tenant_b, platform_admin
):
    a1 = _account(tenant_a.merchant, label="A-usa", state=AccountState.VALID)
    _account(tenant_a.merchant, "payroc", label="A-payroc", state=AccountState.INVALID, reason="no")
    _account(tenant_b.merchant, label="B-usa", state=AccountState.NEEDS_ATTENTION, reason="why")
    login_verified(client, platform_admin)

    body = client.get("/credentials/").content.decode()
    groups = re.findall(r'<tr class="group-row"><th scope="colgroup" colspan="6">(.*?)</th>', body)
    assert len(groups) == 2
    assert "Reseller alpha" in groups[0] and "Merchant alpha" in groups[0]
    assert "Reseller bravo" in groups[1] and "Merchant bravo" in groups[1]
    assert len(_rows(body)) == 3

    def labels(query):
        return re.findall(
            r"· (\S+)</a>", "".join(_rows(client.get("/credentials/" + query).content.decode()))
        )

    assert labels("?state=attention") == ["A-payroc", "B-usa"]
    assert labels("?state=invalid") == ["A-payroc"]
    assert labels("?provider=payroc") == ["A-payroc"]
    assert labels(f"?reseller={tenant_b.reseller.pk}") == ["B-usa"]
    assert labels(f"?merchant={tenant_a.merchant.pk}&provider=usaepay") == ["A-usa"]
    assert labels("?state=stale") == ["A-payroc", "A-usa", "B-usa"]  # none verified yet
    page = client.get(f"/credentials/?merchant={tenant_a.merchant.pk}").content.decode()
    assert f'<option value="{tenant_a.merchant.pk}" selected>' in page  # the filter stays shown
    assert a1.label in page


def test_a_reseller_admin_sees_only_its_merchants_accounts(client, tenant_a, tenant_b):
    _account(tenant_a.merchant, label="Ours")
    theirs = _account(tenant_b.merchant, label="Theirs")
    login_verified(client, tenant_a.users[Role.RESELLER_ADMIN])
    body = client.get("/credentials/").content.decode()
    assert "Ours" in body and "Theirs" not in body and tenant_b.merchant.name not in body
    assert 'name="reseller"' not in body  # one reseller: no reseller filter
    assert (
        _rows(client.get(f"/credentials/?merchant={tenant_b.merchant.pk}").content.decode()) == []
    )
    assert client.get(f"/credentials/{theirs.pk}/").status_code == 404
    assert client.post(f"/credentials/{theirs.pk}/verify/").status_code == 404


def test_a_reseller_admin_reads_and_may_verify_but_not_manage(client, tenant_a):
    account = _account(tenant_a.merchant, label="Ours")
    login_verified(client, tenant_a.users[Role.RESELLER_ADMIN])
    detail = client.get(f"/credentials/{account.pk}/").content.decode()
    assert "Verify now" in detail
    user = tenant_a.users[Role.RESELLER_ADMIN]
    assert user.has_perm("credentials.verify_account", account)
    assert not user.has_perm("credentials.manage_accounts", account)


def test_no_console_page_shows_a_secret(client, tenant_a, platform_admin):
    from credentials.services import account_create

    secret = "_" + "Zq9" * 10 + "w"
    account = account_create(
        merchant=tenant_a.merchant,
        provider="usaepay",
        environment="sandbox",
        label="Secretive",
        secrets={"api_key": secret, "api_pin": SECRET_PIN},
    )
    login_verified(client, platform_admin)
    for url in ("/credentials/", f"/credentials/{account.pk}/", "/", "/credentials/audit/"):
        body = client.get(url).content.decode()
        assert secret not in body and secret[:12] not in body and SECRET_PIN not in body, url


def test_the_admin_home_page_counts_what_needs_attention_expires_and_is_stale(
    client, tenant_a, tenant_b, platform_admin
):
    now = timezone.now()
    _account(tenant_a.merchant, label="Bad", state=AccountState.INVALID, last_verified_at=now)
    _account(
        tenant_a.merchant,
        label="Soon",
        state=AccountState.VALID,
        last_verified_at=now,
        secret_expires_at=now + timedelta(days=2),
    )
    _account(
        tenant_b.merchant,
        label="Old",
        state=AccountState.VALID,
        last_verified_at=now - timedelta(days=31),
    )
    _account(
        tenant_b.merchant, label="Help", state=AccountState.NEEDS_ATTENTION, last_verified_at=now
    )
    assert console_summary(platform_admin) == {
        "attention": 2,
        "expiring": 1,
        "stale": 1,
        "total": 4,
    }
    assert console_summary(tenant_a.users[Role.RESELLER_ADMIN]) == {
        "attention": 1,
        "expiring": 1,
        "stale": 0,
        "total": 2,
    }
    client.force_login(platform_admin)  # the home page needs no second factor
    body = client.get("/").content.decode()
    assert 'data-testid="count-attention">2<' in body
    assert 'data-testid="count-expiring">1<' in body
    assert 'data-testid="count-stale">1<' in body
    assert "/credentials/?state=attention" in body


def test_a_merchant_manager_sees_that_an_account_exists_and_whether_it_works(client, tenant_a):
    _account(tenant_a.merchant, label="Works", state=AccountState.VALID)
    _account(
        tenant_a.merchant,
        "payroc",
        label="Broken",
        state=AccountState.INVALID,
        reason="key refused",
    )
    client.force_login(tenant_a.users[Role.MERCHANT_MANAGER])
    body = client.get("/").content.decode()
    section = body.split('data-testid="provider-accounts"')[1].split("</section>")[0]
    assert 'USAePay · Works: <span class="badge badge-ok">works</span>' in section
    assert "Broken" in section and "not working" in section
    assert "key refused" not in section and "/credentials/" not in section
    assert client.get("/credentials/").status_code == 403


def test_a_cashier_sees_no_credentials(client, tenant_a):
    account = _account(tenant_a.merchant, label="Works", state=AccountState.VALID)
    client.force_login(tenant_a.users[Role.CASHIER])
    body = client.get("/").content.decode()
    assert 'data-testid="provider-accounts"' not in body
    assert 'data-testid="credentials-summary"' not in body
    assert "Works" not in body
    assert client.get("/credentials/").status_code == 403
    assert client.get(f"/credentials/{account.pk}/").status_code == 403


def test_last_used_is_written_at_most_once_a_minute(tenant_a):
    account = _account(tenant_a.merchant, label="Busy")
    first = timezone.now()
    account_mark_used(account_id=account.pk, now=first)
    account_mark_used(account_id=account.pk, now=first + timedelta(seconds=30))
    account.refresh_from_db()
    assert account.last_used_at == first
    account_mark_used(account_id=account.pk, now=first + timedelta(seconds=61))
    account.refresh_from_db()
    assert account.last_used_at == first + timedelta(seconds=61)


def test_a_state_change_is_audited_once_with_its_reason(tenant_a):
    account = _account(tenant_a.merchant, label="Flaky")
    assert account_set_state(account=account, state=AccountState.NEEDS_ATTENTION, reason="lost")
    assert not account_set_state(account=account, state=AccountState.NEEDS_ATTENTION, reason="lost")
    changes = account.audit_events.filter(action="state_changed")
    assert [e.detail for e in changes] == ["Not verified yet → Needs attention: lost"]
    with pytest.raises(ValueError):
        account_set_state(account=account, state="fine")


def test_the_console_page_costs_the_same_queries_for_3_and_60_accounts(
    client, tenant_a, platform_admin
):
    login_verified(client, platform_admin)
    for i in range(3):
        _account(tenant_a.merchant, label=f"few-{i}")
    client.get("/credentials/")  # warm: the session's first read
    with CaptureQueriesContext(connection) as few:
        assert client.get("/credentials/").status_code == 200
    for i in range(57):
        _account(tenant_a.merchant, label=f"many-{i}")
    with CaptureQueriesContext(connection) as many:
        body = client.get("/credentials/").content.decode()
    assert len(_rows(body)) == 50  # a page
    assert len(many.captured_queries) == len(few.captured_queries)
