"""Cross-checks that a single field's type cannot express.

Each check yields (path, message); the loader turns the path into the file line. The checks
are about the protocol's consistency, not the registry's: ids unique, references declared,
arm weights matching the stated ratio, visit windows that never make a date ambiguous.
"""

from __future__ import annotations

from collections.abc import Iterator
from math import gcd

from trialdesk.protocol.model import Allocation, Protocol

Problem = tuple[tuple[str | int, ...], str]


def cross_check(protocol: Protocol) -> list[Problem]:
    checks = (
        _unique_ids,
        _interventional_design,
        _arm_references,
        _ratio_matches_weights,
        _treatment_plan,
        _visits,
        _outcomes,
        _criteria,
        _data_items,
        _instrument_parameters,
        _randomization,
        _sdv_plan,
        _edit_checks,
        _patient_reported,
    )
    return [problem for check in checks for problem in check(protocol)]


def _duplicates(path: tuple, values: list[str], what: str, field: str = "id") -> Iterator[Problem]:
    """Every repeat of a value after its first occurrence."""
    seen: set[str] = set()
    for position, value in enumerate(values):
        if value in seen:
            yield (*path, position, field), f"duplicate {what} {field} '{value}'"
        seen.add(value)


def _unique_ids(p: Protocol) -> Iterator[Problem]:
    yield from _duplicates(("arms",), [a.id for a in p.arms], "arm")
    yield from _duplicates(("arms",), [a.label for a in p.arms], "arm", field="label")
    yield from _duplicates(("interventions",), [i.id for i in p.interventions], "intervention")
    yield from _duplicates(("treatment_plan",), [a.id for a in p.treatment_plan], "administration")
    yield from _duplicates(("visits",), [v.id for v in p.visits], "visit")
    yield from _duplicates(("outcomes",), [o.id for o in p.outcomes], "outcome")
    yield from _duplicates(
        ("eligibility", "criteria"), [c.id for c in p.eligibility.criteria], "criterion"
    )
    yield from _duplicates(("data_items",), [d.id for d in p.data_items], "data item")
    yield from _duplicates(("sites",), [s.id for s in p.sites], "site")


def _interventional_design(p: Protocol) -> Iterator[Problem]:
    if p.design.study_type != "INTERVENTIONAL":
        return
    if p.design.intervention_model is None:
        yield (
            ("design", "intervention_model"),
            "an interventional study needs its intervention model",
        )
    if p.design.primary_purpose is None:
        yield ("design", "primary_purpose"), "an interventional study needs its primary purpose"


def _arm_references(p: Protocol) -> Iterator[Problem]:
    declared = {i.id for i in p.interventions}
    for a, arm in enumerate(p.arms):
        for k, given in enumerate(arm.interventions):
            if given.intervention not in declared:
                yield (
                    ("arms", a, "interventions", k, "intervention"),
                    f"unknown intervention '{given.intervention}' "
                    f"(declared: {', '.join(sorted(declared))})",
                )


def _ratio_matches_weights(p: Protocol) -> Iterator[Problem]:
    ratio = p.design.allocation_ratio
    if ratio is None:
        if p.design.allocation is Allocation.RANDOMIZED and len(p.arms) > 1:
            yield (
                ("design", "allocation_ratio"),
                "a randomized design must state its allocation ratio",
            )
        return
    parts = [int(x) for x in ratio.split(":")]
    if len(parts) != len(p.arms):
        yield (
            ("design", "allocation_ratio"),
            f"ratio {ratio} has {len(parts)} parts for {len(p.arms)} arms",
        )
        return
    weights = [arm.weight for arm in p.arms]
    if _reduced(parts) != _reduced(weights):
        yield (
            ("arms",),
            f"arm weights {':'.join(map(str, weights))} do not match the design ratio {ratio}",
        )


