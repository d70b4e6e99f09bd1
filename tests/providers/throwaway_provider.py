"""A provider that exists only in tests: everything a new provider's adapter module declares, in one
module, so `tests/test_adding_a_provider.py` can show where a registered adapter shows up.

Its calls are never made: the tests only read its facts.
"""

from __future__ import annotations

from providers.base import (
    AccountField,
    Capabilities,
    Endpoints,
    Environment,
    PaymentKind,
    PaymentResult,
    ProviderAdapter,
    RefundRequest,
    StartRequest,
    TerminalInfo,
)
from providers.errors import UnsupportedOperation

NAME = "throwaway"


class ThrowawayProvider(ProviderAdapter):
    name = NAME
    display_name = "Throwaway Pay"
    api_name = "Throwaway"
    terminal_ref_label = "Till number"
    secret_fields = (AccountField("api_token", "API token"),)
    setting_fields = (AccountField("shop_code", "Shop code"),)
    environments = {Environment.LIVE: Endpoints("https://api.throwaway.example/v1")}
    sandbox_endpoints = Endpoints("/sandbox/throwaway/v1")
    capabilities = Capabilities(
        can_rename=False,
        can_abort=False,
        needs_capture=False,
        has_webhooks=False,
        refund_mode="device",
        reports_online=False,
        has_idempotency_key=False,
        status_channel="poll",
        poll_interval_s=2.0,
        default_timeout_s=60,
        requests_per_minute=None,
    )

    def _not_here(self):
        raise UnsupportedOperation("The throw-away provider takes no calls.")

    def list_terminals(self) -> list[TerminalInfo]:
        self._not_here()

    def get_terminal(self, ref: str) -> TerminalInfo:
        self._not_here()

    def start_payment(self, req: StartRequest) -> PaymentResult:
        self._not_here()

    def find_started_payment(self, req: StartRequest) -> PaymentResult | None:
        self._not_here()

    def get_payment(self, provider_ref: str, *, kind: PaymentKind, wait: bool = False):
        self._not_here()

    def abort_payment(self, provider_ref: str, *, kind: PaymentKind) -> None:
        self._not_here()

    def refund(self, req: RefundRequest) -> PaymentResult:
        self._not_here()
