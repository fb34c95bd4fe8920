"""What the enrolment pages show and offer: who may take which step where, the treatment
plan's administrations with their kits, the pharmacist's dispensing list and where a missing
eligibility value is entered.

The rules themselves live in the store (`trialdesk.store.permissions` says which roles take a
step, the services decide whether a step is possible now); this module only reads them, through
the user's `Access`, so a page offers a button exactly to those whose step the service would
accept. Arms are read only through `access.kits` and `access.unblinded`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.urls import reverse

from trialdesk.store.eligibility_panel import CriterionRow, ItemSource
from trialdesk.store.lifecycle import SubjectStatus
from trialdesk.store.models import Allocation, Kit, Site, Subject
from trialdesk.store.permissions import STEP_ROLES, Step

if TYPE_CHECKING:
    from trialdesk.protocol import Protocol
    from trialdesk.store.access import Access

#: Statuses in which the next administration of the plan can be recorded.
ADMINISTERING_STATUSES = frozenset({SubjectStatus.RANDOMIZED, SubjectStatus.TREATED})


def may(access: Access, step: Step, site_id: int) -> bool:
    """True if one of the user's roles takes `step` at the site (the service checks again)."""
    return access.may(STEP_ROLES[step], site_id)


def screening_sites(access: Access) -> list[Site]:
    """The sites the user reads and may screen patients at, by code."""
    return [site for site in access.sites().order_by("code") if may(access, Step.SCREEN, site.pk)]


# ---------------------------------------------------------------- eligibility


@dataclass(frozen=True)
class FieldToFill:
    """A missing value, as the panel names it: the form (with a link to it at the screening
    visit), the field, and, for a score, the form's items it is computed from. `*_in_english`
    says that a text has no translation in the user's language (the page marks it `lang=en`)."""

    item_id: str
    form: str | None
    form_title: str
    field: str | None
    field_label: str
    field_in_english: bool
    inputs: tuple[str, ...]
    url: str | None


def fields_to_fill(
    row: CriterionRow, study_url_key: str, code: str, visit_id: str, language: str
) -> list[FieldToFill]:
    return [
        _field_to_fill(source, study_url_key, code, visit_id, language) for source in row.missing
    ]


def _field_to_fill(
    source: ItemSource, study_url_key: str, code: str, visit_id: str, language: str
) -> FieldToFill:
    if source.form is None:
        return FieldToFill(source.item_id, None, "", None, source.label, True, (), None)
    from trialdesk.errors import TrialdeskError
    from trialdesk.instruments import get_instrument
    from trialdesk.instruments.texts import item_texts

    url = reverse("pages:form", args=[study_url_key, code, visit_id, source.form])
    try:
        instrument = get_instrument(source.form)
        texts = item_texts(source.form, language)
    except TrialdeskError:
        return FieldToFill(
            source.item_id,
            source.form,
            source.form,
            source.field,
            source.field or "",
            True,
            (),
            url,
        )
    english = {item.id: item.label for item in instrument.items}
    if source.field_is_score:
        score = next(score for score in instrument.scores if score.id == source.field)
        label, in_english = score.label, True
    else:
        label = texts.get(source.field or "", source.field or "")
        in_english = language != "en" and label == english.get(source.field or "")
    inputs = tuple(texts.get(item_id, item_id) for item_id in source.inputs)
    return FieldToFill(
        source.item_id, source.form, instrument.title, source.field, label, in_english, inputs, url
    )


# ---------------------------------------------------------------- randomization


@dataclass(frozen=True)
class AllocationShown:
    """A subject's randomization as this user may see it: `arm` and `arm_label` only where the
    access policy unblinds the user at the subject's site (else both are None)."""

    randomization_number: str
    allocated_at: dt.datetime
    kit_numbers: tuple[int, ...]
    arm: str | None = None
    arm_label: str | None = None


