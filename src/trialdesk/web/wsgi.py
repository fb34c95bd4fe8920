"""The WSGI application of trialdesk, served by gunicorn (`trialdesk serve`)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialdesk.web.settings")

application = get_wsgi_application()
