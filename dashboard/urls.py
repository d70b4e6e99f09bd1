"""Login and the organisation pages (under the `dashboard:` namespace); included by home/urls.py."""

from django.urls import include, path

from dashboard import second_factor, views

org_patterns = (
    [
        path("resellers/", views.reseller_list, name="reseller_list"),
        path("resellers/new/", views.reseller_create, name="reseller_create"),
        path("resellers/<int:pk>/edit/", views.reseller_edit, name="reseller_edit"),
        path("merchants/", views.merchant_list, name="merchant_list"),
        path("merchants/new/", views.merchant_create, name="merchant_create"),
        path("merchants/<int:pk>/", views.merchant_detail, name="merchant_detail"),
        path("merchants/<int:pk>/edit/", views.merchant_edit, name="merchant_edit"),
        path("stores/", views.store_list, name="store_list"),
        path("stores/new/", views.store_create, name="store_create"),
        path("stores/<int:pk>/edit/", views.store_edit, name="store_edit"),
    ],
    "dashboard",
)

urlpatterns = [
    path("accounts/login/", views.login, name="login"),
    path("accounts/logout/", views.logout, name="logout"),
    path("accounts/password/", views.password_change, name="password_change"),
    path("accounts/password/done/", views.password_change_done, name="password_change_done"),
    path("accounts/second-factor/", second_factor.enrol, name="second_factor_enrol"),
    path("accounts/second-factor/code/", second_factor.verify, name="second_factor_verify"),
    path(
        "accounts/second-factor/reauthenticate/",
        second_factor.reauthenticate,
        name="second_factor_reauthenticate",
    ),
    path("", include(org_patterns)),
]
