"""The Django admin for operators: platform admins only, read through the same tenancy rules.

The standard admin (`/admin/`) is a second tool beside the product's pages, so it follows the same
access rules: a person who is not logged in is sent to the product's login page, a logged-in member
who is not a platform admin gets 403 (never the admin's own login form), and every model page reads
through `Model.objects.for_user(user)`. Each URL carries the access policy the URL walk
(tests/dashboard/test_access_policies.py) checks. Apps register their models in their own `admin.py`
on `site`; registrations are read-only (`ReadOnlyAdmin`).
"""

from __future__ import annotations

from functools import update_wrapper

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, resolve_url
from django.urls import URLPattern, URLResolver, path

from dashboard.rules import is_platform_admin


def _annotate(callback, policy: str, model=None):
    callback.access_policy = policy
    callback.scoped_model = model
    return callback


class PlatformAdminSite(admin.AdminSite):
    site_header = "Terminal Dashboard: operators' admin"
    site_title = "Operators' admin"
    index_title = "Read-only records"
    site_url = "/"
    final_catch_all_view = False  # an unknown admin URL is a plain 404
    enable_nav_sidebar = False

    def has_permission(self, request) -> bool:
        user = request.user
        return bool(user.is_active and user.is_authenticated and is_platform_admin(user))

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def guarded(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), resolve_url(settings.LOGIN_URL))
            if not self.has_permission(request):
                raise PermissionDenied("Only platform admins may use the admin.")
            return inner(request, *args, **kwargs)

        return update_wrapper(guarded, inner)

    def login(self, request, extra_context=None):
        """The product's login page (with its lockout and password rules), never a second one."""
        if self.has_permission(request):
            return redirect(f"{self.name}:index")
        return redirect_to_login(
            request.GET.get("next") or resolve_url(f"{self.name}:index"),
            resolve_url(settings.LOGIN_URL),
        )

    def logout(self, request, extra_context=None):
        auth_logout(request)
        return redirect(settings.LOGIN_URL)

    def password_change(self, request, extra_context=None):
        return redirect("password_change")

    def get_urls(self):
        patterns = []
        for entry in super().get_urls():
            if isinstance(entry, URLResolver):
                patterns.append(entry)  # a model's pages: annotated by ReadOnlyAdmin.get_urls
                continue
            if entry.name == "view_on_site":
                continue  # no model here has a page on the site
            if entry.name == "app_list":
                # One literal path per app instead of the admin's regex, so every admin URL is
                # reversible with the arguments it declares.
                for label in sorted({m._meta.app_label for m in self._registry}):
                    patterns.append(
                        path(
                            f"{label}/",
                            _annotate(
                                self.admin_view(self.app_index),
                                "login, platform admin (Django admin)",
                            ),
                            {"app_label": label},
                            name="app_list",
                        )
                    )
                continue
            if entry.name == "login":

                def login(request, *args, **kwargs):
                    return self.login(request)

                patterns.append(
                    path(
                        "login/",
                        _annotate(login, "public: sends to the product's login page"),
                        name="login",
                    )
                )
                continue
            else:
                _annotate(entry.callback, "login, platform admin (Django admin)")
            patterns.append(entry)
        return patterns


class ReadOnlyAdmin(admin.ModelAdmin):
    """A model's admin pages, read-only, for platform admins, through `for_user`."""

    actions = None
    show_full_result_count = False  # the changelist counts the filtered rows, never the table too

    def has_view_permission(self, request, obj=None) -> bool:
        return self.admin_site.has_permission(request)

    def has_module_permission(self, request) -> bool:
        return self.admin_site.has_permission(request)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def scoped_queryset(self, request):
        return self.model.objects.for_user(request.user)

    def get_queryset(self, request):
        queryset = self.scoped_queryset(request)
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def get_urls(self):
        """The changelist, the read-only change page and its history; not add or delete (never
        allowed) nor the unnamed redirect of old admin URLs."""
        info = self.opts.app_label, self.opts.model_name
        kept = {
            f"{a}_{m}_{page}" for a, m in [info] for page in ("changelist", "change", "history")
        }
        patterns = [p for p in super().get_urls() if isinstance(p, URLPattern) and p.name in kept]
        for entry in patterns:
            _annotate(
                entry.callback,
                f"login, platform admin, scoped {self.model.__name__} (Django admin)",
                self.model,
            )
        return patterns


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return self.admin_site.has_permission(request)


site = PlatformAdminSite(name="admin")
