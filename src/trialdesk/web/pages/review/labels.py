"""The review pages' words for a query's status and for what each message of its thread
did; the status badge's look beside its word (a status is never told by colour alone)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

STATUS_LABELS = {
    "open": _("Open"),
    "answered": _("Answered"),
    "closed": _("Closed"),
}
#: The badge class of each status: open waits for the site, answered for the monitor.
STATUS_LOOKS = {"open": "late", "answered": "warn", "closed": "ok"}
ACTION_LABELS = {
    "opened": _("raised the query"),
    "answered": _("answered"),
    "commented": _("commented"),
    "closed": _("closed the query"),
    "reopened": _("re-opened the query"),
}
#: What a step of a query's page says once it is taken.
DONE_LABELS = {
    "answer": _("Answer sent."),
    "comment": _("Comment added."),
    "close": _("Query closed."),
    "reopen": _("Query re-opened."),
}
#: A form's source data verification state (`trialdesk.store.sdv_status.SdvState`).
SDV_LABELS = {
    "not_required": _("Not required by the SDV plan"),
    "to_verify": _("To verify"),
    "partly_verified": _("Partly verified"),
    "verified": _("Verified"),
}
SDV_LOOKS = {
    "not_required": "none",
    "to_verify": "warn",
    "partly_verified": "warn",
    "verified": "ok",
}
#: The navigation's link to the query list (its words kept in this area's catalogue).
QUERIES_LINK = _("Queries")
