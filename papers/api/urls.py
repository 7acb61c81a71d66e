"""``/api/v1/``: the same paths as the site's pages (``papers/urls.py``), under the API's prefix."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from papers.api import views

urlpatterns = [
    path("papers/latest/", views.LatestPapers.as_view(), name="api_papers_latest"),
    path("papers/<isodate:day>/", views.DayPapers.as_view(), name="api_papers_day"),
    re_path(rf"^papers/week/(?P<week>{views.WEEK_PATTERN})/$", views.WeekPapers.as_view(), name="api_papers_week"),
    re_path(rf"^papers/month/(?P<month>{views.MONTH_PATTERN})/$", views.MonthPapers.as_view(), name="api_papers_month"),
    re_path(rf"^papers/(?P<arxiv_id>{views.ARXIV_ID_PATTERN})/$", views.PaperDetail.as_view(), name="api_paper"),
    path("search/", views.SearchPapers.as_view(), name="api_search"),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # Any other path ending in a slash (so that Django still adds a missing one): JSON, not the site's HTML 404.
    re_path(r"^(?:.*/)?$", views.not_found),
]
