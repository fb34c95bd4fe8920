"""Django settings of trialdesk: the study store on SQLite (default) or PostgreSQL, the REST API.

`TRIALDESK_HOME` (default `./.trialdesk/`) holds the SQLite file and the secret key;
`TRIALDESK_DATABASE_URL=postgresql://user@host:port/db` selects PostgreSQL instead.
`TRIALDESK_SECRET_KEY` gives the secret key (otherwise one is generated once and kept in
`$TRIALDESK_HOME/secret_key`, readable by its owner only); `TRIALDESK_ALLOWED_HOSTS` lists
the host names the server answers to, comma-separated (default localhost, 127.0.0.1).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from trialdesk.web.database import DATABASE_URL_VARIABLE, database_settings, trialdesk_home

SECRET_KEY_VARIABLE = "TRIALDESK_SECRET_KEY"
ALLOWED_HOSTS_VARIABLE = "TRIALDESK_ALLOWED_HOSTS"
SECRET_KEY_FILE = "secret_key"


def stored_secret_key(home: Path) -> str:
    """The key in `home/secret_key`, generated on first use with mode 0600.

    The new key is written to a private file and linked into place, so concurrent first
    starts (several server workers) all end up reading the one key that won.
    """
    path = home / SECRET_KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        draft = home / f".{SECRET_KEY_FILE}.{secrets.token_hex(8)}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as draft_file:
            draft_file.write(secrets.token_urlsafe(50))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


TRIALDESK_HOME = trialdesk_home()

SECRET_KEY = os.environ.get(SECRET_KEY_VARIABLE) or stored_secret_key(TRIALDESK_HOME)
DEBUG = False
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get(ALLOWED_HOSTS_VARIABLE, "localhost,127.0.0.1").split(",")
    if host.strip()
]

# No django.contrib.admin, on purpose: clinical data change only through the audited
# services, never through Django's admin forms.
INSTALLED_APPS = [
    "django.contrib.staticfiles",
    # Its templates and bundled Swagger files: the API docs page works offline.
    "ninja",
    "trialdesk.store",
]
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware"]
ROOT_URLCONF = "trialdesk.web.urls"
WSGI_APPLICATION = "trialdesk.web.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
STATIC_URL = "static/"

# API lists (audit trail, allocation list) come in pages of at most this many entries.
NINJA_PAGINATION_PER_PAGE = 100
NINJA_PAGINATION_MAX_LIMIT = 1000

DATABASES = {
    "default": database_settings(os.environ.get(DATABASE_URL_VARIABLE), TRIALDESK_HOME),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False
