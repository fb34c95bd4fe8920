"""Screening to randomization: a new subject, consent, the eligibility panel, randomization,
the treatment plan's administrations and the pharmacist's dispensing list.

Each view parses the request, calls the store's service with `by=` the signed-in user (the
same calls the API's handlers make) and renders; a refused step re-renders the page with the
service's message and the API's status. Arms reach a page only through `steps`, which reads
them from the user's `Access`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from trialdesk.errors import TrialdeskError
from trialdesk.store.eligibility_panel import attestation_answers, eligibility_panel
from trialdesk.store.models import Sex
from trialdesk.store.permissions import Step
from trialdesk.store.services.allocation import randomize_subject, record_administration
from trialdesk.store.services.subjects import (
    AGES,
    YEARS_OF_BIRTH,
    evaluate_eligibility,
    record_consent,
    screen_subject,
)
from trialdesk.web.pages.context import staff_page, study_access, study_key, subject_of
from trialdesk.web.pages.enrolment import steps
from trialdesk.web.pages.enrolment.fields import (
    STATUS_LABELS,
    VERDICT_BADGES,
    VERDICT_LABELS,
    FieldErrors,
    choice,
    past_date,
    required_text,
    whole_number,
)
from trialdesk.web.pages.navigation import render_study_page
from trialdesk.web.pages.refusals import refusal

TEMPLATES = "pages/enrolment/"
#: The consent form version column's length.
CONSENT_VERSION_LENGTH = 40


def _subject_context(access: Any, subject: Any) -> dict[str, Any]:
    return {
        "subject": subject,
        "status_label": STATUS_LABELS.get(subject.status, subject.status),
        "study_url_key": study_key(access.study),
    }


# ---------------------------------------------------------------- new subject


@staff_page
@require_http_methods(["GET", "POST"])
def subject_new(request: HttpRequest, study: str) -> HttpResponse:
    """Register a patient at screening (`screen_subject`), then record consent."""
    access = study_access(request, study)
    sites = steps.screening_sites(access)
    values = {
        "site": sites[0].code if len(sites) == 1 else "",
        "year_of_birth": "",
        "age": "",
        "sex": "",
        "screened_on": timezone.localdate().isoformat(),
    }
    errors = FieldErrors()
    problem = None
    status = 200
    if request.method == "POST" and sites:
        values.update({name: request.POST.get(name, "") for name in values})
        site = choice(errors, "site", _("Site"), values["site"], [s.code for s in sites])
        year = whole_number(
            errors,
            "year_of_birth",
            _("Year of birth"),
            values["year_of_birth"],
            YEARS_OF_BIRTH.start,
            YEARS_OF_BIRTH.stop - 1,
        )
        age = whole_number(
            errors, "age", _("Age at screening"), values["age"], AGES.start, AGES.stop - 1
        )
        sex = choice(errors, "sex", _("Sex"), values["sex"], list(Sex.values))
        screened_on = past_date(errors, "screened_on", _("Screening date"), values["screened_on"])
        if not errors:
            try:
                subject = screen_subject(
                    access.study,
                    site,
                    year_of_birth=year,
                    age=age,
                    sex=sex,
                    by=access.user.username,
                    screened_on=screened_on,
                )
            except TrialdeskError as error:
                problem = refusal(error)
                status = problem.status
            else:
                messages.success(
                    request,
                    _("Subject %(code)s is screened. Record the consent next.")
                    % {"code": subject.code},
                )
                return redirect(
                    reverse("pages:consent", args=[study_key(access.study), subject.code])
                )
        else:
            status = 400
    elif request.method == "POST":
        status = 403
    return render_study_page(
        request,
        TEMPLATES + "subject_new.html",
        access,
        "subject-new",
        {
            "sites": sites,
            "values": values,
            "errors": errors,
            "refusal": problem,
            "sexes": [("female", _("Female")), ("male", _("Male"))],
            "year_range": (YEARS_OF_BIRTH.start, YEARS_OF_BIRTH.stop - 1),
        },
        status=status,
    )


# ---------------------------------------------------------------- consent


@staff_page
@require_http_methods(["GET", "POST"])
def consent(request: HttpRequest, study: str, code: str) -> HttpResponse:
    """The signed informed consent: form version and date (`record_consent`)."""
    access = study_access(request, study)
    subject = subject_of(access, code)
    allowed = steps.may(access, Step.CONSENT, subject.site_id)
    values = {"consent_version": "", "consented_on": timezone.localdate().isoformat()}
    errors = FieldErrors()
    problem = None
    status = 200
    if request.method == "POST":
        values.update({name: request.POST.get(name, "") for name in values})
        version = required_text(
            errors,
            "consent_version",
            _("Consent form version"),
            values["consent_version"],
            CONSENT_VERSION_LENGTH,
        )
        consented_on = past_date(
            errors, "consented_on", _("Date of consent"), values["consented_on"]
        )
        if not errors:
            try:
                record_consent(
                    access.study,
                    subject.code,
                    consented_on=consented_on,
                    consent_version=version,
                    by=access.user.username,
                )
            except TrialdeskError as error:
                problem = refusal(error)
                status = problem.status
            else:
                messages.success(request, _("Consent recorded."))
                return redirect(
                    reverse("pages:eligibility", args=[study_key(access.study), subject.code])
                )
        else:
            status = 400
    return render_study_page(
        request,
        TEMPLATES + "consent.html",
        access,
        "consent",
        {
            **_subject_context(access, subject),
            "consents": list(subject.consents.order_by("pk")),
            "allowed": allowed,
            "values": values,
            "errors": errors,
            "refusal": problem,
        },
        status=status,
    )


# ---------------------------------------------------------------- eligibility


@staff_page
@require_http_methods(["GET", "POST"])
def eligibility(request: HttpRequest, study: str, code: str) -> HttpResponse:
    """Every criterion with its registry text and state; the investigator's attestations and
    the recorded evaluations (`evaluate_eligibility`)."""
    access = study_access(request, study)
    subject = subject_of(access, code)
    may_evaluate = steps.may(access, Step.EVALUATE_ELIGIBILITY, subject.site_id)
    problem = None
    status = 200
    attestations = None
    if request.method == "POST":
        confirmed = set(request.POST.getlist("confirmed"))
        attestations = attestation_answers(access.study.protocol(), confirmed)
        try:
            result = evaluate_eligibility(
                access.study, subject.code, attestations, access.user.username
            )
        except TrialdeskError as error:
            problem = refusal(error)
            status = problem.status
        else:
            verdict = VERDICT_LABELS.get(result.verdict, result.verdict)
            level = messages.SUCCESS if result.verdict == "eligible" else messages.WARNING
            messages.add_message(
                request, level, _("Eligibility recorded: %(verdict)s.") % {"verdict": verdict}
            )
            return redirect(
                reverse("pages:eligibility", args=[study_key(access.study), subject.code])
            )
    context = {**_subject_context(access, subject), "may_evaluate": may_evaluate}
    try:
        panel = eligibility_panel(access.study, subject, attestations)
    except TrialdeskError as error:
        panel = None
        problem = problem or refusal(error)
    if panel is not None:
        language = get_language() or "en"
        key = study_key(access.study)
        context.update(
            {
                "panel": panel,
                "verdict_label": VERDICT_LABELS[panel.verdict],
                "verdict_badge": VERDICT_BADGES[panel.verdict],
                "groups": [
                    (
                        _("Inclusion criteria"),
                        _rows(panel.inclusion, key, subject, panel, language),
                    ),
                    (
                        _("Exclusion criteria"),
                        _rows(panel.exclusion, key, subject, panel, language),
                    ),
                ],
            }
        )
    records = [
        {
            "evaluated_at": record.evaluated_at,
            "verdict": record.verdict,
            "verdict_label": VERDICT_LABELS.get(record.verdict, record.verdict),
            "verdict_badge": VERDICT_BADGES.get(record.verdict, "none"),
            "failed": [c["id"] for c in record.criteria if c.get("result") == "fail"],
            "unknown": [c["id"] for c in record.criteria if c.get("result") == "unknown"],
        }
        for record in subject.eligibility.order_by("-pk")
    ]
    context.update({"records": records, "refusal": problem})
    return render_study_page(
        request, TEMPLATES + "eligibility.html", access, "eligibility", context, status=status
    )


def _rows(rows: Any, key: str, subject: Any, panel: Any, language: str) -> list[dict[str, Any]]:
    return [
        {
            "row": row,
            "to_fill": steps.fields_to_fill(
                row, key, subject.code, panel.screening_visit, language
            ),
        }
        for row in rows
    ]


# ---------------------------------------------------------------- randomization


@staff_page
@require_http_methods(["GET", "POST"])
def randomize(request: HttpRequest, study: str, code: str) -> HttpResponse:
    """A confirm step, then `randomize_subject`; afterwards the randomization and kit numbers
    (and the arm where the user is unblinded)."""
    access = study_access(request, study)
    subject = subject_of(access, code)
    allowed = steps.may(access, Step.RANDOMIZE, subject.site_id)
    problem = None
    error_text = ""
    status = 200
    if request.method == "POST" and steps.allocation_shown(access, subject) is None:
        if request.POST.get("confirm") != "yes":
            error_text = _("Confirm that you randomize this subject: tick the box.")
            status = 400
        else:
            try:
                randomize_subject(access.study, subject.code, access.user.username)
            except TrialdeskError as error:
                problem = refusal(error)
                status = problem.status
            else:
                messages.success(request, _("Subject %(code)s is randomized.") % {"code": code})
                return redirect(
                    reverse("pages:randomize", args=[study_key(access.study), subject.code])
                )
        subject = subject_of(access, code)
    last = subject.eligibility.order_by("-pk").values_list("verdict", flat=True).first()
    return render_study_page(
        request,
        TEMPLATES + "randomize.html",
        access,
        "randomize",
        {
            **_subject_context(access, subject),
            "allocation": steps.allocation_shown(access, subject),
            "allowed": allowed,
            "last_verdict": VERDICT_LABELS.get(last, last) if last else None,
            "last_verdict_badge": VERDICT_BADGES.get(last, "none") if last else None,
            "confirm_error": error_text,
            "refusal": problem,
        },
        status=status,
    )


# ---------------------------------------------------------------- treatment


@staff_page
@require_http_methods(["GET", "POST"])
def treatment(request: HttpRequest, study: str, code: str) -> HttpResponse:
    """The treatment plan's administrations with the kit reserved for each, and the record of
    the next one (`record_administration`)."""
    access = study_access(request, study)
    subject = subject_of(access, code)
    allowed = steps.may(access, Step.ADMINISTER, subject.site_id)
    errors = FieldErrors()
    problem = None
    status = 200
    values = {"administration_id": "", "administered_on": timezone.localdate().isoformat()}
    if request.method == "POST":
        values.update({name: request.POST.get(name, "") for name in values})
        plan = [a.id for a in access.study.protocol().treatment_plan]
        administration = choice(
            # From a hidden field beside the date: its error shows at the date.
            errors,
            "administered_on",
            _("Administration"),
            values["administration_id"],
            plan,
        )
        administered_on = past_date(
            errors, "administered_on", _("Date of administration"), values["administered_on"]
        )
        if not errors:
            try:
                kit_number = record_administration(
                    access.study,
                    subject.code,
                    administration,
                    administered_on,
                    access.user.username,
                )
            except TrialdeskError as error:
                problem = refusal(error)
                status = problem.status
            else:
                messages.success(
                    request,
                    _("Administration recorded with kit %(kit)s.") % {"kit": kit_number},
                )
                return redirect(
                    reverse("pages:treatment", args=[study_key(access.study), subject.code])
                )
        else:
            status = 400
        subject = subject_of(access, code)
    return render_study_page(
        request,
        TEMPLATES + "treatment.html",
        access,
        "treatment",
        {
            **_subject_context(access, subject),
            "rows": steps.treatment_rows(access.study.protocol(), subject),
            "allocation": steps.allocation_shown(access, subject),
            "allowed": allowed,
            "values": values,
            "errors": errors,
            "refusal": problem,
        },
        status=status,
    )


# ---------------------------------------------------------------- dispensing


@staff_page
@require_http_methods(["GET"])
def dispensing(request: HttpRequest, study: str) -> HttpResponse:
    """*Unblinded.* The randomized subjects of the user's unblinded sites with their kits and
    the kits' arms; a blinded user is told the list is not for their role (403)."""
    access = study_access(request, study)
    if not access.unblinded_anywhere:
        return render_study_page(
            request,
            TEMPLATES + "dispensing.html",
            access,
            "dispensing",
            {"blinded": True},
            status=403,
        )
    rows = steps.dispensing_rows(access)
    return render_study_page(
        request,
        TEMPLATES + "dispensing.html",
        access,
        "dispensing",
        {
            "rows": [
                {"row": row, "status_label": STATUS_LABELS.get(row.status, row.status)}
                for row in rows
            ],
            "many_sites": len({row.site for row in rows}) > 1,
        },
    )
