"""The root URLconf: the home page and /healthz here, every app's pages under its own prefix."""

from django.conf import settings
from django.urls import include, path

from dashboard.admin_site import site as admin_site
from home import views

# A parameter that is not what the page offers (dashboard.params.BadParameter): 400 with the reason.
handler400 = "dashboard.views.bad_request"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("", include("dashboard.urls")),
    path("credentials/", include("credentials.urls")),
    path("terminals/", include("terminals.urls")),
    path("payments/", include("payments.urls")),
    path("webhooks/", include("payments.webhook_urls")),
    path("admin/", admin_site.urls),
]

if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("sandbox.urls")))
