"""The tables of the study store, in the trial's own words.

Only `trialdesk.store.services` writes these tables; every write appends `AuditEvent`s in the
same transaction. Tables marked *unblinded* (AllocationList, AllocationSlot, the `arm` of Kit)
hold what blinded roles must never see: nothing outside the services reads them for a blinded
user. No direct identifiers are stored: subjects are SITE-NNN codes with year of birth, age at
screening and sex.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models

from trialdesk.records.adverse_event import ADVERSE_EVENT, TERM_LENGTH
from trialdesk.store.lifecycle import SubjectStatus

if TYPE_CHECKING:
    from trialdesk.protocol import Protocol


#: Parsed protocols by their text's SHA-256: a stored study's text never changes, so a process
#: reads and parses it once and the pages may leave it out of their queries (`STUDY_TEXT`).
_PARSED_PROTOCOLS: dict[str, Protocol] = {}
_PARSED_LIMIT = 16
#: The study's protocol text: what a query of studies may defer (`.defer(STUDY_TEXT)`).
STUDY_TEXT = "protocol_yaml"


class Study(models.Model):
    """One version of a protocol loaded into the store, with its YAML text as loaded."""

    protocol_id = models.CharField(max_length=100)
    version = models.CharField(max_length=40)
    protocol_yaml = models.TextField()
    protocol_sha256 = models.CharField(max_length=64)
    locked = models.BooleanField(default=False)
    #: Set for good when a locked database is unlocked, so reports can flag the study.
    reopened_after_lock = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["protocol_id", "version"], name="study_version_once")
        ]

    def __str__(self) -> str:
        return f"{self.protocol_id} v{self.version}"

    def protocol(self) -> Protocol:
        """The protocol model of the stored text (parsed once per process; the text is read
        from the database then, if the query deferred it)."""
        parsed = _PARSED_PROTOCOLS.get(self.protocol_sha256)
        if parsed is None:
            from trialdesk.protocol import parse_protocol

            if len(_PARSED_PROTOCOLS) >= _PARSED_LIMIT:
                _PARSED_PROTOCOLS.clear()
            parsed = parse_protocol(self.protocol_yaml, f"{self.protocol_id}.yaml")
            _PARSED_PROTOCOLS[self.protocol_sha256] = parsed
        return parsed


class Site(models.Model):
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="sites")
    code = models.CharField(max_length=6)
    name = models.CharField(max_length=200)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "code"], name="site_code_once")]

    def __str__(self) -> str:
        return self.code


class Role(models.TextChoices):
    ADMIN = "admin"
    DATA_MANAGER = "data_manager"
    INVESTIGATOR = "investigator"
    COORDINATOR = "coordinator"
    ASSESSOR = "assessor"
    PHARMACIST = "pharmacist"
    MONITOR = "monitor"
    STATISTICIAN = "statistician"
    #: The independent data monitoring committee's statistician: unblinded at every site,
    #: the one role that may see efficacy results by arm before the database lock.
    DMC_STATISTICIAN = "dmc_statistician"


class StudyUser(models.Model):
    """A person who works on studies; what they may do is in their role assignments."""

    username = models.CharField(max_length=150, unique=True)
    created_at = models.DateTimeField()
    #: Set when the user is deactivated: their tokens and roles no longer let them in. Users
    #: are never deleted, so the audit trail's names keep pointing at someone.
    deactivated_at = models.DateTimeField(null=True, blank=True)
    #: The Django account the web app signs in with (its password hash, Argon2); None for a
    #: user who works through API tokens only. Set by `services.accounts.set_password`.
    account = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="study_user",
    )
    #: The user's choice of language ("en", "da", "zh-hans"); blank: the browser's.
    language = models.CharField(max_length=10, blank=True)
    #: The IANA time zone timestamps are shown in; blank: UTC.
    time_zone = models.CharField(max_length=60, blank=True)
    #: When the password was last set (audited; the hash itself stays with the account).
    password_set_at = models.DateTimeField(null=True, blank=True)
    #: When the user's TOTP device was confirmed; None: no second factor.
    totp_confirmed_at = models.DateTimeField(null=True, blank=True)
    #: The name printed with the user's electronic signatures (21 CFR 11.50); blank until
    #: set (`user add --name`), and a user without one cannot sign.
    full_name = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.username


class RoleAssignment(models.Model):
    """A role in one study, study-wide (no site) or bound to one site."""

    user = models.ForeignKey(StudyUser, on_delete=models.PROTECT, related_name="roles")
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="role_assignments")
    role = models.CharField(max_length=20, choices=Role.choices)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True)
    #: Set when the role is revoked; a revoked assignment grants nothing and is kept.
    revoked_at = models.DateTimeField(null=True, blank=True)


class Sex(models.TextChoices):
    FEMALE = "female"
    MALE = "male"


class Subject(models.Model):
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="subjects")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="subjects")
    code = models.CharField(max_length=20)
    status = models.CharField(
        max_length=20, choices=[(s.value, s.value) for s in SubjectStatus], db_index=True
    )
    year_of_birth = models.PositiveSmallIntegerField()
    #: Entered at screening from the source document: eligibility needs the exact age,
    #: which year of birth alone cannot give.
    age_at_screening = models.PositiveSmallIntegerField()
    sex = models.CharField(max_length=6, choices=Sex.choices)
    screened_on = models.DateField()
    #: Date of the first administration: day 0 of the visit calendar.
    day0 = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "code"], name="subject_code_once")]
        #: A site's subjects in the order they were screened: the SDV plan's first subjects.
        indexes = [models.Index(fields=["site", "screened_on"], name="subject_site_screened")]

    def __str__(self) -> str:
        return self.code


class Consent(models.Model):
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="consents")
    consent_version = models.CharField(max_length=40)
    consented_on = models.DateField()


class EligibilityRecord(models.Model):
    """One evaluation by the eligibility engine: the values it read and its verdict."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="eligibility")
    verdict = models.CharField(max_length=12)
    items = models.JSONField()
    attestations = models.JSONField()
    criteria = models.JSONField()
    evaluated_at = models.DateTimeField()


