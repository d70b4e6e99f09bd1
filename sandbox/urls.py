"""The sandbox: the virtual terminal pages and the provider emulators' wire APIs.

Each emulator's patterns sit below `/sandbox/<name>/`; the paths an adapter is configured with are
its `sandbox_endpoints` (`providers/<name>.py`), listed on the index page `/sandbox/` from
`sandbox/emulators.py`.
"""

from django.urls import path

from sandbox import klearly, komoju, mobilepay, payroc, usaepay, views

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
    path(
        "payroc/v1/payments/<str:payment_id>/reverse",
        payroc.payment_reverse,
        name="payroc_payment_reverse",
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
    path("usaepay/api/v2/_sandbox/webhook-test", usaepay.webhook_test, name="usaepay_webhook_test"),
    path(
        "usaepay/api/v2/transactions/<str:trankey>", usaepay.transaction, name="usaepay_transaction"
    ),
]


def _integra(route: str, view, name: str):
    return path(f"mobilepay/api/pos/{route}", view, name=f"mobilepay_{name}")


mobilepay_patterns = [
    _integra("payment/start", mobilepay.payment_start, "payment_start"),
    _integra("payment/start/byPosId", mobilepay.payment_start_by_pos, "payment_start_by_pos"),
    _integra("payment/prepare", mobilepay.payment_prepare, "payment_prepare"),
    _integra("payment/ready", mobilepay.payment_ready, "payment_ready"),
    _integra("payment/status", mobilepay.payment_status, "payment_status"),
    _integra("payment/details", mobilepay.payment_details, "payment_details"),
    _integra("payment/capture", mobilepay.payment_capture, "payment_capture"),
    _integra("payment/cancel", mobilepay.payment_cancel, "payment_cancel"),
    _integra("payments", mobilepay.payments, "payments"),
    _integra("payment/id/retrieve/bystate", mobilepay.retrieve_by_state, "retrieve_by_state"),
    _integra(
        "payment/id/retrieve/byterminal", mobilepay.retrieve_by_terminal, "retrieve_by_terminal"
    ),
    _integra("payment/id/retrieve/byposId", mobilepay.retrieve_by_pos, "retrieve_by_pos"),
    _integra("terminal/qrcode", mobilepay.terminal_qrcode, "terminal_qrcode"),
    _integra("refund/create", mobilepay.refund_create, "refund_create"),
    _integra("refund/details", mobilepay.refund_details, "refund_details"),
    _integra("refunds", mobilepay.refunds, "refunds"),
    _integra("refund/capture", mobilepay.refund_capture, "refund_capture"),
    _integra("refund/cancel", mobilepay.refund_cancel, "refund_cancel"),
    _integra("manage/token", mobilepay.manage_token, "manage_token"),
    _integra("manage/token/reset", mobilepay.manage_token_reset, "manage_token_reset"),
    _integra("manage/create", mobilepay.manage_create, "manage_create"),
    _integra("manage/delete", mobilepay.manage_delete, "manage_delete"),
    _integra("manage/terminal/information", mobilepay.terminal_information, "terminal_information"),
    _integra("manage/stores", mobilepay.manage_stores, "manage_stores"),
    _integra("manage/store", mobilepay.manage_store, "manage_store"),
    _integra("manage/checkInStatus/byposId", mobilepay.check_in_by_pos, "check_in_by_pos"),
    _integra(
        "manage/checkInStatus/byterminalId", mobilepay.check_in_by_terminal, "check_in_by_terminal"
    ),
]

KOMOJU = "komoju/api/v1/"

komoju_patterns = [
    path(KOMOJU + "sessions", komoju.sessions, name="komoju_sessions"),
    path(KOMOJU + "sessions/<str:session_id>", komoju.session, name="komoju_session"),
    path(
        KOMOJU + "sessions/<str:session_id>/cancel",
        komoju.session_cancel,
        name="komoju_session_cancel",
    ),
    path(
        KOMOJU + "pos_terminals/<str:terminal_id>", komoju.pos_terminal, name="komoju_pos_terminal"
    ),
    *[
        path(
            KOMOJU + f"terminals/<str:terminal_id>/sessions/<str:session_id>/{action}",
            komoju.terminal_session,
            {"action": action},
            name=f"komoju_terminal_session_{action}",
        )
        for action in ("push", "cancel", "print")
    ],
    path(KOMOJU + "payments/<str:payment_id>", komoju.payment, name="komoju_payment"),
    path(KOMOJU + "_sandbox/webhook-test", komoju.webhook_test, name="komoju_webhook_test"),
    *[
        path(
            KOMOJU + f"payments/<str:payment_id>/{action}",
            komoju.payment_action,
            {"action": action},
            name=f"komoju_payment_{action}",
        )
        for action in ("cancel", "capture", "refund")
    ],
]

KLEARLY = "klearly/v1/"

klearly_patterns = [
    path(KLEARLY + "partner/merchant-token", klearly.merchant_token, name="klearly_merchant_token"),
    path(KLEARLY + "terminals", klearly.terminals, name="klearly_terminals"),
    path(KLEARLY + "terminals/<str:terminal_id>", klearly.terminal, name="klearly_terminal"),
    path(KLEARLY + "payments", klearly.payments, name="klearly_payments"),
    path(KLEARLY + "_sandbox/webhook-test", klearly.webhook_test, name="klearly_webhook_test"),
    path(KLEARLY + "payments/<str:payment_id>", klearly.payment, name="klearly_payment"),
    path(
        KLEARLY + "payments/<str:payment_id>/abort",
        klearly.payment_abort,
        name="klearly_payment_abort",
    ),
]

urlpatterns = [
    path("", views.index, name="index"),
    path("terminals/<int:pk>/", views.terminal, name="terminal"),
    path("terminals/<int:pk>/screen/", views.terminal_screen, name="terminal_screen"),
    path("terminals/<int:pk>/decide/", views.terminal_decide, name="terminal_decide"),
    path("terminals/<int:pk>/switches/", views.terminal_switches, name="terminal_switches"),
    path("terminals/<int:pk>/qr.svg", views.terminal_qr, name="terminal_qr"),
    path(
        "terminals/<int:pk>/expire-tokens/",
        views.terminal_expire_tokens,
        name="terminal_expire_tokens",
    ),
    *payroc_patterns,
    *usaepay_patterns,
    *mobilepay_patterns,
    *komoju_patterns,
    *klearly_patterns,
]
