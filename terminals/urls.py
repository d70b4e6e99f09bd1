from django.urls import path

from terminals import views

app_name = "terminals"
urlpatterns = [
    path("", views.fleet, name="fleet"),
    path("statuses/", views.statuses, name="statuses"),
    path("assign/", views.assign, name="assign"),
    path("sync/", views.sync, name="sync"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/rename/", views.rename, name="rename"),
    path("<int:pk>/store/", views.assign_store, name="assign_store"),
    path("<int:pk>/probe/", views.probe, name="probe"),
]
