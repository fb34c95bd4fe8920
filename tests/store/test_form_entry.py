"""Form entry as the pages use it (`save_form` with `partial` and `complete`, and drafts), on
SQLite and PostgreSQL: a partial save changes only the items it gives; a reason is due only
where an item's saved value changes (issue 12: "reasons for change only where they are
due"); completion is audited; a draft is the user's own, unaudited, and gone once the form
is saved."""

from __future__ import annotations

from typing import Any

import pytest

from trialdesk.errors import BadInput, InstrumentError
from trialdesk.store.errors import NotPermitted, ReasonRequired, StudyLocked
from trialdesk.store.models import AuditEvent, FormDraft, FormRecord
from trialdesk.store.services import lock_study, save_form, unlock_study
from trialdesk.store.services.drafts import discard_draft, draft_of, save_draft
from trialdesk.store.services.forms import items_needing_reason

from .conftest import OPERATOR

# BMI = weight / height(m)^2, by hand: 70 / 1.70^2 = 24.2215; 70 / 1.71^2 = 23.9390.
BMI_170_70 = 70 / 1.7**2
BMI_171_70 = 70 / 1.71**2


def vitals(study: Any, code: str, values: dict, reason: Any = "", **options: Any) -> Any:
    return save_form(study, code, "SCR", "vitals", values, "ines", reason, **options)


def events(code: str, **filters: Any) -> list[tuple[str, str, str, str, str]]:
    found = AuditEvent.objects.filter(subject=code, object_type="FormRecord", **filters)
    return [(e.action, e.field, e.old_value, e.new_value, e.reason) for e in found.order_by("seq")]


@pytest.mark.django_db
def test_a_partial_save_keeps_the_other_items(study: Any, consented_subject: Any) -> None:
    code = consented_subject()
    vitals(study, code, {"height_cm": 170, "pulse": 64}, partial=True)
    record = vitals(study, code, {"weight_kg": 70}, partial=True)
    assert record.values["height_cm"] == 170 and record.values["pulse"] == 64
    assert record.values["weight_kg"] == 70 and record.values["systolic_bp"] is None
    assert record.scores["bmi"] == pytest.approx(BMI_170_70)
    # The second save was a first entry of weight_kg: no reason, and the pulse untouched.
    assert ("form.changed", "values.weight_kg", "null", "70", "") in events(code)
    assert not [e for e in events(code) if e[1] == "values.pulse" and e[0] == "form.changed"]


@pytest.mark.django_db
def test_a_reason_is_due_only_where_a_saved_value_changes(
    study: Any, consented_subject: Any
) -> None:
    code = consented_subject()
    vitals(study, code, {"height_cm": 170, "weight_kg": None}, partial=True)
    vitals(study, code, {"weight_kg": 70}, partial=True)  # saved as null: a first entry
    with pytest.raises(
        ReasonRequired, match=r"form vitals: change: a reason is required.*height_cm"
    ):
        vitals(study, code, {"height_cm": 171}, partial=True)
    assert FormRecord.objects.get(subject__code=code).values["height_cm"] == 170
    record = vitals(study, code, {"height_cm": 171}, "measured again", partial=True)
    assert record.values["height_cm"] == 171
    assert record.scores["bmi"] == pytest.approx(BMI_171_70)
    assert events(code, field="values.height_cm")[-1] == (
        "form.changed",
        "values.height_cm",
        "170",
        "171",
        "measured again",
    )
    # The whole-form save (the API's PUT) blanks an item left out: a change, with a reason.
    with pytest.raises(ReasonRequired, match="weight_kg"):
        vitals(study, code, {"height_cm": 171})


def test_items_needing_reason_names_changed_saved_values_only() -> None:
    saved = {"a": 1, "b": None, "c": 3, "d": 4}
    assert items_needing_reason(saved, {"a": 2, "b": 5, "c": 3}) == ["a"]
    assert items_needing_reason(saved, {"d": None}) == ["d"]
    assert items_needing_reason({}, {"a": 1}) == []


@pytest.mark.django_db
def test_each_changed_item_carries_its_own_reason(study: Any, consented_subject: Any) -> None:
    code = consented_subject()
    vitals(study, code, {"height_cm": 170, "weight_kg": 70, "pulse": 60}, partial=True)
    with pytest.raises(ReasonRequired, match="item weight_kg had"):
        vitals(
            study, code, {"height_cm": 171, "weight_kg": 71}, {"height_cm": "typo"}, partial=True
        )
    vitals(
        study,
        code,
        {"height_cm": 171, "weight_kg": 71, "pulse": 60},
        {"height_cm": "typo", "weight_kg": "scale recalibrated"},
        partial=True,
    )
    changed = {e[1]: e[4] for e in events(code, action="form.changed")}
    assert changed["values.height_cm"] == "typo"
    assert changed["values.weight_kg"] == "scale recalibrated"
    assert changed["scores.bmi"] == "height_cm: typo; weight_kg: scale recalibrated"


