"""The only code that changes sandbox state.

Every change of a payment's status is a conditional UPDATE (`filter(status="pending").update(…)`),
so when two deciders race (a button, a magic amount, a timeout, an abort over the wire) exactly
one wins and the others are no-ops. The winner, and only the winner, writes the provider's
webhooks to the outbox in the same transaction (`webhooks.payment_changed`); they are sent after
it commits. Time-based transitions (a magic amount's outcome, a request's
timeout) are applied lazily by `payment_refresh()` whenever something reads the payment, so no
background process is needed. Nothing here sleeps, and no transaction is held open across a wait.
"""

from __future__ import annotations

import random
import secrets
import string
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from sandbox import conf, scenarios, webhooks
from sandbox.emulators import EMULATORS
from sandbox.models import (
    CanceledBy,
    PaymentStatus,
    SandboxAccount,
    SandboxDevice,
    SandboxIdempotencyKey,
    SandboxPayment,
    SandboxPaymentKind,
    SandboxReceipt,
    SandboxSession,
    SandboxToken,
)

# Test cards a virtual customer presents: (brand, first six digits, last four).
TEST_CARDS = [
    ("Visa", "453985", "7062"),
    ("MasterCard", "548010", "5929"),
    ("Visa", "444433", "1111"),
    ("Discover", "601100", "0004"),
]
ENTRY_METHODS = ["contactlessIcc", "icc", "contactlessIcc", "swiped"]

EXPIRED_TOKENS_KEPT = timedelta(days=1)  # expired bearer tokens are deleted after this
# Integra's MobilePay accessToken is "long lived": valid until it is reset. Ten years stands in.
INTEGRA_TOKEN_LIFETIME = timedelta(days=3650)

TERMINAL_ERROR = "Terminal error: the card could not be read"
OFFLINE_ERROR = "Device is offline"
BATTERY_ERROR = "Device battery is too low"


class Refused(Exception):
    """The emulated provider refuses the request and nothing changed. `reason` is one of the constants."""

    DEVICE_OFFLINE = "device_offline"
    DEVICE_BUSY = "device_busy"
    BATTERY_LOW = "battery_low"
    INVALID_AMOUNT = "invalid_amount"
    NOT_CAPTURABLE = "not_capturable"
    ALREADY_CAPTURED = "already_captured"
    CAPTURE_EXCEEDS = "capture_exceeds"
    NOT_REFUNDABLE = "not_refundable"
    REFUND_EXCEEDS = "refund_exceeds"
    NOT_PREPARED = "not_prepared"
    NOT_CANCELABLE = "not_cancelable"
    TOKEN_EXISTS = "token_exists"
    TOKEN_MISMATCH = "token_mismatch"
    SESSION_NOT_PENDING = "session_not_pending"
    SESSION_ELSEWHERE = "session_elsewhere"

    def __init__(self, reason: str, message: str = "", *, blocking: SandboxPayment | None = None):
        super().__init__(message or reason)
        self.reason = reason
        self.message = message or reason
        self.blocking = (
            blocking  # the request that keeps a busy device busy, when it is one of ours
        )


class IdempotencyKeyInUse(Exception):
    """The Idempotency-Key was used before with another request."""


class IdempotencyKeyInFlight(Exception):
    """The first request with this Idempotency-Key has not produced its answer yet."""


# -- accounts, tokens, devices -------------------------------------------------------------------


def sandbox_account_ensure(
    *, provider: str, label: str, secrets: dict, settings: dict
) -> SandboxAccount:
    """The account with this label, created or updated to these secrets and settings (idempotent).

    A MobilePay account's `access_token` secret becomes its Integra token, unless the account
    already had that token (a reset since then keeps it reset).
    """
    account, _ = SandboxAccount.objects.update_or_create(
        label=label, defaults={"provider": provider, "secrets": secrets, "settings": settings}
    )
    initial = str(secrets.get("access_token") or "")
    seeded = SandboxToken.objects.filter(account=account, token=initial).exists()
    if EMULATORS[provider].token_from_secret and initial and not seeded:
        SandboxToken.objects.create(
            account=account, token=initial, expires_at=timezone.now() + INTEGRA_TOKEN_LIFETIME
        )
    return account


def sandbox_device_ensure(
    *,
    account: SandboxAccount,
    ref: str,
    name: str,
    model: str,
    serial: str,
    online: bool = True,
    manufacturer: str = "",
) -> SandboxDevice:
    """The account's device with this ref, created or updated (idempotent).

    `online` applies when the device is created; a later call leaves the switches a tester set.
    """
    device, _ = SandboxDevice.objects.update_or_create(
        account=account,
        ref=ref,
        defaults={"name": name, "model": model, "serial": serial, "manufacturer": manufacturer},
        create_defaults={
            "name": name,
            "model": model,
            "serial": serial,
            "manufacturer": manufacturer,
            "online": online,
        },
    )
    return device