def allocation_shown(access: Access, subject: Subject) -> AllocationShown | None:
    allocation = Allocation.objects.select_related("slot").filter(subject=subject).first()
    if allocation is None:
        return None
    kit_numbers = tuple(
        Kit.objects.filter(slot__allocation__subject=subject)
        .order_by("administration_index")
        .values_list("kit_number", flat=True)
    )
    unblinded = access.unblinded(subject.site_id, arm=allocation.slot.arm)
    arm = unblinded.get("arm")
    return AllocationShown(
        allocation.randomization_number,
        allocation.allocated_at,
        kit_numbers,
        arm,
        _arm_labels(access.study.protocol()).get(arm) if arm else None,
    )


def _arm_labels(protocol: Protocol) -> dict[str, str]:
    return {arm.id: arm.label for arm in protocol.arms}


# ---------------------------------------------------------------- treatment plan


@dataclass(frozen=True)
class AdministrationRow:
    """One administration of the treatment plan for a subject: the kit reserved for it (no arm)
    and, once given, the date; `is_next` for the one that can be recorded now."""

    id: str
    label: str
    day: int
    kit_number: int | None
    administered_on: dt.date | None
    is_next: bool


def treatment_rows(protocol: Protocol, subject: Subject) -> list[AdministrationRow]:
    """The plan's administrations in order. Only the next one not given is recordable, and
    only while the subject is randomized or treated (`record_administration`'s rule)."""
    kits = {
        index: (number, on)
        for index, number, on in Kit.objects.filter(slot__allocation__subject=subject).values_list(
            "administration_index", "kit_number", "administered_on"
        )
    }
    open_for_treatment = subject.status in ADMINISTERING_STATUSES
    rows = []
    next_found = False
    for index, administration in enumerate(protocol.treatment_plan, 1):
        number, administered_on = kits.get(index, (None, None))
        is_next = (
            open_for_treatment and not next_found and number is not None and administered_on is None
        )
        next_found = next_found or is_next or administered_on is None
        rows.append(
            AdministrationRow(
                administration.id,
                administration.label,
                administration.day,
                number,
                administered_on,
                is_next,
            )
        )
    return rows


# ---------------------------------------------------------------- dispensing


@dataclass(frozen=True)
class KitShown:
    kit_number: int
    administration: str  # the plan's label of the administration it is reserved for
    arm: str
    arm_label: str
    administered_on: dt.date | None


@dataclass(frozen=True)
class DispensingRow:
    code: str
    site: str
    status: str
    randomization_number: str
    kits: tuple[KitShown, ...]

    @property
    def dispensed(self) -> int:
        return sum(kit.administered_on is not None for kit in self.kits)


def dispensing_rows(access: Access) -> list[DispensingRow]:
    """The randomized subjects of the sites where the user is unblinded, with their kits and
    the kits' arms (from `access.kits`, which refuses a blinded reader), by subject code."""
    protocol = access.study.protocol()
    arms = _arm_labels(protocol)
    plan = {index: a.label for index, a in enumerate(protocol.treatment_plan, 1)}
    subjects = (
        access.subjects().filter(allocation__isnull=False).select_related("allocation", "site")
    )
    rows = []
    for subject in subjects.order_by("code"):
        if access.blinded_at(subject.site_id):
            continue
        kits = tuple(
            KitShown(
                kit.kit_number,
                plan.get(kit.administration_index or 0, ""),
                kit.arm,
                arms.get(kit.arm, kit.arm),
                kit.administered_on,
            )
            for kit in access.kits(subject)
        )
        rows.append(
            DispensingRow(
                subject.code,
                subject.site.code,
                subject.status,
                subject.allocation.randomization_number,
                kits,
            )
        )
    return rows


def subject_summary(subject: Subject) -> dict[str, Any]:
    """What every enrolment page says about the subject in its heading."""
    return {"code": subject.code, "site": subject.site.code, "status": subject.status}