class AllocationList(models.Model):
    """*Unblinded.* How the study's slots were generated, with the seed to rebuild them."""

    study = models.OneToOneField(Study, on_delete=models.PROTECT, related_name="allocation_list")
    algorithm = models.CharField(max_length=60)
    algorithm_version = models.CharField(max_length=20)
    #: A 128-bit integer, kept as text because it does not fit a database integer.
    seed = models.CharField(max_length=40)
    block_sizes = models.JSONField()
    slots_per_stratum = models.PositiveIntegerField()
    kits_per_subject = models.PositiveSmallIntegerField()


class Stratum(models.Model):
    """One stratum (site x stratification factor levels); randomization locks its row."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="strata")
    number = models.PositiveIntegerField()
    #: The factor levels in factor order, e.g. "site=01,kl_grade=2" ("" for a single stratum).
    key = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="stratum_once"),
            models.UniqueConstraint(fields=["study", "number"], name="stratum_number_once"),
        ]


class AllocationSlot(models.Model):
    """*Unblinded.* One line of a stratum's allocation list."""

    stratum = models.ForeignKey(Stratum, on_delete=models.PROTECT, related_name="slots")
    seq = models.PositiveIntegerField()
    arm = models.CharField(max_length=40)
    block = models.PositiveIntegerField(null=True)
    block_size = models.PositiveIntegerField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stratum", "seq"], name="slot_seq_once")]


class Allocation(models.Model):
    """A subject's randomization: one slot per subject, one subject per slot."""

    subject = models.OneToOneField(Subject, on_delete=models.PROTECT, related_name="allocation")
    slot = models.OneToOneField(AllocationSlot, on_delete=models.PROTECT)
    randomization_number = models.CharField(max_length=20)
    allocated_at = models.DateTimeField()


class Kit(models.Model):
    """A labelled kit; its `arm` is unblinded. Reserved for a slot's nth administration."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="kits")
    kit_number = models.PositiveIntegerField()
    arm = models.CharField(max_length=40)
    slot = models.ForeignKey(
        AllocationSlot, on_delete=models.PROTECT, null=True, related_name="kits"
    )
    #: 1-based position in the treatment plan; None for a spare kit.
    administration_index = models.PositiveSmallIntegerField(null=True)
    dispensed_to = models.ForeignKey(Subject, on_delete=models.PROTECT, null=True, blank=True)
    administration_id = models.CharField(max_length=40, blank=True)
    administered_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "kit_number"], name="kit_number_once")
        ]


class VisitStatus(models.TextChoices):
    SCHEDULED = "scheduled"
    DONE = "done"
    MISSED = "missed"


class Visit(models.Model):
    """A subject's protocol visit; target and window dates once day 0 is known."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="visits")
    visit_id = models.CharField(max_length=40)
    target_date = models.DateField(null=True, blank=True)
    window_start = models.DateField(null=True, blank=True)
    window_end = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=VisitStatus.choices, default=VisitStatus.SCHEDULED
    )
    actual_date = models.DateField(null=True, blank=True)
    missed_reason = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subject", "visit_id"], name="visit_once")]


