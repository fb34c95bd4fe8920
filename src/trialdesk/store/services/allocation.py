"""Randomization, treatment administrations and emergency unblinding.

A subject takes the lowest free slot of its stratum. The transaction locks the audit head
first and the stratum row second (`SELECT ... FOR UPDATE` on PostgreSQL; on SQLite the
`BEGIN IMMEDIATE` transaction already holds the database's write lock), so under any
concurrency no slot is used twice and none is skipped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trialdesk.errors import BadInput
from trialdesk.schedule import visit_calendar
from trialdesk.store.audit import audited_state, audited_write
from trialdesk.store.errors import AllocationListExhausted, SubjectStateError
from trialdesk.store.lifecycle import RANDOMIZED_STATUSES, SubjectStatus, check_transition
from trialdesk.store.models import (
    Allocation,
    AllocationSlot,
    Kit,
    Stratum,
    Study,
    Subject,
    UnblindingEvent,
)
from trialdesk.store.permissions import Step, require
from trialdesk.store.screening import screening_items, study_criteria
from trialdesk.store.services.common import (
    find_subject,
    move_subject,
    require_reason,
    writable_study,
)
from trialdesk.store.services.setup import stratum_key
from trialdesk.store.services.visits import (
    checked_past_date,
    review_visit_window,
    schedule_visits,
)

if TYPE_CHECKING:
    from trialdesk.protocol import Protocol
    from trialdesk.store.audit import AuditTrail


@dataclass(frozen=True)
class Randomization:
    """What randomizing tells the site: blinded, so no arm."""

    subject: str
    randomization_number: str
    kit_numbers: tuple[int, ...]


def randomize_subject(study: Study, code: str, by: str) -> Randomization:
    """Allocate an eligible subject to the lowest free slot of its stratum.

    Eligibility is evaluated again on the current screening data and the last attestations,
    so a value corrected after the eligibility decision cannot slip through.
    """
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        require(study, by, Step.RANDOMIZE, subject.site)
        check_transition(code, subject.status, SubjectStatus.RANDOMIZED, "randomization")
        protocol = study.protocol()
        items = screening_items(protocol, subject)
        attestations = (
            subject.eligibility.order_by("-pk").values_list("attestations", flat=True).first() or {}
        )
        verdict = study_criteria(study).evaluate(items, attestations).verdict
        if verdict != "eligible":
            raise SubjectStateError(
                f"subject {code}: randomization refused, eligibility on the current screening "
                f"data is {verdict}; evaluate eligibility again"
            )
        key = stratum_key(_stratum_of(protocol, subject, items))
        stratum = Stratum.objects.select_for_update().filter(study=study, key=key).first()
        if stratum is None:
            raise BadInput(f"subject {code}: {study} has no allocation list for stratum {key}")
        slot = (
            AllocationSlot.objects.filter(stratum=stratum, allocation__isnull=True)
            .order_by("seq")
            .first()
        )
        if slot is None:
            raise AllocationListExhausted(f"{study}: stratum {key} has no free slot left")
        slot.stratum = stratum  # the row just locked: the audited state reads its key
        allocation = Allocation.objects.create(
            subject=subject,
            slot=slot,
            randomization_number=f"R{stratum.number:02d}-{slot.seq:03d}",
            allocated_at=trail.at,
        )
        trail.created(allocation, "subject.randomized")
        move_subject(trail, subject, SubjectStatus.RANDOMIZED, "randomization")
        kit_numbers = tuple(
            slot.kits.order_by("administration_index").values_list("kit_number", flat=True)
        )
    return Randomization(code, allocation.randomization_number, kit_numbers)


def _stratum_of(
    protocol: Protocol, subject: Subject, items: dict[str, Any]
) -> tuple[tuple[str, str], ...]:
    from trialdesk.randomization.scheme import SITE_FACTOR

    randomization = protocol.randomization
    assert randomization is not None  # create_study refuses a protocol without one
    levels: list[tuple[str, str]] = []
    if randomization.stratify_by_site:
        levels.append((SITE_FACTOR, subject.site.code))
    for factor in randomization.stratification_factors:
        value = items.get(factor.item)
        level = str(value) if value is not None else None
        if level not in factor.levels:
            raise BadInput(
                f"subject {subject.code}: stratification factor {factor.id} reads item "
                f"{factor.item} = {value!r}; expected one of {', '.join(factor.levels)}"
            )
        levels.append((factor.id, level))
    return tuple(levels)


def record_administration(
    study: Study, code: str, administration_id: str, administered_on: dt.date, by: str
) -> int:
    """Record a treatment administration with the subject's kit for it; returns the kit number.

    The first administration is day 0: it sets the visit calendar and makes the subject
    treated; the last one of the treatment plan moves the subject to follow-up.
    """
    where = f"subject {code}, administration {administration_id}"
    administered_on = checked_past_date(where, "administration date", administered_on)
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        require(study, by, Step.ADMINISTER, subject.site)
        protocol = study.protocol()
        plan = protocol.treatment_plan
        index = next((i for i, a in enumerate(plan, 1) if a.id == administration_id), None)
        if index is None:
            known = ", ".join(a.id for a in plan)
            raise BadInput(f"subject {code}: no administration {administration_id!r} ({known})")
        if subject.status not in (SubjectStatus.RANDOMIZED, SubjectStatus.TREATED):
            raise SubjectStateError(
                f"subject {code} is {subject.status}; administrations are recorded for "
                "randomized or treated subjects"
            )
        # The kits reserved for the subject's slot, one per administration; only this service
        # dispenses them, so those dispensed are the administrations given.
        kits = {
            kit.administration_index: kit
            # With its slot and stratum: the audit trail names the kit's slot.
            for kit in Kit.objects.select_related("slot__stratum").filter(
                slot__allocation__subject=subject
            )
        }
        given = sum(kit.dispensed_to_id is not None for kit in kits.values())
        if index != given + 1:
            expected = plan[given].id if given < len(plan) else "none"
            raise SubjectStateError(
                f"subject {code}: administration {administration_id} is out of order; "
                f"the next one is {expected}"
            )
        if administered_on < subject.screened_on:
            raise BadInput(
                f"{where}: administration date {administered_on} is before screening "
                f"({subject.screened_on})"
            )
        if subject.day0 is not None and administered_on < subject.day0:
            raise BadInput(f"subject {code}: {administered_on} is before day 0 ({subject.day0})")
        kit = kits[index]
        before = audited_state(kit)
        kit.dispensed_to = subject
        kit.administration_id = administration_id
        kit.administered_on = administered_on
        kit.save(update_fields=["dispensed_to", "administration_id", "administered_on"])
        trail.changed(kit, before, "treatment.administered")
        if index == 1:
            before = audited_state(subject)
            subject.day0 = administered_on
            subject.save(update_fields=["day0"])
            trail.changed(subject, before, "subject.day0")
            _schedule_visits(trail, protocol, subject)
            move_subject(trail, subject, SubjectStatus.TREATED, "first administration")
        if index == len(plan):
            move_subject(trail, subject, SubjectStatus.IN_FOLLOW_UP, "last administration")
    return kit.kit_number


def _schedule_visits(trail: AuditTrail, protocol: Protocol, subject: Subject) -> None:
    """Target dates and windows of every visit from day 0 (the schedule core's calendar).

    A visit recorded before day 0 was known (a baseline visit) is checked against its window
    now, which may record its out-of-window deviation; so is the screening visit, whose window
    now ends on day 0 at the latest.
    """
    windows = visit_calendar(protocol.visits, subject.day0, subject.screened_on)
    visits = schedule_visits(trail, subject, windows, "visit.scheduled")
    for visit, window in zip(visits, windows, strict=True):
        if visit.actual_date is not None:
            review_visit_window(trail, subject, visit, window)


def unblind_subject(study: Study, code: str, reason: str, by: str) -> str:
    """Emergency unblinding of one subject by an investigator: returns the arm id.

    The audit trail records who, when and why, never the arm.
    """
    reason = require_reason(reason, f"unblinding subject {code}")
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        user = require(study, by, Step.UNBLIND, subject.site)
        if subject.status not in RANDOMIZED_STATUSES:
            raise SubjectStateError(f"subject {code} is {subject.status}: not randomized")
        event = UnblindingEvent.objects.create(
            subject=subject, user=user, reason=reason, unblinded_at=trail.at
        )
        trail.created(event, "subject.unblinded", reason)
        return Allocation.objects.select_related("slot").get(subject=subject).slot.arm
