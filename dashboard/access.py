"""Every view declares its access policy with one of these decorators.

`tests/dashboard/test_access_policies.py` walks every URL pattern and fails on a view without one.

* `@access("app.perm")`: login required, then the role permission (403 without it).
* `@access("app.perm", obj=scoped(Model))`: login required; the object is looked up through
  `Model.objects.for_user(user)` (404 outside the user's scope), then the permission is checked
  against it (403), and the view receives the object instead of the URL's key;
  `scoped(Model, related=("terminal",))` loads the relations the page reads in the same query.
* `@access(..., second_factor=True)`: after the login, a platform or reseller admin whose session
  has not passed the second factor is sent to enrolment or to the code page first (before the
  object is looked up, so nothing about it is told); dashboard/second_factor.py.
* `@public("why")`: no login (login page, health check, provider webhooks, sandbox wire APIs).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect


class Scoped:
    """Looks a URL's object up through `Model.objects.for_user(user)`."""

    def __init__(
        self,
        model,
        url_kwarg: str = "pk",
        field: str = "pk",
        name: str | None = None,
        refine=None,
        related: tuple[str, ...] = (),
    ):
        self.model = model
        self.url_kwarg = url_kwarg
        self.field = field
        self.name = name or model._meta.model_name
        # Optional: a function of the scoped queryset (annotations, select_related), so the page
        # still reads its object in one query; it may narrow the scope, never widen it.
        self.refine = refine
        # Optional: relations the page reads (`select_related`), loaded with the object.
        self.related = tuple(related)

    def load(self, request, kwargs: dict):
        value = kwargs.pop(self.url_kwarg)
        try:
            queryset = self.model.objects.for_user(request.user)
            if self.refine is not None:
                queryset = self.refine(queryset)
            if self.related:
                queryset = queryset.select_related(*self.related)
            obj = queryset.filter(**{self.field: value}).first()
        except (ValueError, TypeError):
            obj = None
        if obj is None:
            raise Http404(f"No {self.model._meta.verbose_name} here.")
        kwargs[self.name] = obj
        return obj


scoped = Scoped


SESSION_ENDED = "session-ended"
SESSION_ENDED_MESSAGE = "Your session ended, please log in again."


def _login_redirect(request):
    htmx = getattr(request, "htmx", False)
    if settings.SESSION_COOKIE_NAME in request.COOKIES and not htmx:
        # A session cookie that no longer opens a session: it expired (idle timeout) or was ended.
        # (An HTMX request says so through `reason`, read by the login view.)
        messages.info(request, SESSION_ENDED_MESSAGE)
    login_url = resolve_url(settings.LOGIN_URL)
    if htmx:
        # A partial of a page that was open (a poll, a button): the whole page goes to the login
        # page, which says why, instead of a login form swapped into a badge.
        query = urlencode(
            {"next": request.htmx.current_url_abs_path or "/", "reason": SESSION_ENDED}
        )
        return HttpResponseClientRedirect(f"{login_url}?{query}")
    return redirect_to_login(request.get_full_path(), login_url)


def access(
    perm: str | None = None, *, obj: Scoped | None = None, second_factor: bool = False
) -> Callable:
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return _login_redirect(request)
            if second_factor:
                from dashboard.second_factor import second_factor_gate

                gate = second_factor_gate(request)
                if gate is not None:
                    return gate
            target = obj.load(request, kwargs) if obj else None
            if perm and not request.user.has_perm(perm, target):
                raise PermissionDenied("Your role may not do this.")
            return view(request, *args, **kwargs)

        wrapped.scoped_model = obj.model if obj else None
        wrapped.second_factor = second_factor
        wrapped.access_policy = (
            f"login, {perm or 'any member'}"
            + (f", scoped {obj.model.__name__}" if obj else "")
            + (", second factor" if second_factor else "")
        )
        return wrapped

    return decorator


def public(reason: str) -> Callable:
    def decorator(view):
        view.access_policy = f"public: {reason}"
        view.scoped_model = None
        return view

    return decorator