@pytest.mark.django_db
def test_completing_and_reopening_a_form(study: Any, consented_subject: Any) -> None:
    code = consented_subject()
    record = vitals(study, code, {"height_cm": 170}, partial=True)
    assert record.completed_at is None
    record = vitals(study, code, {"weight_kg": 70}, partial=True, complete=True)
    assert record.completed_at is not None
    completed = events(code, action="form.completed")
    assert [(e[1], e[2]) for e in completed] == [("completed_at", "null")]
    with pytest.raises(ReasonRequired):
        vitals(study, code, {"weight_kg": 72}, partial=True)
    record = vitals(study, code, {"weight_kg": 72}, "source verified", partial=True)
    assert record.completed_at is not None  # a change keeps the form complete
    with pytest.raises(ReasonRequired, match="reopening the completed form"):
        vitals(study, code, {}, partial=True, complete=False)
    record = vitals(study, code, {}, "more values to come", partial=True, complete=False)
    assert record.completed_at is None
    assert events(code, action="form.reopened")[0][1:3] == ("completed_at", completed[0][3])
    events_now = AuditEvent.objects.count()
    vitals(study, code, {"weight_kg": 72}, partial=True)  # nothing changes
    assert AuditEvent.objects.count() == events_now


@pytest.mark.django_db
def test_a_bad_value_in_a_partial_save_names_the_item_and_writes_nothing(
    study: Any, consented_subject: Any
) -> None:
    code = consented_subject()
    vitals(study, code, {"height_cm": 170}, partial=True)
    before = AuditEvent.objects.count()
    with pytest.raises(
        InstrumentError,
        match=r"item weight_kg: 400 is not allowed; expected a number from 25 to 300 kg",
    ):
        vitals(study, code, {"weight_kg": 400}, partial=True)
    with pytest.raises(InstrumentError, match="'weight' is not an item"):
        vitals(study, code, {"weight": 70}, partial=True)
    with pytest.raises(InstrumentError, match="diastolic pressure must be below systolic"):
        vitals(study, code, {"systolic_bp": 100, "diastolic_bp": 120}, partial=True)
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db
def test_drafts_are_the_users_own_unaudited_and_gone_once_saved(
    study: Any, consented_subject: Any
) -> None:
    code = consented_subject()
    before = AuditEvent.objects.count()
    draft = save_draft(study, code, "SCR", "vitals", {"height_cm": "17"}, "ines")
    draft = save_draft(
        study, code, "SCR", "vitals", {"height_cm": "170", "reason.pulse": "x"}, "ines"
    )
    assert FormDraft.objects.count() == 1 and draft.values == {
        "height_cm": "170",
        "reason.pulse": "x",
    }
    assert AuditEvent.objects.count() == before
    assert draft_of(draft.user, draft.subject, "SCR", "vitals") == draft
    assert draft_of(draft.user, draft.subject, "SCR", "kl_grade") is None
    with pytest.raises(BadInput, match="'height' is not an item of the form"):
        save_draft(study, code, "SCR", "vitals", {"height": "170"}, "ines")
    with pytest.raises(BadInput, match="form 'womac' is not collected"):
        save_draft(study, code, "SCR", "womac", {"P1": "1"}, "ines")
    with pytest.raises(NotPermitted):
        save_draft(study, code, "SCR", "vitals", {"height_cm": "170"}, "mona")  # a monitor
    save_draft(study, code, "SCR", "vitals", {"weight_kg": "7"}, "ada")  # another user's draft
    vitals(study, code, {"height_cm": 170}, partial=True)
    assert list(FormDraft.objects.values_list("user__username", flat=True)) == ["ada"]
    assert discard_draft(study, code, "SCR", "vitals", "ada") is True
    assert discard_draft(study, code, "SCR", "vitals", "ada") is False
    lock_study(study, OPERATOR, "interim lock")
    with pytest.raises(StudyLocked):
        save_draft(study, code, "SCR", "vitals", {"height_cm": "170"}, "ines")
    unlock_study(study, "interim done", OPERATOR)
