from django.urls import path

from payments import views

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
]
