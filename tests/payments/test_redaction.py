"""What the timeline keeps of a provider's answer: no card number, no security code, no secret."""

from __future__ import annotations

from payments.redaction import REDACTED, mask_card_number, redact


def test_a_card_number_under_any_key_keeps_only_its_last_four_digits():
    assert redact({"note": "paid with 4111111111111111 today"}) == {
        "note": "paid with ••••1111 today"
    }
    assert redact({"card": "4111-1111-1111-1111"}) == {"card": "••••1111"}
    assert redact({"raw": [{"x": "5555 5555 5555 4444"}]}) == {"raw": [{"x": "••••4444"}]}
    assert redact({"n": 4111111111111111}) == {"n": "••••1111"}


def test_a_card_number_key_is_masked_even_when_already_partly_masked():
    assert redact({"cardNumber": "XXXXXXXXXXXX0010", "maskedPan": "411111******1111"}) == {
        "cardNumber": "••••0010",
        "maskedPan": "••••1111",
    }


def test_long_numbers_that_are_not_card_numbers_stay():
    # 13 digits, not Luhn-valid: a millisecond timestamp, an order id.
    payload = {"timestamp": 1733000000001, "orderId": "1850010868123", "amount": 1250}
    assert redact(payload) == payload


def test_security_codes_tokens_and_secrets_are_removed_by_their_name():
    payload = {
        "cvv": "123",
        "CVC2": "456",
        "security_code": "789",
        "pin": "0000",
        "access_token": "eyJhbGciOi",
        "paymentToken": "tok_1",
        "client_secret": "s3cr3t",
        "X-Signature": "abc",
        "Authorization": "Bearer eyJhbGciOi",
        "api_key": "_abc",
        "expiryDate": "12/29",
        "password": "hunter2",
    }
    assert redact(payload) == {key: REDACTED for key in payload}


def test_ids_that_only_look_like_secret_names_stay_readable():
    payload = {
        "idempotency_key": "0b9e6d0c-5a9e-4c63-8d1e-4c9d2f7f3c51",
        "devicekey": "sa_Fleet0123",
        "keyed": True,
        "status": "COMPLETE",
        "authCode": "123456",
    }
    assert redact(payload) == payload


def test_credentials_inside_free_text_are_removed():
    assert redact("sent Authorization: Bearer abc.def-ghi") == (
        f"sent Authorization: Bearer {REDACTED}"
    )


def test_empty_secret_values_stay_empty_so_the_timeline_shows_nothing_was_sent():
    assert redact({"cvv": "", "token": None}) == {"cvv": "", "token": None}


def test_the_input_is_not_changed():
    payload = {"card": {"cvv": "123"}}
    redact(payload)
    assert payload == {"card": {"cvv": "123"}}


def test_tuples_and_bytes_become_json_values():
    assert redact({"t": (1, b"4111111111111111")}) == {"t": [1, "••••1111"]}


def test_mask_card_number_with_too_few_digits_shows_none():
    assert mask_card_number("12") == "••••"
