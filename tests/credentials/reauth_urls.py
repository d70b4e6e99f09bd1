"""The product's URLs and one view behind `reauthentication_required`, as a rotation view will be."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.http import require_POST

from dashboard.access import access
from dashboard.second_factor import reauthentication_required
from home.urls import handler400  # noqa: F401
from home.urls import urlpatterns as product_urlpatterns


@access("credentials.view_accounts", second_factor=True)
@reauthentication_required
@require_POST
def guarded_change(request):
    return HttpResponse(b"changed")


urlpatterns = [*product_urlpatterns, path("test/guarded/", guarded_change, name="guarded_change")]
