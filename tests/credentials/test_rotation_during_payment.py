"""A payment started during a rotation succeeds, for every provider, on the real worker: the
payment starts with the old credentials, the rotation activates the new ones meanwhile and the
provider then stops accepting the old ones (the old key revoked, Integra's old token reset), and
the tracker still follows the payment to approved, with one charge."""

from __future__ import annotations

import pytest

from credentials import rotation
from credentials.models import ProviderAccount
from payments.models import PaymentStatus
from sandbox.models import SandboxPayment
from sandbox.services import account_issue_secrets, account_revoke_secret, payment_decide
from tests.credentials.test_rotation import NEW_SECRETS
from tests.payments.engine_support import PROVIDERS, Desk, settled

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=PROVIDERS)
def desk(request, sandbox_settings, tenant_a):
    return Desk(request.param, tenant_a)


def _rotate_around(desk, start_payment):
    """Begin the rotation, start the payment, then finish the rotation and make the provider refuse
    the old credentials."""
    account = desk.account
    if desk.provider not in NEW_SECRETS:  # Integra: its reset is the rotation
        payment = start_payment()
        assert rotation.credential_self_rotate(account=account).ok
        return payment
    new = NEW_SECRETS[desk.provider]
    old = account.secrets()
    account_issue_secrets(account=desk.env.sandbox_account, secrets=new)
    rotation.rotation_begin(account=account, pending={**old, **new})
    payment = start_payment()
    check = rotation.secrets_check(
        provider=account.provider,
        environment=account.environment,
        secrets={**old, **new},
        settings=dict(account.settings),
    )
    assert check.ok, check.message
    assert rotation.rotation_activate(account=account, token=check.token)
    assert rotation.rotation_retire(account=account)
    for name in new:  # the admin revokes the old key at the provider
        account_revoke_secret(account=desk.env.sandbox_account, name=name, value=old[name])
    return payment


def test_a_payment_started_during_a_rotation_is_followed_to_approved(desk, worker):
    def start():
        payment = desk.take(0)  # decided on the virtual terminal: it waits for the customer
        settled(payment, PaymentStatus.PENDING)
        return payment

    old = desk.account.secrets()
    payment = _rotate_around(desk, start)
    assert ProviderAccount.objects.get(pk=desk.account.pk).secrets() != old

    sandbox_payment = SandboxPayment.objects.get(
        device__account=desk.env.sandbox_account, order_ref=payment.reference
    )
    assert payment_decide(payment=sandbox_payment, outcome="approve")

    settled(payment, PaymentStatus.APPROVED)
    assert desk.charges(payment) == 1
    assert ProviderAccount.objects.get(pk=desk.account.pk).rotation_step == ""
