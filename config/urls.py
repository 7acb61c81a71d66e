from django.contrib import admin
from django.urls import include, path

from config.views import admin_login, healthz
from papers.views import home

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("", include("papers.urls")),
    path("", include("subscribers.urls")),
    path("", include("newsletter.urls")),
    path("api/v1/", include("papers.api.urls")),
    path("admin/login/", admin_login),  # throttled; the rest of the admin as Django has it
    path("admin/", admin.site.urls),
    path("webhooks/anymail/", include("newsletter.webhooks")),
]