def device_set_switches(
    *,
    device: SandboxDevice,
    online: bool | None = None,
    busy: bool | None = None,
    battery_low: bool | None = None,
    latency_ms: int | None = None,
    fail_next_5xx: int | None = None,
    lose_next_response: bool | None = None,
    customer_checked_in: bool | None = None,
    webhook_duplicate: bool | None = None,
    webhook_delay_s: int | None = None,
    webhook_hold_next: bool | None = None,
    webhook_signature: str | None = None,
) -> SandboxDevice:
    """Sets the given switches (None leaves one as it is) and returns the device as stored."""
    changes = {
        name: value
        for name, value in {
            "online": online,
            "busy": busy,
            "battery_low": battery_low,
            "latency_ms": latency_ms,
            "fail_next_5xx": fail_next_5xx,
            "lose_next_response": lose_next_response,
            "customer_checked_in": customer_checked_in,
            "webhook_duplicate": webhook_duplicate,
            "webhook_delay_s": webhook_delay_s,
            "webhook_hold_next": webhook_hold_next,
            "webhook_signature": webhook_signature,
        }.items()
        if value is not None
    }
    if changes:
        SandboxDevice.objects.filter(pk=device.pk).update(**changes)
    device.refresh_from_db()
    return device


def device_rename(*, device: SandboxDevice, name: str) -> SandboxDevice:
    SandboxDevice.objects.filter(pk=device.pk).update(name=name)
    device.refresh_from_db()
    return device


def device_take_5xx(*, device: SandboxDevice) -> bool:
    """Uses up one of the device's "answer with a 5xx" requests; True when this request is one.
    A device loaded with none left is not written to (the common case: every wire call asks)."""
    if not device.fail_next_5xx:
        return False
    return (
        SandboxDevice.objects.filter(pk=device.pk, fail_next_5xx__gt=0).update(
            fail_next_5xx=F("fail_next_5xx") - 1
        )
        == 1
    )


def device_take_lost_response(*, device: SandboxDevice) -> bool:
    """Uses up the device's "lose the next response" switch; True when this response is to be lost."""
    if not device.lose_next_response:
        return False
    return (
        SandboxDevice.objects.filter(pk=device.pk, lose_next_response=True).update(
            lose_next_response=False
        )
        == 1
    )


# -- credentials: keys the provider issues, and the credential fault switches ---------------------


def account_by_secret(
    *, provider: str, name: str, value: str
) -> tuple[SandboxAccount | None, dict]:
    """The account of `provider` whose secrets, or a set issued beside them, hold `name` = `value`,
    with the matching set (the rest of `secrets` filled in): `(None, {})` when none has it."""
    if not value:
        return None, {}
    account = (
        SandboxAccount.objects.filter(provider=provider)
        .filter(Q(**{f"secrets__{name}": value}) | Q(issued_secrets__contains=[{name: value}]))
        .order_by("pk")
        .first()
    )
    if account is None:
        return None, {}
    if str(account.secrets.get(name) or "") == value:
        return account, dict(account.secrets)
    issued = next(s for s in account.issued_secrets if s.get(name) == value)
    return account, {**account.secrets, **issued}


def account_issue_secrets(*, account: SandboxAccount, secrets: dict) -> SandboxAccount:
    """The provider's portal issues a further key set (`{"api_key": …, "api_pin": …}`): it works
    beside the current one until one of them is revoked."""
    with transaction.atomic():
        locked = SandboxAccount.objects.select_for_update().get(pk=account.pk)
        locked.issued_secrets = [*locked.issued_secrets, dict(secrets)]
        locked.save(update_fields=["issued_secrets"])
    account.refresh_from_db()
    return account


def account_revoke_secret(*, account: SandboxAccount, name: str, value: str) -> SandboxAccount:
    """The key with `name` = `value` stops working. Revoking the current one promotes the first
    issued set to current (the provider keeps the account's newest key)."""
    with transaction.atomic():
        locked = SandboxAccount.objects.select_for_update().get(pk=account.pk)
        issued = [s for s in locked.issued_secrets if s.get(name) != value]
        if str(locked.secrets.get(name) or "") == value:
            if issued:
                locked.secrets = {**locked.secrets, **issued.pop(0)}
            else:
                locked.secrets = {k: v for k, v in locked.secrets.items() if k != name}
        locked.issued_secrets = issued
        locked.save(update_fields=["secrets", "issued_secrets"])
    account.refresh_from_db()
    return account