def _reduced(numbers: list[int]) -> list[int]:
    divisor = gcd(*numbers)
    return [n // divisor for n in numbers]


def _treatment_plan(p: Protocol) -> Iterator[Problem]:
    days = [a.day for a in p.treatment_plan]
    if days[0] != 0:
        yield (
            ("treatment_plan", 0, "day"),
            "the first administration defines day 0 and must be on day 0",
        )
    for position in range(1, len(days)):
        if days[position] <= days[position - 1]:
            yield (
                ("treatment_plan", position, "day"),
                f"administrations must be in day order "
                f"(day {days[position]} follows day {days[position - 1]})",
            )


def _visits(p: Protocol) -> Iterator[Problem]:
    known_forms = _known_forms()
    for v, visit in enumerate(p.visits):
        for f, form in enumerate(visit.forms):
            if form not in known_forms:
                yield (
                    ("visits", v, "forms", f),
                    f"unknown form '{form}' (known instruments: {', '.join(sorted(known_forms))})",
                )
    ordered = sorted(enumerate(p.visits), key=lambda pair: pair[1].day)
    for (_, earlier), (position, later) in zip(ordered, ordered[1:], strict=False):
        if later.first_day <= earlier.last_day:
            yield (
                ("visits", position, "window_before"),
                f"window of visit {later.id} (days {later.first_day}..{later.last_day}) overlaps "
                f"visit {earlier.id} (days {earlier.first_day}..{earlier.last_day}): "
                f"a visit on day {later.first_day} would be ambiguous",
            )


def _known_forms() -> set[str]:
    from trialdesk.instruments import instrument_ids

    return set(instrument_ids())


def _outcomes(p: Protocol) -> Iterator[Problem]:
    visits = {v.id for v in p.visits}
    known_forms = _known_forms()
    for o, outcome in enumerate(p.outcomes):
        if not outcome.visits:
            yield (
                ("outcomes", o, "visits"),
                f"time frame '{outcome.time_frame}' is mapped to no visit",
            )
        for k, visit in enumerate(outcome.visits):
            if visit not in visits:
                yield ("outcomes", o, "visits", k), f"unknown visit '{visit}'"
        if outcome.instrument is None:
            continue
        if outcome.instrument not in known_forms:
            yield ("outcomes", o, "instrument"), f"unknown instrument '{outcome.instrument}'"
        elif outcome.parameter is not None:
            fields = _instrument_fields(outcome.instrument)
            if outcome.parameter not in fields:
                yield (
                    ("outcomes", o, "parameter"),
                    f"'{outcome.parameter}' is no item or score of {outcome.instrument}",
                )
    if p.outcomes and not any(o.kind == "primary" for o in p.outcomes):
        yield ("outcomes",), "no primary outcome"


def _criteria(p: Protocol) -> Iterator[Problem]:
    from trialdesk.eligibility.language import expression_problems

    items = {item.id: item for item in p.data_items}
    for c, criterion in enumerate(p.eligibility.criteria):
        path = ("eligibility", "criteria", c)
        expected = {"I": "inclusion", "E": "exclusion"}.get(criterion.id[0], "inclusion")
        if criterion.id not in ("AGE", "SEX") and criterion.type != expected:
            yield (*path, "type"), f"criterion {criterion.id} must be of type {expected}"
        if criterion.expression is not None:
            for message in expression_problems(criterion.expression, items):
                yield (*path, "expression"), f"{criterion.id}: {message}"


def _data_items(p: Protocol) -> Iterator[Problem]:
    known_forms = _known_forms()
    for d, item in enumerate(p.data_items):
        if item.form is None:
            continue
        if item.form not in known_forms:
            yield ("data_items", d, "form"), f"unknown instrument '{item.form}'"
        elif item.field is not None:
            fields = _instrument_fields(item.form)
            if item.field not in fields:
                yield (
                    ("data_items", d, "field"),
                    f"'{item.field}' is no item or score of {item.form} "
                    f"(it has: {', '.join(sorted(fields))})",
                )


def _instrument_parameters(p: Protocol) -> Iterator[Problem]:
    """Every instrument the protocol uses has the settings its definition requires."""
    from trialdesk.errors import InstrumentError
    from trialdesk.instruments import get_instrument

    known_forms = _known_forms()
    for form in p.instrument_parameters:
        if form not in known_forms:
            yield ("instrument_parameters", form), f"unknown instrument '{form}'"
    used = [form for visit in p.visits for form in visit.forms]
    used += [item.form for item in p.data_items if item.form]
    used += [outcome.instrument for outcome in p.outcomes if outcome.instrument]
    for form in dict.fromkeys(used):
        if form not in known_forms:
            continue
        try:
            get_instrument(form).resolve_parameters(p.instrument_parameters.get(form, {}))
        except InstrumentError as error:
            yield ("instrument_parameters", form), str(error)


def _instrument_fields(instrument_id: str) -> set[str]:
    from trialdesk.instruments import get_instrument

    instrument = get_instrument(instrument_id)
    return {item.id for item in instrument.items} | {score.id for score in instrument.scores}


def _randomization(p: Protocol) -> Iterator[Problem]:
    spec = p.randomization
    if spec is None:
        if p.design.allocation is Allocation.RANDOMIZED:
            yield ("randomization",), "a randomized design needs a randomization section"
        return
    total = sum(arm.weight for arm in p.arms)
    for b, size in enumerate(spec.block_sizes):
        if size % total:
            yield (
                ("randomization", "block_sizes", b),
                f"block size {size} is not a multiple of the arm weights' sum {total}",
            )
    items = {item.id: item for item in p.data_items}
    for f, factor in enumerate(spec.stratification_factors):
        item = items.get(factor.item)
        if item is None:
            yield (
                ("randomization", "stratification_factors", f, "item"),
                f"unknown data item '{factor.item}'",
            )
        elif item.codelist is not None:
            for level in factor.levels:
                if level not in item.codelist:
                    yield (
                        ("randomization", "stratification_factors", f, "levels"),
                        f"level '{level}' is not in the codelist of '{item.id}'",
                    )
    if spec.stratify_by_site and not p.sites:
        yield ("sites",), "randomization is stratified by site but no sites are declared"


def _sdv_plan(p: Protocol) -> Iterator[Problem]:
    """The SDV plan names forms the protocol collects, their items, and its sites."""
    plan = p.sdv_plan
    if plan is None:
        return
    collected = {form for visit in p.visits for form in visit.forms}
    known_forms = _known_forms()
    site_codes = {site.id for site in p.sites}
    rules = [(("sdv_plan",), plan)]
    for code, rule in plan.sites.items():
        if code not in site_codes:
            yield (
                ("sdv_plan", "sites", code),
                f"unknown site '{code}' (sites: {', '.join(sorted(site_codes)) or 'none'})",
            )
        rules.append((("sdv_plan", "sites", code), rule))
    for path, rule in rules:
        for k, form in enumerate(rule.critical_forms):
            if form not in collected:
                yield (*path, "critical_forms", k), f"form '{form}' is collected at no visit"
        for k, entry in enumerate(rule.critical_items):
            form, dot, item = entry.partition(".")
            if not dot or not item:
                yield (*path, "critical_items", k), f"'{entry}' is not \"form.item\""
            elif form not in collected or form not in known_forms:
                yield (*path, "critical_items", k), f"form '{form}' is collected at no visit"
            elif item not in {i.id for i in _instrument_items(form)}:
                yield (*path, "critical_items", k), f"'{item}' is no item of {form}"


def _patient_reported(p: Protocol) -> Iterator[Problem]:
    """Each schedule's id unique, its form collected at its visit, each day's item one of the
    form's, and its days after day 0 (what a patient answers at home follows treatment)."""
    yield from _duplicates(("patient_reported",), [s.id for s in p.patient_reported], "schedule")
    visits = {visit.id: visit for visit in p.visits}
    for k, schedule in enumerate(p.patient_reported):
        path = ("patient_reported", k)
        visit = visits.get(schedule.visit)
        if visit is None:
            yield (*path, "visit"), f"unknown visit '{schedule.visit}'"
            continue
        if schedule.form not in _known_forms():
            yield (*path, "form"), f"unknown form '{schedule.form}'"
            continue
        if schedule.form not in visit.forms:
            yield (*path, "form"), f"form '{schedule.form}' is not collected at {visit.id}"
            continue
        if schedule.first_day < 1:
            yield (*path, "first_day"), "patients answer at home from day 1 (after day 0)"
        if schedule.kind == "daily":
            items = {item.id for item in _instrument_items(schedule.form)}
            for day in schedule.days:
                if schedule.item_of_day(day) not in items:
                    yield (
                        (*path, "item"),
                        (f"day {day}: '{schedule.item_of_day(day)}' is no item of {schedule.form}"),
                    )
                    break


def _instrument_items(instrument_id: str) -> list:
    from trialdesk.instruments import get_instrument

    return list(get_instrument(instrument_id).items)


def _edit_checks(p: Protocol) -> Iterator[Problem]:
    """Each edit check's ids unique, its form collected at some visit, its items the form's,
    its visits the protocol's and collecting the form, its expression typed against the form."""
    from trialdesk.monitoring.edit_checks import expression_problems_of, form_fields

    yield from _duplicates(("edit_checks",), [rule.id for rule in p.edit_checks], "edit check")
    known_forms = _known_forms()
    collected = {visit.id: set(visit.forms) for visit in p.visits}
    for r, rule in enumerate(p.edit_checks):
        path = ("edit_checks", r)
        form = getattr(rule, "form", None)
        if form is None:
            continue
        if form not in known_forms:
            yield (*path, "form"), f"{rule.id}: unknown form '{form}'"
            continue
        at = [visit for visit, forms in collected.items() if form in forms]
        if not at:
            yield (*path, "form"), f"{rule.id}: form '{form}' is collected at no visit"
        fields = form_fields(form)
        named = list(getattr(rule, "items", [])) + [getattr(rule, "item", "")]
        for item in (item for item in named if item):
            if item not in fields:
                yield (
                    (*path, "item" if item == getattr(rule, "item", "") else "items"),
                    f"{rule.id}: '{item}' is no item or score of {form}",
                )
        for v, visit in enumerate(getattr(rule, "visits", [])):
            if visit not in collected:
                yield (*path, "visits", v), f"{rule.id}: unknown visit '{visit}'"
            elif form not in collected[visit]:
                yield (*path, "visits", v), f"{rule.id}: visit {visit} does not collect {form}"
        if rule.kind == "change_between_visits" and len(at) < 2:
            yield (
                (*path, "form"),
                f"{rule.id}: form '{form}' is collected at {len(at)} visit(s); a change "
                "between visits needs two",
            )
        if rule.kind == "expression":
            for message in expression_problems_of(rule):
                yield (*path, "expression"), f"{rule.id}: {message}"
