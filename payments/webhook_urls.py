from django.urls import path

from payments import webhook_views

app_name = "webhooks"

urlpatterns = [
    path("<str:provider>/<uuid:account_uuid>/", webhook_views.receive, name="receive"),
]