def account_set_credential_faults(
    *,
    account: SandboxAccount,
    fail_next_5xx: int | None = None,
    lose_next_response: bool | None = None,
    refuse_next: bool | None = None,
) -> SandboxAccount:
    """Sets the account's credential fault switches (None leaves one as it is)."""
    changes = {
        name: value
        for name, value in {
            "credential_fail_next_5xx": fail_next_5xx,
            "credential_lose_next_response": lose_next_response,
            "credential_refuse_next": refuse_next,
        }.items()
        if value is not None
    }
    if changes:
        SandboxAccount.objects.filter(pk=account.pk).update(**changes)
    account.refresh_from_db()
    return account


def account_take_credential_fault(*, account: SandboxAccount) -> str:
    """Uses up one credential fault of the account: "5xx" (answer 503, process nothing), "refuse"
    (answer as for wrong credentials), or "" when none is set."""
    rows = SandboxAccount.objects.filter(pk=account.pk)
    if rows.filter(credential_fail_next_5xx__gt=0).update(
        credential_fail_next_5xx=F("credential_fail_next_5xx") - 1
    ):
        return "5xx"
    if rows.filter(credential_refuse_next=True).update(credential_refuse_next=False):
        return "refuse"
    return ""


def account_take_lost_response(*, account: SandboxAccount) -> bool:
    """Uses up the account's "lose the next credential response" switch."""
    return bool(
        SandboxAccount.objects.filter(pk=account.pk, credential_lose_next_response=True).update(
            credential_lose_next_response=False
        )
    )


def token_issue(*, account: SandboxAccount, ttl_s: float | None = None) -> SandboxToken:
    """A new bearer token, valid `ttl_s` seconds (default SANDBOX_PAYROC_TOKEN_TTL_S)."""
    if ttl_s is None:
        ttl_s = conf.setting("SANDBOX_PAYROC_TOKEN_TTL_S")
    SandboxToken.objects.filter(
        account=account, expires_at__lt=timezone.now() - EXPIRED_TOKENS_KEPT
    ).delete()
    return SandboxToken.objects.create(
        account=account,
        token=secrets.token_urlsafe(48),
        expires_at=timezone.now() + timedelta(seconds=ttl_s),
    )


def account_expire_tokens(*, account: SandboxAccount) -> int:
    """Expires every token of the account now (the "expired token" fault); returns how many."""
    return SandboxToken.objects.valid().filter(account=account).update(expires_at=timezone.now())


def integra_token_create(*, account: SandboxAccount) -> SandboxToken:
    """Integra's `manage/token`: the account's first long-lived accessToken.

    Refused (TOKEN_EXISTS) while the account has a valid one: Integra creates a token only when
    the merchant's stored token is empty. The account row is locked for the check and the insert
    (no wait happens inside), so two concurrent calls make one token.
    """
    with transaction.atomic():
        SandboxAccount.objects.select_for_update().get(pk=account.pk)
        if SandboxToken.objects.valid().filter(account=account).exists():
            raise Refused(Refused.TOKEN_EXISTS)
        return SandboxToken.objects.create(
            account=account,
            token=secrets.token_urlsafe(32),
            expires_at=timezone.now() + INTEGRA_TOKEN_LIFETIME,
        )


def integra_token_reset(*, account: SandboxAccount, previous: str) -> SandboxToken:
    """Integra's `manage/token/reset`: `previous` stops working and a new token replaces it.

    Refused (TOKEN_MISMATCH) unless `previous` is a valid token of the account; the expiry of
    the old token is a conditional UPDATE, so of two resets with one previous token one wins.
    """
    with transaction.atomic():
        expired = (
            SandboxToken.objects.valid()
            .filter(account=account, token=previous)
            .update(expires_at=timezone.now())
            if previous
            else 0
        )
        if not expired:
            raise Refused(Refused.TOKEN_MISMATCH)
        return SandboxToken.objects.create(
            account=account,
            token=secrets.token_urlsafe(32),
            expires_at=timezone.now() + INTEGRA_TOKEN_LIFETIME,
        )


def integra_accounts_with_token(accounts, *, token: str):
    """Those of `accounts` (a queryset) for which `token` is a valid Integra accessToken."""
    return accounts.filter(tokens__token=token, tokens__expires_at__gt=timezone.now())


# -- payments -------------------------------------------------------------------------------------


