"""What every endpoint starts from: the authenticated user, their access to the study named in
the path (`trialdesk.store.access`, built once per request) and, for the subject endpoints,
the subject they may read."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest

from trialdesk.errors import BadInput
from trialdesk.store.access import Access, access_for
from trialdesk.store.errors import NotFound
from trialdesk.store.models import STUDY_TEXT, RoleAssignment, Study, StudyUser, Subject

#: The path of one subject; the subject endpoints extend it.
SUBJECT = "/studies/{study}/subjects/{code}"


def user_of(request: HttpRequest) -> StudyUser:
    """The owner of the request's token (set by `ApiTokenAuth`)."""
    return request.auth  # type: ignore[attr-defined, no-any-return]


def studies_of(user: StudyUser) -> QuerySet[Study]:
    """The studies where the user holds a live (not revoked) role.

    An EXISTS, not a join with DISTINCT: a study row carries its whole protocol text, which
    DISTINCT would have to compare. The text is deferred: `Study.protocol()` reads it once per
    process.
    """
    roles = RoleAssignment.objects.filter(study=OuterRef("pk"), user=user, revoked_at__isnull=True)
    return Study.objects.filter(Exists(roles)).defer(STUDY_TEXT)


def study_for(request: HttpRequest, study: str, version: str | None) -> Access:
    """The user's access to study `study` (protocol id), `version` if given, among their
    studies: what they may read there and where they are blinded.

    A study where the user holds no live role is "not found", like an unknown one.
    """
    user = user_of(request)
    studies = studies_of(user).filter(protocol_id=study)
    if version is not None:
        studies = studies.filter(version=version)
    found = list(studies.order_by("version"))
    if not found:
        named = f"{study} v{version}" if version is not None else study
        raise NotFound(f"no study {named} in the store")
    if len(found) > 1:
        versions = ", ".join(candidate.version for candidate in found)
        raise BadInput(f"study {study} has versions {versions}; name one with ?version=")
    return access_for(found[0], user)


def subject_for(
    request: HttpRequest, study: str, code: str, version: str | None
) -> tuple[Access, Subject]:
    """The user's access to the study, and the subject `code` if they may read it.

    Every subject endpoint starts here, writes included: a subject of another site is "not
    found" before the service could say which site it belongs to.
    """
    access = study_for(request, study, version)
    return access, access.subject(code)
