from django.urls import path

from trialdesk.web.pages.monitoring import views

MONITORING = "studies/<str:study>/monitoring/"

urlpatterns = [
    path(MONITORING, views.monitoring, name="monitoring"),
    path(MONITORING + "funnel/<str:kri>.svg", views.funnel, name="monitoring-funnel"),
]
