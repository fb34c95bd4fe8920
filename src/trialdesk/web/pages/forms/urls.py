from django.urls import path

from trialdesk.web.pages.forms import views

SUBJECT = "studies/<str:study>/subjects/<str:code>/"

urlpatterns = [
    path(
        SUBJECT + "visits/<str:visit>/forms/<str:form>/",
        views.form,
        name="form",
    ),
    path(
        SUBJECT + "visits/<str:visit>/forms/<str:form>/draft",
        views.form_draft,
        name="form-draft",
    ),
    path(
        SUBJECT + "visits/<str:visit>/forms/<str:form>/check",
        views.form_check,
        name="form-check",
    ),
    path(
        SUBJECT + "visits/<str:visit>/forms/<str:form>/verify",
        views.form_verify,
        name="form-verify",
    ),
    path(
        SUBJECT + "visits/<str:visit>/forms/<str:form>/items/<str:item>/history",
        views.item_history,
        name="item-history",
    ),
]
