"""The world the fuzz suite runs in: two tenants with a user of each role (and one without a
membership), a provider account, terminals, a payment; a sandbox account, device and payment for
each emulator, with working credentials."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass, field

import pytest
from django.apps import apps
from django.db import connection

from tests.conftest import make_tenant
from tests.factories import PaymentFactory, Role, UserFactory, make_payment_terminal, member
from tests.second_factor import enrol

# Rows a refused request may still write: sessions, and the lockout's record of a failed login.
NOT_COUNTED = {"sessions.Session", "axes.AccessAttempt", "axes.AccessFailureLog", "axes.AccessLog"}


def row_counts() -> dict[str, int]:
    """Every table's row count, in one query."""
    models = [
        m
        for m in apps.get_models()
        if m._meta.managed and not m._meta.proxy and m._meta.label not in NOT_COUNTED
    ]
    select = ", ".join(f'(SELECT count(*) FROM "{m._meta.db_table}")' for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {select}")
        values = cursor.fetchone()
    return {m._meta.label: n for m, n in zip(models, values, strict=True)}


@dataclass
class Emulated:
    """One emulator's account, device and payment, and how a client of it authenticates."""

    provider: str
    account: object
    device: object
    payment: object
    headers: dict = field(default_factory=dict)  # valid auth headers
    params: dict = field(default_factory=dict)  # valid auth parameters (Integra)
    plausible: list = field(default_factory=list)


@dataclass
class World:
    users: dict  # role name -> user (None: anonymous)
    ids: dict  # converter kind -> values a URL may carry that name real objects
    plausible: list[str]
    emulators: dict[str, Emulated]


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _emulators() -> dict[str, Emulated]:
    from sandbox import services
    from sandbox.emulators import EMULATORS

    made = {}
    for name in EMULATORS:
        key = f"{name}-{uuid.uuid4().hex[:8]}"
        secrets_ = {
            "payroc": {"api_key": key},
            "usaepay": {"api_key": "_" + uuid.uuid4().hex[:31], "api_pin": "123456"},
            "komoju": {"secret_key": "sk_test_" + key, "webhook_secret": "wh-" + key},
            "klearly": {"partner_id": "p-" + key, "partner_secret": "s-" + key},
            "mobilepay": {"bio_code": "bio-" + key, "access_token": "tok-" + key},
        }[name]
        settings = {
            "payroc": {"processing_terminal_id": "1234001"},
            "klearly": {"merchant_id": "mer_1"},
            "mobilepay": {"store_id": "store-1", "store_name": "Fuzz"},
        }.get(name, {})
        account = services.sandbox_account_ensure(
            provider=name, label=f"Fuzz {name}", secrets=secrets_, settings=settings
        )
        device = services.sandbox_device_ensure(
            account=account,
            ref={"payroc": "1850010868", "mobilepay": "T-101"}.get(name, f"dev_{name}01"),
            name="Fuzz lane",
            model="MP200",
            serial={"mobilepay": str(uuid.uuid4())}.get(name, "SER-0001"),
        )
        payment = services.sandbox_payment_start(
            device=device,
            kind="sale",
            amount_minor=1000,
            currency="USD",
            timeout_s=120,
            order_ref="order-1",
            idempotency_key=str(uuid.uuid4()),
        )
        headers, params = {}, {}
        if name in ("payroc", "klearly"):
            headers["HTTP_AUTHORIZATION"] = "Bearer " + services.token_issue(account=account).token
        if name == "payroc":
            headers["HTTP_X_API_KEY"] = secrets_["api_key"]
            headers["HTTP_IDEMPOTENCY_KEY"] = str(uuid.uuid4())
        if name == "usaepay":
            seed = secrets.token_hex(8)
            digest = hashlib.sha256(
                (secrets_["api_key"] + seed + secrets_["api_pin"]).encode()
            ).hexdigest()
            headers["HTTP_AUTHORIZATION"] = _basic(secrets_["api_key"], f"s2/{seed}/{digest}")
        if name == "komoju":
            headers["HTTP_AUTHORIZATION"] = _basic(secrets_["secret_key"], "")
        if name == "mobilepay":
            params = {"accessToken": secrets_["access_token"], "bioCode": secrets_["bio_code"]}
        plausible = [
            device.ref,
            device.serial,
            payment.provider_ref,
            payment.transaction_ref,
            payment.refnum,
            str(uuid.UUID(payment.transaction_ref)) if len(payment.transaction_ref) == 32 else "",
            "order-1",
            "1234001",
            "mer_1",
            "USD",
            "JPY",
            "10.00",
            "1000",
            "sale",
            "refund",
            "true",
            str(uuid.uuid4()),
        ]
        made[name] = Emulated(
            name, account, device, payment, headers, params, [p for p in plausible if p]
        )
    return made


@pytest.fixture
def world(db, settings):
    # A provider call made by a page (probe) is refused at once instead of reaching anything.
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:9"
    settings.SANDBOX_MAGIC_DELAY_S = 0
    settings.SANDBOX_PAYROC_LONG_POLL_S = 0
    # No worker runs here: /healthz's ping would wait its half second for none in every example.
    settings.HEALTHZ_WORKER_PING_S = 0.01
    from tests.factories import make_account

    a, b = make_tenant("alpha"), make_tenant("bravo")
    admin = member(Role.PLATFORM_ADMIN, email="admin@example.test")
    users = {
        "anonymous": None,
        "platform admin": admin,
        "no membership": UserFactory(email="nobody@example.test"),
        **{f"{role} A": user for role, user in a.users.items()},
        f"{Role.CASHIER} B": b.users[Role.CASHIER],
    }
    # The admins have their second factor (tests/second_factor.py), so the credentials pages answer
    # them with their own work rather than a redirect to enrolment; the others have none.
    for user in (admin, a.users[Role.RESELLER_ADMIN]):
        enrol(user)
    account = make_account(a.merchant, "usaepay", label="Fuzz USAePay")
    terminal = make_payment_terminal(account, store=a.store, name="Fuzz lane")
    other = make_payment_terminal(make_account(b.merchant, "payroc"), store=b.store)
    payment = PaymentFactory(terminal=terminal, status="approved")
    emulators = _emulators()
    ints = [
        o.pk
        for o in (a.reseller, a.merchant, a.store, account, terminal, other, b.merchant, b.store)
    ]
    ints += [e.device.pk for e in emulators.values()]
    ids = {
        "int": ints,
        "uuid": [payment.uuid, account.uuid],
        "str": ["usaepay", "payroc", "komoju", "klearly", "mobilepay"],
    }
    plausible = [str(i) for i in ints] + [
        str(payment.uuid),
        "none",
        "csv",
        "usaepay",
        "online",
        "inactive",
        "name",
        "-checked",
        "USD",
        "UTC",
        "Europe/Copenhagen",
        "on",
        "1",
        "approve",
        "decline",
        "12.50",
        "New name",
        "someone@example.test",
        "manager-alpha@example.test",
        "/terminals/",
        "https://evil.example/",
    ]
    return World(users=users, ids=ids, plausible=plausible, emulators=emulators)
