"""Loading an ODM file's clinical data into a study, through the form services.

What an import does, so that a round trip (export, import) is meaningful:

- Each FormData is the whole form of that subject at that visit, as `save_form` without
  `partial` takes it: its items are the form's values, an item it leaves out (or gives as
  IsNull) is missing. The values are checked by the instrument as any entry is, the scores
  recomputed (the file's derived scores are not read), and the form written by the forms'
  own writer (`forms.write_form`): audited, the visit's and casebook's signatures broken by a
  change, the changed items' source verification reset, the edit checks run. A form whose
  values are those stored is left as it is and writes nothing; changing a saved value needs
  the import's reason, as any change does.
- Subjects are not created: a subject is screened, consents and is randomized through the
  store's own steps (its SITE-NNN code is the store's to give), so a SubjectKey the study does
  not have is refused. The SiteRef, when given, must be the subject's site.
- A visit the subject has no row for is opened when the services allow it (`open_form_visit`:
  screening and baseline before randomization, later visits after it); a visit after day 0
  needs its date recorded first, as in entry, and is refused without one.
- The whole file is one transaction: the first refusal (bad XML, an OID the study does not
  know, a value out of range, a locked study, form or casebook, a user without the role)
  names the file, the line and what was expected, and nothing is written.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trialdesk.errors import BadInput, InstrumentError, TrialdeskError
from trialdesk.exchange.odm import metadata_version_oid
from trialdesk.exchange.odm_read import FormEntry, item_value, read_clinical_data
from trialdesk.instruments.answers import describe_item_ids
from trialdesk.store.audit import audited_write
from trialdesk.store.errors import SubjectStateError
from trialdesk.store.lifecycle import SubjectStatus
from trialdesk.store.models import FormDraft
from trialdesk.store.permissions import Step, require
from trialdesk.store.services.common import find_subject, writable_study
from trialdesk.store.services.forms import as_stored, needs_visit_date, open_form_visit, write_form
from trialdesk.store.services.visits import protocol_visit

if TYPE_CHECKING:
    from trialdesk.protocol.model import Protocol
    from trialdesk.protocol.model import Visit as ProtocolVisit
    from trialdesk.store.models import Study, StudyUser, Subject


@dataclass(frozen=True)
class CheckedForm:
    """A FormData checked against the study's protocol and instrument, ready to write."""

    entry: FormEntry
    place: str
    visit_plan: ProtocolVisit
    values: dict[str, Any]
    scores: dict[str, Any]


@dataclass(frozen=True)
class ImportResult:
    study: str
    forms: int  # FormData in the file
    entered: int  # new form records
    changed: int  # form records whose values changed
    unchanged: int
    audit_events: int

    def as_json(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "forms": self.forms,
            "entered": self.entered,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "audit_events": self.audit_events,
        }


def _at(place: str, error: TrialdeskError) -> TrialdeskError:
    """The same error with the file's place in front of its message."""
    placed = copy.copy(error)
    placed.args = (f"{place}: {error}",)
    return placed


def import_odm(study: Study, path: Path, by: str, reason: str = "") -> ImportResult:
    """Load the ClinicalData of the ODM file at `path` into `study` as `by` (see the module
    docstring); `reason` is the reason for change of every saved value the file changes."""
    clinical = read_clinical_data(path)
    protocol = study.protocol()
    expected = (protocol.id, metadata_version_oid(protocol))
    if (clinical.study_oid, clinical.metadata_version_oid) != expected:
        raise BadInput(
            f"{path}: <ClinicalData> of StudyOID {clinical.study_oid!r}, MetaDataVersionOID "
            f"{clinical.metadata_version_oid!r}; expected {expected[0]!r}, {expected[1]!r} "
            f"(this study, protocol version {protocol.version})"
        )
    checked = [_checked(protocol, path, entry) for entry in clinical.forms]
    entered = changed = 0
    with audited_write(by, study) as trail:
        try:
            study = writable_study(study)
        except TrialdeskError as error:
            raise _at(str(path), error) from None
        # A subject's forms come together: its row and the user's right are read once.
        subjects: dict[str, tuple[Subject, StudyUser]] = {}
        for form in checked:
            entry = form.entry
            try:
                if entry.subject not in subjects:
                    subjects[entry.subject] = _enterable_subject(study, entry, by)
                subject, user = subjects[entry.subject]
                if entry.site is not None and entry.site != subject.site.code:
                    raise BadInput(
                        f"SiteRef LOC.{entry.site}; subject {subject.code} is at site "
                        f"{subject.site.code}"
                    )
                visit = open_form_visit(trail, subject, form.visit_plan, entry.form)
                if needs_visit_date(form.visit_plan) and visit.actual_date is None:
                    raise BadInput(
                        f"subject {subject.code}, visit {entry.visit_id}: no visit date; record "
                        "the visit date first (visits after day 0 need it before their forms)"
                    )
                existed = visit.forms.filter(form=entry.form).exists()
                before = len(trail.events)
                FormDraft.objects.filter(
                    user=user, subject=subject, visit_id=entry.visit_id, form=entry.form
                ).delete()
                write_form(
                    trail,
                    subject,
                    visit,
                    entry.form,
                    (form.values, form.scores),
                    reason,
                    partial=False,
                )
            except TrialdeskError as error:
                raise _at(form.place, error) from None
            if not existed:
                entered += 1
            elif len(trail.events) > before:
                changed += 1
        events = len(trail.events)
    return ImportResult(
        study=str(study),
        forms=len(checked),
        entered=entered,
        changed=changed,
        unchanged=len(checked) - entered - changed,
        audit_events=events,
    )


def _enterable_subject(study: Study, entry: FormEntry, by: str) -> tuple[Subject, StudyUser]:
    """The subject of `entry` and the user, if the user may enter its forms and it has
    consented."""
    subject = find_subject(study, entry.subject)
    user = require(study, by, Step.ENTER_FORMS, subject.site)
    if subject.status == SubjectStatus.SCREENED:
        raise SubjectStateError(f"subject {subject.code} has not consented: no data before consent")
    return subject, user


def _checked(protocol: Protocol, path: Path, entry: FormEntry) -> CheckedForm:
    """The entry's visit, form and values checked against the protocol and the instrument,
    before anything is written."""
    from trialdesk.instruments import get_instrument, values_and_scores

    place = f"{path}:{entry.line}"
    try:
        visit_plan = protocol_visit(protocol, entry.subject, entry.visit_id)
        if entry.form not in visit_plan.forms:
            raise BadInput(
                f"subject {entry.subject}, visit {entry.visit_id}: form {entry.form!r} is not "
                f"collected at this visit; expected one of {', '.join(visit_plan.forms)}"
            )
        instrument = get_instrument(entry.form)
        values: dict[str, Any] = {}
        for item_id, text in entry.values.items():
            item_place = f"{path}:{entry.item_lines.get(item_id, entry.line)}"
            item = instrument.item_map.get(item_id)
            if item is None:
                raise _at(
                    item_place,
                    BadInput(
                        f"ItemOID I.{entry.form}.{item_id}: {item_id!r} is not an item of "
                        f"{entry.form}; expected one of {describe_item_ids(instrument)}"
                    ),
                )
            values[item_id] = item_value(text, item.type, item_place)
        checked, scores = values_and_scores(entry.form, values)
    except InstrumentError as error:
        raise _at(f"{place}: subject {entry.subject}, visit {entry.visit_id}", error) from None
    except BadInput as error:
        if str(error).startswith(str(path)):
            raise
        raise _at(place, error) from None
    return CheckedForm(entry, place, visit_plan, as_stored(checked), as_stored(scores))