def _random_text(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def random_id(length: int) -> str:
    """Lower-case letters and digits, as KOMOJU's ids and Klearly's (assumed) event ids."""
    return _random_text(string.ascii_lowercase + string.digits, length)


def _new_refs(provider: str, *, with_instruction: bool) -> dict:
    """provider_ref, transaction_ref and refnum in the provider's own formats."""
    return EMULATORS[provider].new_refs(with_instruction=with_instruction)


def sandbox_payment_start(
    *,
    device: SandboxDevice,
    kind: str,
    amount_minor: int,
    currency: str,
    timeout_s: int,
    order_ref: str = "",
    description: str = "",
    operator: str = "",
    request: dict | None = None,
    idempotency_key: str = "",
    request_fingerprint: str = "",
    when_offline: str = "refuse",
    when_battery_low: str = "refuse",
    provider_ref: str = "",
    original: SandboxPayment | None = None,
    awaiting_amount: bool = False,
    reserved_blocks: bool = False,
) -> SandboxPayment:
    """Puts a request on the device. Raises Refused when the device cannot take it.

    when_offline      "refuse" (raise DEVICE_OFFLINE), "wait" (pending until the device connects
                      or the timeout passes) or "fail" (the request exists and has failed).
    when_battery_low  "refuse" (raise BATTERY_LOW) or "fail".
    provider_ref      the request's id when the caller made it (a KOMOJU session id).
    original          for a refund run on the device: the payment it refunds. Its amount is
                      checked against what remains now and taken from it when approved.
    awaiting_amount   MobilePay's prepared flow: the amount comes later (`payment_ready`).
    reserved_blocks   MobilePay: a Reserved payment (approved, not captured or cancelled) also
                      keeps the PoS busy ("only one active payment on the PoS").
    A device that is busy (switch, or another pending request) refuses with DEVICE_BUSY.
    """
    device = SandboxDevice.objects.select_related("account").get(pk=device.pk)
    if original is not None and amount_minor > original.refundable_amount:
        raise Refused(Refused.REFUND_EXCEEDS, "The amount exceeds what remains to be refunded")
    if device.battery_low and when_battery_low == "refuse":
        raise Refused(Refused.BATTERY_LOW)
    if not device.online and when_offline == "refuse":
        raise Refused(Refused.DEVICE_OFFLINE)
    failure = ""
    if device.battery_low:
        failure = BATTERY_ERROR
    elif not device.online and when_offline == "fail":
        failure = OFFLINE_ERROR
    if not failure:
        active = device_active_payment(device=device)
        if active is None and reserved_blocks:
            active = SandboxPayment.objects.reserved().filter(device=device).first()
        if device.busy or active is not None:
            raise Refused(Refused.DEVICE_BUSY, blocking=active)
    now = timezone.now()
    fields = {
        "device": device,
        "kind": kind,
        "amount_minor": amount_minor,
        "currency": currency,
        "timeout_s": timeout_s,
        "order_ref": order_ref,
        "description": description,
        "operator": operator,
        "request": request or {},
        "idempotency_key": idempotency_key,
        "request_fingerprint": request_fingerprint,
        "created_at": now,
        "original": original,
        "awaiting_amount": awaiting_amount,
        **_new_refs(device.account.provider, with_instruction=True),
    }
    if provider_ref:
        fields["provider_ref"] = provider_ref
    if failure:
        fields.update(status=PaymentStatus.FAILED, error_message=failure, decided_at=now)
    elif not awaiting_amount:
        fields.update(_magic_fields(amount_minor, now))
    try:
        with transaction.atomic():
            if reserved_blocks:
                # Serialises starts on this device for the reserved check (no wait inside).
                SandboxDevice.objects.select_for_update().get(pk=device.pk)
                if SandboxPayment.objects.reserved().filter(device=device).exists():
                    raise IntegrityError("a reserved payment keeps the device busy")
            return SandboxPayment.objects.create(**fields)
    except IntegrityError:
        # Another request got onto the device first (the one-pending-per-device constraint).
        raise Refused(
            Refused.DEVICE_BUSY,
            blocking=SandboxPayment.objects.pending().filter(device=device).first(),
        ) from None


def _magic_fields(amount_minor: int, now) -> dict:
    magic = scenarios.magic_outcome(amount_minor)
    if not magic:
        return {}
    return {
        "magic_outcome": magic,
        "outcome_at": now + timedelta(seconds=conf.setting("SANDBOX_MAGIC_DELAY_S")),
    }


def payment_ready(*, payment: SandboxPayment, amount_minor: int, currency: str) -> SandboxPayment:
    """MobilePay's `payment/ready`: a prepared payment gets its amount, and the customer may now
    approve it. Refused (NOT_PREPARED) unless it is pending and still waiting for its amount."""
    payment_refresh(payment=payment)
    won = SandboxPayment.objects.filter(
        pk=payment.pk, status=PaymentStatus.PENDING, awaiting_amount=True
    ).update(
        awaiting_amount=False,
        amount_minor=amount_minor,
        currency=currency,
        **_magic_fields(amount_minor, timezone.now()),
    )
    payment.refresh_from_db()
    if not won:
        raise Refused(
            Refused.NOT_PREPARED, "A payment will only be ready if it has been prepared first"
        )
    return payment


def payment_refresh(*, payment: SandboxPayment) -> SandboxPayment:
    """Applies what time has decided since the last read: a magic outcome that is due (while the
    device is online) or the request's timeout. Returns the payment as stored."""
    if payment.status != PaymentStatus.PENDING:
        return payment
    now = timezone.now()
    magic_due = (
        not payment.awaiting_amount
        and payment.magic_outcome
        and payment.magic_outcome != scenarios.TIMEOUT
        and payment.outcome_at is not None
        and payment.outcome_at <= now
        and payment.outcome_at < payment.timeout_at
        # the device is read only when an outcome is otherwise due (most reads find none)
        and SandboxDevice.objects.filter(pk=payment.device_id, online=True).exists()
    )
    if magic_due:
        payment_decide(payment=payment, outcome=payment.magic_outcome)
    elif now >= payment.timeout_at:
        payment_decide(payment=payment, outcome=scenarios.TIMEOUT)
    return payment


def device_active_payment(*, device: SandboxDevice) -> SandboxPayment | None:
    """The device's pending request, after letting time decide the ones that are due."""
    for payment in SandboxPayment.objects.pending().filter(device=device):
        payment_refresh(payment=payment)
    return SandboxPayment.objects.pending().filter(device=device).first()


def _card() -> dict:
    brand, bin6, last4 = random.choice(TEST_CARDS)
    expiry = timezone.now() + timedelta(days=2 * 365)
    return {
        "card_brand": brand,
        "card_bin": bin6,
        "card_last4": last4,
        "card_expiry": expiry.strftime("%m%y"),
        "entry_method": random.choice(ENTRY_METHODS),
    }


def payment_decide(*, payment: SandboxPayment, outcome: str) -> bool:
    """What the customer (or the terminal) did: one of scenarios.OUTCOMES.

    True when this decision won; False when the payment was already decided (a lost race is a
    no-op), or when the customer cannot pay yet (a prepared MobilePay payment without its
    amount can only be cancelled, fail or time out). The instance is reloaded either way.

    An approved refund is captured at once; one that refunds an `original` payment takes its
    amount from it (conditional UPDATE), and is declined if that much no longer remains.
    """
    now = timezone.now()
    changes: dict = {"decided_at": now}
    deciding = SandboxPayment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING)
    if outcome in (scenarios.APPROVE, scenarios.DECLINE):
        deciding = deciding.filter(awaiting_amount=False)
    if outcome == scenarios.APPROVE:
        changes.update(
            status=PaymentStatus.APPROVED, authcode=_random_text(string.digits, 6), **_card()
        )
        if payment.kind == SandboxPaymentKind.REFUND:
            changes.update(captured=True, captured_amount=payment.amount_minor, captured_at=now)
    elif outcome == scenarios.DECLINE:
        changes.update(status=PaymentStatus.DECLINED, **_card())
    elif outcome == scenarios.CANCEL:
        changes.update(status=PaymentStatus.CANCELED, canceled_by=CanceledBy.CUSTOMER)
    elif outcome == scenarios.TIMEOUT:
        changes.update(status=PaymentStatus.TIMED_OUT)
    elif outcome == scenarios.FAIL:
        changes.update(status=PaymentStatus.FAILED, error_message=TERMINAL_ERROR)
    else:
        raise ValueError(f"unknown outcome {outcome!r}")
    with transaction.atomic():
        won = deciding.update(**changes) == 1
        refunds_original = won and outcome == scenarios.APPROVE and payment.original_id
        if refunds_original and not _refund_take(payment.original_id, payment.amount_minor):
            SandboxPayment.objects.filter(pk=payment.pk).update(
                status=PaymentStatus.DECLINED,
                authcode="",
                captured=False,
                captured_amount=None,
                captured_at=None,
                error_message="The amount exceeds what remains to be refunded",
            )
        payment.refresh_from_db()
        if won:
            webhooks.payment_changed(payment=payment, change=webhooks.DECIDED)
    return won


