"""Where source data verification (SDV) stands, read through an `Access` only: per form
record the items the study's SDV plan requires (`trialdesk.monitoring.sdv`), those verified,
those whose verification was reset by a change (to verify again), and a state:

    not required     the plan asks for none of the record's items
    to verify        it asks for some and none is verified as its value stands
    partly verified  some are, not all
    verified         all are

An item counts as verified when its verification was not reset and holds the value the
record holds now. A visit (a cell of the subject matrix) and a subject combine their
records the same way, over all the items their records require. Every read here is a fixed
number of queries, whatever the number of subjects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import reduce
from operator import or_
from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet

from trialdesk.monitoring.sdv import items_to_verify, rule_for
from trialdesk.store.audit import canonical_json
from trialdesk.store.errors import NotFound
from trialdesk.store.models import FormRecord, ItemVerification, Study, Subject

if TYPE_CHECKING:
    from trialdesk.protocol.sdv_plan import SdvPlan
    from trialdesk.store.access import Access


class SdvState(StrEnum):
    NOT_REQUIRED = "not_required"
    TO_VERIFY = "to_verify"
    PARTLY_VERIFIED = "partly_verified"
    VERIFIED = "verified"


def sdv_state(required: int, verified: int) -> SdvState:
    """The state of `required` items of which `verified` are verified."""
    if not required:
        return SdvState.NOT_REQUIRED
    if not verified:
        return SdvState.TO_VERIFY
    return SdvState.VERIFIED if verified >= required else SdvState.PARTLY_VERIFIED


@dataclass(frozen=True)
class ItemSdv:
    """One item with a saved value: whether the plan requires it, and its last verification
    (`verified` only while it holds; `reset_at` when a change reset it)."""

    item: str
    required: bool
    verified: bool
    verified_by: str = ""
    verified_at: dt.datetime | None = None
    reset_at: dt.datetime | None = None

    @property
    def to_verify_again(self) -> bool:
        """Verified once, and the value changed since."""
        return self.verified_at is not None and not self.verified


@dataclass(frozen=True)
class FormSdv:
    code: str
    site: str
    visit_id: str
    form: str
    items: tuple[ItemSdv, ...]

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(item.item for item in self.items if item.required)

    @property
    def verified(self) -> tuple[str, ...]:
        """The required items verified (an item verified beyond the plan is not counted)."""
        return tuple(item.item for item in self.items if item.required and item.verified)

    @property
    def reset(self) -> tuple[str, ...]:
        """Items whose verification a change reset: to verify again."""
        return tuple(item.item for item in self.items if item.to_verify_again)

    @property
    def state(self) -> SdvState:
        return sdv_state(len(self.required), len(self.verified))


# ------------------------------------------------------------------ the plan's subjects


def first_subject_ids(study: Study, plan: SdvPlan | None, sites: Iterable[str]) -> set[int]:
    """The subjects (pks) among their site's first `first_subjects` of the site's rule, in
    the order they were screened (the screening date, then the order of entry), at the
    `sites` given (site codes); one query, none when no rule counts first subjects. All the
    site's subjects count, whoever reads.

    Each site's first subjects are one subquery on the index of (site, screening date): a
    page of the subject matrix asks for its own sites' only, not a rank of every subject."""
    if plan is None:
        return set()
    counted = [(code, rule_for(plan, code).first_subjects) for code in set(sites)]
    firsts = [
        Q(
            pk__in=Subject.objects.filter(study=study, site__code=code)
            .order_by("screened_on", "pk")
            .values("pk")[:count]
        )
        for code, count in sorted(counted)
        if count
    ]
    if not firsts:
        return set()
    return set(Subject.objects.filter(reduce(or_, firsts)).values_list("pk", flat=True))


@dataclass(frozen=True)
class _Verification:
    value: str
    by: str
    at: dt.datetime
    reset_at: dt.datetime | None


def _verifications(chosen: QuerySet[ItemVerification]) -> dict[int, dict[str, _Verification]]:
    """Record pk -> item -> its verification, of the `chosen` verifications (one query)."""
    found: dict[int, dict[str, _Verification]] = {}
    rows = chosen.values_list(
        "record_id", "item", "value", "verified_by__username", "verified_at", "reset_at"
    )
    for record, item, value, by, at, reset_at in rows:
        found.setdefault(record, {})[item] = _Verification(value, by, at, reset_at)
    return found


def record_sdv(
    plan: SdvPlan | None,
    among_first: bool,
    code: str,
    site: str,
    visit_id: str,
    form: str,
    values: Mapping[str, Any],
    verifications: Mapping[str, _Verification],
) -> FormSdv:
    """One record's SDV from its saved values and its items' verifications."""
    saved = [item for item, value in values.items() if value is not None]
    required = set(items_to_verify(rule_for(plan, site), among_first, code, visit_id, form, saved))
    items = []
    for item in saved:
        verification = verifications.get(item)
        if verification is None:
            items.append(ItemSdv(item, item in required, False))
            continue
        items.append(
            ItemSdv(
                item,
                item in required,
                _holds(verification, values[item]),
                verification.by,
                verification.at,
                verification.reset_at,
            )
        )
    return FormSdv(code, site, visit_id, form, tuple(items))


