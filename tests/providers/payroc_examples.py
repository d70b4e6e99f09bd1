"""Payroc answers as documented: the examples of the official OpenAPI v1.0.227.

Shared by the wire tests and the OpenAPI check, so both exercise the same shapes.
"""

from __future__ import annotations

import copy
from typing import Any

INSTRUCTION_ID = "a37439165d134678a9100ebba3b29597"
PAYMENT_ID = "M2MJOG6O2Y"
REFUND_ID = "CD3HN88U9F"

INSTRUCTION_IN_PROGRESS = {
    "paymentInstructionId": INSTRUCTION_ID,
    "status": "inProgress",
    "link": {
        "rel": "self",
        "method": "GET",
        "href": f"https://api.payroc.com/v1/payment-instructions/{INSTRUCTION_ID}",
    },
}

INSTRUCTION_COMPLETED = {
    "paymentInstructionId": INSTRUCTION_ID,
    "status": "completed",
    "link": {
        "rel": "payment",
        "method": "GET",
        "href": f"https://api.payroc.com/v1/payments/{PAYMENT_ID}",
    },
}

REFUND_INSTRUCTION_IN_PROGRESS = {
    "refundInstructionId": INSTRUCTION_ID,
    "status": "inProgress",
    "link": {
        "rel": "self",
        "method": "GET",
        "href": f"https://api.payroc.com/v1/refund-instructions/{INSTRUCTION_ID}",
    },
}

REFUND_INSTRUCTION_COMPLETED = {
    "refundInstructionId": INSTRUCTION_ID,
    "status": "completed",
    "link": {
        "rel": "refund",
        "method": "GET",
        "href": f"https://api.payroc.com/v1/refunds/{REFUND_ID}",
    },
}

_PAYMENT = {
    "paymentId": PAYMENT_ID,
    "processingTerminalId": "1234001",
    "operator": "Jane",
    "order": {
        "orderId": "OrderRef6543",
        "dateTime": "2024-07-02T15:30:00Z",
        "description": "Large Pepperoni Pizza",
        "amount": 4999,
        "currency": "USD",
    },
    "card": {
        "type": "MasterCard",
        "entryMethod": "keyed",
        "cardNumber": "453985******7062",
        "expiryDate": "1225",
        "securityChecks": {"cvvResult": "M", "avsResult": "Y"},
    },
    "supportedOperations": [
        "capture",
        "fullyReverse",
        "partiallyReverse",
        "incrementAuthorization",
        "adjustTip",
        "setAsPending",
    ],
    "transactionResult": {
        "type": "sale",
        "status": "ready",
        "approvalCode": "OK3",
        "authorizedAmount": 4999,
        "currency": "USD",
        "responseCode": "A",
        "responseMessage": "OK3",
    },
    "customFields": [{"name": "yourCustomField", "value": "abc123"}],
}

_REFUND = {
    "refundId": REFUND_ID,
    "processingTerminalId": "1234001",
    "order": {
        "orderId": "OrderRef6543",
        "dateTime": "2024-07-02T15:30:00Z",
        "description": "Refund for order OrderRef6543",
        "amount": 4999,
        "currency": "USD",
    },
    "card": {
        "type": "Visa Credit",
        "entryMethod": "keyed",
        "cardNumber": "453985******7062",
        "expiryDate": "1225",
    },
    "transactionResult": {
        "type": "refund",
        "status": "ready",
        "approvalCode": "OK3",
        "authorizedAmount": -4999,
        "currency": "USD",
        "responseCode": "A",
        "responseMessage": "APPROVAL",
    },
}

_REFUNDED_PAYMENT = {
    **_PAYMENT,
    "refunds": [
        {
            "refundId": REFUND_ID,
            "dateTime": "2024-07-02T15:30:00Z",
            "amount": -4999,
            "currency": "USD",
            "status": "ready",
            "responseCode": "A",
            "responseMessage": "Transaction refunded",
            "link": {
                "rel": "self",
                "method": "GET",
                "href": "https://api.payroc.com/v1/refunds/BI77XQFQ05",
            },
        }
    ],
    "supportedOperations": ["refund"],
    "transactionResult": {
        **_PAYMENT["transactionResult"],
        "status": "complete",
        "responseMessage": "OK13",
    },
}


def payment(**transaction_result: Any) -> dict[str, Any]:
    """The documented payment, with ``transactionResult`` fields overridden."""
    body = copy.deepcopy(_PAYMENT)
    body["transactionResult"].update(transaction_result)
    return body


def refund() -> dict[str, Any]:
    return copy.deepcopy(_REFUND)


def refunded_payment() -> dict[str, Any]:
    return copy.deepcopy(_REFUNDED_PAYMENT)


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"https://docs.payroc.com/api/errors#{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }


CANNOT_BE_DELETED = problem(
    409,
    "cannot-be-deleted",
    "Cannot be deleted",
    "You cannot delete this resource in its current state",
    errors=[
        {"parameter": "paymentInstructionId", "message": "Completed instruction cannot be deleted"}
    ],
    link={
        "rel": "payment",
        "method": "GET",
        "href": f"https://api.payroc.com/v1/payments/{PAYMENT_ID}",
    },
)
IDEMPOTENCY_KEY_IN_USE = problem(
    409,
    "idempotency-key-in-use",
    "Idempotency-Key in use",
    "'Idempotency-Key' is already in use against a different request",
)
NOT_AUTHORIZED = problem(
    401, "not-authorized", "Not Authorized", "Your identity could not be verified"
)

DEVICE = {
    "deviceId": "dev-0001",
    "serialNumber": "1850010868",
    "ksi": "FFFF1234",
    "tender": "creditDebit",
    "deviceType": {"model": "A920Pro", "manufacturer": "PAX"},
    "createdDate": "2024-07-02T15:30:00Z",
    "lastTransaction": {
        "orderId": "OrderRef6543",
        "dateTime": "2024-07-02T15:30:00Z",
        "processingTerminalId": "1234001",
    },
    "links": [],
}
