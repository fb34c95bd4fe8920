"""How each work queue section is shown: its words, and its items as table rows that link to
the page where the work is done. The items and the rules are `trialdesk.store.work_queues`'."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from trialdesk.store.matrix import VisitItem, WorkSection
from trialdesk.store.work_queues import LockItem, QueryItem, SdvItem, Section, SignatureItem
from trialdesk.web.pages.visits.calendar_rows import form_title


@dataclass(frozen=True)
class SectionWords:
    heading: Any
    hint: Any
    empty: Any
    what: Any
    when: Any
    #: The badge of a section with items: "late" (red), "warn" (amber) or "info" (blue).
    badge: str


WORDS = {
    Section.NEEDS_SIGNATURE: SectionWords(
        gettext_lazy("Needs signature"),
        gettext_lazy(
            "Visits whose forms are all complete, and casebooks of subjects whose "
            "participation has ended, without a valid electronic signature. A signature "
            "broken by a later change is to be signed again."
        ),
        gettext_lazy("Nothing to sign."),
        gettext_lazy("Record"),
        gettext_lazy("Visit date"),
        "warn",
    ),
    Section.OPEN_QUERIES: SectionWords(
        gettext_lazy("Open queries"),
        gettext_lazy("Queries to your site waiting for an answer, oldest first."),
        gettext_lazy("No open queries."),
        gettext_lazy("Query"),
        gettext_lazy("Open since"),
        "late",
    ),
    Section.ANSWERED_QUERIES: SectionWords(
        gettext_lazy("Answered queries"),
        gettext_lazy("Answered by the site, waiting for you to close or re-open them."),
        gettext_lazy("No answered queries."),
        gettext_lazy("Query"),
        gettext_lazy("Answered on"),
        "warn",
    ),
    Section.NEEDS_SDV: SectionWords(
        gettext_lazy("Needs source data verification (SDV)"),
        gettext_lazy(
            "Saved forms with items the SDV plan requires that are not verified as they now "
            "stand; those changed since they were verified first."
        ),
        gettext_lazy("Nothing to verify."),
        gettext_lazy("Form"),
        gettext_lazy("Items to verify"),
        "info",
    ),
    Section.OVERDUE_VISITS: SectionWords(
        gettext_lazy("Overdue visits"),
        gettext_lazy("Visits whose window has ended, neither done nor marked missed."),
        gettext_lazy("No overdue visits."),
        gettext_lazy("Visit"),
        gettext_lazy("Window"),
        "late",
    ),
    Section.FORMS_DUE: SectionWords(
        gettext_lazy("Forms due"),
        gettext_lazy("Visits whose window is open and whose forms are not all complete."),
        gettext_lazy("No forms due."),
        gettext_lazy("Visit"),
        gettext_lazy("Window"),
        "warn",
    ),
    Section.READY_TO_LOCK: SectionWords(
        gettext_lazy("Ready to lock"),
        gettext_lazy(
            "Visits and casebooks complete, verified and signed, with no open or answered "
            "query, not locked yet."
        ),
        gettext_lazy("Nothing ready to lock."),
        gettext_lazy("Record"),
        gettext_lazy("Signed on"),
        "info",
    ),
    Section.SAE_REPORTS_OVERDUE: SectionWords(
        gettext_lazy("SAE reports overdue"),
        gettext_lazy("Serious adverse events whose expedited report is past its deadline."),
        gettext_lazy("No SAE reports overdue."),
        gettext_lazy("Adverse event"),
        gettext_lazy("Report due"),
        "late",
    ),
    Section.SAE_REPORTS_DUE: SectionWords(
        gettext_lazy("SAE reports due"),
        gettext_lazy("Serious adverse events whose expedited report is not sent yet."),
        gettext_lazy("No SAE reports due."),
        gettext_lazy("Adverse event"),
        gettext_lazy("Report due"),
        "warn",
    ),
}


@dataclass(frozen=True)
class Row:
    code: str
    site: str
    subject_url: str
    what: str
    what_url: str
    when: str
    #: A word beside the item (a broken signature, a rule's query), and its badge class.
    flag: str = ""
    flag_css: str = ""
    #: Words under the item: a query's question.
    detail: str = ""


@dataclass(frozen=True)
class ShownSection:
    section: Section
    words: SectionWords
    count: int
    rows: list[Row]

    @property
    def anchor(self) -> str:
        return self.section.value.replace("_", "-")

    @property
    def badge(self) -> str:
        return self.words.badge if self.count else "none"


def shown_sections(key: str, sections: dict[Section, WorkSection]) -> list[ShownSection]:
    return [
        ShownSection(section, WORDS[section], work.count, [_row(key, item) for item in work.items])
        for section, work in sections.items()
    ]


def _date(value: dt.date | None) -> str:
    return formats.date_format(value, "SHORT_DATE_FORMAT") if value else ""


def _moment(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


def _visit_url(key: str, code: str, visit_id: str) -> str:
    return reverse("pages:visit", args=[key, code, visit_id])


def _row(key: str, item: Any) -> Row:
    if isinstance(item, SignatureItem | LockItem | QueryItem | SdvItem | VisitItem):
        code, site = item.code, item.site
    else:  # an AdverseEvent of the SAE sections
        code, site = item.subject.code, item.subject.site.code
    subject_url = reverse("pages:subject", args=[key, code])
    row = {"code": code, "site": site, "subject_url": subject_url}
    if isinstance(item, SignatureItem | LockItem):
        casebook = not item.visit_id
        row["what"] = _("Casebook") if casebook else item.label
        row["what_url"] = subject_url if casebook else _visit_url(key, code, item.visit_id)
        if isinstance(item, SignatureItem):
            row["when"] = _date(item.since)
            if item.broken_at:
                row["flag"] = _("Signature broken %(when)s") % {"when": _moment(item.broken_at)}
                row["flag_css"] = "late"
        else:
            row["when"] = _moment(item.signed_at)
    elif isinstance(item, QueryItem):
        place = [item.label, form_title(item.form) if item.form else "", item.item]
        row["what"] = " · ".join(
            [_("Q%(number)s") % {"number": item.number}] + [p for p in place if p]
        )
        row["what_url"] = reverse("pages:query", args=[key, code, item.number])
        row["when"] = _moment(item.waiting_since)
        row["detail"] = item.question
        if item.rule:
            row["flag"] = _("Edit check %(rule)s") % {"rule": item.rule}
            row["flag_css"] = "info"
    elif isinstance(item, SdvItem):
        row["what"] = f"{item.label} · {form_title(item.form)}"
        row["what_url"] = reverse("pages:form", args=[key, code, item.visit_id, item.form])
        row["when"] = ngettext(
            "%(count)s item to verify", "%(count)s items to verify", item.unverified
        ) % {"count": item.unverified}
        if item.reset:
            row["flag"] = _("Changed since verified")
            row["flag_css"] = "late"
    elif isinstance(item, VisitItem):
        row["what"] = item.label
        row["what_url"] = _visit_url(key, code, item.visit_id)
        row["when"] = _("%(start)s to %(end)s") % {
            "start": _date(item.window_start),
            "end": _date(item.window_end),
        }
    else:
        row["what"] = _("AE %(number)s: %(term)s") % {"number": item.number, "term": item.term}
        row["what_url"] = reverse("pages:ae", args=[key, code, item.number])
        row["when"] = _moment(item.report_due_at)
    return Row(**row)
