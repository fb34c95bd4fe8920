from django.urls import path

from trialdesk.web.pages.safety import views

SUBJECT = "studies/<str:study>/subjects/<str:code>/"

urlpatterns = [
    path(SUBJECT + "adverse-events/new", views.ae_new, name="ae-new"),
    path(
        "studies/<str:study>/subjects/<str:code>/adverse-events/<int:number>/", views.ae, name="ae"
    ),
    path("studies/<str:study>/sae", views.sae_list, name="sae-list"),
    path(
        "studies/<str:study>/subjects/<str:code>/deviations/new",
        views.deviation_new,
        name="deviation-new",
    ),
    path(
        "studies/<str:study>/subjects/<str:code>/status",
        views.subject_status,
        name="subject-status",
    ),
    path(SUBJECT + "unblind", views.unblind, name="unblind"),
]
