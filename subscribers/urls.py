from django.urls import path

from subscribers import views

app_name = "subscribers"

urlpatterns = [
    path("subscribe/", views.subscribe, name="subscribe"),
    path("subscribe/check-your-inbox/", views.check_inbox, name="check_inbox"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("confirm/<str:token>/resend/", views.confirm_resend, name="confirm_resend"),
    path("preferences/<str:token>/", views.preferences, name="preferences"),
    path("preferences/<str:token>/data.json", views.preferences_data, name="preferences_data"),
    path("preferences/<str:token>/delete/", views.preferences_delete, name="preferences_delete"),
    *(
        path(f"preferences/<str:token>/{action}/", views.preferences_status, {"action": action}, name=action)
        for action in ("pause", "resume", "resubscribe")
    ),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
