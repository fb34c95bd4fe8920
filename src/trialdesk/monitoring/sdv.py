"""Which items of a study's saved forms its source data verification (SDV) plan asks a
monitor to verify against the source documents (`trialdesk.protocol.sdv_plan`).

The rule of a site is the site's own (`sdv_plan.sites`) when it has one, else the study's.
A form record's items to verify are, of the items that have a saved value:

    every item          when the subject is one of the site's first `first_subjects` in the
                        order they were screened (the counting is per site), or the form is
                        one of `critical_forms`, or the record is picked by `form_share`
    the critical items  otherwise, the form's entries of `critical_items` ("form.item")

No plan (None) is 100% SDV: every item of every form.

`form_share` picks a record when the hash of its subject, visit and form, read as a number
in [0, 1), is below the share (`share_position`): a fixed rule that keeps the same forms
picked whatever else is saved or in which order, that anybody can recompute, and that picks
about that share of the forms. Raising the share keeps the forms already picked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from trialdesk.protocol.sdv_plan import SdvPlan, SdvRule

#: 100% SDV: every item of every subject's forms (a protocol without `sdv_plan`).
EVERYTHING = SdvRule(first_subjects=0, critical_items=[], critical_forms=[], form_share=1)


@dataclass(frozen=True)
class SavedForm:
    """A saved form record: its subject, visit and form, and the items with a saved value."""

    subject: str
    visit_id: str
    form: str
    items: tuple[str, ...]


def rule_for(plan: SdvPlan | None, site: str) -> SdvRule:
    """The rule that holds at `site` (a site code)."""
    if plan is None:
        return EVERYTHING
    return plan.sites.get(site, plan)


def share_position(subject: str, visit_id: str, form: str) -> float:
    """The record's place in [0, 1): the first 8 bytes of the SHA-256 of
    "subject/visit/form" as a big-endian integer, divided by 2**64."""
    digest = hashlib.sha256(f"{subject}/{visit_id}/{form}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def picked_by_share(rule: SdvRule, subject: str, visit_id: str, form: str) -> bool:
    return share_position(subject, visit_id, form) < rule.form_share


def first_subjects(plan: SdvPlan | None, subjects_by_site: Mapping[str, Sequence[str]]) -> set[str]:
    """The subjects (codes) among the first `first_subjects` of their site's rule;
    `subjects_by_site` is each site's subject codes in the order they were screened."""
    chosen: set[str] = set()
    for site, codes in subjects_by_site.items():
        chosen.update(codes[: rule_for(plan, site).first_subjects])
    return chosen


def items_to_verify(
    rule: SdvRule, among_first: bool, subject: str, visit_id: str, form: str, items: Iterable[str]
) -> tuple[str, ...]:
    """The items of one record (`items`: those with a saved value, in the form's order) the
    rule asks to verify; `among_first` is True for one of the site's first subjects."""
    items = tuple(items)
    if among_first or form in rule.critical_forms or picked_by_share(rule, subject, visit_id, form):
        return items
    critical = _critical_items(tuple(rule.critical_items), form)
    return tuple(item for item in items if item in critical)


@lru_cache(maxsize=1024)
def _critical_items(entries: tuple[str, ...], form: str) -> frozenset[str]:
    """The items of `form` among `critical_items` entries ("form.item"); a page of the
    subject matrix asks this of about a thousand records."""
    return frozenset(entry.partition(".")[2] for entry in entries if entry.startswith(f"{form}."))


def plan_requirements(
    plan: SdvPlan | None,
    subjects_by_site: Mapping[str, Sequence[str]],
    forms: Iterable[SavedForm],
) -> dict[tuple[str, str, str], tuple[str, ...]]:
    """(subject, visit, form) -> the items to verify, for each saved form of a subject of
    `subjects_by_site` (site code -> subject codes in screening order); records with
    nothing to verify are left out."""
    site_of = {code: site for site, codes in subjects_by_site.items() for code in codes}
    first = first_subjects(plan, subjects_by_site)
    required = {}
    for record in forms:
        site = site_of.get(record.subject)
        if site is None:
            continue
        items = items_to_verify(
            rule_for(plan, site),
            record.subject in first,
            record.subject,
            record.visit_id,
            record.form,
            record.items,
        )
        if items:
            required[(record.subject, record.visit_id, record.form)] = items
    return required
