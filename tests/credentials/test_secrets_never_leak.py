"""Seed secrets, drive every flow that touches them, and search every log record, page and command
output for them: a secret is never rendered, logged or put into an error message."""

import base64
import io
import logging
import uuid

import pytest
from django.core.management import call_command
from django.test import Client

from credentials.management.provider_check import follow_to_final, run_check
from credentials.models import AccessToken
from credentials.services import DatabaseTokenStore
from providers.base import PaymentKind, RefundRequest
from providers.errors import ProviderError
from providers.recovery import start_exactly_once
from sandbox.models import SandboxDevice
from tests.contract.conftest import make_env
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db(transaction=True)


def _needles(env) -> list[str]:
    secrets = env.account.secrets()
    needles = [value for value in secrets.values() if value]
    api_key = secrets["api_key"]
    needles.append(base64.b64encode(f"{api_key}:".encode()).decode()[:24])  # a Basic header's start
    return needles


def test_no_secret_or_token_appears_in_logs_pages_or_command_output(
    caplog, sandbox_settings, tenant_a, platform_admin
):
    caplog.set_level(logging.DEBUG)
    haystack: list[str] = []
    needles: list[str] = []
    for provider_name in ("payroc", "usaepay"):
        env = make_env(provider_name, tenant_a.merchant)
        needles += _needles(env)
        with env.adapter:
            report = run_check(env.adapter)
            assert report.passed, report.steps
            sale = start_exactly_once(env.adapter, env.start_request(1001))
            sale = follow_to_final(env.adapter, sale, kind=PaymentKind.SALE, timeout_s=30)
            env.adapter.refund(
                RefundRequest(
                    original_transaction_ref=sale.transaction_ref,
                    amount_minor=500,
                    currency="USD",
                    idempotency_key=str(uuid.uuid4()),
                    reference="leak-refund",
                    description="partial",
                )
            )
            try:
                env.adapter.abort_payment(sale.provider_ref, kind=PaymentKind.SALE)
            except ProviderError as exc:
                haystack.append(repr(exc) + exc.message)
        token = DatabaseTokenStore(env.account).load()
        if token:
            needles.append(token.access_token)
        wrong = make_env(
            provider_name,
            tenant_a.merchant,
            secrets={k: v + "-wrong" for k, v in env.account.secrets().items()},
        )
        needles += [v for v in wrong.account.secrets().values()]
        with wrong.adapter:
            try:
                wrong.adapter.obtain_token() or wrong.adapter.list_terminals()
            except ProviderError as exc:
                haystack.append(repr(exc) + exc.message)

        out = io.StringIO()
        call_command(
            "provider_check",
            provider_name,
            "--account",
            str(env.account.pk),
            stdout=out,
            stderr=out,
        )
        haystack.append(out.getvalue())

    client = Client()
    login_verified(client, platform_admin)
    pages = [
        "/",
        "/credentials/",
        "/credentials/audit/",
        "/credentials/audit/?format=csv",
        "/sandbox/",
    ]
    from credentials.models import ProviderAccount

    pages += [f"/credentials/{pk}/" for pk in ProviderAccount.objects.values_list("pk", flat=True)]
    pages += [
        f"/sandbox/terminals/{pk}/" for pk in SandboxDevice.objects.values_list("pk", flat=True)
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        content = b"".join(response.streaming_content) if response.streaming else response.content
        haystack.append(content.decode())

    assert AccessToken.objects.exists(), "the flows obtained at least one token to look for"
    haystack += [record.getMessage() for record in caplog.records]
    haystack += [str(record.args) for record in caplog.records]
    haystack += [caplog.text]
    assert len(caplog.records) > 20, "the flows were logged, so the search means something"
    for needle in needles:
        assert len(needle) >= 6
        for text in haystack:
            assert needle not in text, f"a secret leaked: …{needle[-4:]} found in {text[:200]!r}"
