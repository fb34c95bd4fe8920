"""The safety pages' rules: the AE vocabularies with their labels in the user's language, the
AE form read into the service's values, the SAE clock, the SAE reports a user sees, the status
steps a subject can take and the deviation kinds offered.

The vocabularies are the adverse event's declared codes and labels
(`trialdesk.records.adverse_event`): CTCAE grades 1-5, the ICH E2A seriousness criteria,
WHO-UMC causality, CDISC action taken (AEACN) and outcome (AEOUT).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from trialdesk.records.adverse_event import ADVERSE_EVENT, TERM_LENGTH
from trialdesk.store.access import Access
from trialdesk.store.calendar import open_sae_reports, overdue_sae_reports
from trialdesk.store.lifecycle import TRANSITIONS, SubjectStatus
from trialdesk.store.models import AdverseEvent, Subject
from trialdesk.store.permissions import STEP_ROLES, Step
from trialdesk.store.services.safety import REPORTED_FIELDS
from trialdesk.store.services.visits import DEVIATION_KIND


def _vocabulary(name: str) -> tuple[tuple[Any, Any], ...]:
    """A declared field's codes with their labels in the user's language (the labels'
    translations are in `trialdesk/records/locale`)."""
    return tuple((code.value, gettext_lazy(code.label)) for code in ADVERSE_EVENT[name].codes)


#: CTCAE v5.0's general meaning of each grade.
CTCAE_GRADES = _vocabulary("ctcae_grade")
#: ICH E2A: a serious adverse event is one that ...
SERIOUSNESS = _vocabulary("seriousness")
#: WHO-UMC causality categories (relation to the study treatment).
RELATEDNESS = _vocabulary("relatedness")
#: Whether the event is expected by the reference safety information; None: unknown. The
#: form's codes are the declared codes' names (expected, unexpected), then unknown.
EXPECTEDNESS = (
    *(
        (code.name, code.value, gettext_lazy(code.label))
        for code in ADVERSE_EVENT["expected"].codes
    ),
    ("unknown", None, gettext_lazy("Unknown")),
)
#: CDISC AEACN: action taken with the study treatment.
ACTION_TAKEN = _vocabulary("action_taken")
#: CDISC AEOUT: outcome of the event.
OUTCOME = _vocabulary("outcome")
#: The protocol deviations site staff record most (`kind` codes); `other` for the rest.
DEVIATION_KINDS = (
    ("informed_consent", gettext_lazy("Informed consent")),
    ("eligibility", gettext_lazy("Eligibility criteria not met")),
    ("dosing_error", gettext_lazy("Study treatment or dosing error")),
    ("prohibited_medication", gettext_lazy("Prohibited medication")),
    ("procedure_not_done", gettext_lazy("Protocol procedure not done")),
    ("visit_schedule", gettext_lazy("Visit schedule")),
    ("blinding", gettext_lazy("Blinding")),
    ("other", gettext_lazy("Other")),
)
#: The status steps of these pages: withdrawal and loss to follow-up.
STATUS_STEPS = (
    (SubjectStatus.WITHDRAWN, gettext_lazy("Withdrawal from the study")),
    (SubjectStatus.LOST_TO_FOLLOW_UP, gettext_lazy("Lost to follow-up")),
)

#: A subject's status, as the pages name it.
SUBJECT_STATUSES = (
    ("screened", gettext_lazy("Screened")),
    ("screen_failed", gettext_lazy("Screen failure")),
    ("consented", gettext_lazy("Consented")),
    ("eligible", gettext_lazy("Eligible")),
    ("randomized", gettext_lazy("Randomised")),
    ("treated", gettext_lazy("Treated")),
    ("in_follow_up", gettext_lazy("In follow-up")),
    ("completed", gettext_lazy("Completed")),
    ("withdrawn", gettext_lazy("Withdrawn")),
    ("lost_to_follow_up", gettext_lazy("Lost to follow-up")),
)

#: How a `datetime-local` input sends its value.
LOCAL_INPUT = "%Y-%m-%dT%H:%M"
LONGEST_DESCRIPTION = 4000

#: The fields of an adverse event the page reads: those the service takes.
AE_FIELDS = REPORTED_FIELDS


def label_of(vocabulary: tuple[tuple[Any, Any], ...], code: Any) -> str:
    """The label of `code` in the user's language (the code itself if unknown)."""
    return next((str(label) for value, label in vocabulary if value == code), str(code))


def expectedness_code(expected: bool | None) -> str:
    return next(code for code, value, _label in EXPECTEDNESS if value is expected)


# ---------------------------------------------------------------- reading the forms


def local_input(moment: dt.datetime | None) -> str:
    """A `datetime-local` value for `moment` in the user's time zone ("" for none)."""
    if moment is None:
        return ""
    return timezone.localtime(moment).strftime(LOCAL_INPUT)


def now_input() -> str:
    return local_input(timezone.now().replace(second=0, microsecond=0))


