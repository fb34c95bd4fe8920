"""Drafts: what a user has typed into a form and not saved yet (`FormDraft`).

A draft keeps typed input across a session that times out or a closed tab, so nothing typed
is lost. It is not a record of the trial: not audited, seen by its user only, holding the raw
text of the inputs unchecked (a half-typed "4." is kept as typed), and `save_form` discards
it. Only a user who may enter the form keeps a draft of it, and not in a locked study.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone

from trialdesk.errors import BadInput
from trialdesk.store.models import FormDraft, Study, StudyUser, Subject
from trialdesk.store.permissions import Step, require
from trialdesk.store.services.common import find_subject, writable_study
from trialdesk.store.services.visits import protocol_visit

#: The longest raw text kept for one input (a text item's answer, a reason being typed).
DRAFT_TEXT_LENGTH = 4000


def save_draft(
    study: Study, code: str, visit_id: str, form: str, values: Mapping[str, str], by: str
) -> FormDraft:
    """Keep `values` (input name -> raw text) as `by`'s draft of the form, replacing the
    previous draft. The names are the form's item ids, or `reason.<item id>` for a reason
    being typed."""
    items = _form_items(study, code, visit_id, form)
    names = set(items) | {f"reason.{item}" for item in items}
    for name, text in values.items():
        if name not in names:
            raise BadInput(
                f"subject {code}, visit {visit_id}, form {form}: draft: {name!r} is not an "
                f"item of the form; items are {', '.join(items)}"
            )
        if not isinstance(text, str) or len(text) > DRAFT_TEXT_LENGTH:
            raise BadInput(
                f"subject {code}, visit {visit_id}, form {form}: draft: item {name}: expected "
                f"text of at most {DRAFT_TEXT_LENGTH} characters"
            )
    with transaction.atomic():
        study = writable_study(study)
        subject = find_subject(study, code)
        user = require(study, by, Step.ENTER_FORMS, subject.site)
        draft, _ = FormDraft.objects.update_or_create(
            user=user,
            subject=subject,
            visit_id=visit_id,
            form=form,
            defaults={"values": dict(values), "saved_at": timezone.now()},
        )
    return draft


def discard_draft(study: Study, code: str, visit_id: str, form: str, by: str) -> bool:
    """Drop `by`'s draft of the form; True if there was one."""
    subject = find_subject(study, code)
    deleted, _ = FormDraft.objects.filter(
        user__username=by, subject=subject, visit_id=visit_id, form=form
    ).delete()
    return bool(deleted)


def draft_of(user: StudyUser, subject: Subject, visit_id: str, form: str) -> FormDraft | None:
    """The user's own draft of the form, if any (a subject the caller has let them read)."""
    return FormDraft.objects.filter(
        user=user, subject=subject, visit_id=visit_id, form=form
    ).first()


def _form_items(study: Study, code: str, visit_id: str, form: str) -> list[str]:
    from trialdesk.instruments import get_instrument

    visit_plan = protocol_visit(study.protocol(), code, visit_id)
    if form not in visit_plan.forms:
        raise BadInput(
            f"subject {code}, visit {visit_id}: form {form!r} is not collected at this "
            f"visit ({', '.join(visit_plan.forms)})"
        )
    return [item.id for item in get_instrument(form).items]
