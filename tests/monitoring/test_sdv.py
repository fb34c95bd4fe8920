"""The SDV plan's rule (trialdesk.monitoring.sdv) on hand-worked examples."""

from __future__ import annotations

import hashlib

from trialdesk.monitoring.sdv import (
    SavedForm,
    first_subjects,
    plan_requirements,
    rule_for,
    share_position,
)
from trialdesk.protocol.sdv_plan import SdvPlan, SdvRule

KOOS = ("P1", "P2", "S1")


def test_no_plan_is_every_item_of_every_form():
    forms = [SavedForm("S-9", "M3", "koos", KOOS), SavedForm("S-9", "M3", "nrs_pain", ("nrs",))]
    assert plan_requirements(None, {"AUH": ["S-1", "S-9"]}, forms) == {
        ("S-9", "M3", "koos"): KOOS,
        ("S-9", "M3", "nrs_pain"): ("nrs",),
    }


def test_first_subjects_count_per_site_in_screening_order():
    plan = SdvPlan(first_subjects=2, sites={"02": SdvRule(first_subjects=1)})
    order = {"01": ["A3", "A1", "A2"], "02": ["B2", "B1"]}
    # Site 01: its first two screened (A3, A1); site 02 has its own rule of one (B2).
    assert first_subjects(plan, order) == {"A3", "A1", "B2"}


def test_after_the_first_subjects_only_the_critical_items_and_forms():
    plan = SdvPlan(first_subjects=1, critical_items=["koos.P2", "nrs_pain.nrs"])
    forms = [
        SavedForm("S-1", "BL", "koos", KOOS),  # the site's first: everything
        SavedForm("S-2", "BL", "koos", KOOS),  # then only P2
        SavedForm("S-2", "BL", "knee_exam", ("index_effusion",)),  # nothing critical
        SavedForm("S-2", "BL", "nrs_pain", ()),  # the critical item has no saved value
    ]
    assert plan_requirements(plan, {"AUH": ["S-1", "S-2"]}, forms) == {
        ("S-1", "BL", "koos"): KOOS,
        ("S-2", "BL", "koos"): ("P2",),
    }


def test_a_critical_form_is_verified_in_full_for_every_subject():
    plan = SdvPlan(critical_forms=["womac"])
    forms = [SavedForm("X", "W12", "womac", ("P1", "F17")), SavedForm("X", "W12", "labs", ("alt",))]
    assert plan_requirements(plan, {"01": ["X"]}, forms) == {("X", "W12", "womac"): ("P1", "F17")}


def test_a_site_rule_replaces_the_study_rule_whole():
    plan = SdvPlan(critical_items=["labs.alt"], sites={"03": SdvRule(first_subjects=0)})
    assert rule_for(plan, "03").critical_items == []
    assert rule_for(plan, "01").critical_items == ["labs.alt"]
    forms = [SavedForm("A", "SCR", "labs", ("alt", "ast")), SavedForm("C", "SCR", "labs", ("alt",))]
    assert plan_requirements(plan, {"01": ["A"], "03": ["C"]}, forms) == {
        ("A", "SCR", "labs"): ("alt",)
    }


def test_share_position_is_the_published_hash():
    # By hand: SHA-256 of "01-001/W12/womac", first 8 bytes big-endian over 2**64.
    digest = hashlib.sha256(b"01-001/W12/womac").hexdigest()
    assert share_position("01-001", "W12", "womac") == int(digest[:16], 16) / 2**64


def test_form_share_picks_the_same_forms_whatever_the_order_and_about_the_share():
    plan = SdvPlan(form_share=0.25)
    visits = ["W3", "W12", "W24", "W36", "W48"]
    forms = [
        SavedForm(f"01-{n:03}", visit, "vas_pain", ("vas",)) for n in range(200) for visit in visits
    ]
    order = {"01": [f"01-{n:03}" for n in range(200)]}
    picked = plan_requirements(plan, order, forms)
    assert plan_requirements(plan, order, list(reversed(forms))) == picked
    expected = {
        (f.subject, f.visit_id, f.form)
        for f in forms
        if hashlib.sha256(f"{f.subject}/{f.visit_id}/{f.form}".encode()).digest()[:8]
        < int(0.25 * 2**64).to_bytes(8, "big")
    }
    assert set(picked) == expected
    # 1,000 forms at 25%: within 3 binomial SDs (sqrt(1000 * 0.25 * 0.75) = 13.7) of 250.
    assert 209 <= len(picked) <= 291
    # A larger share keeps the forms already picked.
    assert set(picked) <= set(plan_requirements(SdvPlan(form_share=0.5), order, forms))


def test_a_subject_of_no_listed_site_needs_nothing():
    forms = [SavedForm("Z", "BL", "koos", KOOS)]
    assert plan_requirements(None, {"AUH": []}, forms) == {}


def test_the_protocol_check_names_each_wrong_entry_of_the_plan():
    from trialdesk.protocol import load_protocol
    from trialdesk.protocol.checks import _sdv_plan

    protocol = load_protocol("NCT04208646")
    assert list(_sdv_plan(protocol)) == []
    wrong = SdvPlan(
        critical_items=["womac.P1", "womac.Z9", "koos.P1", "labs"],
        critical_forms=["qmri"],
        sites={"09": SdvRule(critical_items=["vas_pain.VAS"])},
    )
    problems = list(_sdv_plan(protocol.model_copy(update={"sdv_plan": wrong})))
    assert problems == [
        (("sdv_plan", "sites", "09"), "unknown site '09' (sites: 01, 02, 03, 04, 05, 06, 07)"),
        (("sdv_plan", "critical_forms", 0), "form 'qmri' is collected at no visit"),
        (("sdv_plan", "critical_items", 1), "'Z9' is no item of womac"),
        (("sdv_plan", "critical_items", 2), "form 'koos' is collected at no visit"),
        (("sdv_plan", "critical_items", 3), "'labs' is not \"form.item\""),
        (("sdv_plan", "sites", "09", "critical_items", 0), "'VAS' is no item of vas_pain"),
    ]
