"""Edit checks over hand-made subject data: each rule kind finds what it should, and nothing
at its boundary; the protocol check names a rule that refers to what the protocol lacks.

NCT04208646's visits in day order: SCR (-14), D0, W3 (21), W12 (84), W24, W36, W48.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import TypeAdapter

from trialdesk.errors import ProtocolError
from trialdesk.monitoring.edit_checks import (
    AdverseEventData,
    Finding,
    FormData,
    SubjectData,
    VisitData,
    evaluate,
)
from trialdesk.protocol import load_protocol, parse_protocol, protocol_source
from trialdesk.protocol.edit_checks import EditCheck

PROTOCOL = load_protocol("NCT04208646")
NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
RULES = TypeAdapter(list[EditCheck])


def findings(rules: list[dict[str, Any]], subject: SubjectData) -> list[Finding]:
    protocol = PROTOCOL.model_copy(update={"edit_checks": RULES.validate_python(rules)})
    return evaluate(protocol, subject, NOW)


def subject(**data: Any) -> SubjectData:
    return SubjectData(code="01-001", consent_date=data.pop("consent", dt.date(2024, 3, 1)), **data)


# ---------------------------------------------------------------- visit before consent

BEFORE_CONSENT = [{"id": "EC1", "kind": "visit_before_consent", "text": "Check the dates."}]


def test_a_visit_dated_the_day_before_consent_is_a_finding_and_on_the_day_is_not() -> None:
    visits = (
        VisitData("SCR", dt.date(2024, 2, 29)),
        VisitData("D0", dt.date(2024, 3, 1)),
        VisitData("W3", None, "scheduled"),
    )
    assert findings(BEFORE_CONSENT, subject(visits=visits)) == [
        Finding("EC1", "SCR", "", "", "SCR dated 2024-02-29, before consent on 2024-03-01")
    ]


def test_no_consent_no_finding() -> None:
    visits = (VisitData("SCR", dt.date(2024, 2, 1)),)
    assert findings(BEFORE_CONSENT, subject(consent=None, visits=visits)) == []


# ---------------------------------------------------------------- change between visits

WEIGHT = [
    {
        "id": "EC2",
        "kind": "change_between_visits",
        "form": "vitals",
        "item": "weight_kg",
        "max_relative_change": 0.10,
        "text": "Check the weight.",
    }
]


def vitals(visit_id: str, weight: float | None) -> FormData:
    return FormData(visit_id, "vitals", {"height_cm": 170, "weight_kg": weight})


def test_weight_down_11_8_percent_between_visits_is_a_finding_on_the_later_visit() -> None:
    # (71.0 - 80.5) / 80.5 = -0.11801... -> -11.8%
    forms = (vitals("W12", 71.0), vitals("W3", 80.5))  # out of order: the protocol's day order
    assert findings(WEIGHT, subject(forms=forms)) == [
        Finding(
            "EC2",
            "W12",
            "vitals",
            "weight_kg",
            "W12 weight 71 kg vs W3 80.5 kg: -11.8% (limit 10%)",
        )
    ]


@pytest.mark.parametrize(("before", "after"), [(80.0, 88.0), (80.0, 72.0), (80.5, 88.55)])
def test_a_change_of_exactly_10_percent_is_no_finding(before: float, after: float) -> None:
    forms = (vitals("W3", before), vitals("W12", after))
    assert findings(WEIGHT, subject(forms=forms)) == []


def test_a_change_just_over_10_percent_is_a_finding() -> None:
    forms = (vitals("W3", 80.0), vitals("W12", 88.1))  # +10.125%
    [finding] = findings(WEIGHT, subject(forms=forms))
    assert finding.message.endswith(": +10.1% (limit 10%)")


def test_the_change_is_to_the_last_visit_with_a_value() -> None:
    # W12 has no weight: W24 is compared with W3 (80 -> 90: +12.5%).
    forms = (vitals("W3", 80.0), vitals("W12", None), vitals("W24", 90.0))
    [finding] = findings(WEIGHT, subject(forms=forms))
    assert (finding.visit_id, finding.message) == (
        "W24",
        "W24 weight 90 kg vs W3 80 kg: +12.5% (limit 10%)",
    )


# ---------------------------------------------------------------- SAE without report

SAE = [{"id": "EC3", "kind": "sae_without_report", "text": "Report the SAE."}]


def event(number: int, serious: bool, due: dt.datetime | None, reported: Any = None) -> Any:
    return AdverseEventData(number, "knee effusion", serious, due, reported)


def test_a_serious_event_past_its_due_time_without_report_is_a_finding() -> None:
    overdue = NOW - dt.timedelta(minutes=1)
    events = (
        event(1, True, overdue),
        event(2, True, NOW),  # due now: not yet late
        event(3, True, overdue, reported=overdue),
        event(4, False, None),
    )
    assert findings(SAE, subject(adverse_events=events)) == [
        Finding(
            "EC3",
            "",
            "",
            "AE 1",
            "AE 1 (knee effusion) is serious: its report was due 2024-06-01T11:59+00:00 and "
            "is not recorded",
        )
    ]


# ---------------------------------------------------------------- item missing

WOMAC_MISSING = [{"id": "EC4", "kind": "item_missing", "form": "womac", "text": "Enter the item."}]
WOMAC = {f"{part}{i}": 1 for part, n in (("P", 5), ("S", 2), ("F", 17)) for i in range(1, n + 1)}


def test_a_missing_item_of_a_completed_form_is_a_finding() -> None:
    forms = (FormData("W3", "womac", {**WOMAC, "S2": None}, complete=True),)
    [finding] = findings(WOMAC_MISSING, subject(forms=forms))
    assert finding.place == ("EC4", "W3", "womac", "S2")
    assert finding.message.startswith("W3 womac S2 (")


def test_a_form_still_being_entered_or_complete_without_gaps_is_no_finding() -> None:
    forms = (
        FormData("W3", "womac", {**WOMAC, "S2": None}, complete=False),
        FormData("W12", "womac", WOMAC, complete=True),
    )
    assert findings(WOMAC_MISSING, subject(forms=forms)) == []


def test_item_missing_only_at_its_visits_and_items() -> None:
    rule = [{**WOMAC_MISSING[0], "items": ["P1"], "visits": ["W12"]}]
    gaps = {**WOMAC, "P1": None, "F3": None}
    forms = (
        FormData("W3", "womac", gaps, complete=True),
        FormData("W12", "womac", gaps, complete=True),
    )
    assert [f.place for f in findings(rule, subject(forms=forms))] == [
        ("EC4", "W12", "womac", "P1")
    ]


# ---------------------------------------------------------------- range

WEIGHT_RANGE = [
    {
        "id": "EC5",
        "kind": "range",
        "form": "vitals",
        "item": "weight_kg",
        "min": 35,
        "max": 200,
        "text": "Check the weight.",
    }
]


def test_range_ends_are_allowed_and_beyond_them_is_a_finding() -> None:
    forms = (
        vitals("SCR", 35.0),
        vitals("W3", 200.0),
        vitals("W12", 34.9),
        vitals("W24", 200.5),
    )
    assert [f.message for f in findings(WEIGHT_RANGE, subject(forms=forms))] == [
        "W12 weight 34.9 kg is below the plausible minimum 35 kg",
        "W24 weight 200.5 kg is above the plausible maximum 200 kg",
    ]


# ---------------------------------------------------------------- expression

ALT = [
    {
        "id": "EC7",
        "kind": "expression",
        "form": "labs",
        "item": "alt",
        "expression": "alt <= 3 * alt_uln",
        "text": "Confirm ALT.",
    }
]


def test_an_expression_that_is_false_is_a_finding_true_or_unknown_is_not() -> None:
    forms = (
        FormData("W3", "labs", {"alt": 121.0, "alt_uln": 40.0}),  # 121 > 120
        FormData("W12", "labs", {"alt": 120.0, "alt_uln": 40.0}),  # exactly 3 x ULN
        FormData("W24", "labs", {"alt": 300.0, "alt_uln": None}),  # unknown
    )
    [finding] = findings(ALT, subject(forms=forms))
    assert finding.place == ("EC7", "W3", "labs", "alt")
    assert finding.message == (
        "W3 labs: alt <= 3 * alt_uln does not hold (alt 121 > 3 * ULN 40 (= 120))"
    )


def test_expressions_over_coded_items_compare_codes() -> None:
    rules = [
        {
            "id": "EC8",
            "kind": "expression",
            "form": "kl_grade",
            "expression": "index_knee in {2, 3}",
            "text": "KL grade II or III.",
        },
        {
            "id": "EC9",
            "kind": "expression",
            "form": "labs",
            "expression": "pregnancy_test != 'positive'",
            "text": "Pregnancy.",
        },
    ]
    forms = (
        FormData("SCR", "kl_grade", {"index_knee": 4, "contralateral_knee": 1}),
        FormData("W48", "kl_grade", {"index_knee": 3, "contralateral_knee": 1}),
        FormData("W3", "labs", {"pregnancy_test": "positive"}),
        FormData("W12", "labs", {"pregnancy_test": "negative"}),
    )
    assert [f.place[:2] for f in findings(rules, subject(forms=forms))] == [
        ("EC8", "SCR"),
        ("EC9", "W3"),
    ]


# ---------------------------------------------------------------- the protocol check


def protocol_with(block: str) -> str:
    _, text = protocol_source("NCT04208646")
    start, end = text.index("edit_checks:\n"), text.index("assumptions:\n")
    return text[:start] + block + text[end:]


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            "edit_checks:\n  - {id: EC1, kind: range, form: vitals, item: weight, max: 200, "
            "text: x}\n",
            "EC1: 'weight' is no item or score of vitals",
        ),
        (
            "edit_checks:\n  - {id: EC1, kind: item_missing, form: koos, text: x}\n",
            "EC1: form 'koos' is collected at no visit",
        ),
        (
            "edit_checks:\n  - {id: EC1, kind: item_missing, form: womac, visits: [W3, M3], "
            "text: x}\n",
            "EC1: unknown visit 'M3'",
        ),
        (
            "edit_checks:\n  - {id: EC1, kind: change_between_visits, form: vitals, "
            "item: weight_kg, max_relative_change: 0.1, text: x}\n",
            "EC1: form 'vitals' is collected at 1 visit(s); a change between visits needs two",
        ),
        (
            "edit_checks:\n  - {id: EC1, kind: expression, form: labs, "
            "expression: 'alt <= 3 * hiv_positive', text: x}\n",
            "EC1: column 12: '*' needs numbers, but boolean 'hiv_positive' is not one",
        ),
        (
            "edit_checks:\n  - {id: EC1, kind: visit_before_consent, text: x}\n"
            "  - {id: EC1, kind: sae_without_report, text: y}\n",
            "duplicate edit check id 'EC1'",
        ),
    ],
)
def test_the_protocol_check_names_the_rule_and_what_is_wrong(block: str, expected: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        parse_protocol(protocol_with(block), "NCT04208646.yaml")
    assert expected in str(raised.value)
    assert "NCT04208646.yaml:" in str(raised.value)


def test_the_shipped_rules_pass_the_check() -> None:
    for protocol_id in ("NCT04208646", "NCT05933434"):
        assert load_protocol(protocol_id).edit_checks
