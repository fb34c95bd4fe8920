from django.urls import path

from trialdesk.web.pages.diary import views

DIARY = "studies/<str:study>/subjects/<str:code>/diary/"

urlpatterns = [
    path(DIARY, views.subject_diary, name="subject-diary"),
    path(DIARY + "invite", views.invite, name="subject-diary-invite"),
    path(DIARY + "revoke", views.revoke, name="subject-diary-revoke"),
]