class FormRecord(models.Model):
    """One form of one visit: item values as validated by the instrument, and its scores."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="forms")
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="forms")
    form = models.CharField(max_length=40)
    values = models.JSONField()
    scores = models.JSONField()
    #: When the form was marked complete; None while it is being entered. A change to a value
    #: of a completed form needs a reason.
    completed_at = models.DateTimeField(null=True, blank=True)
    #: The items with a saved (non-null) value, comma-joined (item ids are identifiers):
    #: derived from `values` on every save, so the subject matrix reads these names instead
    #: of every record's values. Not audited: `values` is.
    saved_items = models.TextField(default="", editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject", "visit", "form"], name="form_record_once")
        ]
        indexes = [models.Index(fields=["visit", "completed_at"], name="form_record_visit_done")]

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.saved_items = saved_item_names(self.values)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "values" in update_fields:
            kwargs["update_fields"] = {*update_fields, "saved_items"}
        super().save(*args, **kwargs)


def saved_item_names(values: Mapping[str, Any]) -> str:
    """`FormRecord.saved_items` of these values (writers in bulk set it with this)."""
    return ",".join(item for item, value in values.items() if value is not None)


class FormDraft(models.Model):
    """What a user has typed into a form and not saved yet, kept so that nothing typed is
    lost (a session that times out, a closed tab). Not a record of the trial: it is not
    audited, nobody else sees it, and saving the form discards it. Values are the raw text of
    the inputs, unchecked."""

    user = models.ForeignKey(StudyUser, on_delete=models.CASCADE, related_name="drafts")
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="drafts")
    visit_id = models.CharField(max_length=40)
    form = models.CharField(max_length=40)
    values = models.JSONField()
    saved_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "subject", "visit_id", "form"], name="form_draft_once"
            )
        ]


def _choices(name: str) -> list[tuple[object, str]]:
    """A declared field's codes as a model field's choices."""
    return [(code.value, code.label) for code in ADVERSE_EVENT[name].codes]


class AdverseEvent(models.Model):
    """One adverse event of a subject, numbered per subject (AE 1, 2, ...)."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="adverse_events")
    number = models.PositiveSmallIntegerField()
    term = models.CharField(max_length=TERM_LENGTH)
    onset_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    ctcae_grade = models.PositiveSmallIntegerField(choices=_choices("ctcae_grade"))
    #: The ICH E2A criteria met (codes of the declared seriousness); empty for a non-serious
    #: event.
    seriousness = models.JSONField(default=list)
    relatedness = models.CharField(max_length=20, choices=_choices("relatedness"))
    expected = models.BooleanField(null=True)
    action_taken = models.CharField(max_length=20, choices=_choices("action_taken"))
    outcome = models.CharField(max_length=30, choices=_choices("outcome"))
    #: When the site became aware of the event; a serious event's report is due from here.
    awareness_at = models.DateTimeField()
    #: Awareness plus the protocol's SAE reporting hours; None for a non-serious event.
    report_due_at = models.DateTimeField(null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject", "number"], name="adverse_event_once")
        ]

    @property
    def serious(self) -> bool:
        return bool(self.seriousness)


class Deviation(models.Model):
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="deviations")
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, null=True, blank=True)
    kind = models.CharField(max_length=40)
    description = models.TextField()
    detected_on = models.DateField()
    #: Recorded by the store itself (e.g. a visit outside its window), not by a user.
    automatic = models.BooleanField(default=False)
    #: Set when the deviation no longer applies (e.g. a corrected visit date): it is kept,
    #: never deleted, and reports count only deviations that stand.
    withdrawn_on = models.DateField(null=True, blank=True)


