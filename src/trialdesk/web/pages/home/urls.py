from django.urls import path

from trialdesk.web.pages.home import views

urlpatterns = [
    path("", views.start, name="start"),
    path("studies/<str:study>/", views.study_home, name="study-home"),
    path("studies/<str:study>/matrix", views.subject_matrix, name="subject-matrix"),
    path("studies/<str:study>/work", views.work_list, name="work-list"),
    path("studies/<str:study>/work/summary", views.work_summary, name="work-summary"),
]
