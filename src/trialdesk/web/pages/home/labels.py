"""The home pages' words for roles, subject statuses and matrix cells, and the icon each
cell shows beside its colour (a state is never told by colour alone), with the small mark of
where its source data verification (SDV) stands."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from trialdesk.store.matrix import CellState
from trialdesk.store.sdv_status import SdvState

ROLE_LABELS = {
    "admin": _("Administrator"),
    "data_manager": _("Data manager"),
    "investigator": _("Investigator"),
    "coordinator": _("Study coordinator"),
    "assessor": _("Outcome assessor"),
    "pharmacist": _("Pharmacist"),
    "monitor": _("Monitor"),
    "statistician": _("Statistician"),
    "dmc_statistician": _("DMC statistician"),
}
STATUS_LABELS = {
    "screened": _("Screened"),
    "screen_failed": _("Screen failure"),
    "consented": _("Consented"),
    "eligible": _("Eligible"),
    "randomized": _("Randomized"),
    "treated": _("Treated"),
    "in_follow_up": _("In follow-up"),
    "completed": _("Completed"),
    "withdrawn": _("Withdrawn"),
    "lost_to_follow_up": _("Lost to follow-up"),
}
VERDICT_LABELS = {
    "": _("Not evaluated yet"),
    "eligible": _("Eligible"),
    "ineligible": _("Not eligible"),
    "incomplete": _("Incomplete: values or confirmations missing"),
    "unknown": _("Unknown"),
}
SORT_LABELS = {
    "code": _("Subject"),
    "site": _("Site"),
    "status": _("Status"),
    "screened": _("Screened on"),
}


class CellLook:
    """How a cell state is shown: its text, a one-character icon and a CSS class."""

    def __init__(self, state: CellState, label: object, icon: str) -> None:
        self.state, self.label, self.icon = state, label, icon

    @property
    def css(self) -> str:
        return f"cell-{self.state.value.replace('_', '-')}"


#: In the legend's order: the states that ask for something first.
CELL_LOOKS = {
    look.state: look
    for look in (
        CellLook(CellState.OVERDUE, _("Overdue: window ended, not done"), "!"),
        CellLook(CellState.NO_DATA, _("Due: no data yet"), "○"),
        CellLook(CellState.IN_PROGRESS, _("In progress: forms saved or a draft"), "◐"),
        CellLook(CellState.COMPLETE, _("All forms complete"), "✓"),
        CellLook(CellState.MISSED, _("Missed"), "✕"),
        CellLook(CellState.NOT_DUE, _("Not yet due"), "·"),
        CellLook(CellState.NOT_EXPECTED, _("Not expected: participation ended"), "–"),
    )
}


class SdvLook:
    """How a cell's SDV state is shown: its text, a one-character mark and a CSS class."""

    def __init__(self, state: SdvState, label: object, icon: str) -> None:
        self.state, self.label, self.icon = state, label, icon

    @property
    def css(self) -> str:
        return f"sdv-{self.state.value.replace('_', '-')}"


#: The marks of the visits whose forms the SDV plan asks to verify (none when it asks none).
SDV_LOOKS = {
    look.state: look
    for look in (
        SdvLook(SdvState.TO_VERIFY, _("SDV: to verify"), "☐"),
        SdvLook(SdvState.PARTLY_VERIFIED, _("SDV: partly verified"), "◧"),
        SdvLook(SdvState.VERIFIED, _("SDV: verified"), "☑"),
    )
}
