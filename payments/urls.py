from django.urls import path

from payments import history_views, views

app_name = "payments"
urlpatterns = [
    path("new/", views.new, name="new"),
    path("<uuid:uuid>/", views.detail, name="detail"),
    path("<uuid:uuid>/status/", views.status, name="status"),
    path("<uuid:uuid>/abort/", views.abort, name="abort"),
    path("<uuid:uuid>/capture/", views.capture, name="capture"),
    path("<uuid:uuid>/void/", views.void, name="void"),
    path("<uuid:uuid>/refund/", views.refund, name="refund"),
    path("<uuid:uuid>/print-receipt/", views.print_receipt, name="print_receipt"),
    # The history (payments/history_views.py).
    path("", history_views.history, name="history"),
    path("totals/", history_views.totals, name="history_totals"),
    path("chart/", history_views.chart, name="history_chart"),
    path("export.csv", history_views.export, name="history_export"),
    path("summary.csv", history_views.summary_export, name="history_summary"),
]
