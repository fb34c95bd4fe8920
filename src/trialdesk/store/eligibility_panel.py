"""The eligibility panel: a subject's criteria evaluated for display, without writing anything.

The same evaluation `evaluate_eligibility` records (`screening_items` read from the screening
forms, the compiled `study_criteria`), shown criterion by criterion: inclusion criteria first,
then exclusion criteria, each with its registry text, its result (pass / fail / unknown) and,
for an unknown one, where its missing values are entered: the data item's form (the instrument)
and field (an item of the form, or a score computed from some of its items) at the screening
visit. Attestation criteria are unknown until the investigator has answered them.

Which attestations are shown as answered: the ones passed in (the investigator's answers being
entered), else those of the subject's last recorded evaluation. Pure reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trialdesk.schedule import screening_visit
from trialdesk.store.models import Study, Subject
from trialdesk.store.screening import screening_items, study_criteria

if TYPE_CHECKING:
    from trialdesk.eligibility.evaluation import CriterionResult, Verdict
    from trialdesk.protocol import Protocol


@dataclass(frozen=True)
class ItemSource:
    """Where a missing data item is entered: `form` at the screening visit, its `field` (an
    item, or a score of the form computed from `inputs`, the items to fill). `form` is None
    for an item the store has no form for (it cannot be entered)."""

    item_id: str
    label: str
    form: str | None
    field: str | None
    field_is_score: bool = False
    inputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class CriterionRow:
    """One criterion as the panel shows it."""

    id: str
    type: str  # inclusion | exclusion
    text: str  # the registry's words, verbatim (English)
    result: str  # pass | fail | unknown
    reason: str  # the engine's facts, in English ("age 63 >= 40", "missing: bmi")
    attestation: bool
    #: The investigator's answer (True: the criterion's statement holds for the patient).
    answer: bool | None = None
    #: For an unknown computed criterion: where each missing item is entered.
    missing: tuple[ItemSource, ...] = ()

    @property
    def confirmed(self) -> bool:
        """The attestation as the investigator's checkbox shows it: an inclusion criterion
        met, an exclusion criterion that does not apply."""
        if not self.attestation or self.answer is None:
            return False
        return self.answer == (self.type == "inclusion")


@dataclass(frozen=True)
class EligibilityPanel:
    verdict: Verdict
    screening_visit: str
    inclusion: tuple[CriterionRow, ...]
    exclusion: tuple[CriterionRow, ...]

    @property
    def criteria(self) -> tuple[CriterionRow, ...]:
        return self.inclusion + self.exclusion

    def count(self, result: str) -> int:
        return sum(row.result == result for row in self.criteria)

    @property
    def count_pass(self) -> int:
        return self.count("pass")

    @property
    def count_fail(self) -> int:
        return self.count("fail")

    @property
    def count_unknown(self) -> int:
        return self.count("unknown")

    @property
    def attestations(self) -> tuple[CriterionRow, ...]:
        return tuple(row for row in self.criteria if row.attestation)


def attestation_answers(
    protocol: Protocol, confirmed: frozenset[str] | set[str]
) -> dict[str, bool]:
    """The attestations from the investigator's checkboxes: a checked inclusion criterion is
    met (True), a checked exclusion criterion does not apply (False); an unchecked criterion
    is left unanswered, so the evaluation stays incomplete until it is confirmed."""
    answers = {}
    for criterion in protocol.eligibility.criteria:
        if criterion.attestation and criterion.id in confirmed:
            answers[criterion.id] = criterion.type == "inclusion"
    return answers


def last_attestations(subject: Subject) -> dict[str, bool]:
    """The attestations of the subject's last recorded evaluation ({} before any)."""
    found = subject.eligibility.order_by("-pk").values_list("attestations", flat=True).first()
    return dict(found or {})


def eligibility_panel(
    study: Study, subject: Subject, attestations: Mapping[str, bool] | None = None
) -> EligibilityPanel:
    """The subject's criteria evaluated now, on the screening forms as saved; an
    EligibilityError (a TrialdeskError) if a stored value does not fit its data item."""
    protocol = study.protocol()
    answers = dict(last_attestations(subject) if attestations is None else attestations)
    result = study_criteria(study).evaluate(screening_items(protocol, subject), answers)
    texts = {criterion.id: criterion for criterion in protocol.eligibility.criteria}
    sources = {item.id: item for item in protocol.data_items}
    rows = []
    for judged in result.criteria:
        criterion = texts[judged.id]
        rows.append(
            CriterionRow(
                id=judged.id,
                type=judged.type,
                text=criterion.text,
                result=judged.result,
                reason=judged.reason,
                attestation=criterion.attestation,
                answer=answers.get(judged.id) if criterion.attestation else None,
                missing=_missing_sources(judged, sources),
            )
        )
    return EligibilityPanel(
        verdict=result.verdict,
        screening_visit=screening_visit(protocol).id,
        inclusion=tuple(row for row in rows if row.type == "inclusion"),
        exclusion=tuple(row for row in rows if row.type == "exclusion"),
    )


def _missing_sources(judged: CriterionResult, items: Mapping[str, Any]) -> tuple[ItemSource, ...]:
    if judged.result != "unknown":
        return ()
    return tuple(
        item_source(items[name])
        for name in judged.missing
        if name != "attestation" and name in items
    )


def item_source(item: Any) -> ItemSource:
    """Where a protocol data item is entered (see `ItemSource`)."""
    if item.form is None:
        return ItemSource(item.id, item.label, None, None)
    from trialdesk.errors import TrialdeskError
    from trialdesk.instruments import get_instrument

    field = item.field or item.id
    try:
        instrument = get_instrument(item.form)
    except TrialdeskError:
        return ItemSource(item.id, item.label, item.form, field)
    if field in instrument.item_map:
        return ItemSource(item.id, item.label, item.form, field)
    scores = {score.id: score for score in instrument.scores}
    if field not in scores:
        return ItemSource(item.id, item.label, item.form, field)
    return ItemSource(
        item.id, item.label, item.form, field, True, score_items(scores, field, instrument)
    )


def score_items(scores: Mapping[str, Any], score_id: str, instrument: Any) -> tuple[str, ...]:
    """The form's items a score is computed from (through the scores it reads), in form order."""
    wanted: set[str] = set()
    pending = [score_id]
    seen: set[str] = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in scores[current].inputs():
            if name in scores:
                pending.append(name)
            else:
                wanted.add(name)
    return tuple(item.id for item in instrument.items if item.id in wanted)