def _refund_take(original_pk: int, amount: int) -> bool:
    """Adds `amount` to the original payment's refunded amount if that much remains (one
    conditional UPDATE); False when it does not."""
    original = SandboxPayment.objects.get(pk=original_pk)
    charged = (
        F("amount_minor") if original.kind == SandboxPaymentKind.SALE else F("captured_amount")
    )
    return (
        SandboxPayment.objects.filter(
            pk=original_pk, status=PaymentStatus.APPROVED, refunded_amount__lte=charged - amount
        ).update(refunded_amount=F("refunded_amount") + amount)
        == 1
    )


def payment_cancel(*, payment: SandboxPayment) -> bool:
    """The POS aborts the request over the API. True when it was still pending and is now canceled."""
    payment_refresh(payment=payment)
    with transaction.atomic():
        won = (
            SandboxPayment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING).update(
                status=PaymentStatus.CANCELED,
                canceled_by=CanceledBy.MERCHANT,
                decided_at=timezone.now(),
            )
            == 1
        )
        payment.refresh_from_db()
        if won:
            webhooks.payment_changed(payment=payment, change=webhooks.CANCELED)
    return won


def payment_void(*, payment: SandboxPayment) -> bool:
    """The POS cancels an approved pre-authorisation nobody captured (MobilePay: cancel a Reserved
    payment; KOMOJU: cancel an authorized payment). True when it was reserved and is now
    canceled; False otherwise (captured, or not approved)."""
    with transaction.atomic():
        won = (
            SandboxPayment.objects.reserved()
            .filter(pk=payment.pk)
            .update(status=PaymentStatus.CANCELED, canceled_by=CanceledBy.MERCHANT)
            == 1
        )
        payment.refresh_from_db()
        if won:
            webhooks.payment_changed(payment=payment, change=webhooks.VOIDED)
    return won


