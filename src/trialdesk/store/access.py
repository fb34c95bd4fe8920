"""Who may read what: blinding and site scope, for the REST API and the exports.

A role assigned without a site is study-wide; with a site it covers that site's subjects
only. Every role is blinded except the pharmacist, and the statistician once the database is
locked. A subject outside the reader's sites is "not found", never "forbidden": a site-bound
reader must not learn that a code exists at another site. Pure reads; nothing here writes.
"""

from __future__ import annotations

from django.db.models import Exists, Q, QuerySet

from trialdesk.store.errors import NotFound
from trialdesk.store.models import Role, RoleAssignment, Study, StudyUser, Subject


def _assignments(study: Study, user: StudyUser) -> QuerySet[RoleAssignment]:
    return RoleAssignment.objects.filter(study=study, user=user)


def is_blinded(study: Study, user: StudyUser) -> bool:
    """True unless the user is a pharmacist, or a statistician of a locked study."""
    roles = set(_assignments(study, user).values_list("role", flat=True))
    if Role.PHARMACIST in roles:
        return False
    return not (study.locked and Role.STATISTICIAN in roles)


def is_study_wide(study: Study, user: StudyUser) -> bool:
    """True if one of the user's roles in the study is not bound to a site."""
    return _assignments(study, user).filter(site__isnull=True).exists()


def visible_subjects(study: Study, user: StudyUser) -> QuerySet[Subject]:
    """The study's subjects the user may read: all for a study-wide role, else their sites'.

    The roles are read inside the subjects' query, not by a query of their own.
    """
    assignments = _assignments(study, user)
    return (
        Subject.objects.filter(study=study)
        .filter(
            Exists(assignments.filter(site__isnull=True)) | Q(site__in=assignments.values("site"))
        )
        .select_related("site")
    )


def require_read(study: Study, user: StudyUser, subject: str) -> Subject:
    """The subject with code `subject`, if the user may read it; NotFound otherwise.

    The message is the one an unknown code gets, so it confirms nothing about other sites.
    """
    found = visible_subjects(study, user).filter(code=subject).first()
    if found is None:
        raise NotFound(f"{study}: no subject {subject!r}")
    found.study = study  # what reads the subject's protocol needs no query for it
    return found
