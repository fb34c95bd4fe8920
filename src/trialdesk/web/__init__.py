"""The Django project: settings for the study store (and, later, the web app and REST API)."""
