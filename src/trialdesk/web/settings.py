"""Django settings of trialdesk: the study store on SQLite (default) or PostgreSQL, the REST API.

`TRIALDESK_HOME` (default `./.trialdesk/`) holds the SQLite file and the secret key;
`TRIALDESK_DATABASE_URL=postgresql://user@host:port/db` selects PostgreSQL instead.
`TRIALDESK_SECRET_KEY` gives the secret key (otherwise one is generated once and kept in
`$TRIALDESK_HOME/secret_key`, readable by its owner only); `TRIALDESK_ALLOWED_HOSTS` lists
the host names the server answers to, comma-separated (default localhost, 127.0.0.1).
"""

from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path

from django.utils.functional import lazy

from trialdesk.errors import BadInput
from trialdesk.web.database import (
    DATABASE_URL_VARIABLE,
    HOME_VARIABLE,
    database_settings,
    trialdesk_home,
)
from trialdesk.web.secret_files import write_once

SECRET_KEY_VARIABLE = "TRIALDESK_SECRET_KEY"
ALLOWED_HOSTS_VARIABLE = "TRIALDESK_ALLOWED_HOSTS"
DEFAULT_ALLOWED_HOSTS = "localhost,127.0.0.1"
SECRET_KEY_FILE = "secret_key"


def stored_secret_key(home: Path) -> str:
    """The key in `home/secret_key`, generated on first use with mode 0600."""
    path = home / SECRET_KEY_FILE
    try:
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_once(path, secrets.token_urlsafe(50))
        return path.read_text().strip()
    except OSError as error:
        raise BadInput(
            f"{HOME_VARIABLE}: cannot keep the secret key in {path} ({error.strerror}); "
            f"expected a directory this user can write, or the key in {SECRET_KEY_VARIABLE}"
        ) from None


def allowed_hosts(text: str | None) -> list[str]:
    """The host names of `TRIALDESK_ALLOWED_HOSTS` (comma-separated); localhost and 127.0.0.1
    when it is unset or empty."""
    hosts = [host.strip() for host in (text or DEFAULT_ALLOWED_HOSTS).split(",") if host.strip()]
    if not hosts:
        # An empty list would have the server refuse every request, saying only "Bad Request".
        raise BadInput(
            f"{ALLOWED_HOSTS_VARIABLE}: {text!r} names no host; expected host names separated "
            "by commas, e.g. trials.example.org,localhost"
        )
    return hosts


TRIALDESK_HOME = trialdesk_home()

# Read (and made on first use) only when something needs the key: importing the settings
# creates no file, so a command run where there is no store leaves nothing behind. The store
# commands make it beside the database (`open_store`) before `trialdesk serve` forks.
_lazy_stored_secret_key = lazy(functools.cache(stored_secret_key), str)
SECRET_KEY = os.environ.get(SECRET_KEY_VARIABLE) or _lazy_stored_secret_key(TRIALDESK_HOME)
DEBUG = False
ALLOWED_HOSTS = allowed_hosts(os.environ.get(ALLOWED_HOSTS_VARIABLE))

# No django.contrib.admin, on purpose: clinical data change only through the audited
# services, never through Django's admin forms.
INSTALLED_APPS = [
    "django.contrib.staticfiles",
    # Its templates and bundled Swagger files: the API docs page works offline.
    "ninja",
    "trialdesk.store",
]
MIDDLEWARE = [
    # Outermost: any error answer from the layers inside is JSON.
    "trialdesk.web.middleware.answer_errors_as_json",
    # Before anything reads the request: the Host header and the URL's length.
    "trialdesk.web.middleware.check_request",
    "django.middleware.security.SecurityMiddleware",
    "trialdesk.web.middleware.refuse_unstorable_text",
]
# The largest request body accepted (413 beyond): a form's values or an adverse event are a
# few kilobytes; Django's default, 2.5 MB, is stated here so the API documents one figure.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
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
