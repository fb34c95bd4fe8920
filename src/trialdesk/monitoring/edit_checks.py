"""The protocol's edit checks over one subject's data: plain data in, findings out.

A finding names the rule, where it is (visit, form, item) and what was found, with the values
that make it ("W12 weight 71 kg vs W3 80.5 kg: -11.8%"). The store turns each finding into a
query to the site (`trialdesk.store.services.queries`); a finding's place is the key that
keeps one query per finding. Time-dependent rules (an SAE report past its due time) take
`now` from the caller.

What each rule reads:

- visit_before_consent: every visit with a date, against the first consent.
- change_between_visits: the item at consecutive visits (in protocol day order) where the
  form has a value; the finding is on the later visit. A change of exactly the limit passes.
- sae_without_report: serious events whose report is not recorded and whose due time has
  passed. The finding's item names the event ("AE 3"), as it has no form.
- item_missing: forms marked complete only, so a form being entered is not queried for the
  items still to come (`ItemMissing` in the schema).
- range: a value below `min` or above `max` (both ends allowed).
- expression: the condition over the form's items and scores, per visit; a query when it is
  false. Unknown (an item missing) is no finding: item_missing says that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from trialdesk.eligibility.evaluation import judge, number_text
from trialdesk.eligibility.language import Expr, compile_expression, expression_problems
from trialdesk.protocol.edit_checks import (
    ChangeBetweenVisits,
    FormExpression,
    ItemMissing,
    ItemRange,
    SaeWithoutReport,
    VisitBeforeConsent,
)

if TYPE_CHECKING:
    from trialdesk.instruments.definition import Instrument
    from trialdesk.protocol.edit_checks import EditCheck
    from trialdesk.protocol.model import DataItem, Protocol

#: A change within this much of the limit is at the limit (float rounding of 10%).
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class VisitData:
    visit_id: str
    date: dt.date | None
    status: str = "done"


@dataclass(frozen=True)
class FormData:
    visit_id: str
    form: str
    values: Mapping[str, Any]
    scores: Mapping[str, Any] = field(default_factory=dict)
    complete: bool = False


@dataclass(frozen=True)
class AdverseEventData:
    number: int
    term: str
    serious: bool
    report_due_at: dt.datetime | None = None
    reported_at: dt.datetime | None = None


@dataclass(frozen=True)
class SubjectData:
    """What the edit checks read of one subject."""

    code: str
    consent_date: dt.date | None
    visits: tuple[VisitData, ...] = ()
    forms: tuple[FormData, ...] = ()
    adverse_events: tuple[AdverseEventData, ...] = ()


@dataclass(frozen=True, order=True)
class Finding:
    rule: str
    visit_id: str
    form: str
    item: str
    message: str

    @property
    def place(self) -> tuple[str, str, str, str]:
        """What keeps one query per finding: the rule and where it is."""
        return (self.rule, self.visit_id, self.form, self.item)


# ---------------------------------------------------------------- instruments as data items


@lru_cache(maxsize=64)
def instrument(form: str) -> Instrument:
    from trialdesk.instruments import get_instrument

    return get_instrument(form)


def form_fields(form: str) -> dict[str, str]:
    """The item and score ids of a form with their labels."""
    definition = instrument(form)
    fields = {item.id: item.label for item in definition.items}
    fields.update({score.id: score.label for score in definition.scores})
    return fields


def _unit(form: str, item_id: str) -> str:
    definition = instrument(form)
    for entry in (*definition.items, *definition.scores):
        if entry.id == item_id:
            return entry.unit or ""
    return ""


@lru_cache(maxsize=64)
def form_data_items(form: str) -> Mapping[str, DataItem]:
    """The form's items and scores as the criteria language types them."""
    from trialdesk.protocol.model import DataItem

    definition = instrument(form)
    items: dict[str, DataItem] = {}
    for item in definition.items:
        if item.type == "code":
            kind, codelist = "string", [str(option.value) for option in item.options]
        else:
            kind, codelist = {"text": "string"}.get(item.type, item.type), None
        numeric = kind in ("integer", "number")
        items[item.id] = DataItem(
            id=item.id,
            label=item.label,
            type=kind,
            min=item.lowest if numeric else None,
            max=item.highest if numeric else None,
            codelist=codelist,
        )
    for score in definition.scores:
        numeric = score.type in ("integer", "number")
        items[score.id] = DataItem(
            id=score.id,
            label=score.label,
            type=score.type,
            min=score.minimum if numeric else None,
            max=score.maximum if numeric else None,
        )
    return items


def expression_problems_of(rule: FormExpression) -> list[str]:
    """The parse and type problems of an expression rule against its form (empty: fine)."""
    return expression_problems(rule.expression, form_data_items(rule.form))


@lru_cache(maxsize=256)
def _compiled(expression: str, form: str) -> Expr:
    return compile_expression(expression, form_data_items(form))


# ---------------------------------------------------------------- evaluation


def evaluate(
    protocol: Protocol,
    subject: SubjectData,
    now: dt.datetime,
    rules: Sequence[EditCheck] | None = None,
) -> list[Finding]:
    """Every finding of the protocol's edit checks (or of those `rules` of them) on the
    subject, in a stable order."""
    order = {
        visit.id: position
        for position, visit in enumerate(sorted(protocol.visits, key=lambda visit: visit.day))
    }
    findings: list[Finding] = []
    for rule in protocol.edit_checks if rules is None else rules:
        findings.extend(_findings(rule, subject, order, now))
    return sorted(set(findings))


