from django.urls import path, re_path

from papers import views

urlpatterns = [
    path("papers/<int:year>-<int:month>-<int:day>/", views.day_listing, name="day_listing"),
    # New-style ids (2405.01234) and old-style ones with a slash (astro-ph/0601001).
    re_path(
        r"^papers/(?P<arxiv_id>[a-z\-]+(?:\.[A-Z]{2})?/\d{7}|\d{4}\.\d{4,5})/$", views.paper_detail, name="paper_detail"
    ),
]
