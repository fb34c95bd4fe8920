"""The WSGI application of trialdesk, served by gunicorn (`trialdesk serve`)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialdesk.web.settings")

application = get_wsgi_application()
# Every view module (and what it imports: NumPy, SciPy, pandas for the monitoring pages) is
# imported here, once, in gunicorn's master (`--preload`), so the workers fork with them
# loaded: otherwise each worker imports them on its first request, all at once on a busy
# machine, past gunicorn's worker timeout. No database is touched.
get_resolver().url_patterns  # noqa: B018
