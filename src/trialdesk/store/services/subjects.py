"""A subject from screening to the end: screening, consent, eligibility and status steps."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.utils import timezone

from trialdesk.errors import BadInput
from trialdesk.store.audit import audited_write
from trialdesk.store.errors import NotFound
from trialdesk.store.lifecycle import SubjectStatus, check_transition
from trialdesk.store.models import Consent, EligibilityRecord, Sex, Site, Study, Subject
from trialdesk.store.permissions import Step, require
from trialdesk.store.screening import screening_items, study_criteria
from trialdesk.store.services.common import (
    find_subject,
    move_subject,
    require_reason,
    writable_study,
)
from trialdesk.store.services.record_changes import data_changed, refuse_if_locked
from trialdesk.store.services.visits import checked_past_date

if TYPE_CHECKING:
    from trialdesk.eligibility import EligibilityResult

#: Years of birth a patient screened today or in this century can have (the oldest person on
#: record lived 122 years).
YEARS_OF_BIRTH = range(1880, 2101)
#: Ages at screening that fit those years.
AGES = range(0, 151)


def screen_subject(
    study: Study,
    site_code: str,
    *,
    year_of_birth: int,
    age: int,
    sex: str,
    by: str,
    screened_on: dt.date | None = None,
) -> Subject:
    """Register a patient at screening as the site's next SITE-NNN code; no names are kept.

    `age` is the age on `screened_on` from the source document; it must fit the year of birth.
    """
    screened_on = checked_past_date(
        f"site {site_code}", "screening date", screened_on or timezone.now().date()
    )
    for name, number in (("year_of_birth", year_of_birth), ("age", age)):
        # A float or a numeric string would be stored as an integer but audited as given.
        if isinstance(number, bool) or not isinstance(number, int):
            raise BadInput(f"{name} {number!r}; expected a whole number")
    if year_of_birth not in YEARS_OF_BIRTH:
        # The column holds 0 to 32767: a year outside it failed in the write, as a server error.
        raise BadInput(
            f"year_of_birth {year_of_birth}; expected a year from {YEARS_OF_BIRTH.start} to "
            f"{YEARS_OF_BIRTH.stop - 1}"
        )
    if sex not in Sex.values:
        raise BadInput(f"sex {sex!r}; expected one of {', '.join(Sex.values)}")
    possible_ages = {screened_on.year - year_of_birth - 1, screened_on.year - year_of_birth}
    if age not in possible_ages or age < 0:
        raise BadInput(
            f"age {age} does not fit year of birth {year_of_birth} on {screened_on}: expected "
            f"{' or '.join(str(a) for a in sorted(possible_ages) if a >= 0) or 'none'}"
        )
    with audited_write(by, study) as trail:
        study = writable_study(study)
        site = Site.objects.filter(study=study, code=site_code).first()
        if site is None:
            raise NotFound(f"{study}: no open site {site_code!r}")
        require(study, by, Step.SCREEN, site)
        number = Subject.objects.filter(site=site).count() + 1
        subject = Subject.objects.create(
            study=study,
            site=site,
            code=f"{site.code}-{number:03d}",
            status=SubjectStatus.SCREENED.value,
            year_of_birth=year_of_birth,
            age_at_screening=age,
            sex=sex,
            screened_on=screened_on,
        )
        trail.created(subject, "subject.screened")
    return subject


def record_consent(
    study: Study, code: str, *, consented_on: dt.date, consent_version: str, by: str
) -> Consent:
    """The signed informed consent (date and consent form version): screened -> consented.

    The consent date is the subject's data like a visit date: a locked casebook refuses it,
    and the edit checks (a visit dated before consent) run again on it."""
    consented_on = checked_past_date(f"subject {code}", "consent date", consented_on)
    if not isinstance(consent_version, str) or not consent_version.strip():
        raise BadInput(f"subject {code}: the consent form version is required")
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        require(study, by, Step.CONSENT, subject.site)
        refuse_if_locked(subject)
        move_subject(trail, subject, SubjectStatus.CONSENTED, "consent")
        consent = Consent.objects.create(
            subject=subject, consent_version=consent_version.strip(), consented_on=consented_on
        )
        trail.created(consent, "consent.recorded")
        data_changed(trail, subject, f"subject {code}: consent of {consented_on} recorded")
    return consent


def evaluate_eligibility(
    study: Study, code: str, attestations: dict[str, bool], by: str
) -> EligibilityResult:
    """Evaluate the criteria on the screening forms and the investigator's attestations.

    Eligible moves the subject to eligible, ineligible to screen_failed; an incomplete result
    (values or attestations missing) is recorded and leaves the status as it is.
    """
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        require(study, by, Step.EVALUATE_ELIGIBILITY, subject.site)
        refuse_if_locked(subject)
        if subject.status != SubjectStatus.ELIGIBLE:  # re-evaluating an eligible subject is fine
            check_transition(subject.code, subject.status, SubjectStatus.ELIGIBLE, "eligibility")
        items = screening_items(study.protocol(), subject)
        result = study_criteria(study).evaluate(items, attestations)
        record = EligibilityRecord.objects.create(
            subject=subject,
            verdict=result.verdict,
            items=items,
            attestations=attestations,
            criteria=[criterion.to_json() for criterion in result.criteria],
            evaluated_at=trail.at,
        )
        trail.created(record, "eligibility.evaluated")
        if result.verdict == "eligible" and subject.status != SubjectStatus.ELIGIBLE:
            move_subject(trail, subject, SubjectStatus.ELIGIBLE, "eligibility")
        elif result.verdict == "ineligible":
            failed = ", ".join(c.id for c in result.with_result("fail"))
            move_subject(
                trail, subject, SubjectStatus.SCREEN_FAILED, "eligibility", f"criteria {failed}"
            )
    return result


def _status_step(
    study: Study, code: str, target: SubjectStatus, step: str, reason: str, by: str
) -> Subject:
    with audited_write(by, study) as trail:
        study = writable_study(study)
        subject = find_subject(study, code)
        require(study, by, Step.CHANGE_STATUS, subject.site)
        refuse_if_locked(subject)  # a locked casebook holds the subject's status too
        move_subject(trail, subject, target, step, reason)
    return subject


def record_screen_failure(study: Study, code: str, reason: str, by: str) -> Subject:
    """A screened patient who will not go on (e.g. declined consent), with the reason."""
    reason = require_reason(reason, f"screen failure of {code}")
    return _status_step(study, code, SubjectStatus.SCREEN_FAILED, "screen failure", reason, by)


def withdraw_subject(study: Study, code: str, reason: str, by: str) -> Subject:
    """Withdrawal from the study, with the reason; the subject's data are kept."""
    reason = require_reason(reason, f"withdrawal of {code}")
    return _status_step(study, code, SubjectStatus.WITHDRAWN, "withdrawal", reason, by)


def record_lost_to_follow_up(study: Study, code: str, reason: str, by: str) -> Subject:
    reason = require_reason(reason, f"loss to follow-up of {code}")
    return _status_step(
        study, code, SubjectStatus.LOST_TO_FOLLOW_UP, "loss to follow-up", reason, by
    )


def complete_subject(study: Study, code: str, by: str) -> Subject:
    """The subject finished the study's follow-up."""
    return _status_step(study, code, SubjectStatus.COMPLETED, "completion", "", by)
