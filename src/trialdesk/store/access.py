"""The one access policy: for a user and a study, which sites' data they read and, per site,
whether they are blinded. Every read of clinical data by a person gets its rows and fields here.

A role assigned without a site is study-wide; with a site it covers that site's subjects only.
Revoked roles and deactivated users grant nothing. Who is blinded follows from the protocol's
masking (`masked_roles`): a user with several roles is blinded at a site unless an unblinded
role covers that site, and an unblinded role bound to a site unblinds that site only.

A subject outside the reader's sites is "not found", never "forbidden": a site-bound reader
must not learn that a code exists at another site. Pure reads; nothing here writes.

Efficacy results by arm (reports, datasets with arms, exports with arms) are a separate right
from seeing a subject's arm: a pharmacist sees kits to dispense them, not results. Results by
arm are for the statistician once the database is locked and for the data monitoring
committee's statistician at any time, both study-wide (`may_see_results_by_arm`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet

from trialdesk.store.audit import study_label
from trialdesk.store.errors import NotFound, NotPermitted
from trialdesk.store.models import (
    Allocation,
    AllocationSlot,
    AuditEvent,
    Kit,
    Role,
    RoleAssignment,
    Site,
    Study,
    StudyUser,
    Subject,
    UnblindingEvent,
)

if TYPE_CHECKING:
    from trialdesk.protocol import Protocol

#: The masked parties of ClinicalTrials.gov (`design.who_masked`) that blind each site role:
#: research staff are masked with the investigator or the care provider; outcome assessors
#: work in the investigator's team, so they are masked with either.
SITE_ROLE_PARTIES: dict[Role, frozenset[str]] = {
    Role.INVESTIGATOR: frozenset({"INVESTIGATOR", "CARE_PROVIDER"}),
    Role.COORDINATOR: frozenset({"INVESTIGATOR", "CARE_PROVIDER"}),
    Role.ASSESSOR: frozenset({"OUTCOMES_ASSESSOR", "INVESTIGATOR"}),
}
#: The sponsor's roles review the sites' data and talk with their staff: they are masked as
#: soon as any site party is (a participant-only blind leaves them, like the sites, open).
SPONSOR_ROLES = frozenset({Role.ADMIN, Role.DATA_MANAGER, Role.MONITOR, Role.STATISTICIAN})
SITE_PARTIES = frozenset({"INVESTIGATOR", "CARE_PROVIDER", "OUTCOMES_ASSESSOR"})
ALL_PARTIES = SITE_PARTIES | {"PARTICIPANT"}
#: Who may see efficacy results by arm, and when (study-wide roles only).
RESULTS_BY_ARM_ANY_TIME = frozenset({Role.DMC_STATISTICIAN})
RESULTS_BY_ARM_AFTER_LOCK = frozenset({Role.STATISTICIAN})

#: Audit events of these objects describe the unblinded allocation list (block sizes, digest).
UNBLINDED_AUDIT_OBJECTS = ("AllocationList",)


def masked_parties(protocol: Protocol) -> frozenset[str]:
    """The parties the protocol masks. A blind that does not say who is masked masks everyone:
    when a protocol does not say who may know, nobody does."""
    if protocol.design.masking.value == "NONE":
        return frozenset()
    named = frozenset(party.value for party in protocol.design.who_masked)
    return named or ALL_PARTIES


def masked_roles(protocol: Protocol, locked: bool) -> frozenset[Role]:
    """The roles blinded in a study with this protocol; the statistician is unblinded by the
    database lock. The pharmacist (who handles kits) and the DMC statistician are never
    blinded. docs/store.md states the same table."""
    parties = masked_parties(protocol)
    blinded = {role for role, by in SITE_ROLE_PARTIES.items() if by & parties}
    if parties & SITE_PARTIES:
        blinded |= SPONSOR_ROLES
        if locked:
            blinded.discard(Role.STATISTICIAN)
    return frozenset(blinded)


@dataclass(frozen=True)
class Grant:
    """One live role assignment: a role at a site (`site_id`), or study-wide (None)."""

    role: Role
    site_id: int | None
    site_code: str | None = None


@dataclass(frozen=True)
class Access:
    """What `user` may read in `study`: built once per request by `access_for`."""

    study: Study
    user: StudyUser
    grants: tuple[Grant, ...]
    blinded_roles: frozenset[Role]

    # ------------------------------------------------------------ sites and blinding

    @property
    def has_role(self) -> bool:
        return bool(self.grants)

    @cached_property
    def study_wide(self) -> bool:
        """True if one of the user's roles is not bound to a site."""
        return any(grant.site_id is None for grant in self.grants)

    @cached_property
    def site_ids(self) -> frozenset[int]:
        """The sites the user's site-bound roles cover (all sites if `study_wide`)."""
        return frozenset(grant.site_id for grant in self.grants if grant.site_id is not None)

    @cached_property
    def _unblinded_grants(self) -> tuple[Grant, ...]:
        return tuple(grant for grant in self.grants if grant.role not in self.blinded_roles)

    @cached_property
    def unblinded_everywhere(self) -> bool:
        """True if an unblinded role of the user is study-wide."""
        return any(grant.site_id is None for grant in self._unblinded_grants)

    @cached_property
    def unblinded_site_ids(self) -> frozenset[int]:
        """The sites where the user is unblinded (see `unblinded_everywhere` for all)."""
        return frozenset(g.site_id for g in self._unblinded_grants if g.site_id is not None)

    @property
    def unblinded_anywhere(self) -> bool:
        return self.unblinded_everywhere or bool(self.unblinded_site_ids)

    @property
    def blinded_anywhere(self) -> bool:
        """True if some site the user reads is one where they are blinded."""
        if self.unblinded_everywhere:
            return False
        if self.study_wide:
            return True
        return bool(self.site_ids - self.unblinded_site_ids)

    def unblinded_site_codes(self) -> list[str]:
        """The codes of the sites where the user is unblinded, in code order: every site of the
        study for a study-wide unblinded role (one query then), else their unblinded sites'."""
        if self.unblinded_everywhere:
            return list(self.sites().order_by("code").values_list("code", flat=True))
        return sorted({g.site_code for g in self._unblinded_grants if g.site_code is not None})

    def blinded_at(self, site_id: int) -> bool:
        """True unless an unblinded role of the user covers the site."""
        return not (self.unblinded_everywhere or site_id in self.unblinded_site_ids)

    def may(self, roles: Iterable[Role], site_id: int | None = None) -> bool:
        """True if the user holds one of `roles` at `site_id` (or study-wide); with no site,
        only a study-wide grant counts."""
        wanted = frozenset(roles)
        return any(
            grant.role in wanted and grant.site_id in (None, site_id) for grant in self.grants
        )

    # ------------------------------------------------------------ rows

    def sites(self) -> QuerySet[Site]:
        sites = Site.objects.filter(study=self.study)
        return sites if self.study_wide else sites.filter(pk__in=self.site_ids)

    def subjects(self) -> QuerySet[Subject]:
        """The study's subjects the user may read: all for a study-wide role, else their
        sites'."""
        subjects = Subject.objects.filter(study=self.study).select_related("site")
        return subjects if self.study_wide else subjects.filter(site_id__in=self.site_ids)

    def subject(self, code: str) -> Subject:
        """The subject with this code, if the user may read it; NotFound otherwise.

        The message is the one an unknown code gets, so it confirms nothing about other sites.
        """
        found = self.subjects().filter(code=code).first() if self.has_role else None
        if found is None:
            raise NotFound(f"{self.study}: no subject {code!r}")
        found.study = self.study  # what reads the subject's protocol needs no query for it
        return found

    def audit_events(self) -> QuerySet[AuditEvent]:
        """The study's audit events the user may read: events of the subjects of their sites
        (and, for study-wide roles, of the study itself); the allocation list's events only
        for a user unblinded at every site."""
        events = AuditEvent.objects.filter(study=study_label(self.study))
        if not self.has_role:
            return events.none()
        if not self.study_wide:
            events = events.filter(subject__in=self.subjects().values("code"))
        if not self.unblinded_everywhere:
            events = events.exclude(object_type__in=UNBLINDED_AUDIT_OBJECTS)
        return events

    # ------------------------------------------------------------ unblinded reads

    def unblinded(self, site_id: int, **fields: Any) -> dict[str, Any]:
        """`fields` if the user is unblinded at the site, else nothing: how a response gains
        its unblinded fields (`detail.update(access.unblinded(site, arm=...))`)."""
        return {} if self.blinded_at(site_id) else fields

    def arms(self) -> list[dict[str, str]] | None:
        """The protocol's arms for a user unblinded at some site; None for the blinded."""
        if not self.unblinded_anywhere:
            return None
        return [
            {"id": arm.id, "label": arm.label, "type": arm.type.value}
            for arm in self.study.protocol().arms
        ]

    def require_unblinded(self, what: str, site_id: int | None = None) -> None:
        """NotPermitted unless the user is unblinded at `site_id` (or somewhere, with none)."""
        allowed = self.unblinded_anywhere if site_id is None else not self.blinded_at(site_id)
        if not allowed:
            raise NotPermitted(f"{self.study}: {what} is shown to unblinded roles only")

    def kits(self, subject: Subject) -> QuerySet[Kit]:
        """*Unblinded.* The kits of the subject's slot, in plan order."""
        self.require_unblinded("the kit list", subject.site_id)
        return Kit.objects.filter(slot__allocation__subject=subject).order_by(
            "administration_index"
        )

    def allocation_slots(self) -> QuerySet[AllocationSlot]:
        """*Unblinded.* The allocation list's slots of the strata the user is unblinded for:
        every stratum when unblinded study-wide, else the strata of their unblinded sites
        (strata that are not bound to one site are shown to study-wide users only)."""
        self.require_unblinded("the allocation list")
        slots = AllocationSlot.objects.filter(stratum__study=self.study)
        if self.unblinded_everywhere:
            return slots
        codes = Site.objects.filter(pk__in=self.unblinded_site_ids).values_list("code", flat=True)
        return slots.filter(stratum_site_q(codes))

    def emergency_arm(self, subject: Subject) -> str | None:
        """The arm id of `subject` for the investigator who broke its blind in an emergency
        (`services.unblind_subject`); None for everyone else, and for them too once they no
        longer hold an investigator role covering the subject's site.

        The one read that gives a blinded user an arm: this subject's, to the user named on
        one of its `UnblindingEvent`s. `subject` must come from this access (`subject()`)."""
        if subject.study_id != self.study.pk or not self.may([Role.INVESTIGATOR], subject.site_id):
            return None
        if not UnblindingEvent.objects.filter(subject=subject, user=self.user).exists():
            return None
        return (
            Allocation.objects.filter(subject=subject).values_list("slot__arm", flat=True).first()
        )

    # ------------------------------------------------------------ results by arm

    @property
    def may_see_results_by_arm(self) -> bool:
        """True for a study-wide DMC statistician, and a study-wide statistician after lock."""
        roles = RESULTS_BY_ARM_ANY_TIME | (
            RESULTS_BY_ARM_AFTER_LOCK if self.study.locked else set()
        )
        return self.may(roles)

    def require_results_by_arm(self, what: str) -> None:
        if not self.may_see_results_by_arm:
            raise NotPermitted(
                f"{self.study}: {what} by arm is for the study-wide statistician after the "
                "database lock or the data monitoring committee's statistician; "
                f"{self.user} gets blinded output"
            )


