from django.apps import AppConfig


class PagesConfig(AppConfig):
    name = "trialdesk.web.pages"
    label = "pages"
    verbose_name = "trialdesk web app"
