"""Source data verification (SDV): a monitor compares a saved item with the source document
and records it as verified, item by item or a whole form at once; a later change of the
value resets the verification (the item needs verifying again).

One `ItemVerification` row per item of a form record holds the last verification: the value
the monitor saw, who, when, and `reset_at` once the value changed. Verifying an item again
after a reset writes the new value and time and clears `reset_at`; verifying an item that is
verified and unchanged changes nothing (no audit event). Only a monitor (`VERIFY_SOURCE`) at
the subject's site verifies; a locked form, visit or casebook is not verified (a lock means
nothing of the record changes); every change is audited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from trialdesk.errors import BadInput
from trialdesk.store.audit import AuditTrail, audited_state, audited_write, canonical_json
from trialdesk.store.errors import NotFound
from trialdesk.store.models import FormRecord, ItemVerification, Study, StudyUser
from trialdesk.store.permissions import Step, require
from trialdesk.store.services.common import find_subject, writable_study
from trialdesk.store.services.locks import refuse_if_locked


def verify_items(
    study: Study, code: str, visit_id: str, form: str, items: Sequence[str], *, by: str
) -> list[ItemVerification]:
    """Record `items` of the subject's saved form as verified against the source, as their
    values stand now. Each item must be one of the form's and have a saved value; items
    already verified with the same value are left as they are. Returns the verifications
    of `items`."""
    items = list(dict.fromkeys(items))
    if not items:
        raise BadInput(f"subject {code}, visit {visit_id}, form {form}: no item to verify")
    form_items = _form_items(study, code, visit_id, form)
    unknown = [item for item in items if item not in form_items]
    if unknown:
        raise BadInput(
            f"subject {code}, visit {visit_id}, form {form}: no item {', '.join(unknown)} in "
            f"the form (its items: {', '.join(form_items)})"
        )
    return _verify(study, code, visit_id, form, lambda record: items, by)


def verify_form(
    study: Study, code: str, visit_id: str, form: str, *, by: str
) -> list[ItemVerification]:
    """Verify every item of the subject's saved form that has a saved value (one click for a
    whole form); items verified and unchanged are left as they are."""
    form_items = _form_items(study, code, visit_id, form)
    return _verify(
        study,
        code,
        visit_id,
        form,
        lambda record: [item for item in form_items if record.values.get(item) is not None],
        by,
    )


def _form_items(study: Study, code: str, visit_id: str, form: str) -> list[str]:
    """The items of `form`, which the protocol must collect at `visit_id` (BadInput if not)."""
    from trialdesk.instruments import get_instrument

    visits = study.protocol().visits
    plan = next((visit for visit in visits if visit.id == visit_id), None)
    if plan is None:
        known = ", ".join(visit.id for visit in visits)
        raise BadInput(f"subject {code}: no visit {visit_id!r} in the protocol ({known})")
    if form not in plan.forms:
        raise BadInput(
            f"subject {code}, visit {visit_id}: form {form!r} is not collected at this visit "
            f"({', '.join(plan.forms)})"
        )
    return [item.id for item in get_instrument(form).items]


def _verify(
    study: Study,
    code: str,
    visit_id: str,
    form: str,
    chosen: Callable[[FormRecord], list[str]],
    by: str,
) -> list[ItemVerification]:
    """Verify the items `chosen` picks of the saved record, in one audited transaction."""
    place = f"subject {code}, visit {visit_id}, form {form}"
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        user = require(study, by, Step.VERIFY_SOURCE, subject.site)
        refuse_if_locked(subject, visit_id, form)
        record = FormRecord.objects.filter(
            subject=subject, visit__visit_id=visit_id, form=form
        ).first()
        if record is None:
            raise NotFound(f"{place}: the form is not entered: nothing to verify")
        record.subject = subject
        items = chosen(record)
        blank = [item for item in items if record.values.get(item) is None]
        if blank:
            raise BadInput(f"{place}: no saved value to verify in {', '.join(blank)}")
        if not items:
            raise BadInput(f"{place}: no item has a saved value: nothing to verify")
        return [_verify_item(trail, record, item, user) for item in items]


def _verify_item(
    trail: AuditTrail, record: FormRecord, item: str, user: StudyUser
) -> ItemVerification:
    value = canonical_json(record.values[item])
    verification = (
        ItemVerification.objects.filter(record=record, item=item)
        .select_related("verified_by")
        .first()
    )
    if verification is None:
        verification = ItemVerification.objects.create(
            record=record,
            subject=record.subject,
            item=item,
            value=value,
            verified_by=user,
            verified_at=trail.at,
        )
        trail.created(verification, "sdv.verified")
        return verification
    verification.subject = record.subject
    if verification.reset_at is None and verification.value == value:
        return verification
    before = audited_state(verification)
    verification.value, verification.verified_by = value, user
    verification.verified_at, verification.reset_at = trail.at, None
    verification.save(update_fields=["value", "verified_by", "verified_at", "reset_at"])
    trail.changed(verification, before, "sdv.verified")
    return verification


def reset_verifications(trail: AuditTrail, record: FormRecord, items: Iterable[str]) -> None:
    """The verification of each changed item of `record` no longer holds: it is reset,
    audited, and the item needs verifying again."""
    for verification in ItemVerification.objects.filter(
        record=record, item__in=list(items), reset_at__isnull=True
    ).select_related("verified_by"):
        verification.subject = record.subject
        before = audited_state(verification)
        verification.reset_at = trail.at
        verification.save(update_fields=["reset_at"])
        trail.changed(verification, before, "sdv.reset")
