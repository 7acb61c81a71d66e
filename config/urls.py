from django.contrib import admin
from django.urls import include, path

from config.views import healthz
from papers.views import home

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("", include("papers.urls")),
    path("", include("subscribers.urls")),
    path("", include("newsletter.urls")),
    path("admin/", admin.site.urls),
    path("webhooks/anymail/", include("newsletter.webhooks")),
]
