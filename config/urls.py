from django.contrib import admin
from django.urls import path

from config.views import healthz
from papers.views import home

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
