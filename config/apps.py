from django.contrib.admin.apps import AdminConfig


class PaperboyAdminConfig(AdminConfig):
    default_site = "config.admin.PaperboyAdminSite"
