"""A message of Django's own password validators that its Simplified Chinese catalogue lacks:
Django 5.2 words the minimum-length message with `%d`, its zh_Hans catalogue translates only
the older `%(min_length)d` wording. Named here so that makemessages puts it in this area's
catalogue, which Django consults before its own (LOCALE_PATHS); the validator's own ngettext
call then finds the translation."""

from django.utils.translation import ngettext_lazy

#: `MinimumLengthValidator`'s message, exactly as Django 5.2 words it.
PASSWORD_TOO_SHORT = ngettext_lazy(
    "This password is too short. It must contain at least %d character.",
    "This password is too short. It must contain at least %d characters.",
)