def payment_capture(*, payment: SandboxPayment, amount_minor: int | None = None) -> SandboxPayment:
    """Captures an approved pre-authorisation, in full or in part (not more than authorised)."""
    payment_refresh(payment=payment)
    if (
        payment.kind == SandboxPaymentKind.AUTH
        and payment.status == PaymentStatus.APPROVED
        and payment.captured
    ):
        raise Refused(Refused.ALREADY_CAPTURED, "The pre-authorisation has already been captured")
    if payment.kind != SandboxPaymentKind.AUTH or payment.status != PaymentStatus.APPROVED:
        raise Refused(Refused.NOT_CAPTURABLE, "Only an approved pre-authorisation can be captured")
    amount = payment.amount_minor if amount_minor is None else amount_minor
    if amount <= 0:
        raise Refused(Refused.INVALID_AMOUNT, "The amount must be positive")
    if amount > payment.amount_minor:
        raise Refused(Refused.CAPTURE_EXCEEDS, "The amount exceeds the authorised amount")
    with transaction.atomic():
        won = SandboxPayment.objects.filter(
            pk=payment.pk,
            kind=SandboxPaymentKind.AUTH,
            status=PaymentStatus.APPROVED,
            captured=False,
        ).update(captured=True, captured_amount=amount, captured_at=timezone.now())
        if not won:
            raise Refused(
                Refused.ALREADY_CAPTURED, "The pre-authorisation has already been captured"
            )
        payment.refresh_from_db()
        webhooks.payment_changed(payment=payment, change=webhooks.CAPTURED)
    return payment


def payment_refund(
    *,
    payment: SandboxPayment,
    amount_minor: int | None = None,
    description: str = "",
    operator: str = "",
    order_ref: str = "",
    idempotency_key: str = "",
    request_fingerprint: str = "",
    request: dict | None = None,
    reserve: bool = False,
) -> SandboxPayment:
    """A referenced refund of a settled payment (no device interaction); returns the refund.

    Never more than what remains: the check and the increment are one conditional UPDATE.
    An amount ending in 02 is declined (magic amounts); any other is approved at once, and
    captured at once unless `reserve` (MobilePay: the POS captures or cancels it afterwards,
    `refund_capture` / `refund_cancel`; a reserved refund already counts against the payment).
    """
    payment_refresh(payment=payment)
    settled = payment.kind == SandboxPaymentKind.SALE or (
        payment.kind == SandboxPaymentKind.AUTH and payment.captured
    )
    if payment.status != PaymentStatus.APPROVED or not settled:
        raise Refused(
            Refused.NOT_REFUNDABLE,
            "Only an approved sale or a captured pre-authorisation can be refunded",
        )
    amount = payment.refundable_amount if amount_minor is None else amount_minor
    if amount <= 0:
        raise Refused(Refused.INVALID_AMOUNT, "The amount must be positive")
    declined = scenarios.magic_outcome(amount) == scenarios.DECLINE
    now = timezone.now()
    with transaction.atomic():
        if not declined:
            charged = (
                F("amount_minor")
                if payment.kind == SandboxPaymentKind.SALE
                else F("captured_amount")
            )
            grown = SandboxPayment.objects.filter(
                pk=payment.pk, status=PaymentStatus.APPROVED, refunded_amount__lte=charged - amount
            ).update(refunded_amount=F("refunded_amount") + amount)
            if not grown:
                raise Refused(
                    Refused.REFUND_EXCEEDS, "The amount exceeds what remains to be refunded"
                )
        refund = SandboxPayment.objects.create(
            device_id=payment.device_id,
            original=payment,
            kind=SandboxPaymentKind.REFUND,
            amount_minor=amount,
            currency=payment.currency,
            order_ref=order_ref or payment.order_ref,
            description=description,
            operator=operator,
            timeout_s=0,
            status=PaymentStatus.DECLINED if declined else PaymentStatus.APPROVED,
            created_at=now,
            decided_at=now,
            captured=not declined and not reserve,
            captured_amount=None if declined or reserve else amount,
            captured_at=None if declined or reserve else now,
            authcode="" if declined else _random_text(string.digits, 6),
            card_brand=payment.card_brand,
            card_bin=payment.card_bin,
            card_last4=payment.card_last4,
            card_expiry=payment.card_expiry,
            entry_method=payment.entry_method,
            idempotency_key=idempotency_key,
            request_fingerprint=request_fingerprint,
            request=request or {},
            **_new_refs(payment.device.account.provider, with_instruction=False),
        )
        webhooks.payment_changed(payment=refund, change=webhooks.REFUNDED)
    payment.refresh_from_db()
    return refund


