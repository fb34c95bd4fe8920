from django.urls import path

from trialdesk.web.pages.visits import views

SUBJECT = "studies/<str:study>/subjects/<str:code>/"

urlpatterns = [
    path(SUBJECT, views.subject, name="subject"),
    path(SUBJECT + "visits/<str:visit>/", views.visit, name="visit"),
    path(SUBJECT + "visits/<str:visit>/check", views.visit_check, name="visit-check"),
    path(
        SUBJECT + "visits/<str:visit>/missed",
        views.visit_missed,
        name="visit-missed",
    ),
]