def stratum_site_q(codes: Iterable[str]) -> Q:
    """Strata whose key starts with one of these sites (`site=01` or `site=01,...`)."""
    from trialdesk.randomization.scheme import SITE_FACTOR

    q = Q(pk__in=[])
    for code in codes:
        key = f"{SITE_FACTOR}={code}"
        q |= Q(stratum__key=key) | Q(stratum__key__startswith=f"{key},")
    return q


def access_for(study: Study, user: StudyUser) -> Access:
    """The user's access to the study, from one query of their live role assignments."""
    rows = RoleAssignment.objects.filter(
        study=study, user=user, revoked_at__isnull=True, user__deactivated_at__isnull=True
    ).values_list("role", "site_id", "site__code")
    grants = tuple(Grant(Role(role), site_id, code) for role, site_id, code in rows)
    return Access(study, user, grants, masked_roles(study.protocol(), study.locked))


def accesses_of(user: StudyUser) -> list[Access]:
    """The user's access to every study where they hold a live role, by protocol id and
    version, from one query (`/me`, `/studies`)."""
    rows = (
        RoleAssignment.objects.filter(
            user=user, revoked_at__isnull=True, user__deactivated_at__isnull=True
        )
        .select_related("study", "site")
        .order_by("study__protocol_id", "study__version", "pk")
    )
    grants: dict[int, tuple[Study, list[Grant]]] = {}
    for row in rows:
        study, held = grants.setdefault(row.study_id, (row.study, []))
        held.append(Grant(Role(row.role), row.site_id, row.site.code if row.site else None))
    return [
        Access(study, user, tuple(held), masked_roles(study.protocol(), study.locked))
        for study, held in grants.values()
    ]
