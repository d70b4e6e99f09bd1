from django.urls import path

from credentials import views

app_name = "credentials"
urlpatterns = [
    path("", views.account_list, name="account_list"),
    path("<int:pk>/", views.account_detail, name="account_detail"),
]
