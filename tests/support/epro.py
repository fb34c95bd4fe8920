"""STEMJOINT subjects who answer the pain diary at home (issue 14), for the store tests: the
study with its site AUH (and a second site, OUH, whose staff must not reach AUH's subjects),
a user for each role, and randomized subjects treated on a given day 0, made through the
services as a site would (screening, consent, screening forms, eligibility, randomization,
the injection)."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

STEMJOINT = "NCT05933434"
OPERATOR = "operator:tests"
#: Users of the study: (username, role, site or None for study-wide).
USERS = (
    ("colin", "coordinator", "AUH"),
    ("ines", "investigator", "AUH"),
    ("pia", "pharmacist", None),
    ("ada", "assessor", "AUH"),
    ("mona", "monitor", None),
    ("dana", "data_manager", None),
    ("stan", "statistician", None),
    ("otto", "coordinator", "OUH"),
)


@cache
def eligible_patient() -> Any:
    """An eligible screening entry of the demo's planned STEMJOINT trial: age, sex, screening
    forms and attestations the store judges eligible."""
    from trialdesk.protocol import load_protocol
    from trialdesk.store.demo.plan import plan_trial

    protocol = load_protocol(STEMJOINT)
    plan = plan_trial(protocol, 4, 7, {arm.id: 0.0 for arm in protocol.arms}, dt.date.today())
    return next(entry for entry in plan.log if entry.verdict == "eligible")


AUH = "  - {id: AUH, name: Aarhus University Hospital, city: Aarhus, country: Denmark}\n"
OUH = "  - {id: OUH, name: Odense University Hospital, city: Odense, country: Denmark}\n"


def stemjoint_text(text: str | None = None) -> str:
    """STEMJOINT's protocol file (or `text`, a changed copy of it) with a second site, OUH."""
    from trialdesk.protocol import protocol_source

    text = text if text is not None else protocol_source(STEMJOINT)[1]
    assert AUH in text, "STEMJOINT's site line is not as expected"
    return text.replace(AUH, AUH + OUH, 1)


def stemjoint_study(text: str | None = None) -> Any:
    """STEMJOINT (or `text`, a changed copy of its file) with sites AUH and OUH, and users."""
    from trialdesk.store.services import add_site, add_user, create_study

    study = create_study("NCT05933434.yaml", OPERATOR, text=stemjoint_text(text))
    add_site(study, "AUH", OPERATOR)
    add_site(study, "OUH", OPERATOR)
    for username, role, site in USERS:
        add_user(study, username, role, OPERATOR, site)
    return study


def treated_subject(study: Any, day0: dt.date) -> str:
    """A subject of AUH screened and consented 10 days before `day0`, eligible, randomized and
    injected on `day0` (the investigator takes every step): its code."""
    from trialdesk.store.services import (
        evaluate_eligibility,
        randomize_subject,
        record_administration,
        record_consent,
        save_form,
        screen_subject,
    )

    entry = eligible_patient()
    screened_on = day0 - dt.timedelta(days=10)
    subject = screen_subject(
        study,
        "AUH",
        year_of_birth=screened_on.year - entry.patient.age,
        age=entry.patient.age,
        sex=entry.patient.sex,
        by="ines",
        screened_on=screened_on,
    )
    code = subject.code
    record_consent(study, code, consented_on=screened_on, consent_version="1.0", by="ines")
    for form, values in entry.screening_forms.items():
        save_form(study, code, "SCR", form, values, "ines")
    verdict = evaluate_eligibility(study, code, entry.attestations, "ines")
    assert verdict.verdict == "eligible", verdict
    randomize_subject(study, code, "ines")
    record_administration(study, code, "INJ", day0, "ines")
    return code