def today_input() -> str:
    return timezone.localdate().isoformat()


def parse_local_time(text: str) -> dt.datetime | None:
    """A `datetime-local` value as an aware time in the user's time zone; None if malformed."""
    try:
        naive = dt.datetime.strptime(text.strip(), LOCAL_INPUT)
    except ValueError:
        try:
            naive = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            return None
        if naive.tzinfo is not None:
            return naive
    return timezone.make_aware(naive, timezone.get_current_timezone())


def parse_date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        return None


@dataclass
class Entry:
    """A form as typed (`typed`, to show again), read into `values`, with `errors` by field
    in the user's language."""

    typed: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors


def typed_adverse_event(event: AdverseEvent | None) -> dict[str, Any]:
    """The AE form's inputs for a saved event (or a new one: awareness now)."""
    if event is None:
        return {"seriousness": [], "awareness_at": now_input()}
    return {
        "term": event.term,
        "onset_date": event.onset_date.isoformat(),
        "end_date": event.end_date.isoformat() if event.end_date else "",
        "ctcae_grade": str(event.ctcae_grade),
        "seriousness": list(event.seriousness),
        "relatedness": event.relatedness,
        "expected": expectedness_code(event.expected),
        "action_taken": event.action_taken,
        "outcome": event.outcome,
        "awareness_at": local_input(event.awareness_at),
    }


def read_adverse_event(data: Mapping[str, Any]) -> Entry:
    """The AE form (a QueryDict) read into `report_adverse_event`'s keyword values; each field
    the page can check itself gets its error here, the rest is the service's to refuse."""
    typed = {name: data.get(name, "") for name in AE_FIELDS if name != "seriousness"}
    typed["seriousness"] = data.getlist("seriousness") if hasattr(data, "getlist") else []
    entry = Entry(typed)
    values, errors = entry.values, entry.errors
    term = typed["term"].strip()
    if not term:
        errors["term"] = _("Term: enter the adverse event as the investigator names it.")
    elif len(term) > TERM_LENGTH:
        errors["term"] = _("Term: at most %(count)d characters.") % {"count": TERM_LENGTH}
    values["term"] = term
    onset = parse_date(typed["onset_date"])
    if onset is None:
        errors["onset_date"] = _("Onset date: enter a date.")
    values["onset_date"] = onset
    end = None
    if typed["end_date"].strip():
        end = parse_date(typed["end_date"])
        if end is None:
            errors["end_date"] = _("End date: enter a date, or leave it empty while ongoing.")
        elif onset is not None and end < onset:
            errors["end_date"] = _("End date: it cannot be before the onset date.")
    values["end_date"] = end
    grades = {str(grade): grade for grade, _label in CTCAE_GRADES}
    if typed["ctcae_grade"] not in grades:
        errors["ctcae_grade"] = _("CTCAE grade: choose a grade from 1 to 5.")
    values["ctcae_grade"] = grades.get(typed["ctcae_grade"])
    criteria = {code for code, _label in SERIOUSNESS}
    if not set(typed["seriousness"]) <= criteria:
        errors["seriousness"] = _("Seriousness: choose among the criteria listed.")
    values["seriousness"] = [code for code, _label in SERIOUSNESS if code in typed["seriousness"]]
    for name, vocabulary, message in (
        ("relatedness", RELATEDNESS, _("Relatedness: choose one of the categories.")),
        ("action_taken", ACTION_TAKEN, _("Action taken: choose one.")),
        ("outcome", OUTCOME, _("Outcome: choose one.")),
    ):
        if typed[name] not in {code for code, _label in vocabulary}:
            errors[name] = message
        values[name] = typed[name]
    expected = {code: value for code, value, _label in EXPECTEDNESS}
    if typed["expected"] not in expected:
        errors["expected"] = _("Expectedness: choose expected, unexpected or unknown.")
    values["expected"] = expected.get(typed["expected"])
    awareness = parse_local_time(typed["awareness_at"])
    if awareness is None:
        errors["awareness_at"] = _("Awareness: enter the date and time the site learnt of it.")
    elif awareness > timezone.now():
        errors["awareness_at"] = _("Awareness: it cannot be in the future.")
    values["awareness_at"] = awareness
    if not errors:
        fatal = (
            values["ctcae_grade"] == 5,
            values["outcome"] == "fatal",
            "death" in values["seriousness"],
        )
        if any(fatal) and not all(fatal):
            errors["ctcae_grade"] = _(
                "CTCAE grade 5, outcome fatal and the seriousness criterion death go together."
            )
    return entry


def changed_fields(event: AdverseEvent, values: dict[str, Any]) -> dict[str, Any]:
    """The fields whose value differs from the saved event's (what `update_adverse_event`
    is given)."""
    return {name: value for name, value in values.items() if getattr(event, name) != value}


