from django.urls import path

from trialdesk.web.pages.enrolment import views

SUBJECT = "studies/<str:study>/subjects/<str:code>/"

urlpatterns = [
    path("studies/<str:study>/subjects/new", views.subject_new, name="subject-new"),
    path(
        "studies/<str:study>/subjects/<str:code>/eligibility", views.eligibility, name="eligibility"
    ),
    path(SUBJECT + "consent", views.consent, name="consent"),
    path(SUBJECT + "randomize", views.randomize, name="randomize"),
    path(SUBJECT + "treatment", views.treatment, name="treatment"),
    path("studies/<str:study>/dispensing", views.dispensing, name="dispensing"),
]
