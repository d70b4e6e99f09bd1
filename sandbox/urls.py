"""The sandbox: the virtual terminal pages and the provider emulators' wire APIs.

Adapters reach the emulators at (below settings.SANDBOX_BASE_URL):
  Payroc   identity_url /sandbox/payroc/identity/authorize   base_url /sandbox/payroc/v1
  USAePay  base_url /sandbox/usaepay/api/v2
"""

from django.urls import path

from sandbox import payroc, usaepay, views

app_name = "sandbox"

payroc_patterns = [
    path("payroc/identity/authorize", payroc.authorize, name="payroc_authorize"),
    path("payroc/v1/devices", payroc.devices, name="payroc_devices"),
    path(
        "payroc/v1/devices/<str:serial>/payment-instructions",
        payroc.payment_instructions,
        name="payroc_payment_instructions",
    ),
    path(
        "payroc/v1/devices/<str:serial>/refund-instructions",
        payroc.refund_instructions,
        name="payroc_refund_instructions",
    ),
    path(
        "payroc/v1/payment-instructions/<str:instruction_id>",
        payroc.payment_instruction,
        name="payroc_payment_instruction",
    ),
    path(
        "payroc/v1/refund-instructions/<str:instruction_id>",
        payroc.refund_instruction,
        name="payroc_refund_instruction",
    ),
    path("payroc/v1/payments/<str:payment_id>", payroc.payment, name="payroc_payment"),
    path(
        "payroc/v1/payments/<str:payment_id>/refund",
        payroc.payment_refund,
        name="payroc_payment_refund",
    ),
    path(
        "payroc/v1/payments/<str:payment_id>/capture",
        payroc.payment_capture,
        name="payroc_payment_capture",
    ),
    path("payroc/v1/refunds/<str:refund_id>", payroc.refund, name="payroc_refund"),
]

usaepay_patterns = [
    path("usaepay/api/v2/paymentengine/devices", usaepay.devices, name="usaepay_devices"),
    path("usaepay/api/v2/paymentengine/devices/<str:key>", usaepay.device, name="usaepay_device"),
    path(
        "usaepay/api/v2/paymentengine/payrequests", usaepay.payrequests, name="usaepay_payrequests"
    ),
    path(
        "usaepay/api/v2/paymentengine/payrequests/<str:key>",
        usaepay.payrequest,
        name="usaepay_payrequest",
    ),
    path("usaepay/api/v2/transactions", usaepay.transactions, name="usaepay_transactions"),
    path(
        "usaepay/api/v2/transactions/<str:trankey>", usaepay.transaction, name="usaepay_transaction"
    ),
]

urlpatterns = [
    path("", views.index, name="index"),
    path("terminals/<int:pk>/", views.terminal, name="terminal"),
    path("terminals/<int:pk>/screen/", views.terminal_screen, name="terminal_screen"),
    path("terminals/<int:pk>/decide/", views.terminal_decide, name="terminal_decide"),
    path("terminals/<int:pk>/switches/", views.terminal_switches, name="terminal_switches"),
    path(
        "terminals/<int:pk>/expire-tokens/",
        views.terminal_expire_tokens,
        name="terminal_expire_tokens",
    ),
    *payroc_patterns,
    *usaepay_patterns,
]
