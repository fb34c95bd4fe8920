"""The work queue page: the sections the user's roles give them (`store.work_queues`), a
summary of their counts first, then each section's most urgent items, each linking to the
page where the work is done. The view parses the site, calls the store and renders."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from trialdesk.store.work_queues import work_queue as store_work_queue
from trialdesk.web.pages.context import staff_page, study_access, study_key
from trialdesk.web.pages.navigation import render_study_page
from trialdesk.web.pages.queues.sections import shown_sections


@staff_page
@require_GET
def work_queue(request: HttpRequest, study: str) -> HttpResponse:
    """What waits on the user, of their sites (of one with `?site=`)."""
    access = study_access(request, study)
    sites = list(access.sites().order_by("code").values_list("code", "name"))
    site = request.GET.get("site", "")
    site = site if site in {code for code, _ in sites} else ""
    queue = store_work_queue(access, timezone.localdate(), timezone.now(), site=site)
    context = {
        "sections": shown_sections(study_key(access.study), queue.sections),
        "total": queue.total,
        "sites": sites,
        "site": site,
    }
    return render_study_page(request, "pages/queues/work_queue.html", access, "work-queue", context)
