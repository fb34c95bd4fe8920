from django.urls import path

from trialdesk.web.pages.data import views

urlpatterns = [
    path("setup/", views.setup, name="setup"),
    path("studies/<str:study>/manage/", views.manage, name="manage"),
    path("studies/<str:study>/audit/", views.audit, name="audit"),
]