class UnblindingEvent(models.Model):
    """An emergency unblinding of one subject by an investigator, with the reason."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="unblindings")
    user = models.ForeignKey(StudyUser, on_delete=models.PROTECT)
    reason = models.TextField()
    unblinded_at = models.DateTimeField()


class UnblindedOutput(models.Model):
    """One production of output that shows results by arm (a report, datasets, an export).

    Recorded by the service that authorises it, before the output is written: who, what,
    when and the SHA-256 of the input it was computed from.
    """

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="unblinded_outputs")
    user = models.ForeignKey(StudyUser, on_delete=models.PROTECT)
    #: What was produced, e.g. "analysis report".
    what = models.CharField(max_length=100)
    input_sha256 = models.CharField(max_length=64)
    produced_at = models.DateTimeField()


class ApiToken(models.Model):
    """An API token of a user: only its SHA-256 is kept, the token is shown once."""

    user = models.ForeignKey(StudyUser, on_delete=models.PROTECT, related_name="tokens")
    #: The first characters of the token, to tell tokens apart in listings.
    prefix = models.CharField(max_length=12)
    key_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)


class AuditEvent(models.Model):
    """One append-only entry of the audit trail: who, when, what (field, old, new), why.

    `hash` is HMAC-SHA256, keyed with the audit key kept outside the database, over the
    canonical JSON of the event's content and `previous_hash`, so changing or removing any
    event breaks the chain from there on, and only the key's holder can re-chain it. Values
    are canonical JSON text, hashed exactly as stored. On PostgreSQL a trigger refuses UPDATE
    and DELETE.
    """

    seq = models.PositiveBigIntegerField(unique=True)
    at = models.DateTimeField()
    by = models.CharField(max_length=150)
    action = models.CharField(max_length=60)
    study = models.CharField(max_length=150, blank=True)
    subject = models.CharField(max_length=20, blank=True, db_index=True)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=40)
    field = models.CharField(max_length=100)
    old_value = models.TextField()
    new_value = models.TextField()
    reason = models.TextField(blank=True)
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)


class AuditHead(models.Model):
    """The single row holding the last event's seq and hash.

    Every write transaction locks it first, which gives the audit trail one order on
    PostgreSQL too, and lets verification notice events removed from the end.
    """

    seq = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)


# ---------------------------------------------------------------- monitoring and data management


class QueryStatus(models.TextChoices):
    """A query's life: open (to the site) -> answered (to the monitor) -> closed; a closed or
    answered query can be re-opened."""

    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"


class QueryOrigin(models.TextChoices):
    MANUAL = "manual"  # raised by a monitor or data manager
    RULE = "rule"  # raised by an edit-check rule of the protocol file


class Query(models.Model):
    """A question to the site on one item of a form (or on a form, a visit, the subject), with
    its thread of messages. Numbered per subject (01-003 Q1, Q2, ...)."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="queries")
    number = models.PositiveIntegerField()
    #: The protocol visit and form, and the item, the query is on ("" where it is wider).
    visit_id = models.CharField(max_length=40, blank=True)
    form = models.CharField(max_length=40, blank=True)
    item = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=QueryStatus.choices)
    origin = models.CharField(max_length=10, choices=QueryOrigin.choices)
    #: The edit check that raised it (origin "rule"), e.g. "EC3".
    rule = models.CharField(max_length=40, blank=True)
    #: Who raised it; None for a rule (the audit trail names the user whose save ran it).
    opened_by = models.ForeignKey(StudyUser, on_delete=models.PROTECT, null=True, blank=True)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject", "number"], name="query_number_once")
        ]
        indexes = [models.Index(fields=["subject", "status"], name="query_subject_status")]


class QueryMessage(models.Model):
    """One message of a query's thread: the question, an answer, a comment, the closing or
    re-opening note."""

    query = models.ForeignKey(Query, on_delete=models.PROTECT, related_name="messages")
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="+")
    #: What the message did: "opened", "answered", "commented", "closed", "reopened".
    action = models.CharField(max_length=12)
    text = models.TextField()
    #: Who wrote it; None for a rule's message.
    by = models.ForeignKey(StudyUser, on_delete=models.PROTECT, null=True, blank=True)
    at = models.DateTimeField()


class ItemVerification(models.Model):
    """Source data verification of one item of one form record: who compared it with the
    source, when, and the value they saw. A change of the value resets it (`reset_at`); a
    new verification sets it again."""

    record = models.ForeignKey(FormRecord, on_delete=models.PROTECT, related_name="verifications")
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="+")
    item = models.CharField(max_length=100)
    #: The verified value as canonical JSON (what the monitor saw in the record).
    value = models.TextField()
    verified_by = models.ForeignKey(StudyUser, on_delete=models.PROTECT)
    verified_at = models.DateTimeField()
    reset_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["record", "item"], name="item_verification_once")
        ]


