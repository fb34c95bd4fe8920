from django.urls import path

from trialdesk.web.pages.queues import views

urlpatterns = [
    path("studies/<str:study>/queue", views.work_queue, name="work-queue"),
]
