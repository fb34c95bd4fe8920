"""The study pages' navigation and the one way they render: with the study, the user's
access and the links their roles lead to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from trialdesk.store.access import Access
from trialdesk.store.models import Role
from trialdesk.store.work_queues import sections_for
from trialdesk.web.pages.context import study_key
from trialdesk.web.pages.review.labels import QUERIES_LINK

#: Who manages a study (sites, users, lock) and reads its whole audit trail.
MANAGERS = (Role.ADMIN, Role.DATA_MANAGER)
AUDIT_READERS = (Role.ADMIN, Role.DATA_MANAGER, Role.MONITOR)
#: Who reads central monitoring (KRIs, funnel plots, statistical checks; blinded).
MONITORING_READERS = (Role.MONITOR, Role.DATA_MANAGER, Role.STATISTICIAN, Role.ADMIN)


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    current: bool


def study_links(access: Access, current: str) -> list[NavLink]:
    """The links of a study's pages this user's roles lead to; `current` is the URL name of
    the page shown."""
    key = study_key(access.study)
    links: list[tuple[str, Any]] = [("study-home", _("Subjects")), ("work-list", _("Work list"))]
    if sections_for(access):
        links.append(("work-queue", _("Work queue")))
    links.append(("sae-list", _("Serious adverse events")))
    links.append(("queries", QUERIES_LINK))
    if access.unblinded_anywhere and any(g.role == Role.PHARMACIST for g in access.grants):
        links.append(("dispensing", _("Dispensing")))
    if access.may(MONITORING_READERS):
        links.append(("monitoring", _("Monitoring")))
    if access.may(AUDIT_READERS):
        links.append(("audit", _("Audit trail")))
    if access.may(MANAGERS):
        links.append(("manage", _("Manage study")))
    return [
        NavLink(str(label), reverse(f"pages:{name}", args=[key]), name == current)
        for name, label in links
    ]


def render_study_page(
    request: HttpRequest,
    template: str,
    access: Access,
    current: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render a page of the study: `study`, `study_url_key`, `access` and `nav_links` are in
    its context besides `context`."""
    page = {
        "study": access.study,
        "study_url_key": study_key(access.study),
        "access": access,
        "nav_links": study_links(access, current),
        **(context or {}),
    }
    return render(request, template, page, status=status)
