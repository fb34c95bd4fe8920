from django.urls import path

from trialdesk.web.pages.accounts import views

urlpatterns = [
    path("signin/", views.sign_in, name="sign-in"),
    path("signout/", views.sign_out, name="sign-out"),
    path("account/", views.account, name="account"),
    path("account/password/", views.password_change, name="password-change"),
    path("account/otp/", views.otp_setup, name="otp-setup"),
    path("account/otp/verify/", views.otp_verify, name="otp-verify"),
    path("session/keepalive", views.keepalive, name="keepalive"),
    path("language/", views.set_language, name="set-language"),
]
