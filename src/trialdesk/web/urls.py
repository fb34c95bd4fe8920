"""URLs of trialdesk: the REST API at /api/v1/ and the static files of its docs page.

The static files (Swagger UI, bundled with django-ninja) are served by Django's static view
from the installed apps, so the docs page works offline and without `collectstatic`.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles.views import serve
from django.urls import path, re_path

from trialdesk.web.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    re_path(rf"^{settings.STATIC_URL.lstrip('/')}(?P<path>.*)$", serve, {"insecure": True}),
]
