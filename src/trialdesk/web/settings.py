"""Django settings of trialdesk: the study store on SQLite (default) or PostgreSQL, the REST API.

`TRIALDESK_HOME` (default `./.trialdesk/`) holds the SQLite file and the secret key;
`TRIALDESK_DATABASE_URL=postgresql://user@host:port/db` selects PostgreSQL instead.
`TRIALDESK_SECRET_KEY` gives the secret key (otherwise one is generated once and kept in
`$TRIALDESK_HOME/secret_key`, readable by its owner only); `TRIALDESK_ALLOWED_HOSTS` lists
the host names the server answers to, comma-separated (default localhost, 127.0.0.1).
"""

from __future__ import annotations

import datetime as dt
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


def port_number(variable: str, text: str | None, default: int) -> int:
    """The port a variable names (`default` when unset), or a clear error."""
    if not text:
        return default
    if not text.strip().isdigit() or not 0 < int(text) < 65536:
        raise BadInput(f"{variable}: {text!r} is not a port; expected a number from 1 to 65535")
    return int(text)


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
    # Sign-in for the web app: accounts with Argon2 hashes, sessions in the database.
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # htmx itself (vendored by the package) and `request.htmx`.
    "django_htmx",
    # Lockout after repeated failed sign-ins.
    "axes",
    # Optional second factor: TOTP devices.
    "django_otp",
    "django_otp.plugins.otp_totp",
    # Its templates and bundled Swagger files: the API docs page works offline.
    "ninja",
    "trialdesk.store",
    "trialdesk.web.pages",
]
MIDDLEWARE = [
    # Outermost: any error answer of the API's paths is JSON; the pages' errors are pages.
    "trialdesk.web.middleware.answer_errors_as_json",
    # Before anything reads the request: the Host header and the URL's length.
    "trialdesk.web.middleware.check_request",
    "django.middleware.security.SecurityMiddleware",
    "trialdesk.web.middleware.refuse_unstorable_text",
    "trialdesk.web.pages.middleware.content_security_policy",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "trialdesk.web.pages.middleware.renew_idle_timeout",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # The signed-in user's language and time zone, from their preferences.
    "trialdesk.web.pages.middleware.user_preferences",
    # Last, as django-axes asks: it answers a locked-out sign-in.
    "axes.middleware.AxesMiddleware",
]
# The largest request body accepted (413 beyond): a form's values or an adverse event are a
# few kilobytes; Django's default, 2.5 MB, is stated here so the API documents one figure.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
ROOT_URLCONF = "trialdesk.web.urls"
WSGI_APPLICATION = "trialdesk.web.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Each area of the web app keeps its templates beside its views.
        "DIRS": sorted(str(path) for path in (Path(__file__).parent / "pages").glob("*/templates")),
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csrf",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "trialdesk.web.pages.context.page_context",
            ]
        },
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

# ---------------------------------------------------------------- the web app's sign-in

PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "trialdesk.web.pages.accounts.backend.AccountBackend",
]
LOGIN_URL = "pages:sign-in"
LOGIN_REDIRECT_URL = "pages:start"
# Five wrong passwords for one user name lock that name for 15 minutes, from any address.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "pages/accounts/locked_out.html"
# Renders that template with the time the lockout ends (axes gives only the cool-off's length).
AXES_LOCKOUT_CALLABLE = "trialdesk.web.pages.accounts.views.locked_out"
AXES_VERBOSE = False
# axes.W006 asks for the address in the lockout key; by user name alone, a guesser who changes
# address is still locked out, which is the point here (hospital networks share addresses).
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

#: Minutes without a request after which a session ends (`TRIALDESK_IDLE_MINUTES`); the page
#: warns two minutes before and keeps what was typed as a draft. Requests renew it, writing the
#: session at most once a thirtieth of it (`pages.middleware.renew_idle_timeout`).
IDLE_MINUTES_VARIABLE = "TRIALDESK_IDLE_MINUTES"
SESSION_COOKIE_AGE = round(float(os.environ.get(IDLE_MINUTES_VARIABLE) or 30) * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Behind HTTPS (`TRIALDESK_HTTPS=1`) the cookies travel only over it.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = os.environ.get("TRIALDESK_HTTPS") == "1"
CSRF_FAILURE_VIEW = "trialdesk.web.pages.errors.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
OTP_TOTP_ISSUER = "trialdesk"
# "Saved." and the like travel in a signed cookie (Django's default storage), not in the
# session: a live check or draft request in flight when a form is saved would otherwise write
# back its older copy of the session (every request saves it) and the message would be lost.

# ---------------------------------------------------------------- languages

USE_I18N = True
LANGUAGE_CODE = "en"
FORMAT_MODULE_PATH = ["trialdesk.web.pages.formats"]
LANGUAGES = [("en", "English"), ("da", "Dansk"), ("zh-hans", "简体中文")]
#: Each area of the web app keeps its own messages (`web/pages/<area>/locale/`), and the
#: pages they share theirs (`web/pages/locale/`).
LOCALE_PATHS = sorted(str(path) for path in (Path(__file__).parent / "pages").glob("**/locale"))
#: The messages to patients (`trialdesk.store.reminders`) and the records' labels and codes
#: (`trialdesk.records`): listed so `make compile-messages`, run in the pages' folder,
#: compiles them too.
LOCALE_PATHS += [str(Path(__file__).parents[1] / area / "locale") for area in ("store", "records")]

# ---------------------------------------------------------------- messages to patients

#: Reminders and invitations to patients (`trialdesk.store.reminders`) go out through this
#: SMTP server, from this address; a server that does not answer in 10 s fails the message
#: (tried again on the next `trialdesk epro remind`).
EMAIL_HOST = os.environ.get("TRIALDESK_SMTP_HOST") or "localhost"
EMAIL_PORT = port_number("TRIALDESK_SMTP_PORT", os.environ.get("TRIALDESK_SMTP_PORT"), 25)
DEFAULT_FROM_EMAIL = os.environ.get("TRIALDESK_MAIL_FROM") or "trialdesk@localhost"
EMAIL_TIMEOUT = 10
