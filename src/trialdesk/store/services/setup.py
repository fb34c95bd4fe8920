"""Setting a study up and closing it: protocol and allocation lists, sites, users, lock.

These are the operator's steps (run from the store's host); `by` names the operator. Users and
role assignments are never deleted, so the audit trail's names keep pointing at someone: a
user is deactivated, a role is revoked, both with a reason. The listings at the end are the
operator's reads for `trialdesk user|site list`.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.db.models import Count, Exists, OuterRef, Prefetch, Q

from trialdesk.errors import BadInput, RandomizationError
from trialdesk.store.audit import audited_state, audited_write, sha256_hex, study_label
from trialdesk.store.errors import AlreadyExists, DatabaseLockRefused, NotFound
from trialdesk.store.models import (
    AllocationList,
    AllocationSlot,
    Kit,
    Query,
    QueryStatus,
    Role,
    RoleAssignment,
    Site,
    Stratum,
    Study,
    StudyUser,
    Subject,
)
from trialdesk.store.services.common import current_study, require_reason, writable_study
from trialdesk.store.services.signatures import unsigned_casebooks

#: Slots generated per stratum when the protocol states no enrollment.
DEFAULT_SLOTS_PER_STRATUM = 100
SITE_NAME_LENGTH = Site._meta.get_field("name").max_length
USERNAME_LENGTH = StudyUser._meta.get_field("username").max_length
FULL_NAME_LENGTH = StudyUser._meta.get_field("full_name").max_length


def stratum_key(stratum: tuple[tuple[str, str], ...]) -> str:
    """("site", "01"), ("kl_grade", "2") -> "site=01,kl_grade=2"."""
    return ",".join(f"{factor}={level}" for factor, level in stratum)


def create_study(reference: str | Path, by: str, text: str | None = None) -> Study:
    """Load a protocol (shipped id or file) and generate its allocation and kit lists.

    With `text` (an uploaded file's content), that is the protocol and `reference` only the
    file's name, which the protocol's errors name as `NAME:LINE`.

    Each stratum gets as many slots as the study's whole enrollment, so no stratum can run
    out however recruitment is spread. The seed comes from `secrets` and is kept with the
    list (unblinded tables only).
    """
    from trialdesk.protocol import parse_protocol, protocol_source
    from trialdesk.randomization.blocks import BlockDesign, generate_allocation_list
    from trialdesk.randomization.kits import assign_kits
    from trialdesk.randomization.scheme import scheme_from_protocol

    if text is None:
        name, text = protocol_source(reference)
    else:
        name = str(reference)
    protocol = parse_protocol(text, name)
    scheme = scheme_from_protocol(protocol)
    if scheme.method != "blocks":
        raise RandomizationError(
            f"{name}: randomization.method is {scheme.method!r}; the store allocates from "
            "stratified permuted block lists only (minimization in the store is not built yet)"
        )
    slots_per_stratum = protocol.enrollment.count or DEFAULT_SLOTS_PER_STRATUM
    design = BlockDesign(scheme.arms, scheme.block_sizes, scheme.factors, slots_per_stratum)
    allocation_list = generate_allocation_list(design)
    kits_per_subject = len(protocol.treatment_plan)
    kit_list = assign_kits(allocation_list, kits_per_subject, 0, allocation_list.seed)

    with audited_write(by) as trail:
        if Study.objects.filter(protocol_id=protocol.id, version=protocol.version).exists():
            raise AlreadyExists(f"{protocol.id} v{protocol.version} is already in the store")
        study = Study.objects.create(
            protocol_id=protocol.id,
            version=protocol.version,
            protocol_yaml=text,
            protocol_sha256=sha256_hex(text),
            created_at=trail.at,
        )
        trail.study = study_label(study)
        trail.created(study, "study.created")
        strata = Stratum.objects.bulk_create(
            Stratum(study=study, number=number, key=stratum_key(stratum_list.stratum))
            for number, stratum_list in enumerate(allocation_list.strata, 1)
        )
        slot_rows = [
            AllocationSlot(
                stratum=stratum,
                seq=slot.seq,
                arm=slot.arm,
                block=slot.block,
                block_size=slot.block_size,
            )
            for stratum, stratum_list in zip(strata, allocation_list.strata, strict=True)
            for slot in stratum_list.slots(allocation_list.arm_ids)
        ]
        AllocationSlot.objects.bulk_create(slot_rows, batch_size=2000)
        slots = {(slot.stratum.key, slot.seq): slot for slot in slot_rows}
        Kit.objects.bulk_create(
            (
                Kit(
                    study=study,
                    kit_number=kit.kit_number,
                    arm=kit.arm,
                    slot=slots[(stratum_key(kit.stratum), kit.seq)]
                    if kit.stratum is not None and kit.seq is not None
                    else None,
                    administration_index=kit.administration,
                )
                for kit in kit_list.kits
            ),
            batch_size=2000,
        )
        stored_list = AllocationList.objects.create(
            study=study,
            algorithm=allocation_list.algorithm,
            algorithm_version=allocation_list.version,
            seed=str(allocation_list.seed),
            block_sizes=list(scheme.block_sizes),
            slots_per_stratum=slots_per_stratum,
            kits_per_subject=kits_per_subject,
        )
        trail.created(stored_list, "allocation_list.generated")
    return study


def add_site(study: Study, code: str, by: str, name: str | None = None) -> Site:
    """Open a site of the protocol (its name from the protocol unless given).

    When the protocol stratifies by site, only its listed sites have allocation lists; a new
    site needs a new protocol version.
    """
    from trialdesk.protocol.loading import PATTERN_MEANINGS
    from trialdesk.protocol.model import SITE_CODE_PATTERN

    if not isinstance(code, str) or not re.fullmatch(SITE_CODE_PATTERN, code):
        raise BadInput(
            f"{study}: site code {code!r}; expected {PATTERN_MEANINGS[SITE_CODE_PATTERN]}"
        )
    if name is not None and not 0 < len(name) <= SITE_NAME_LENGTH:
        raise BadInput(
            f"{study}: site {code}: name {name!r}; expected 1 to {SITE_NAME_LENGTH} characters"
        )
    protocol = study.protocol()
    listed = {site.id: site for site in protocol.sites}
    if code not in listed and (
        protocol.randomization is None or protocol.randomization.stratify_by_site
    ):
        raise BadInput(
            f"{study}: site {code!r} is not in the protocol's sites "
            f"({', '.join(listed) or 'none'}); add it in a new protocol version"
        )
    with audited_write(by, study) as trail:
        study = writable_study(study)
        if Site.objects.filter(study=study, code=code).exists():
            raise AlreadyExists(f"{study}: site {code} is already open")
        site = Site.objects.create(
            study=study, code=code, name=name or (listed[code].name if code in listed else code)
        )
        trail.created(site, "site.added")
    return site


def add_user(
    study: Study,
    username: str,
    role: str,
    by: str,
    site_code: str | None = None,
    full_name: str = "",
) -> RoleAssignment:
    """Give `username` (created on first use) a role in the study, study-wide or at a site.

    `full_name`, if given, becomes the user's printed name (`set_full_name`): the name their
    electronic signatures show."""
    full_name = _checked_full_name(username, full_name, required=False)
    if role not in Role.values:
        raise BadInput(f"role {role!r}; expected one of {', '.join(Role.values)}")
    if (
        not isinstance(username, str)
        or not username.strip()
        or username != username.strip()
        or len(username) > USERNAME_LENGTH
    ):
        raise BadInput(
            f"user name {username!r}: expected a name of at most {USERNAME_LENGTH} characters "
            "without surrounding spaces"
        )
    with audited_write(by, study) as trail:
        study = writable_study(study)
        site = None
        if site_code is not None:
            site = Site.objects.filter(study=study, code=site_code).first()
            if site is None:
                raise NotFound(f"{study}: no open site {site_code!r}")
        user = StudyUser.objects.filter(username=username).first()
        if user is None:
            user = StudyUser.objects.create(
                username=username, created_at=trail.at, full_name=full_name
            )
            trail.created(user, "user.added")
        elif user.deactivated_at is not None:
            raise BadInput(
                f"user {username} was deactivated at {user.deactivated_at.isoformat()}: "
                "a deactivated user is given no roles"
            )
        elif full_name and full_name != user.full_name:
            before = audited_state(user)
            user.full_name = full_name
            user.save(update_fields=["full_name"])
            trail.changed(user, before, "user.named")
        # A revoked assignment is kept; the same role can be given again as a new one.
        if RoleAssignment.objects.filter(
            user=user, study=study, role=role, site=site, revoked_at__isnull=True
        ).exists():
            where = f"site {site_code}" if site else "study-wide"
            raise AlreadyExists(f"{study}: {username} is already {role} ({where})")
        assignment = RoleAssignment.objects.create(user=user, study=study, role=role, site=site)
        trail.created(assignment, "role.assigned")
    return assignment


def _checked_full_name(username: str, full_name: str, *, required: bool) -> str:
    if not isinstance(full_name, str) or (full_name and full_name != full_name.strip()):
        raise BadInput(
            f"printed name of {username}: {full_name!r}; expected a name without surrounding spaces"
        )
    if (required and not full_name) or len(full_name) > FULL_NAME_LENGTH:
        raise BadInput(
            f"printed name of {username}: {full_name!r}; expected 1 to {FULL_NAME_LENGTH} "
            "characters (the name their electronic signatures show)"
        )
    return full_name


def set_full_name(username: str, full_name: str, by: str) -> StudyUser:
    """Set the user's printed name, which their electronic signatures show (21 CFR 11.50).

    A store-wide write, audited outside any study's trail (`user.named`). Signatures already
    made keep the name they were made with.
    """
    full_name = _checked_full_name(username, full_name, required=True)
    with audited_write(by) as trail:
        user = StudyUser.objects.select_for_update().filter(username=username).first()
        if user is None:
            raise NotFound(f"user {username!r} is not in the store")
        if user.deactivated_at is not None:
            raise BadInput(
                f"user {username} was deactivated at {user.deactivated_at.isoformat()}: "
                "a deactivated user's name is kept as it was"
            )
        if user.full_name != full_name:
            before = audited_state(user)
            user.full_name = full_name
            user.save(update_fields=["full_name"])
            trail.changed(user, before, "user.named")
    return user


def held_roles(assignments: list[RoleAssignment]) -> str:
    """ "coordinator at site 01, monitor (study-wide)", or "no role" when there is none."""
    return (
        ", ".join(
            assignment.role
            + (f" at site {assignment.site.code}" if assignment.site else " (study-wide)")
            for assignment in assignments
        )
        or "no role"
    )


def deactivate_user(username: str, reason: str, by: str) -> StudyUser:
    """Deactivate a user in every study: their tokens and roles stop letting them in.

    The user and their assignments are kept (the audit trail names them); a store-wide write,
    audited outside any study's trail. Allowed on locked studies too: taking access away is
    never refused.
    """
    reason = require_reason(reason, f"deactivate user {username}")
    with audited_write(by) as trail:
        user = StudyUser.objects.filter(username=username).first()
        if user is None:
            raise NotFound(f"user {username!r} is not in the store")
        if user.deactivated_at is not None:
            raise BadInput(
                f"user {username} was already deactivated at {user.deactivated_at.isoformat()}"
            )
        before = audited_state(user)
        user.deactivated_at = trail.at
        user.save(update_fields=["deactivated_at"])
        if user.account is not None:  # signed-in sessions end with it
            user.account.is_active = False
            user.account.save(update_fields=["is_active"])
        trail.changed(user, before, "user.deactivated", reason)
    return user


def revoke_role(
    study: Study,
    username: str,
    role: str,
    reason: str,
    by: str,
    site_code: str | None = None,
) -> RoleAssignment:
    """Revoke one of the user's roles in the study (study-wide, or the one at `site_code`).

    The assignment is kept with its revocation time and grants nothing from then on. Allowed
    on a locked study: taking access away is never refused.
    """
    if role not in Role.values:
        raise BadInput(f"role {role!r}; expected one of {', '.join(Role.values)}")
    where = f"at site {site_code}" if site_code is not None else "study-wide"
    reason = require_reason(reason, f"{study}: revoke {role} {where} of {username}")
    with audited_write(by, study) as trail:
        study = current_study(study)
        user = StudyUser.objects.filter(username=username).first()
        if user is None:
            raise NotFound(f"user {username!r} is not in the store")
        live = list(
            RoleAssignment.objects.filter(user=user, study=study, revoked_at__isnull=True)
            .select_related("user", "site")
            .order_by("role", "site__code")
        )
        found = [
            assignment
            for assignment in live
            if assignment.role == role
            and (assignment.site.code if assignment.site else None) == site_code
        ]
        if not found:
            raise NotFound(
                f"{study}: {username} is not {role} {where}; "
                f"their roles in this study are {held_roles(live)}"
            )
        assignment = found[0]
        before = audited_state(assignment)
        assignment.revoked_at = trail.at
        assignment.save(update_fields=["revoked_at"])
        trail.changed(assignment, before, "role.revoked", reason)
    return assignment


def lock_study(study: Study, by: str, reason: str = "", *, override_reason: str = "") -> Study:
    """Lock the database: every later write to the study is refused. The reason (why now:
    "final database lock", "interim analysis") is optional and kept in the audit event.

    Refused (`DatabaseLockRefused`, with the counts) while queries are open or answered but not
    closed, or casebooks of randomized subjects have no valid signature, unless
    `override_reason` says why the study is locked anyway (an interim lock, say): it is kept
    in the audit event with what was overridden.
    """
    if not isinstance(reason, str) or not isinstance(override_reason, str):
        raise BadInput(f"lock {study}: the reason and the override reason are text")
    with audited_write(by, study) as trail:
        study = writable_study(study)
        queries = Query.objects.filter(subject__study=study)
        open_queries = queries.filter(status=QueryStatus.OPEN).count()
        answered = queries.filter(status=QueryStatus.ANSWERED).count()
        randomized = Subject.objects.filter(study=study, allocation__isnull=False)
        unsigned = unsigned_casebooks(randomized).count()
        blocking = [
            f"{count} {what}"
            for count, what in (
                (open_queries, "open quer" + ("y" if open_queries == 1 else "ies")),
                (answered, "answered quer" + ("y" if answered == 1 else "ies") + " not closed"),
                (
                    unsigned,
                    "casebook"
                    + ("" if unsigned == 1 else "s")
                    + " of randomized subjects without a valid investigator's signature",
                ),
            )
            if count
        ]
        kept = reason.strip()
        if blocking:
            if not override_reason.strip():
                raise DatabaseLockRefused(
                    f"{study} cannot be locked: {', '.join(blocking)}; close the queries and "
                    "have the casebooks signed, or lock with an override reason"
                )
            overridden = f"override of {', '.join(blocking)}: {override_reason.strip()}"
            kept = f"{kept}; {overridden}" if kept else overridden
        before = audited_state(study)
        study.locked = True
        study.save(update_fields=["locked"])
        trail.changed(study, before, "study.locked", kept)
    return study


def unlock_study(study: Study, reason: str, by: str) -> Study:
    """Unlock a locked database, with a reason; the study stays flagged as reopened."""
    reason = require_reason(reason, f"unlock {study}")
    with audited_write(by, study) as trail:
        study = current_study(study)
        if not study.locked:
            raise BadInput(f"{study} is not locked")
        before = audited_state(study)
        study.locked = False
        study.reopened_after_lock = True
        study.save(update_fields=["locked", "reopened_after_lock"])
        trail.changed(study, before, "study.unlocked", reason)
    return study


def find_study(protocol_id: str | None = None, version: str | None = None) -> Study:
    """The study named, or the only study in the store when none is named."""
    studies = Study.objects.all()
    if protocol_id is not None:
        studies = studies.filter(protocol_id=protocol_id)
    if version is not None:
        studies = studies.filter(version=version)
    found = list(studies.order_by("protocol_id", "version")[:2])
    if len(found) == 1:
        return found[0]
    named = " ".join(part for part in (protocol_id, version and f"v{version}") if part)
    if not found:
        raise NotFound(f"no study {named} in the store".replace("  ", " "))
    raise BadInput(f"more than one study {named} in the store; name one with --study".strip())


# ---------------------------------------------------------------- the operator's listings


def list_users(study: Study | None = None) -> list[StudyUser]:
    """Users by name, each with `listed_roles` (revoked ones too, study then role order) and
    `tokens_total` / `tokens_live` counts; with `study`, only users who have held a role in
    it, and only those roles. Three queries whatever the number of users.
    """
    roles = RoleAssignment.objects.select_related("study", "site").order_by(
        "study__protocol_id", "study__version", "role", "site__code", "pk"
    )
    users = StudyUser.objects.order_by("username")
    if study is not None:
        roles = roles.filter(study=study)
        users = users.filter(
            Exists(RoleAssignment.objects.filter(user=OuterRef("pk"), study=study))
        )
    return list(
        users.annotate(
            tokens_total=Count("tokens"),
            tokens_live=Count("tokens", filter=Q(tokens__revoked_at__isnull=True)),
        ).prefetch_related(Prefetch("roles", queryset=roles, to_attr="listed_roles"))
    )


def list_sites(study: Study | None = None) -> list[Site]:
    """Sites by study and code, each with `subject_count` and `user_count`: active users with
    a live role bound to the site (study-wide roles are not counted)."""
    sites = Site.objects.select_related("study").order_by(
        "study__protocol_id", "study__version", "code"
    )
    if study is not None:
        sites = sites.filter(study=study)
    return list(
        sites.annotate(
            subject_count=Count("subjects", distinct=True),
            user_count=Count(
                "roleassignment__user",
                filter=Q(
                    roleassignment__revoked_at__isnull=True,
                    roleassignment__user__deactivated_at__isnull=True,
                ),
                distinct=True,
            ),
        )
    )
