from django.apps import AppConfig


class StoreConfig(AppConfig):
    name = "trialdesk.store"
    label = "store"
    verbose_name = "trialdesk study store"
