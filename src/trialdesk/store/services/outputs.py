"""Unblinded output: the record, made before the files are written, of every production of
results by arm (a report, datasets with arms, an export with arms).

Producing it is an authorised act: the access policy decides who may (`Access.
require_results_by_arm`: the study-wide statistician after the lock, the data monitoring
committee's statistician at any time), judged inside the write transaction on the study's lock
flags as they are then, so an unlock cannot slip between the check and the record. The record
and its audit event (`output.unblinded`) say who, what, when and the SHA-256 of the input the
output is computed from. The study being locked does not refuse it: recording an output
changes no clinical data.
"""

from __future__ import annotations

import re

from trialdesk.errors import BadInput
from trialdesk.store.access import access_for
from trialdesk.store.audit import audited_write
from trialdesk.store.errors import NotFound
from trialdesk.store.models import Study, StudyUser, UnblindedOutput
from trialdesk.store.services.common import current_study

WHAT_LENGTH = UnblindedOutput._meta.get_field("what").max_length
SHA256 = re.compile(r"[0-9a-f]{64}")


def record_unblinded_output(
    study: Study, user: str, what: str, input_sha256: str
) -> UnblindedOutput:
    """Record that `user` (a username) produces `what` by arm from the input with this SHA-256
    (64 lowercase hex digits); NotPermitted, and nothing recorded, unless they may."""
    what = what.strip() if isinstance(what, str) else what
    if not isinstance(what, str) or not what or len(what) > WHAT_LENGTH:
        raise BadInput(
            f"unblinded output {what!r}: expected a name of 1 to {WHAT_LENGTH} characters"
        )
    if not isinstance(input_sha256, str) or not SHA256.fullmatch(input_sha256):
        raise BadInput(f"input SHA-256 {input_sha256!r}: expected 64 lowercase hexadecimal digits")
    with audited_write(user, study) as trail:
        study = current_study(study)
        reader = StudyUser.objects.filter(username=user).first()
        if reader is None:
            raise NotFound(f"user {user!r} is not in the store")
        access_for(study, reader).require_results_by_arm(what)
        output = UnblindedOutput.objects.create(
            study=study,
            user=reader,
            what=what,
            input_sha256=input_sha256,
            produced_at=trail.at,
        )
        trail.created(output, "output.unblinded")
    return output
