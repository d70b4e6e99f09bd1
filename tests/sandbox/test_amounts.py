"""The sandbox reads ISO 4217 from the same package as the adapters: JPY, CLP, ISK, USD, DKK and BHD
in the emulators' decimal wires, their display, and their magic amounts through an adapter."""

import iso4217
import pytest

from providers.base import PaymentState
from sandbox import amounts, scenarios
from sandbox.models import SandboxPayment
from tests.sandbox.conftest import MOBILEPAY_TERMINAL, follow, start_request

# (currency, ISO 4217 exponent, an amount ending in 01 minor units as the decimal wires write it)
SIX = [
    ("JPY", 0, "1001"),
    ("CLP", 0, "1001"),  # ISO 4217: no minor unit, whatever some card networks count
    ("ISK", 0, "1001"),  # likewise
    ("USD", 2, "10.01"),
    ("DKK", 2, "10.01"),
    ("BHD", 3, "1.001"),
]


@pytest.mark.parametrize(("currency", "exponent", "text"), SIX)
def test_the_sandbox_exponents_are_iso_4217s(currency, exponent, text):
    assert amounts.exponent(currency) == exponent == iso4217.Currency(currency).exponent
    assert amounts.is_currency(currency)


@pytest.mark.parametrize(("currency", "exponent", "text"), SIX)
def test_decimal_wire_text_is_read_and_written_in_the_currencys_exponent(currency, exponent, text):
    assert amounts.to_minor(text, currency) == 1001
    assert amounts.to_decimal_string(1001, currency) == text


def test_clp_has_no_minor_unit_in_the_sandbox_as_in_the_adapters():
    from providers import money

    assert amounts.to_decimal_string(1000, "CLP") == money.to_decimal_string(1000, "CLP") == "1000"
    assert amounts.to_decimal_string(1234, "BHD") == money.to_decimal_string(1234, "BHD") == "1.234"


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (100000, "JPY", "100,000 JPY"),
        (100000, "CLP", "100,000 CLP"),
        (100000, "ISK", "100,000 ISK"),
        (100000, "USD", "1,000.00 USD"),
        (2700, "DKK", "27.00 DKK"),
        (1234, "BHD", "1.234 BHD"),
    ],
)
def test_amounts_are_displayed_with_the_currencys_decimals(minor, currency, shown):
    assert amounts.display(minor, currency) == shown


@pytest.mark.parametrize(
    ("currency", "finer"), [("JPY", "10.5"), ("ISK", "1.5"), ("CLP", "1.5"), ("BHD", "1.0001")]
)
def test_an_amount_finer_than_the_currency_is_refused(currency, finer):
    with pytest.raises(ValueError, match="decimals"):
        amounts.to_minor(finer, currency)


@pytest.mark.parametrize("code", ["XYZ", "XAU", "XTS", "usd", "", None])
def test_codes_that_are_no_chargeable_iso_currency_are_refused(code):
    assert not amounts.is_currency(code)
    with pytest.raises(ValueError):
        amounts.exponent(code)


@pytest.mark.parametrize(("currency", "exponent", "text"), SIX)
def test_the_magic_ending_is_read_in_minor_units_of_each_currency(currency, exponent, text):
    assert scenarios.magic_outcome(amounts.to_minor(text, currency)) == scenarios.APPROVE


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("currency", "exponent", "text"), SIX)
def test_a_magic_amount_through_the_integra_adapter_approves_in_each_currency(
    mobilepay, currency, exponent, text
):
    """Integra's wire is decimal text: the adapter writes 1001 minor units as `text`, the emulator
    reads it back as 1001 in the same currency, and the ending 01 approves (Reserved)."""
    started = mobilepay.start_payment(start_request(MOBILEPAY_TERMINAL, 1001, currency))

    result = follow(mobilepay, started, until={PaymentState.AUTHORIZED})

    assert result.state in (PaymentState.AUTHORIZED, PaymentState.APPROVED)
    payment = SandboxPayment.objects.get()
    assert (payment.amount_minor, payment.currency) == (1001, currency)
