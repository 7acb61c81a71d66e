from django.urls import path

from newsletter import views
from newsletter.feeds import DailyPapersAtomFeed, DailyPapersFeed

app_name = "newsletter"

urlpatterns = [
    path("d/<str:token>/", views.view_digest, name="view_digest"),
    path("f/<str:token>/<int:paper_id>/<str:vote>/", views.feedback, name="feedback"),
    path("digests/", views.archive, name="archive"),
    path("digests/<int:pk>/", views.archive_edition, name="archive_edition"),
    path("feed/", DailyPapersFeed(), name="feed"),
    path("feed/atom/", DailyPapersAtomFeed(), name="feed_atom"),
]