def refund_capture(*, refund: SandboxPayment) -> SandboxPayment:
    """Captures (pays out) a reserved refund. Refused: ALREADY_CAPTURED, or NOT_CAPTURABLE when it
    is not an approved refund."""
    won = SandboxPayment.objects.filter(
        pk=refund.pk, kind=SandboxPaymentKind.REFUND, status=PaymentStatus.APPROVED, captured=False
    ).update(captured=True, captured_amount=F("amount_minor"), captured_at=timezone.now())
    refund.refresh_from_db()
    if not won:
        if refund.captured:
            raise Refused(Refused.ALREADY_CAPTURED, "The refund has already been captured")
        raise Refused(Refused.NOT_CAPTURABLE, "Only a reserved refund can be captured")
    return refund


def refund_cancel(*, refund: SandboxPayment) -> SandboxPayment:
    """Cancels a reserved refund and gives its amount back to the payment. Refused
    (NOT_CANCELABLE) once it is captured or when it is not an approved refund."""
    with transaction.atomic():
        won = SandboxPayment.objects.filter(
            pk=refund.pk,
            kind=SandboxPaymentKind.REFUND,
            status=PaymentStatus.APPROVED,
            captured=False,
        ).update(
            status=PaymentStatus.CANCELED,
            canceled_by=CanceledBy.MERCHANT,
            decided_at=timezone.now(),
        )
        if won and refund.original_id:
            SandboxPayment.objects.filter(pk=refund.original_id).update(
                refunded_amount=F("refunded_amount") - refund.amount_minor
            )
    refund.refresh_from_db()
    if not won:
        raise Refused(Refused.NOT_CANCELABLE, "A captured refund cannot be cancelled")
    return refund


# -- idempotency ----------------------------------------------------------------------------------


def idempotent_call(
    *,
    account: SandboxAccount,
    key: str,
    fingerprint: str,
    operation: Callable[[], tuple[int, dict, SandboxPayment | None]],
    in_flight: str = "wait",
) -> tuple[int, dict]:
    """Runs `operation` once per Idempotency-Key and stores its answer; a repeat replays it.

    The same key with another request (another fingerprint) raises IdempotencyKeyInUse.
    Only answers the operation returns are stored; a Refused it raises is not (nothing changed).

    in_flight "wait" (Payroc): the key is claimed in the same transaction as the operation's
              writes, so two concurrent requests with one key make one instruction: the second
              waits for the first's commit, then replays its answer.
              "refuse" (KOMOJU, Klearly): the claim is committed first, and a request that finds
              it still unanswered raises IdempotencyKeyInFlight (their 409); the claim is removed
              again if the operation raises.
    """
    if in_flight == "refuse":
        return _idempotent_call_refusing(account, key, fingerprint, operation)
    for _ in range(2):
        stored = SandboxIdempotencyKey.objects.filter(account=account, key=key).first()
        if stored is not None:
            if stored.fingerprint != fingerprint:
                raise IdempotencyKeyInUse()
            return stored.status_code, stored.body
        try:
            with transaction.atomic():
                claim = SandboxIdempotencyKey.objects.create(
                    account=account, key=key, fingerprint=fingerprint, status_code=0, body={}
                )
                status_code, body, payment = operation()
                claim.status_code, claim.body, claim.payment = status_code, body, payment
                claim.save(update_fields=["status_code", "body", "payment"])
                return status_code, body
        except IntegrityError:
            continue  # another request claimed the key first: replay its answer
    raise IdempotencyKeyInUse()