def _findings(
    rule: EditCheck, subject: SubjectData, order: Mapping[str, int], now: dt.datetime
) -> Iterable[Finding]:
    match rule:
        case VisitBeforeConsent():
            return _visit_before_consent(rule, subject)
        case ChangeBetweenVisits():
            return _change_between_visits(rule, subject, order)
        case SaeWithoutReport():
            return _sae_without_report(rule, subject, now)
        case ItemMissing():
            return _item_missing(rule, subject)
        case ItemRange():
            return _range(rule, subject)
        case FormExpression():
            return _expression(rule, subject)
    raise AssertionError(rule)


def _visit_before_consent(rule: VisitBeforeConsent, subject: SubjectData) -> Iterator[Finding]:
    if subject.consent_date is None:
        return
    for visit in subject.visits:
        if visit.date is not None and visit.date < subject.consent_date:
            yield Finding(
                rule.id,
                visit.visit_id,
                "",
                "",
                f"{visit.visit_id} dated {visit.date.isoformat()}, before consent on "
                f"{subject.consent_date.isoformat()}",
            )


def _shown(value: Any, unit: str) -> str:
    text = number_text(value) if isinstance(value, int | float) else str(value)
    return f"{text} {unit}" if unit else text


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _forms_of(subject: SubjectData, form: str) -> list[FormData]:
    return [record for record in subject.forms if record.form == form]


def _value(record: FormData, item: str) -> Any:
    if item in record.values:
        return record.values[item]
    return record.scores.get(item)


def _change_between_visits(
    rule: ChangeBetweenVisits, subject: SubjectData, order: Mapping[str, int]
) -> Iterator[Finding]:
    label, unit = form_fields(rule.form).get(rule.item, rule.item), _unit(rule.form, rule.item)
    measured = [
        (record.visit_id, _value(record, rule.item))
        for record in sorted(_forms_of(subject, rule.form), key=lambda r: order.get(r.visit_id, 0))
        if _numeric(_value(record, rule.item))
    ]
    for (before_visit, before), (visit_id, value) in zip(measured, measured[1:], strict=False):
        if before == 0:
            continue
        change = (value - before) / before
        if abs(change) > rule.max_relative_change + _TOLERANCE:
            yield Finding(
                rule.id,
                visit_id,
                rule.form,
                rule.item,
                f"{visit_id} {label.lower()} {_shown(value, unit)} vs {before_visit} "
                f"{_shown(before, unit)}: {change * 100:+.1f}% (limit "
                f"{number_text(rule.max_relative_change * 100)}%)",
            )


def _sae_without_report(
    rule: SaeWithoutReport, subject: SubjectData, now: dt.datetime
) -> Iterator[Finding]:
    for event in subject.adverse_events:
        due = event.report_due_at
        if event.serious and event.reported_at is None and due is not None and now > due:
            yield Finding(
                rule.id,
                "",
                "",
                f"AE {event.number}",
                f"AE {event.number} ({event.term}) is serious: its report was due "
                f"{due.isoformat(timespec='minutes')} and is not recorded",
            )


def _item_missing(rule: ItemMissing, subject: SubjectData) -> Iterator[Finding]:
    fields = form_fields(rule.form)
    wanted = rule.items or [item.id for item in instrument(rule.form).items]
    for record in _forms_of(subject, rule.form):
        if not record.complete or (rule.visits and record.visit_id not in rule.visits):
            continue
        for item in wanted:
            if record.values.get(item) is None:
                yield Finding(
                    rule.id,
                    record.visit_id,
                    rule.form,
                    item,
                    f"{record.visit_id} {rule.form} {item} ({fields.get(item, item)}) is "
                    "missing in the completed form",
                )


def _range(rule: ItemRange, subject: SubjectData) -> Iterator[Finding]:
    label, unit = form_fields(rule.form).get(rule.item, rule.item), _unit(rule.form, rule.item)
    for record in _forms_of(subject, rule.form):
        value = _value(record, rule.item)
        if not _numeric(value):
            continue
        if rule.min is not None and value < rule.min:
            bound = f"below the plausible minimum {_shown(rule.min, unit)}"
        elif rule.max is not None and value > rule.max:
            bound = f"above the plausible maximum {_shown(rule.max, unit)}"
        else:
            continue
        yield Finding(
            rule.id,
            record.visit_id,
            rule.form,
            rule.item,
            f"{record.visit_id} {label.lower()} {_shown(value, unit)} is {bound}",
        )


def _expression(rule: FormExpression, subject: SubjectData) -> Iterator[Finding]:
    tree = _compiled(rule.expression, rule.form)
    items = form_data_items(rule.form)
    for record in _forms_of(subject, rule.form):
        values = {name: _value(record, name) for name in items}
        judgement = judge(tree, values)
        if judgement.value is False:
            yield Finding(
                rule.id,
                record.visit_id,
                rule.form,
                rule.item,
                f"{record.visit_id} {rule.form}: {rule.expression} does not hold "
                f"({judgement.reason})",
            )
