"""What the subject and visit pages show, read through the user's access: the subject's
summary (the arm only where `access.unblinded` gives it), the calendar with each form's state
for this user, the treatment plan, adverse events and deviations.

The rules (a visit's state, a form's state) are the store's (`trialdesk.store.calendar`); this
module puts them in rows with their words and links.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from trialdesk.errors import TrialdeskError
from trialdesk.schedule import VisitWindow, visit_window
from trialdesk.store.access import Access
from trialdesk.store.calendar import CalendarEntry, FormState, VisitState, form_state
from trialdesk.store.models import AdverseEvent, Deviation, FormDraft, Subject, Visit
from trialdesk.web.api.subjects import subject_detail
from trialdesk.web.pages.context import study_key
from trialdesk.web.pages.home.labels import STATUS_LABELS

#: How each visit state is shown: words and badge class (status is never colour alone).
VISIT_STATES: dict[VisitState, tuple[Any, str]] = {
    VisitState.NOT_SCHEDULED: (pgettext_lazy("visit state", "Not yet scheduled"), "none"),
    VisitState.UPCOMING: (pgettext_lazy("visit state", "Upcoming"), "info"),
    VisitState.DUE: (pgettext_lazy("visit state", "Due"), "warn"),
    VisitState.OVERDUE: (pgettext_lazy("visit state", "Overdue"), "late"),
    VisitState.DONE: (pgettext_lazy("visit state", "Done"), "ok"),
    VisitState.MISSED: (pgettext_lazy("visit state", "Missed"), "none"),
}
FORM_STATES: dict[FormState, tuple[Any, str]] = {
    FormState.NONE: (pgettext_lazy("form state", "Not entered"), "none"),
    FormState.DRAFT: (pgettext_lazy("form state", "Your draft"), "info"),
    FormState.SAVED: (pgettext_lazy("form state", "Saved"), "warn"),
    FormState.COMPLETE: (pgettext_lazy("form state", "Complete"), "ok"),
}
#: The subject statuses as the home pages label them (one set of words).
SUBJECT_STATUSES: dict[str, Any] = STATUS_LABELS
SEXES: dict[str, Any] = {"female": _("Female"), "male": _("Male")}


@dataclass(frozen=True)
class FormCell:
    form: str
    title: str
    state: FormState
    state_label: str
    state_class: str
    url: str


@dataclass(frozen=True)
class CalendarRow:
    entry: CalendarEntry
    state_label: str
    state_class: str
    url: str
    forms: tuple[FormCell, ...]
    #: True for a visit after day 0 without its date: its forms wait for the date
    #: (`save_form` refuses them until then).
    forms_need_date: bool

    @property
    def missable(self) -> bool:
        """True if the visit may be marked missed: its window has opened and it is not
        already missed (`record_missed_visit` refuses the others; a visit with forms is
        refused there, with its reason)."""
        return self.entry.state in (VisitState.DUE, VisitState.OVERDUE, VisitState.DONE)


def form_title(form: str) -> str:
    """The instrument's title (in English, as its definition gives it), or the form id."""
    from trialdesk.instruments import get_instrument

    try:
        return get_instrument(form).title
    except TrialdeskError:
        return form


def calendar_rows(
    access: Access, subject: Subject, calendar: list[CalendarEntry]
) -> list[CalendarRow]:
    """The calendar's rows with each form's state for this user (their own drafts count)."""
    key = study_key(access.study)
    drafted = set(
        FormDraft.objects.filter(user=access.user, subject=subject).values_list("visit_id", "form")
    )
    rows = []
    for entry in calendar:
        cells = []
        for form in entry.planned_forms:
            state = form_state(
                saved=form in entry.entered_forms,
                completed=form in entry.completed_forms,
                drafted=(entry.visit_id, form) in drafted,
            )
            label, css = FORM_STATES[state]
            cells.append(
                FormCell(
                    form,
                    form_title(form),
                    state,
                    str(label),
                    css,
                    reverse("pages:form", args=[key, subject.code, entry.visit_id, form]),
                )
            )
        label, css = VISIT_STATES[entry.state]
        rows.append(
            CalendarRow(
                entry,
                str(label),
                css,
                reverse("pages:visit", args=[key, subject.code, entry.visit_id]),
                tuple(cells),
                entry.day > 0 and entry.actual_date is None,
            )
        )
    return rows


def subject_summary(access: Access, subject: Subject) -> dict[str, Any]:
    """The subject as the API shows it to this user, with words for codes and, where the
    user is unblinded at the subject's site, the arm's label."""
    detail = subject_detail(access, subject)
    detail["status_label"] = SUBJECT_STATUSES.get(subject.status, subject.status)
    detail["sex_label"] = SEXES.get(subject.sex, subject.sex)
    if "arm" in detail:
        arms = {arm.id: arm.label for arm in access.study.protocol().arms}
        detail["arm_label"] = arms.get(detail["arm"], detail["arm"])
    given = {a["administration_id"]: a for a in detail["administrations"]}
    detail["treatment_plan"] = [
        {
            "id": step.id,
            "label": step.label,
            "day": step.day,
            "given": given.get(step.id),
        }
        for step in access.study.protocol().treatment_plan
    ]
    return detail


def adverse_events(subject: Subject) -> list[AdverseEvent]:
    return list(subject.adverse_events.order_by("number"))


def deviations(subject: Subject, visit_id: str | None = None) -> list[Deviation]:
    """The subject's deviations, newest first (withdrawn ones too: they are kept)."""
    found = subject.deviations.select_related("visit")
    if visit_id is not None:
        found = found.filter(visit__visit_id=visit_id)
    return list(found.order_by("-detected_on", "-pk"))


def visit_row(subject: Subject, visit_id: str) -> Visit | None:
    return subject.visits.filter(visit_id=visit_id).first()


@dataclass(frozen=True)
class WindowCheck:
    """What the visit page says of a date before it is saved."""

    #: "inside", "outside", "unknown" (no window yet), or "" for no date.
    verdict: str
    window: VisitWindow
    visit_date: dt.date | None = None
    days: int = 0

    @property
    def early(self) -> bool:
        return self.days < 0

    @property
    def distance(self) -> int:
        return abs(self.days)


def check_window(subject: Subject, plan: Any, visit_date: dt.date | None) -> WindowCheck:
    """Where `visit_date` lies against the visit's window (the one `record_visit` applies)."""
    window = visit_window(plan, subject.day0, subject.screened_on)
    if visit_date is None:
        return WindowCheck("", window)
    if not window.dated:
        return WindowCheck("unknown", window, visit_date)
    days = window.days_outside(visit_date)
    return WindowCheck("outside" if days else "inside", window, visit_date, days)