def _idempotent_call_refusing(account, key, fingerprint, operation) -> tuple[int, dict]:
    for _ in range(2):
        stored = SandboxIdempotencyKey.objects.filter(account=account, key=key).first()
        if stored is not None:
            if stored.fingerprint != fingerprint:
                raise IdempotencyKeyInUse()
            if stored.status_code == 0:
                raise IdempotencyKeyInFlight()
            return stored.status_code, stored.body
        try:
            with transaction.atomic():
                claim = SandboxIdempotencyKey.objects.create(
                    account=account, key=key, fingerprint=fingerprint, status_code=0, body={}
                )
        except IntegrityError:
            continue  # another request claimed it first: look again
        try:
            with transaction.atomic():
                status_code, body, payment = operation()
                SandboxIdempotencyKey.objects.filter(pk=claim.pk).update(
                    status_code=status_code, body=body, payment=payment
                )
        except BaseException:
            SandboxIdempotencyKey.objects.filter(pk=claim.pk).delete()
            raise
        return status_code, body
    raise IdempotencyKeyInFlight()


# -- sessions (KOMOJU) ----------------------------------------------------------------------------


def session_create(
    *,
    account: SandboxAccount,
    amount_minor: int,
    currency: str,
    capture: str,
    external_order_num: str = "",
    default_locale: str = "ja",
    metadata: dict | None = None,
    request: dict | None = None,
) -> SandboxSession:
    """A pending payment session that no terminal shows yet."""
    return SandboxSession.objects.create(
        account=account,
        ref=_random_text(string.ascii_lowercase + string.digits, 25),
        amount_minor=amount_minor,
        currency=currency,
        capture=capture,
        external_order_num=external_order_num,
        default_locale=default_locale,
        metadata=metadata or {},
        request=request or {},
    )


def session_push(
    *, session: SandboxSession, device: SandboxDevice, timeout_s: int
) -> SandboxPayment:
    """Shows the session on the device: its payment starts there. Pushing it again to the device
    that shows it is harmless and returns the same payment.

    Refused: SESSION_NOT_PENDING (cancelled, or its payment already ended), SESSION_ELSEWHERE
    (pending on another device), or sandbox_payment_start's DEVICE_OFFLINE, BATTERY_LOW, DEVICE_BUSY.
    The session's id is its payment's provider_ref (unique), so one session has one payment.
    """
    session = SandboxSession.objects.select_related("payment").get(pk=session.pk)
    if session.cancelled_at is not None:
        raise Refused(Refused.SESSION_NOT_PENDING)
    if session.payment is not None:
        payment = payment_refresh(payment=session.payment)
        if payment.status != PaymentStatus.PENDING:
            raise Refused(Refused.SESSION_NOT_PENDING)
        if payment.device_id != device.pk:
            raise Refused(Refused.SESSION_ELSEWHERE)
        return payment
    payment = sandbox_payment_start(
        device=device,
        kind=SandboxPaymentKind.SALE if session.capture == "auto" else SandboxPaymentKind.AUTH,
        amount_minor=session.amount_minor,
        currency=session.currency,
        timeout_s=timeout_s,
        order_ref=session.external_order_num,
        description=str(session.metadata.get("description") or ""),
        request=session.request,
        provider_ref=session.ref,
        when_offline="refuse",
        when_battery_low="refuse",
    )
    SandboxSession.objects.filter(pk=session.pk, payment__isnull=True).update(payment=payment)
    return payment


def session_cancel(*, session: SandboxSession) -> bool:
    """Cancels a pending session: one not pushed yet, or whose payment is still pending.
    True when it is now cancelled (also when it already was); False once it completed."""
    session = SandboxSession.objects.select_related("payment").get(pk=session.pk)
    if session.payment is None:
        SandboxSession.objects.filter(pk=session.pk, cancelled_at__isnull=True).update(
            cancelled_at=timezone.now()
        )
        session.refresh_from_db()
        # A push may have won the race: then its payment decides.
        if session.payment_id is None:
            return True
        session = SandboxSession.objects.select_related("payment").get(pk=session.pk)
    payment = session.payment
    payment_cancel(payment=payment)
    return payment.status == PaymentStatus.CANCELED


# -- receipts -------------------------------------------------------------------------------------


def receipt_print(
    *, device: SandboxDevice, payment: SandboxPayment, lines: list[str]
) -> SandboxReceipt:
    """The device prints a receipt of a decided payment. Refused: DEVICE_OFFLINE, BATTERY_LOW,
    DEVICE_BUSY (a payment is on its screen, or the busy switch)."""
    device = SandboxDevice.objects.get(pk=device.pk)
    if not device.online:
        raise Refused(Refused.DEVICE_OFFLINE)
    if device.battery_low:
        raise Refused(Refused.BATTERY_LOW)
    if device.busy or device_active_payment(device=device) is not None:
        raise Refused(Refused.DEVICE_BUSY)
    return SandboxReceipt.objects.create(device=device, payment=payment, lines=lines)
