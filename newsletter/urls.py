from django.urls import path

from newsletter import views
from newsletter.feeds import DailyPapersAtomFeed, DailyPapersFeed

app_name = "newsletter"

urlpatterns = [
    path("d/<str:token>/", views.view_digest, name="view_digest"),
    path("c/<str:token>/<int:paper_id>/<str:kind>/", views.click, name="click"),
    path("o/<str:token>.gif", views.open_pixel, name="open_pixel"),
    # Before the vote pattern, which would take "undo" and "mute" for votes.
    path("f/<str:token>/<int:paper_id>/undo/", views.feedback_undo, name="feedback_undo"),
    *(
        path(
            f"f/<str:token>/<int:paper_id>/{action}/",
            views.feedback_mute,
            {"action": action},
            name=f"feedback_{action}",
        )
        for action in ("mute", "unmute")
    ),
    path("f/<str:token>/<int:paper_id>/<str:vote>/", views.feedback, name="feedback"),
    path("picks/<str:token>/", views.pick_papers, name="pick_papers"),
    path("picks/<str:token>/<int:paper_id>/", views.pick_paper, name="pick_paper"),
    path("digests/", views.archive, name="archive"),
    path("digests/<int:pk>/", views.archive_edition, name="archive_edition"),
    path("feed/", DailyPapersFeed(), name="feed"),
    path("feed/atom/", DailyPapersAtomFeed(), name="feed_atom"),
]
