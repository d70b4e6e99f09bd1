"""The credentials audit trail: every action is recorded with who, when, from where and how it went;
the database refuses to change or delete an entry, no URL does it, and a reseller admin sees only
its merchants' entries, on the page and in the CSV."""

import csv
import io

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from credentials.audit import audit_record
from credentials.models import AuditAction, AuditEntry, AuditOutcome
from credentials.services import account_create
from dashboard.admin_site import site as admin_site
from dashboard.models import Role
from tests.conftest import make_tenant
from tests.factories import make_account
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(tenant_a, platform_admin):
    account = make_account(tenant_a.merchant, "usaepay")
    return audit_record(
        action=AuditAction.VERIFIED, actor=platform_admin, account=account, detail="2 listed"
    )


def test_an_entry_names_the_actor_the_merchant_and_the_outcome(entry, tenant_a, platform_admin):
    assert entry.actor == platform_admin and entry.actor_label == platform_admin.email
    assert entry.merchant_id == tenant_a.merchant.pk
    assert entry.outcome == AuditOutcome.SUCCESS
    system = audit_record(action=AuditAction.TOKEN_REFRESHED, account=entry.account)
    assert system.actor is None and system.actor_label == "system"
    with pytest.raises(ValueError):
        audit_record(action="made-up", account=entry.account)


def test_creating_an_account_records_who_and_from_where(rf, tenant_a, platform_admin):
    request = rf.post("/credentials/new/", REMOTE_ADDR="203.0.113.7")
    request.user = platform_admin
    account = account_create(
        merchant=tenant_a.merchant,
        provider="usaepay",
        environment="sandbox",
        label="Counter",
        secrets={"api_key": "k" * 32, "api_pin": "4321"},
        request=request,
    )
    created = account.audit_events.get(action=AuditAction.CREATED)
    assert created.actor == platform_admin
    assert created.source_address == "203.0.113.7"
    assert "k" * 8 not in created.detail and "4321" not in created.detail


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE credentials_auditentry SET detail = 'rewritten'",
        "UPDATE credentials_auditentry SET actor_label = 'someone else', actor_id = NULL",
        "DELETE FROM credentials_auditentry",
        "TRUNCATE credentials_auditentry",
    ],
)
def test_the_database_refuses_to_change_or_delete_an_entry(entry, statement):
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the entry's own checks done first
            cursor.execute(statement)
    entry.refresh_from_db()
    assert entry.detail == "2 listed"


def test_the_orm_cannot_change_or_delete_an_entry_either(entry):
    entry.detail = "rewritten"
    with pytest.raises(DatabaseError), transaction.atomic():
        entry.save()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).detail == "2 listed"


def test_the_flush_escape_is_for_its_own_transaction_only(entry):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL credentials.allow_audit_flush = 'on'")
        cursor.execute("DELETE FROM credentials_auditentry WHERE id = %s", [entry.pk])
        transaction.set_rollback(True)  # what the flush would do, undone
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM credentials_auditentry")


def test_a_deleted_user_leaves_their_entries_with_their_name(entry, platform_admin):
    platform_admin.delete()
    entry.refresh_from_db()
    assert entry.actor is None and entry.actor_label == "admin@example.test"


