"""Data item values from screening forms: the one rule the store, the demo and the datasets use."""

from __future__ import annotations

from types import SimpleNamespace

from trialdesk.eligibility.items import ScreeningForm, data_item_values
from trialdesk.protocol import load_protocol


def test_items_come_from_form_items_then_scores_then_the_subject_record() -> None:
    protocol = load_protocol("NCT05933434")
    by_form = {item.form for item in protocol.data_items if item.form}
    assert {"vitals", "kl_grade"} <= by_form
    forms = {
        "vitals": ScreeningForm({"height_cm": 170, "weight_kg": 70}, {"bmi": 24.2}),
        "kl_grade": ScreeningForm({"index_knee": 3, "contralateral_knee": 1}, {}),
    }
    values = data_item_values(protocol, forms, 63, "female")
    declared = {item.id for item in protocol.data_items}
    assert "age" in declared and "sex" not in declared  # an item only when the protocol has it
    expected: dict[str, object] = {"age": 63}
    for item in protocol.data_items:
        if item.form in forms:
            form, field = forms[item.form], item.field or item.id
            value = form.values.get(field, form.scores.get(field))
            if value is not None:
                expected[item.id] = value
    assert values == expected
    assert any(value == 24.2 for value in values.values())  # a score (BMI) is read too


def test_missing_forms_and_values_are_left_out() -> None:
    protocol = load_protocol("NCT05933434")
    assert data_item_values(protocol, {}, None, None) == {}
    assert data_item_values(protocol, {}, 70, "male") == {"age": 70}


def test_sex_is_read_in_the_criteria_words() -> None:
    item = SimpleNamespace(id="sex", form=None, field=None)
    protocol = SimpleNamespace(data_items=[item])
    assert data_item_values(protocol, {}, 70, "male") == {"sex": "MALE"}  # type: ignore[arg-type]
    assert data_item_values(protocol, {}, 70, "female") == {"sex": "FEMALE"}  # type: ignore[arg-type]
