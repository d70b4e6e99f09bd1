from django.urls import path

from credentials import views

app_name = "credentials"
urlpatterns = [
    path("", views.account_list, name="account_list"),
    path("<int:pk>/", views.account_detail, name="account_detail"),
    path("<int:pk>/verify/", views.account_verify, name="account_verify"),
    path("audit/", views.audit_list, name="audit_list"),
]
