"""What every endpoint starts from: the authenticated user, the study named in the path and,
for the subject endpoints, the subject the user may read."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest

from trialdesk.errors import BadInput
from trialdesk.store.access import is_blinded, require_read
from trialdesk.store.errors import NotFound, NotPermitted
from trialdesk.store.models import RoleAssignment, Study, StudyUser, Subject

#: The path of one subject; the subject endpoints extend it.
SUBJECT = "/studies/{study}/subjects/{code}"


def user_of(request: HttpRequest) -> StudyUser:
    """The owner of the request's token (set by `ApiTokenAuth`)."""
    return request.auth  # type: ignore[attr-defined, no-any-return]


def studies_of(user: StudyUser) -> QuerySet[Study]:
    """The studies where the user holds a role.

    An EXISTS, not a join with DISTINCT: a study row carries its whole protocol text, which
    DISTINCT would have to compare.
    """
    roles = RoleAssignment.objects.filter(study=OuterRef("pk"), user=user)
    return Study.objects.filter(Exists(roles))


def study_for(request: HttpRequest, study: str, version: str | None) -> Study:
    """The study `study` (protocol id), `version` if given, among the user's studies.

    A study where the user holds no role is "not found", like an unknown one.
    """
    studies = studies_of(user_of(request)).filter(protocol_id=study)
    if version is not None:
        studies = studies.filter(version=version)
    found = list(studies.order_by("version"))
    if not found:
        named = f"{study} v{version}" if version is not None else study
        raise NotFound(f"no study {named} in the store")
    if len(found) > 1:
        versions = ", ".join(candidate.version for candidate in found)
        raise BadInput(f"study {study} has versions {versions}; name one with ?version=")
    return found[0]


def subject_for(
    request: HttpRequest, study: str, code: str, version: str | None
) -> tuple[Study, StudyUser, Subject]:
    """The study, the user and the subject `code`, if the user may read it.

    Every subject endpoint starts here, writes included: a subject of another site is "not
    found" before the service could say which site it belongs to.
    """
    chosen, user = study_for(request, study, version), user_of(request)
    return chosen, user, require_read(chosen, user, code)


def refuse_blinded(study: Study, user: StudyUser, what: str) -> None:
    """NotPermitted for a blinded user, saying only that `what` is for unblinded roles."""
    if is_blinded(study, user):
        raise NotPermitted(f"{study}: {what} is shown to unblinded roles only")