def read_reason(data: Mapping[str, Any], entry: Entry, name: str = "reason") -> str:
    reason = str(data.get(name, "")).strip()
    entry.typed[name] = reason
    if not reason:
        entry.errors[name] = _("Reason: say why (it is kept in the audit trail).")
    return reason


# ---------------------------------------------------------------- the SAE clock


@dataclass(frozen=True)
class SaeClock:
    """A serious event's expedited report: when it is due, and where it stands at `now`."""

    due_at: dt.datetime
    reported_at: dt.datetime | None
    now: dt.datetime

    @property
    def overdue(self) -> bool:
        """Not reported and past its due time."""
        return self.reported_at is None and self.now > self.due_at

    @property
    def reported_late(self) -> bool:
        return self.reported_at is not None and self.reported_at > self.due_at

    @property
    def state(self) -> str:
        """reported, late (reported after the due time), overdue or open."""
        if self.reported_at is not None:
            return "late" if self.reported_late else "reported"
        return "overdue" if self.overdue else "open"

    @property
    def hours_minutes(self) -> tuple[int, int]:
        """Time left (open) or past due (overdue), in whole hours and minutes."""
        minutes = int(abs((self.due_at - self.now).total_seconds()) // 60)
        return divmod(minutes, 60)


def sae_clock(event: AdverseEvent, now: dt.datetime | None = None) -> SaeClock | None:
    """The clock of a serious event (None for a non-serious one): its due time is the
    store's (awareness plus the protocol's `sae_reporting_hours`)."""
    if event.report_due_at is None:
        return None
    return SaeClock(event.report_due_at, event.reported_at, now or timezone.now())


@dataclass(frozen=True)
class SaeReportRow:
    event: AdverseEvent
    clock: SaeClock


def outstanding_sae_reports(access: Access, now: dt.datetime | None = None) -> list[SaeReportRow]:
    """The serious events of the subjects the user reads whose report is not sent: overdue
    ones first (oldest due first), then the open ones (soonest due first)."""
    now = now or timezone.now()
    readable = set(access.subjects().values_list("pk", flat=True))
    events = overdue_sae_reports(access.study, now) + open_sae_reports(access.study, now)
    return [
        SaeReportRow(event, SaeClock(event.report_due_at, None, now))
        for event in events
        if event.subject_id in readable
    ]


# ---------------------------------------------------------------- who may, and what can


def may_report_adverse_events(access: Access, subject: Subject) -> bool:
    return access.may(STEP_ROLES[Step.REPORT_ADVERSE_EVENT], subject.site_id)


def may_record_deviation(access: Access, subject: Subject) -> bool:
    return access.may(STEP_ROLES[Step.RECORD_DEVIATION], subject.site_id)


def may_change_status(access: Access, subject: Subject) -> bool:
    return access.may(STEP_ROLES[Step.CHANGE_STATUS], subject.site_id)


def may_unblind(access: Access, subject: Subject) -> bool:
    """Whether the emergency unblinding form is offered; the service decides."""
    return access.may(STEP_ROLES[Step.UNBLIND], subject.site_id)


def status_steps(subject: Subject) -> list[tuple[str, str]]:
    """The steps of `STATUS_STEPS` the subject's lifecycle allows now (code, label)."""
    allowed = TRANSITIONS[SubjectStatus(subject.status)]
    return [(status.value, str(label)) for status, label in STATUS_STEPS if status in allowed]


def read_deviation(data: Mapping[str, Any], visit_ids: list[str]) -> Entry:
    """The deviation form read into `record_deviation`'s values."""
    typed = {name: str(data.get(name, "")) for name in ("kind", "description", "detected_on")}
    typed["visit_id"] = str(data.get("visit_id", ""))
    entry = Entry(typed)
    kinds = {code for code, _label in DEVIATION_KINDS}
    if typed["kind"] not in kinds or not DEVIATION_KIND.fullmatch(typed["kind"]):
        entry.errors["kind"] = _("Kind: choose the kind of deviation.")
    entry.values["kind"] = typed["kind"]
    description = typed["description"].strip()
    if not description:
        entry.errors["description"] = _("Description: say what happened.")
    elif len(description) > LONGEST_DESCRIPTION:
        entry.errors["description"] = _("Description: at most %(count)d characters.") % {
            "count": LONGEST_DESCRIPTION
        }
    entry.values["description"] = description
    detected = parse_date(typed["detected_on"])
    if detected is None:
        entry.errors["detected_on"] = _("Date: enter the date the deviation was found.")
    elif detected > timezone.localdate():
        entry.errors["detected_on"] = _("Date: it cannot be in the future.")
    entry.values["detected_on"] = detected
    if typed["visit_id"] and typed["visit_id"] not in visit_ids:
        entry.errors["visit_id"] = _("Visit: choose a visit of the protocol, or none.")
    entry.values["visit_id"] = typed["visit_id"] or None
    return entry


def arm_label(access: Access, arm: str) -> str:
    """The protocol's label of an arm id."""
    return next((a.label for a in access.study.protocol().arms if a.id == arm), arm)