class Signature(models.Model):
    """An investigator's electronic signature of a visit (`visit_id`) or of the subject's
    whole casebook (`visit_id` ""), 21 CFR 11.50: the printed name, the date and time, and the
    meaning. `content_sha256` is of the data signed; a later change to them breaks the
    signature (`broken_at`, with what changed), which stays on record."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="signatures")
    visit_id = models.CharField(max_length=40, blank=True)
    signer = models.ForeignKey(StudyUser, on_delete=models.PROTECT)
    printed_name = models.CharField(max_length=200)
    meaning = models.CharField(max_length=300)
    signed_at = models.DateTimeField()
    content_sha256 = models.CharField(max_length=64)
    broken_at = models.DateTimeField(null=True, blank=True)
    broken_by = models.TextField(blank=True)


class LockLevel(models.TextChoices):
    FORM = "form"
    VISIT = "visit"
    CASEBOOK = "casebook"


class RecordLock(models.Model):
    """A data manager's lock of a form, a visit or a subject's casebook: a locked record
    refuses changes until it is unlocked, with a reason. Kept after unlocking."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="locks")
    level = models.CharField(max_length=10, choices=LockLevel.choices)
    #: The protocol visit (form and visit locks) and form (form locks); "" above them.
    visit_id = models.CharField(max_length=40, blank=True)
    form = models.CharField(max_length=40, blank=True)
    locked_by = models.ForeignKey(StudyUser, on_delete=models.PROTECT, related_name="+")
    locked_at = models.DateTimeField()
    reason = models.TextField(blank=True)
    unlocked_by = models.ForeignKey(
        StudyUser, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    unlocked_at = models.DateTimeField(null=True, blank=True)
    unlock_reason = models.TextField(blank=True)


class PatientLink(models.Model):
    """A subject's personal link to answer at home (`trialdesk.store.services.patient_links`):
    a random token, stored as its SHA-256 only and shown once; the language and time zone the
    patient answers in. It opens that subject's due entries only, until it is revoked.

    No personal data: the contact address for reminders (optional) is sealed with the store's
    contact key (`trialdesk.store.contact_seal`), never stored readable."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="patient_links")
    token_sha256 = models.CharField(max_length=64, unique=True)
    language = models.CharField(max_length=10)
    time_zone = models.CharField(max_length=64)
    sealed_email = models.TextField(blank=True)
    created_by = models.ForeignKey(StudyUser, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    revoked_by = models.ForeignKey(
        StudyUser, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One live link per subject: reissuing revokes the old one first.
            models.UniqueConstraint(
                fields=["subject"],
                condition=models.Q(revoked_at__isnull=True),
                name="patient_link_live_once",
            )
        ]


class PatientAnswer(models.Model):
    """One answer a patient sent through their link, for one entry (`schedule`, `day`) and
    item: when the phone said it was authored and when the server received it (which decides
    the window). Never changed: the value is copied into the form record, where site staff
    correct it with a reason."""

    link = models.ForeignKey(PatientLink, on_delete=models.PROTECT, related_name="answers")
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="patient_answers")
    schedule = models.CharField(max_length=40)
    day = models.IntegerField()
    item = models.CharField(max_length=40)
    value = models.JSONField()
    authored_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()
    late = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "schedule", "day", "item"], name="patient_answer_once"
            )
        ]


class ReminderKind(models.TextChoices):
    INVITATION = "invitation"
    WINDOW_OPEN = "window_open"
    MISSED_DAY = "missed_day"


class PatientReminder(models.Model):
    """A message sent to a patient (`trialdesk.store.reminders`), kept so none is sent twice:
    one invitation per link, one per entry's opening, one per missed day."""

    link = models.ForeignKey(PatientLink, on_delete=models.PROTECT, related_name="reminders")
    kind = models.CharField(max_length=20, choices=ReminderKind.choices)
    #: The entry reminded of; "" and 0 for the invitation.
    schedule = models.CharField(max_length=40, blank=True)
    day = models.IntegerField(default=0)
    channel = models.CharField(max_length=10)
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["link", "kind", "schedule", "day", "channel"], name="patient_reminder_once"
            )
        ]
