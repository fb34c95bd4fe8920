from django.urls import path

from trialdesk.web.pages.visits import sign_off_views, views

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
    path(SUBJECT + "sign", sign_off_views.sign_casebook, name="subject-sign"),
    path(SUBJECT + "visits/<str:visit>/sign", sign_off_views.sign_visit, name="visit-sign"),
    path(SUBJECT + "lock", sign_off_views.lock, name="record-lock"),
    path(SUBJECT + "unlock", sign_off_views.unlock, name="record-unlock"),
]
