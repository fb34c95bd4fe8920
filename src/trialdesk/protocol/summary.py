"""A protocol in tables for people: what a data manager checks before study setup."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from trialdesk.protocol.model import Protocol


def render_summary(protocol: Protocol, console: Console) -> None:
    design = protocol.design
    console.print(f"[bold]{protocol.id}[/bold] {protocol.titles.acronym or ''}".rstrip())
    console.print(protocol.titles.official or protocol.titles.brief)
    console.print(
        f"{'/'.join(p.value for p in protocol.phases)} · {protocol.status.overall.value} · "
        f"sponsor {protocol.sponsor.lead.name} · {design.allocation.value} "
        f"{design.intervention_model.value if design.intervention_model else ''} · "
        f"masking {design.masking.value} · ratio {design.allocation_ratio or '-'} · "
        f"enrollment {protocol.enrollment.count} · {len(protocol.sites)} site(s)"
    )

    arms = Table("arm", "label", "type", "weight", "receives", title="Arms")
    for arm in protocol.arms:
        receives = "; ".join(
            " ".join(
                part
                for part in (
                    protocol.intervention(given.intervention).name,
                    given.dose or "",
                    f"{given.volume_ml:g} mL" if given.volume_ml else "",
                )
                if part
            )
            for given in arm.interventions
        )
        arms.add_row(arm.id, arm.label, arm.type.value, str(arm.weight), receives)
    console.print(arms)

    plan = ", ".join(f"{a.label} (day {a.day})" for a in protocol.treatment_plan)
    console.print(f"Treatment plan: {plan}")

    visits = Table("visit", "label", "day", "window", "forms", title="Visits")
    for visit in protocol.visits:
        window = f"{visit.first_day}..{visit.last_day}"
        visits.add_row(visit.id, visit.label, str(visit.day), window, ", ".join(visit.forms))
    console.print(visits)

    outcomes = Table("outcome", "kind", "measure", "visits", title="Outcomes")
    for outcome in protocol.outcomes:
        outcomes.add_row(outcome.id, outcome.kind, outcome.measure, ", ".join(outcome.visits))
    console.print(outcomes)

    criteria = Table("criterion", "type", "decided by", "registry text", title="Eligibility")
    for criterion in protocol.eligibility.criteria:
        decided = criterion.expression or "investigator attestation"
        criteria.add_row(criterion.id, criterion.type, decided, _short(criterion.text))
    console.print(criteria)

    assumptions = Table("what", "value", "why", title="Assumptions (not stated by the registry)")
    for assumption in protocol.assumptions:
        assumptions.add_row(assumption.what, assumption.value, assumption.why)
    console.print(assumptions)


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
