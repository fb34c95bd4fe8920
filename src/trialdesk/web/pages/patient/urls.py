from django.urls import path

from trialdesk.web.pages.patient import views

LINK = "p/<str:token>/"
ITEM = LINK + "<str:schedule>/<int:day>/<str:item>/"

urlpatterns = [
    path(LINK, views.start, name="patient-start"),
    path(ITEM, views.question, name="patient-question"),
    path(ITEM + "saved/", views.saved, name="patient-saved"),
]
