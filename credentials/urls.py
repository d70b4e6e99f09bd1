from django.urls import path

from credentials import views

app_name = "credentials"
urlpatterns = [
    path("", views.account_list, name="account_list"),
    path("<int:pk>/", views.account_detail, name="account_detail"),
    path("<int:pk>/verify/", views.account_verify, name="account_verify"),
    path("audit/", views.audit_list, name="audit_list"),
]

# Adding, editing and rotating accounts (credentials/account_views.py).
from credentials import account_views  # noqa: E402

urlpatterns += [
    path("new/", account_views.account_add, name="account_add"),
    path("<int:pk>/edit/", account_views.account_edit, name="account_edit"),
    path("<int:pk>/webhook/", account_views.account_webhook, name="account_webhook"),
    path("<int:pk>/webhook/test/", account_views.account_webhook_test, name="account_webhook_test"),
    path("<int:pk>/rotate/", account_views.account_rotate, name="account_rotate"),
    path("<int:pk>/rotate/self/", account_views.account_self_rotate, name="account_self_rotate"),
    path(
        "<int:pk>/rotate/create-token/",
        account_views.account_token_create,
        name="account_token_create",
    ),
    path(
        "<int:pk>/rotate/abandon/",
        account_views.account_rotation_abandon,
        name="account_rotation_abandon",
    ),
    path(
        "<int:pk>/rotate/policy/",
        account_views.account_rotation_policy,
        name="account_rotation_policy",
    ),
]
