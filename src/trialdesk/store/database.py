"""Opening the study store from a command: Django set up, schema migrated on first use."""

from __future__ import annotations

import os

SETTINGS_MODULE = "trialdesk.web.settings"


def open_store() -> None:
    """Set Django up with trialdesk's settings and bring the schema up to date.

    Called by the store's CLI commands only, so commands that need no database never import
    Django. Migrating is a quick no-op once the schema is current.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        settings.TRIALDESK_HOME.mkdir(parents=True, exist_ok=True)
    call_command("migrate", verbosity=0, interactive=False)
