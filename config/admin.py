"""Paperboy's admin site: Django's, with the editor's dashboard (``admin:dashboard``) beside it."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, path


class PaperboyAdminSite(admin.AdminSite):
    index_template = "admin/paperboy_index.html"

    def get_urls(self) -> list[URLResolver | URLPattern]:
        from newsletter.admin.dashboard import dashboard_csv, dashboard_view

        return [
            path("dashboard/", self.admin_view(dashboard_view), name="dashboard"),
            path("dashboard/<slug:name>.csv", self.admin_view(dashboard_csv), name="dashboard_csv"),
            *super().get_urls(),
        ]
