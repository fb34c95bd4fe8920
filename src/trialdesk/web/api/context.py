"""What every endpoint starts from: the authenticated user and the study named in the path."""

from __future__ import annotations

from django.http import HttpRequest

from trialdesk.errors import BadInput
from trialdesk.store.access import is_blinded
from trialdesk.store.errors import NotFound, NotPermitted
from trialdesk.store.models import Study, StudyUser

#: The path of one subject; the subject endpoints extend it.
SUBJECT = "/studies/{study}/subjects/{code}"


def user_of(request: HttpRequest) -> StudyUser:
    """The owner of the request's token (set by `ApiTokenAuth`)."""
    return request.auth  # type: ignore[attr-defined, no-any-return]


def study_for(request: HttpRequest, study: str, version: str | None) -> Study:
    """The study `study` (protocol id), `version` if given, among the user's studies.

    A study where the user holds no role is "not found", like an unknown one.
    """
    studies = Study.objects.filter(protocol_id=study, role_assignments__user=user_of(request))
    if version is not None:
        studies = studies.filter(version=version)
    found = list(studies.distinct().order_by("version"))
    if not found:
        named = f"{study} v{version}" if version is not None else study
        raise NotFound(f"no study {named} in the store")
    if len(found) > 1:
        versions = ", ".join(candidate.version for candidate in found)
        raise BadInput(f"study {study} has versions {versions}; name one with ?version=")
    return found[0]


def refuse_blinded(study: Study, request: HttpRequest, what: str) -> None:
    """NotPermitted for a blinded user, saying only that `what` is for unblinded roles."""
    if is_blinded(study, user_of(request)):
        raise NotPermitted(f"{study}: {what} is shown to unblinded roles only")