def test_no_model_admin_lets_anyone_change_or_delete_an_entry(rf, platform_admin):
    registered = admin_site._registry.get(AuditEntry)
    if registered is not None:  # a read-only registration is allowed, a writable one never
        request = rf.get("/admin/")
        request.user = platform_admin
        assert not registered.has_change_permission(request)
        assert not registered.has_delete_permission(request)
        assert not registered.has_add_permission(request)
    for pattern in _walk(get_resolver().url_patterns):
        assert "auditentry/add" not in pattern and "auditentry/<path:object_id>/delete" not in (
            pattern
        )


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def _all_patterns(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _all_patterns(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), f"{namespace}{entry.name}", entry


def _snapshot():
    return list(AuditEntry.objects.order_by("pk").values())


def test_no_url_changes_or_deletes_an_entry(client, entry, platform_admin):
    """Every URL pattern, with the entry's id wherever it takes an id, by every method that could
    write, as a platform admin past the second factor: the entries there before are all still there,
    unchanged (new ones may be appended, as a verification appends one)."""
    import uuid

    login_verified(client, platform_admin, reauthenticated=True)
    before = _snapshot()
    sent = 0
    for _route, name, pattern in _all_patterns(get_resolver().url_patterns):
        if name in ("logout",) or not name or name.startswith("sandbox:"):
            continue  # the sandbox is the providers' side: it has no way to our tables
        kwargs = {}
        for key, converter in pattern.pattern.converters.items():
            kind = type(converter).__name__
            kwargs[key] = (
                uuid.uuid4()
                if kind == "UUIDConverter"
                else entry.pk
                if kind == "IntConverter"
                else str(entry.pk)
            )
        try:
            url = reverse(name, kwargs=kwargs)
        except Exception:  # a pattern whose arguments these do not fit (the admin's app list)
            continue
        for method in ("post", "put", "patch", "delete"):
            response = getattr(client, method)(
                url, data={"id": entry.pk, "pk": entry.pk, "detail": "rewritten"}
            )
            assert response.status_code < 500, (method, url)
            sent += 1
    assert sent > 100
    after = {row["id"]: row for row in _snapshot()}
    assert [after.get(row["id"]) for row in before] == before


def test_the_audit_page_lists_and_filters_entries_in_the_url(client, entry, platform_admin):
    audit_record(
        action=AuditAction.VERIFY_FAILED,
        outcome=AuditOutcome.FAILURE,
        account=entry.account,
        detail="USAePay refused the key",
    )
    login_verified(client, platform_admin)
    body = client.get("/credentials/audit/").content.decode()
    assert "2 listed" in body and "USAePay refused the key" in body
    failed = client.get("/credentials/audit/?outcome=failure").content.decode()
    assert "USAePay refused the key" in failed and "2 listed" not in failed
    by_account = client.get(f"/credentials/audit/?account={entry.account_id}").content.decode()
    assert by_account.count('data-testid="audit-row"') == entry.account.audit_events.count() == 3
    bad = client.get("/credentials/audit/?since=yesterday")
    assert bad.status_code == 200 and 'data-testid="audit-row"' not in bad.content.decode()


def _csv(client, query="") -> list[list[str]]:
    response = client.get(f"/credentials/audit/?format=csv{query}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_a_reseller_admin_sees_only_its_merchants_entries_on_the_page_and_in_the_csv(
    client, tenant_a, tenant_b, platform_admin
):
    ours = make_account(tenant_a.merchant, "usaepay", label="Ours")
    theirs = make_account(tenant_b.merchant, "usaepay", label="Theirs")
    audit_record(action=AuditAction.VERIFIED, account=ours, detail="ours verified")
    audit_record(action=AuditAction.VERIFIED, account=theirs, detail="theirs verified")
    audit_record(action=AuditAction.KEY_ROTATED, detail="platform-wide re-encryption")

    login_verified(client, tenant_a.users[Role.RESELLER_ADMIN])
    body = client.get("/credentials/audit/").content.decode()
    assert "ours verified" in body
    assert "theirs verified" not in body and "platform-wide re-encryption" not in body
    assert tenant_b.merchant.name not in body
    rows = _csv(client)
    details = [row[7] for row in rows[1:]]
    assert "ours verified" in details
    assert "theirs verified" not in details and "platform-wide re-encryption" not in details
    # Another reseller's merchant or account, asked for by id, shows nothing.
    other = client.get(f"/credentials/audit/?merchant={tenant_b.merchant.pk}").content.decode()
    assert "theirs verified" not in other and 'data-testid="audit-row"' not in other
    assert (
        "theirs verified"
        not in client.get(f"/credentials/audit/?account={theirs.pk}").content.decode()
    )

    login_verified(client, platform_admin)
    everything = [row[7] for row in _csv(client)[1:]]
    assert {"ours verified", "theirs verified", "platform-wide re-encryption"} <= set(everything)


def test_the_csv_defuses_formulas_and_holds_no_secret(client, tenant_a, platform_admin):
    secret = "_" + "S3cr3t" * 5 + "x"
    account = account_create(
        merchant=tenant_a.merchant,
        provider="usaepay",
        environment="sandbox",
        label="=HYPERLINK(1)",
        secrets={"api_key": secret, "api_pin": "97531"},
        actor=platform_admin,
    )
    audit_record(action=AuditAction.VERIFY_FAILED, account=account, detail="=cmd|' /C calc'!A0")
    login_verified(client, platform_admin)
    rows = _csv(client)
    assert rows[0][0] == "Time (UTC)"
    text = "\n".join(",".join(row) for row in rows)
    assert secret not in text and "97531" not in text
    assert any(row[7] == "'=cmd|' /C calc'!A0" for row in rows)
    assert any(
        row[5].startswith("USAePay · '=HYPERLINK(1)") or "=HYPERLINK" in row[5] for row in rows
    )


def test_a_verify_press_records_the_person_and_their_address(client, tenant_a, emulator_calls):
    from tests.terminals.conftest import sandbox_fleet

    fleet = sandbox_fleet("usaepay", tenant_a.merchant, devices=1)
    admin = tenant_a.users[Role.RESELLER_ADMIN]
    login_verified(client, admin)
    client.post(
        reverse("credentials:account_verify", args=[fleet.account.pk]), REMOTE_ADDR="198.51.100.4"
    )
    entry = fleet.account.audit_events.get(action=AuditAction.VERIFIED)
    assert entry.actor == admin and entry.source_address == "198.51.100.4"
    assert entry.outcome == AuditOutcome.SUCCESS and entry.merchant_id == tenant_a.merchant.pk
    fleet.account.refresh_from_db()
    assert fleet.account.state == "valid" and fleet.account.last_verified_at is not None


def test_entries_of_another_reseller_are_not_reachable_from_the_account_page(client, tenant_a):
    b = make_tenant("charlie")
    theirs = make_account(b.merchant, "usaepay")
    login_verified(client, tenant_a.users[Role.RESELLER_ADMIN])
    assert client.get(f"/credentials/{theirs.pk}/").status_code == 404
