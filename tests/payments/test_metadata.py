"""Our store id, payment id (its UUID) and merchant id reach each provider in the provider's own
field for them, over real HTTP: the start runs as the worker runs it and the emulator's record of
the request shows what arrived. Integra takes nothing but the order id, so MobilePay is not here."""

from __future__ import annotations

import pytest

from payments import engine
from payments.models import PaymentStatus
from payments.services import payment_metadata
from providers.base import PaymentMetadata, StartRequest
from providers.errors import InvalidRequest
from providers.registry import capabilities_for
from sandbox.models import SandboxPayment, SandboxSession
from tests.factories import PaymentFactory, make_payment_terminal
from tests.payments.engine_support import Desk

pytestmark = pytest.mark.django_db(transaction=True)


def started(provider: str, tenant, note: str = "table 4"):
    desk = Desk(provider, tenant)
    payment = desk.take(0, note=note)  # ends in 00: waits on the virtual terminal
    engine.payment_start_execute(payment_id=payment.pk)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING, payment.message
    record = SandboxPayment.objects.get(
        device__account=desk.env.sandbox_account, order_ref=payment.reference
    )
    return payment, record


def ids(payment) -> tuple[str, str, str]:
    return str(payment.store_id), str(payment.uuid), str(payment.merchant_id)


def test_klearly_gets_the_three_ids_it_recommends_in_its_metadata(sandbox_settings, tenant_a):
    payment, record = started("klearly", tenant_a)
    store, uuid, merchant = ids(payment)

    assert record.request["metadata"] == {
        "storeId": store,
        "posPaymentId": uuid,
        "posMerchantId": merchant,
        "posOrderId": payment.reference,
    }
    assert record.request["description"] == "table 4"


def test_komoju_keeps_them_in_the_session_metadata(sandbox_settings, tenant_a):
    payment, _ = started("komoju", tenant_a)
    store, uuid, merchant = ids(payment)

    session = SandboxSession.objects.get(ref=payment.provider_ref)
    assert {key: session.metadata[key] for key in ("store_id", "payment_id", "merchant_id")} == {
        "store_id": store,
        "payment_id": uuid,
        "merchant_id": merchant,
    }
    # Beside them, what the adapter itself needs to abort, and the merchant's note.
    assert session.metadata["order_reference"] == payment.reference
    assert session.metadata["description"] == "table 4"


def test_usaepay_gets_them_in_its_numbered_custom_fields(sandbox_settings, tenant_a):
    payment, record = started("usaepay", tenant_a)
    store, uuid, merchant = ids(payment)

    assert record.request["custom_fields"] == {"1": store, "2": uuid, "3": merchant}
    assert record.request["description"] == "table 4"


def test_payroc_has_no_metadata_field_so_they_follow_the_note_in_the_description(
    sandbox_settings, tenant_a
):
    payment, record = started("payroc", tenant_a)
    store, uuid, merchant = ids(payment)

    assert record.description == f"table 4 · store:{store} payment:{uuid} merchant:{merchant}"


def test_a_long_note_never_pushes_the_ids_out_of_payrocs_description(sandbox_settings, tenant_a):
    # The note is at most 200 characters; Payroc keeps 1,024: both fit whole.
    payment, record = started("payroc", tenant_a, note="n" * 200)

    assert record.description.startswith("n" * 200 + " · store:")
    assert record.description.endswith(f"payment:{payment.uuid} merchant:{payment.merchant_id}")


def test_a_terminal_outside_any_store_sends_no_store_id(tenant_a, payroc_account):
    payment = PaymentFactory(terminal=make_payment_terminal(payroc_account, store=None))

    metadata = payment_metadata(payment)

    assert metadata.as_dict() == {
        "payment_id": str(payment.uuid),
        "merchant_id": str(payment.merchant_id),
    }


def test_the_start_request_carries_the_metadata_and_the_note_as_description(terminal):
    payment = PaymentFactory(terminal=terminal, note="gift wrap")

    req = engine.start_request(payment)

    assert req.metadata == payment_metadata(payment)
    assert req.description == "gift wrap"


def test_metadata_values_longer_than_any_provider_takes_are_refused_before_any_call():
    with pytest.raises(InvalidRequest, match="at most 64"):
        PaymentMetadata(payment_id="x" * 65)
    with pytest.raises(InvalidRequest, match="PaymentMetadata"):
        StartRequest(
            kind="sale",
            terminal_ref="t-1",
            amount_minor=100,
            currency="EUR",
            idempotency_key="7d9c3c9e-8a54-4c55-9a43-1b7f2d9f6c10",
            reference="R-1",
            metadata={"payment_id": "x"},
        )


@pytest.mark.parametrize("provider", ["payroc", "usaepay", "komoju", "klearly", "mobilepay"])
def test_each_provider_says_where_its_metadata_goes(provider):
    field = capabilities_for(provider).metadata_field
    if provider == "mobilepay":
        assert field == ""  # Integra's start takes orderId, amount, terminal and currency only
    else:
        assert field
