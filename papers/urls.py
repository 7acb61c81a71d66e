import datetime as dt

from django.urls import path, re_path, register_converter

from papers import views


class IsoDateConverter:
    regex = r"\d{4}-\d{2}-\d{2}"

    def to_python(self, value: str) -> dt.date:
        return dt.date.fromisoformat(value)  # ValueError (2026-02-30) means no match: 404

    def to_url(self, value: dt.date) -> str:
        return value.isoformat()


register_converter(IsoDateConverter, "isodate")

urlpatterns = [
    path("search/", views.search, name="search"),
    path("papers/<isodate:day>/", views.day_listing, name="day_listing"),
    re_path(r"^papers/week/(?P<year>\d{4})-W(?P<week>\d{2})/$", views.week_listing, name="week_listing"),
    re_path(r"^papers/month/(?P<year>\d{4})-(?P<month>\d{2})/$", views.month_listing, name="month_listing"),
    path("papers/week/", views.this_period, {"step": "week"}, name="this_week"),
    path("papers/month/", views.this_period, {"step": "month"}, name="this_month"),
    # New-style ids (2405.01234) and old-style ones with a slash (astro-ph/0601001).
    re_path(
        r"^papers/(?P<arxiv_id>[a-z\-]+(?:\.[A-Z]{2})?/\d{7}|\d{4}\.\d{4,5})/$", views.paper_detail, name="paper_detail"
    ),
]
