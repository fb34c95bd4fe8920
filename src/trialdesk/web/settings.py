"""Django settings of trialdesk: the study store on SQLite (default) or PostgreSQL.

`TRIALDESK_HOME` (default `./.trialdesk/`) holds the SQLite file;
`TRIALDESK_DATABASE_URL=postgresql://user@host:port/db` selects PostgreSQL instead.
"""

from __future__ import annotations

import os

from trialdesk.web.database import DATABASE_URL_VARIABLE, database_settings, trialdesk_home

TRIALDESK_HOME = trialdesk_home()

# No SECRET_KEY yet: nothing signs cookies or tokens until the web app exists, and Django asks
# for the key only when something uses it.
DEBUG = False
ALLOWED_HOSTS: list[str] = []

INSTALLED_APPS = ["trialdesk.store"]

DATABASES = {
    "default": database_settings(os.environ.get(DATABASE_URL_VARIABLE), TRIALDESK_HOME),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False
