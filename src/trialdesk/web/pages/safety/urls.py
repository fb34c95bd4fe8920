"""Adverse events and the SAE clock, deviations, withdrawal and loss to follow-up, emergency
unblinding.
"""

from django.urls import path

from trialdesk.web.pages.safety import views

SUBJECT = "studies/<str:study>/subjects/<str:code>/"

urlpatterns = [
    path(SUBJECT + "adverse-events/", views.ae_list, name="ae-list"),
    path(SUBJECT + "adverse-events/new", views.ae_new, name="ae-new"),
    path(SUBJECT + "adverse-events/<int:number>/", views.ae, name="ae"),
    path("studies/<str:study>/sae", views.sae_list, name="sae-list"),
    path(SUBJECT + "deviations/new", views.deviation_new, name="deviation-new"),
    path(SUBJECT + "status", views.subject_status, name="subject-status"),
    path(SUBJECT + "unblind", views.unblind, name="unblind"),
]
