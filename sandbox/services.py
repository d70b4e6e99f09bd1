"""The only code that changes sandbox state.

Every change of a payment's status is a conditional UPDATE (`filter(status="pending").update(…)`),
so when two deciders race (a button, a magic amount, a timeout, an abort over the wire) exactly
one wins and the others are no-ops. Time-based transitions (a magic amount's outcome, a request's
timeout) are applied lazily by `payment_refresh()` whenever something reads the payment, so no
background process is needed. Nothing here sleeps, and no transaction is held open across a wait.
"""

from __future__ import annotations

import random
import secrets
import string
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from sandbox import conf, scenarios
from sandbox.models import (
    CanceledBy,
    PaymentKind,
    PaymentStatus,
    Provider,
    SandboxAccount,
    SandboxDevice,
    SandboxIdempotencyKey,
    SandboxPayment,
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

    def __init__(self, reason: str, message: str = "", *, blocking: SandboxPayment | None = None):
        super().__init__(message or reason)
        self.reason = reason
        self.message = message or reason
        self.blocking = (
            blocking  # the request that keeps a busy device busy, when it is one of ours
        )


class IdempotencyKeyInUse(Exception):
    """The Idempotency-Key was used before with another request."""


# -- accounts, tokens, devices -------------------------------------------------------------------


def sandbox_account_ensure(
    *, provider: str, label: str, secrets: dict, settings: dict
) -> SandboxAccount:
    """The account with this label, created or updated to these secrets and settings (idempotent)."""
    account, _ = SandboxAccount.objects.update_or_create(
        label=label, defaults={"provider": provider, "secrets": secrets, "settings": settings}
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
    """Uses up one of the device's "answer with a 5xx" requests; True when this request is one."""
    return (
        SandboxDevice.objects.filter(pk=device.pk, fail_next_5xx__gt=0).update(
            fail_next_5xx=F("fail_next_5xx") - 1
        )
        == 1
    )


def device_take_lost_response(*, device: SandboxDevice) -> bool:
    """Uses up the device's "lose the next response" switch; True when this response is to be lost."""
    return (
        SandboxDevice.objects.filter(pk=device.pk, lose_next_response=True).update(
            lose_next_response=False
        )
        == 1
    )


def token_issue(*, account: SandboxAccount) -> SandboxToken:
    """A new Payroc bearer token, valid SANDBOX_PAYROC_TOKEN_TTL_S seconds."""
    ttl = timedelta(seconds=conf.setting("SANDBOX_PAYROC_TOKEN_TTL_S"))
    SandboxToken.objects.filter(expires_at__lt=timezone.now() - EXPIRED_TOKENS_KEPT).delete()
    return SandboxToken.objects.create(
        account=account, token=secrets.token_urlsafe(48), expires_at=timezone.now() + ttl
    )


def account_expire_tokens(*, account: SandboxAccount) -> int:
    """Expires every bearer token of the account now (the "expired token" fault); returns how many."""
    return SandboxToken.objects.valid().filter(account=account).update(expires_at=timezone.now())


# -- payments -------------------------------------------------------------------------------------


def _random_text(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _new_refs(provider: str, *, with_instruction: bool) -> dict:
    """provider_ref, transaction_ref and refnum in the provider's own formats."""
    if provider == Provider.USAEPAY:
        return {
            "provider_ref": ("pr_" + _random_text(string.ascii_letters + string.digits, 29))
            if with_instruction
            else "",
            "transaction_ref": _random_text(string.ascii_lowercase + string.digits, 15),
            "refnum": str(secrets.randbelow(9 * 10**9) + 10**9),
        }
    # Payroc: instruction ids are 32 hex digits, payment and refund ids 10 upper-case letters/digits.
    return {
        "provider_ref": uuid.uuid4().hex if with_instruction else "",
        "transaction_ref": _random_text(string.ascii_uppercase + string.digits, 10),
        "refnum": "",
    }


def payment_start(
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
) -> SandboxPayment:
    """Puts a request on the device. Raises Refused when the device cannot take it.

    when_offline      "refuse" (raise DEVICE_OFFLINE), "wait" (pending until the device connects
                      or the timeout passes) or "fail" (the request exists and has failed).
    when_battery_low  "refuse" (raise BATTERY_LOW) or "fail".
    A device that is busy (switch, or another pending request) refuses with DEVICE_BUSY.
    """
    device = SandboxDevice.objects.select_related("account").get(pk=device.pk)
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
        **_new_refs(device.account.provider, with_instruction=True),
    }
    if failure:
        fields.update(status=PaymentStatus.FAILED, error_message=failure, decided_at=now)
    else:
        magic = scenarios.magic_outcome(amount_minor)
        if magic:
            fields.update(
                magic_outcome=magic,
                outcome_at=now + timedelta(seconds=conf.setting("SANDBOX_MAGIC_DELAY_S")),
            )
    try:
        with transaction.atomic():
            return SandboxPayment.objects.create(**fields)
    except IntegrityError:
        # Another request got onto the device first (the one-pending-per-device constraint).
        raise Refused(
            Refused.DEVICE_BUSY,
            blocking=SandboxPayment.objects.pending().filter(device=device).first(),
        ) from None


def payment_refresh(*, payment: SandboxPayment) -> SandboxPayment:
    """Applies what time has decided since the last read: a magic outcome that is due (while the
    device is online) or the request's timeout. Returns the payment as stored."""
    if payment.status != PaymentStatus.PENDING:
        return payment
    now = timezone.now()
    online = (
        SandboxDevice.objects.filter(pk=payment.device_id).values_list("online", flat=True).first()
    )
    magic_due = (
        payment.magic_outcome
        and payment.magic_outcome != scenarios.TIMEOUT
        and payment.outcome_at is not None
        and payment.outcome_at <= now
        and payment.outcome_at < payment.timeout_at
        and online
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
    no-op). The instance is reloaded either way.
    """
    now = timezone.now()
    changes: dict = {"decided_at": now}
    if outcome == scenarios.APPROVE:
        changes.update(
            status=PaymentStatus.APPROVED, authcode=_random_text(string.digits, 6), **_card()
        )
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
    won = (
        SandboxPayment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING).update(**changes)
        == 1
    )
    payment.refresh_from_db()
    return won


def payment_cancel(*, payment: SandboxPayment) -> bool:
    """The POS aborts the request over the API. True when it was still pending and is now canceled."""
    payment_refresh(payment=payment)
    won = (
        SandboxPayment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING).update(
            status=PaymentStatus.CANCELED,
            canceled_by=CanceledBy.MERCHANT,
            decided_at=timezone.now(),
        )
        == 1
    )
    payment.refresh_from_db()
    return won


def payment_capture(*, payment: SandboxPayment, amount_minor: int | None = None) -> SandboxPayment:
    """Captures an approved pre-authorisation, in full or in part (not more than authorised)."""
    payment_refresh(payment=payment)
    if (
        payment.kind == PaymentKind.AUTH
        and payment.status == PaymentStatus.APPROVED
        and payment.captured
    ):
        raise Refused(Refused.ALREADY_CAPTURED, "The pre-authorisation has already been captured")
    if payment.kind != PaymentKind.AUTH or payment.status != PaymentStatus.APPROVED:
        raise Refused(Refused.NOT_CAPTURABLE, "Only an approved pre-authorisation can be captured")
    amount = payment.amount_minor if amount_minor is None else amount_minor
    if amount <= 0:
        raise Refused(Refused.INVALID_AMOUNT, "The amount must be positive")
    if amount > payment.amount_minor:
        raise Refused(Refused.CAPTURE_EXCEEDS, "The amount exceeds the authorised amount")
    won = SandboxPayment.objects.filter(
        pk=payment.pk, kind=PaymentKind.AUTH, status=PaymentStatus.APPROVED, captured=False
    ).update(captured=True, captured_amount=amount, captured_at=timezone.now())
    if not won:
        raise Refused(Refused.ALREADY_CAPTURED, "The pre-authorisation has already been captured")
    payment.refresh_from_db()
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
) -> SandboxPayment:
    """A referenced refund of a settled payment (no device interaction); returns the refund.

    Never more than what remains: the check and the increment are one conditional UPDATE.
    An amount ending in 02 is declined (magic amounts); any other is approved at once.
    """
    payment_refresh(payment=payment)
    settled = payment.kind == PaymentKind.SALE or (
        payment.kind == PaymentKind.AUTH and payment.captured
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
                F("amount_minor") if payment.kind == PaymentKind.SALE else F("captured_amount")
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
            kind=PaymentKind.REFUND,
            amount_minor=amount,
            currency=payment.currency,
            order_ref=order_ref or payment.order_ref,
            description=description,
            operator=operator,
            timeout_s=0,
            status=PaymentStatus.DECLINED if declined else PaymentStatus.APPROVED,
            created_at=now,
            decided_at=now,
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
    payment.refresh_from_db()
    return refund


# -- idempotency ----------------------------------------------------------------------------------


def idempotent_call(
    *,
    account: SandboxAccount,
    key: str,
    fingerprint: str,
    operation: Callable[[], tuple[int, dict, SandboxPayment | None]],
) -> tuple[int, dict]:
    """Runs `operation` once per Idempotency-Key and stores its answer; a repeat replays it.

    The same key with another request (another fingerprint) raises IdempotencyKeyInUse. The key is
    claimed in the same transaction as the operation's writes, so two concurrent requests with one
    key make one instruction: the second waits for the first's commit, then replays its answer.
    Only answers the operation returns are stored; a Refused it raises is not (nothing changed).
    """
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
