"""The start page (the user's studies), a study's home (the subject matrix, with a summary of
the work list) and the work list. The rows come from `trialdesk.store.matrix`, which reads
through the user's `Access` only; these views parse the URL, call it and render."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import quote, urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from trialdesk.store import clock
from trialdesk.store import matrix as store_matrix
from trialdesk.store.access import Access, accesses_of
from trialdesk.store.matrix import SORTS, MatrixQuery, SubjectMatrix
from trialdesk.store.permissions import STEP_ROLES, Step
from trialdesk.web.pages.context import staff_page, study_access, study_key, study_user
from trialdesk.web.pages.home.labels import (
    CELL_LOOKS,
    ROLE_LABELS,
    SDV_LOOKS,
    SORT_LABELS,
    STATUS_LABELS,
    VERDICT_LABELS,
)
from trialdesk.web.pages.navigation import render_study_page


@dataclass(frozen=True)
class StudyCard:
    key: str
    protocol_id: str
    acronym: str
    title: str
    roles: list[str]
    subjects: int


@staff_page
def start(request: HttpRequest) -> HttpResponse:
    """The studies the user works on; straight to the study when there is one."""
    accesses = accesses_of(study_user(request))
    if len(accesses) == 1:
        return redirect(reverse("pages:study-home", args=[study_key(accesses[0].study)]))
    counts = store_matrix.readable_subject_counts(accesses)
    cards = []
    for access in accesses:
        titles = access.study.protocol().titles
        roles = sorted(
            {
                f"{ROLE_LABELS.get(g.role, g.role)} · {g.site_code}"
                if g.site_code
                else str(ROLE_LABELS.get(g.role, g.role))
                for g in access.grants
            }
        )
        cards.append(
            StudyCard(
                study_key(access.study),
                access.study.protocol_id,
                titles.acronym or "",
                titles.brief,
                roles,
                counts.get(access.study.pk, 0),
            )
        )
    return render(request, "pages/home/start.html", {"cards": cards})


def timed(view: Any) -> Any:
    """Adds a `Server-Timing` header with the view's own time (queries and rendering; not
    the middleware's session and sign-in checks), which bench/web.py reads."""

    @wraps(view)
    def measured(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        started = time.perf_counter()
        response = view(request, *args, **kwargs)
        response["Server-Timing"] = f"view;dur={1000 * (time.perf_counter() - started):.1f}"
        return response

    return measured


@staff_page
@timed
def study_home(request: HttpRequest, study: str) -> HttpResponse:
    """The subject matrix with its filters, and a summary of the work list."""
    access = study_access(request, study)
    context = _matrix_context(request, access)
    context["may_screen"] = any(grant.role in STEP_ROLES[Step.SCREEN] for grant in access.grants)
    return render_study_page(request, "pages/home/study_home.html", access, "study-home", context)


@staff_page
@timed
def subject_matrix(request: HttpRequest, study: str) -> HttpResponse:
    """The matrix's table alone, for htmx; the browser's address becomes the study home's
    with the same parameters, which shows the same page without JavaScript."""
    access = study_access(request, study)
    context = _matrix_context(request, access)
    if not getattr(request, "htmx", False):
        return redirect(context["page_url"])
    response = render_study_page(
        request, "pages/home/matrix_results.html", access, "study-home", context
    )
    response["HX-Push-Url"] = context["page_url"]
    return response


@staff_page
@timed
def work_summary(request: HttpRequest, study: str) -> HttpResponse:
    """The work list's counts for the study home, which asks for them (htmx) once it is
    shown, so the matrix does not wait for them; without htmx, the work list itself."""
    access = study_access(request, study)
    if not getattr(request, "htmx", False):
        return redirect(reverse("pages:work-list", args=[study_key(access.study)]))
    work = store_matrix.work_list(access, timezone.localdate(), clock.now(), limit=0)
    return render_study_page(
        request, "pages/home/work_summary.html", access, "study-home", {"work": work}
    )


@staff_page
def work_list(request: HttpRequest, study: str) -> HttpResponse:
    """Overdue visits, forms due, eligibility to confirm and SAE reports due, of the user's
    subjects (of one of their sites with `?site=`)."""
    access = study_access(request, study)
    sites = _site_choices(access)
    site = request.GET.get("site", "")
    site = site if site in {code for code, _ in sites} else ""
    work = store_matrix.work_list(access, timezone.localdate(), clock.now(), site=site)
    context = {
        "work": work,
        "sites": sites,
        "site": site,
        "verdict_labels": VERDICT_LABELS,
    }
    return render_study_page(request, "pages/home/work_list.html", access, "work-list", context)


# ------------------------------------------------------------------ the matrix's context


def _site_choices(access: Access) -> list[tuple[str, str]]:
    return list(access.sites().order_by("code").values_list("code", "name"))


def _matrix_context(request: HttpRequest, access: Access) -> dict[str, Any]:
    key = study_key(access.study)
    sites = _site_choices(access)
    query = MatrixQuery.from_params(request.GET, [code for code, _ in sites])
    matrix = store_matrix.subject_matrix(access, query, timezone.localdate())
    home = reverse("pages:study-home", args=[key])
    partial = reverse("pages:subject-matrix", args=[key])

    def link(**changes: object) -> dict[str, str]:
        params = urlencode(query.params(**changes))
        suffix = f"?{params}" if params else ""
        return {"href": home + suffix, "hx": partial + suffix}

    return {
        "matrix": matrix,
        "query": query,
        "sites": sites,
        "statuses": list(STATUS_LABELS.items()),
        "status_labels": STATUS_LABELS,
        "rows": _rows(matrix, key),
        "sort_links": _sort_links(query, link),
        "previous_link": link(page=matrix.page - 1) if matrix.page > 1 else None,
        "next_link": link(page=matrix.page + 1) if matrix.page < matrix.pages else None,
        "legend": list(CELL_LOOKS.values()),
        "sdv_legend": list(SDV_LOOKS.values()),
        "page_url": link(page=matrix.page)["href"],
        "matrix_url": partial,
        "home_url": home,
    }


def _sort_links(query: MatrixQuery, link: Any) -> dict[str, dict[str, Any]]:
    """Per sortable column: its links (ascending, or descending when it is the current
    ascending sort) and its `aria-sort`."""
    links = {}
    for name in SORTS:
        current = query.sort.removeprefix("-") == name
        descending = query.sort.startswith("-")
        target = f"-{name}" if current and not descending else name
        links[name] = {
            **link(sort=target, page=1),
            "label": SORT_LABELS[name],
            "aria_sort": ("descending" if descending else "ascending") if current else "none",
        }
    return links


#: Stands for the subject code in a visit URL reversed once per visit column.
CODE_SLOT = "__subject_code__"
CELL_HTML = (
    '<td class="cell {css}" data-state="{state}"{sdv_state}><a href="{{url}}" title="{text}">'
    '<span aria-hidden="true">{icon}</span>{sdv_mark}'
    '<span class="visually-hidden">{text}</span></a></td>'
)
#: A cell's SDV mark, in its corner; its words are in the cell's text.
SDV_HTML = '<span class="sdv-mark {css}" aria-hidden="true">{icon}</span>'


def _rows(matrix: SubjectMatrix, key: str) -> list[dict[str, Any]]:
    """The matrix's rows for the template, each row's cells as one piece of HTML: the text of
    each (visit, state, SDV state) is made and escaped once per page, not once per cell (400
    cells on a page of 50 subjects x 8 visits)."""
    visit_urls = {
        visit.visit_id: reverse("pages:visit", args=[key, CODE_SLOT, visit.visit_id])
        for visit in matrix.visits
    }
    fragments: dict[tuple[str, Any, Any], str] = {}

    def fragment(label: str, state: Any, sdv: Any) -> str:
        found = fragments.get((label, state, sdv))
        if found is None:
            look, sdv_look = CELL_LOOKS[state], SDV_LOOKS.get(sdv)
            text, sdv_state, sdv_mark = f"{label}: {look.label}", "", ""
            if sdv_look is not None:
                text = f"{text}; {sdv_look.label}"
                sdv_state = f' data-sdv="{escape(sdv.value)}"'
                sdv_mark = SDV_HTML.format(css=sdv_look.css, icon=escape(sdv_look.icon))
            found = CELL_HTML.format(
                css=look.css,
                state=escape(state.value),
                sdv_state=sdv_state,
                sdv_mark=sdv_mark,
                text=escape(text),
                icon=escape(look.icon),
            )
            fragments[(label, state, sdv)] = found
        return found

    rows = []
    for row in matrix.rows:
        code = quote(row.code, safe="")
        cells = "".join(
            fragment(cell.label, cell.state, cell.sdv).replace(
                "{url}", escape(visit_urls[cell.visit_id].replace(CODE_SLOT, code))
            )
            for cell in row.cells
        )
        rows.append(
            {
                "row": row,
                "url": reverse("pages:subject", args=[key, row.code]),
                "status": STATUS_LABELS.get(row.status, row.status),
                "cells_html": mark_safe(cells),  # noqa: S308 - every part escaped above
            }
        )
    return rows
