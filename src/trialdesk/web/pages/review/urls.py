from django.urls import path

from trialdesk.web.pages.review import views

STUDY = "studies/<str:study>/"
SUBJECT = STUDY + "subjects/<str:code>/"

urlpatterns = [
    path(STUDY + "queries/", views.query_list, name="queries"),
    path(SUBJECT + "queries/<int:number>/", views.query_page, name="query"),
    path(
        SUBJECT + "visits/<str:visit>/forms/<str:form>/items/<str:item>/queries/new",
        views.query_new,
        name="query-new",
    ),
]
