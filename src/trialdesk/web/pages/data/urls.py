from django.urls import path

from trialdesk.web.pages.data import views

MANAGE = "studies/<str:study>/manage/"

urlpatterns = [
    path("setup/", views.setup, name="setup"),
    path(MANAGE, views.manage, name="manage"),
    path(MANAGE + "sites", views.sites, name="manage-sites"),
    path(MANAGE + "users", views.users, name="manage-users"),
    path(MANAGE + "users/<str:username>", views.user_detail, name="manage-user"),
    path(MANAGE + "users/<str:username>/revoke", views.revoke, name="manage-user-revoke"),
    path(
        MANAGE + "users/<str:username>/deactivate",
        views.deactivate,
        name="manage-user-deactivate",
    ),
    path(MANAGE + "tokens", views.tokens, name="manage-tokens"),
    path(MANAGE + "tokens/revoke", views.token_revoke, name="manage-token-revoke"),
    path(MANAGE + "lock", views.lock, name="manage-lock"),
    path("studies/<str:study>/audit/", views.audit, name="audit"),
]