def _holds(verification: _Verification, value: Any) -> bool:
    """A verification holds while it was not reset and the item still has the value verified."""
    return verification.reset_at is None and verification.value == canonical_json(value)


def _records_sdv(access: Access, records: QuerySet[FormRecord]) -> list[FormSdv]:
    """The SDV of form records (a FormRecord queryset of subjects `access` reads), in
    three queries at most: the records, their verifications, the plan's first subjects."""
    plan = access.study.protocol().sdv_plan
    rows = list(
        records.values_list(
            "pk",
            "subject_id",
            "subject__code",
            "subject__site__code",
            "visit__visit_id",
            "form",
            "values",
        )
    )
    if not rows:
        return []
    first = first_subject_ids(access.study, plan, {row[3] for row in rows})
    verifications = _verifications(
        ItemVerification.objects.filter(record__in=records.order_by().values("pk"))
    )
    return [
        record_sdv(
            plan, subject in first, code, site, visit, form, values, verifications.get(pk, {})
        )
        for pk, subject, code, site, visit, form, values in rows
    ]


# ------------------------------------------------------------------ reads for people


def form_sdv(access: Access, code: str, visit_id: str, form: str) -> FormSdv:
    """The SDV of one saved form of a subject the user reads (NotFound otherwise)."""
    subject = access.subject(code)
    records = FormRecord.objects.filter(subject=subject, visit__visit_id=visit_id, form=form)
    found = _records_sdv(access, records)
    if not found:
        raise NotFound(f"subject {code}, visit {visit_id}: form {form!r} is not entered")
    return found[0]


def subject_sdv(access: Access, code: str) -> list[FormSdv]:
    """The SDV of each saved form of a subject the user reads, visit by visit."""
    subject = access.subject(code)
    records = FormRecord.objects.filter(subject=subject).order_by("visit__target_date", "pk")
    return _records_sdv(access, records)


def combined_state(records: Iterable[FormSdv]) -> SdvState:
    """A visit's or a subject's state over all the items its records require."""
    required = verified = 0
    for record in records:
        required += len(record.required)
        verified += len(record.verified)
    return sdv_state(required, verified)


def needs_sdv(access: Access, site: str = "") -> list[FormSdv]:
    """The saved forms of the user's subjects (of `site`, a site code, when given) that the
    plan asks to verify and are not verified (to verify or partly verified), by site,
    subject and visit; three queries, which read the values of every saved form of those
    subjects (what an item's verification is compared with)."""
    subjects = access.subjects()
    if site:
        subjects = subjects.filter(site__code=site)
    records = FormRecord.objects.filter(subject__in=subjects.values("pk")).order_by(
        "subject__site__code", "subject__code", "visit__target_date", "pk"
    )
    waiting = (SdvState.TO_VERIFY, SdvState.PARTLY_VERIFIED)
    return [record for record in _records_sdv(access, records) if record.state in waiting]


def sdv_counts(access: Access) -> dict[str, int]:
    """Site code -> how many of the user's subjects' saved forms need verification."""
    counts: dict[str, int] = {}
    for record in needs_sdv(access):
        counts[record.site] = counts.get(record.site, 0) + 1
    return counts


# ------------------------------------------------------------------ the subject matrix


def visit_states(
    study: Study,
    subjects: Mapping[int, tuple[str, str]],
    records: Iterable[tuple[int, int, str, Any]],
    visit_ids: Mapping[int, tuple[int, str]],
) -> dict[tuple[int, str], SdvState]:
    """(subject pk, visit id) -> the SDV state of the visit's saved forms, for the matrix,
    from what it has read: `subjects` pk -> (code, site code) of the page, `records` (pk,
    visit pk, form, `FormRecord.saved_items`) of their form records, `visit_ids` visit pk
    -> (subject pk, visit id). Two queries, the verifications and the plan's first
    subjects, and a third for the values of the records that have verifications.

    It counts what `record_sdv` would find, without reading every record's values or
    building each item's state: a page of the matrix holds about a thousand records
    (bench/web.py)."""
    records = list(records)
    if not records:
        return {}
    plan = study.protocol().sdv_plan
    first = first_subject_ids(study, plan, {site for _, site in subjects.values()})
    verifications = _verifications(ItemVerification.objects.filter(subject_id__in=list(subjects)))
    verified_values = dict(
        FormRecord.objects.filter(pk__in=list(verifications)).values_list("pk", "values")
        if verifications
        else ()
    )
    totals: dict[tuple[int, str], list[int]] = {}
    for pk, visit, form, saved in records:
        subject, visit_id = visit_ids[visit]
        code, site = subjects[subject]
        required = items_to_verify(
            rule_for(plan, site),
            subject in first,
            code,
            visit_id,
            form,
            saved.split(",") if saved else (),
        )
        verified = verifications.get(pk)
        total = totals.setdefault((subject, visit_id), [0, 0])
        total[0] += len(required)
        if verified:
            values = verified_values[pk]
            total[1] += sum(
                1 for item in required if item in verified and _holds(verified[item], values[item])
            )
    return {key: sdv_state(required, verified) for key, (required, verified) in totals.items()}
