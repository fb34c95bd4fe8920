"""The central-monitoring dashboard and its funnel plots (one SVG per KRI, shown as images:
the pages' CSP allows no inline style, an image has its own document).

The views parse, read `dashboard` (the store's data through the user's `Access`, the
figures of `trialdesk.monitoring`), render."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from trialdesk.monitoring.kri import KRIS
from trialdesk.monitoring.report import funnel_svg
from trialdesk.store import clock
from trialdesk.store.access import Access
from trialdesk.store.diary_compliance import compliance_by_site
from trialdesk.web.pages.context import staff_page, study_access
from trialdesk.web.pages.monitoring.dashboard import (
    FLAGS,
    KRI_LABELS,
    READERS,
    UNIT_LABELS,
    dashboard,
    kri_frame,
)
from trialdesk.web.pages.navigation import render_study_page

#: The plot is drawn by the report's code; as an image it runs nothing and loads nothing.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


def _reader(request: HttpRequest, study: str) -> Access:
    access = study_access(request, study)
    if not access.may(READERS):
        raise PermissionDenied(
            _("Central monitoring is for monitors, data managers and statisticians.")
        )
    return access


def _funnel_words() -> dict[str, str]:
    """The plot's legend and axis in the reader's language (`report.FUNNEL_WORDS`)."""
    return {
        "limits_997": _("%(level)s limits") % {"level": "99.7%"},
        "limits_95": _("%(level)s limits") % {"level": "95%"},
        "overall": _("overall"),
        "rate": _("rate"),
        **{code: str(words) for code, (words, _symbol, _badge) in FLAGS.items()},
    }


@staff_page
@require_GET
def monitoring(request: HttpRequest, study: str) -> HttpResponse:
    access = _reader(request, study)
    context = {
        "dashboard": dashboard(access),
        "diary_compliance": compliance_by_site(access, clock.now()),
    }
    return render_study_page(
        request, "pages/monitoring/dashboard.html", access, "monitoring", context
    )


@staff_page
@require_GET
def funnel(request: HttpRequest, study: str, kri: str) -> HttpResponse:
    """The funnel plot of one KRI over the reader's sites, as SVG."""
    access = _reader(request, study)
    if kri not in KRIS:
        raise Http404(f"no KRI {kri}")
    definition = KRIS[kri]
    svg = funnel_svg(
        kri_frame(access),
        kri,
        words=_funnel_words(),
        title=str(KRI_LABELS.get(kri, definition.label)),
        unit=str(UNIT_LABELS.get(definition.unit, definition.unit)),
    )
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Content-Security-Policy"] = SVG_POLICY
    response["Cache-Control"] = "private, no-store"
    return response
