"""The source data verification plan of a protocol file (`sdv_plan:`): which items a monitor
verifies against the source documents.

A rule per study, which a site may replace with its own (`sites: {"03": {...}}`; a site's
rule is whole: what it leaves out is 0 or empty, not the study's):

    first_subjects  every item of every form of each site's first N subjects (in the order
                    they were screened; counted per site)
    critical_items  "form.item" entries verified for every subject (e.g. "koos.P1"), at every
                    visit that collects the form
    critical_forms  forms verified in full for every subject (e.g. "womac": a primary
                    outcome's score is computed from all its items)
    form_share      the share (0 to 1) of the other subjects' forms verified in full, picked
                    by a fixed rule so the same forms stay picked

Only items with a saved value are verified. A protocol without `sdv_plan` verifies
everything (100% SDV). Which records the plan asks for is `trialdesk.monitoring.sdv`; this
module is the schema only.
"""

from __future__ import annotations

from pydantic import Field

from trialdesk.protocol.model_base import Frozen


class SdvRule(Frozen):
    first_subjects: int = Field(0, ge=0)
    critical_items: list[str] = Field([], description='"form.item", e.g. "koos.P1"')
    critical_forms: list[str] = Field([], description="forms verified in full, e.g. womac")
    form_share: float = Field(0, ge=0, le=1)


class SdvPlan(SdvRule):
    sites: dict[str, SdvRule] = Field({}, description="site code -> the site's own rule")
