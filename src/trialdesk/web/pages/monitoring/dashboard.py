"""What the central-monitoring dashboard shows, in the user's language: each key risk
indicator (KRI) per site with its funnel limits and flag, and the central statistical checks'
tests that flag a site.

The figures are `trialdesk.monitoring`'s (KRIs, funnel limits, checks) over the reader's
sites' data (`trialdesk.store.monitoring_data`, read through the `Access`: site scope, no
arm); this module puts them in rows with words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from trialdesk.monitoring.kri import KRIS, compute_kris
from trialdesk.monitoring.statistical_checks import run_checks
from trialdesk.store.access import Access
from trialdesk.store.models import Role
from trialdesk.store.monitoring_data import monitoring_data

#: Who reads central monitoring: the monitors, the data managers, the (blinded) statisticians
#: and the study's administrators.
READERS = (Role.MONITOR, Role.DATA_MANAGER, Role.STATISTICIAN, Role.ADMIN)

KRI_LABELS: dict[str, Any] = {
    "ae_rate": _("Adverse events per patient-year"),
    "sae_rate": _("Serious adverse events per patient-year"),
    "deviation_rate": _("Protocol deviations per patient-year"),
    "query_rate": _("Queries per form entered"),
    "screen_failure_rate": _("Screen failures per subject screened"),
    "data_entry_lag": _("Forms entered more than 10 days after the visit"),
    "missed_visit_rate": _("Missed visits per visit due"),
    "withdrawal_rate": _("Withdrawals per subject randomized"),
}
#: The summary table's column heads.
KRI_SHORT: dict[str, Any] = {
    "ae_rate": pgettext_lazy("KRI column", "AEs"),
    "sae_rate": pgettext_lazy("KRI column", "SAEs"),
    "deviation_rate": pgettext_lazy("KRI column", "Deviations"),
    "query_rate": pgettext_lazy("KRI column", "Queries"),
    "screen_failure_rate": pgettext_lazy("KRI column", "Screen failures"),
    "data_entry_lag": pgettext_lazy("KRI column", "Late entry"),
    "missed_visit_rate": pgettext_lazy("KRI column", "Missed visits"),
    "withdrawal_rate": pgettext_lazy("KRI column", "Withdrawals"),
}
UNIT_LABELS: dict[str, Any] = {
    "patient-years": _("patient-years"),
    "subjects": _("subjects"),
    "visits": _("visits"),
    "forms": _("forms"),
}
CHECK_LABELS: dict[str, Any] = {
    "digit_preference": _("Digit preference"),
    "low_variance": _("Variance far below the other sites'"),
    "repeated_values": _("Repeated identical values"),
    "weekend_visits": _("Visits on weekends or public holidays"),
    "identical_patterns": _("Identical answer patterns across subjects"),
}
#: A flag in words and a symbol (never colour alone), and its badge class.
FLAGS: dict[str, tuple[Any, str, str]] = {
    "ok": (pgettext_lazy("monitoring flag", "Within limits"), "✓", "ok"),
    "watch": (pgettext_lazy("monitoring flag", "Watch"), "▲", "warn"),
    "signal": (pgettext_lazy("monitoring flag", "Signal"), "✖", "late"),
    "no data": (pgettext_lazy("monitoring flag", "No data"), "–", "none"),
}
DIRECTIONS: dict[str, Any] = {
    "high": pgettext_lazy("monitoring direction", "high"),
    "low": pgettext_lazy("monitoring direction", "low"),
    "": "",
}


@dataclass(frozen=True)
class Flag:
    code: str
    label: str
    symbol: str
    css: str
    direction: str


def _flag(code: str, direction: str = "") -> Flag:
    label, symbol, css = FLAGS.get(code, FLAGS["no data"])
    return Flag(code, str(label), symbol, css, str(DIRECTIONS.get(direction, direction)))


def _number(value: Any) -> float | None:
    """A figure for the page; None for a missing one (NaN)."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


@dataclass(frozen=True)
class KriRow:
    """One site's value of one KRI."""

    site: str
    numerator: float | None
    denominator: float | None
    rate: float | None
    lower_95: float | None
    upper_95: float | None
    lower_997: float | None
    upper_997: float | None
    flag: Flag
    detail: str


@dataclass(frozen=True)
class KriPanel:
    """A KRI: its words, the overall rate, a row per site and how many sites it flags."""

    kri: str
    label: str
    short: str
    unit: str
    overall_rate: float | None
    rows: tuple[KriRow, ...]

    @property
    def flagged(self) -> int:
        return sum(row.flag.code in ("watch", "signal") for row in self.rows)

    @property
    def has_data(self) -> bool:
        """Some site has a denominator: there is a funnel to plot."""
        return any(row.denominator for row in self.rows)


@dataclass(frozen=True)
class CheckRow:
    """A statistical check's test that flags a site."""

    site: str
    check: str
    check_label: str
    item: str
    n: int
    statistic: float | None
    expected: float | None
    p_adjusted: float | None
    flag: Flag
    detail: str


@dataclass(frozen=True)
class Dashboard:
    """The dashboard: the sites, a KRI panel each, the flag summary (site x KRI), the checks'
    flagged tests and how many tests ran."""

    sites: tuple[str, ...]
    panels: tuple[KriPanel, ...]
    summary: tuple[tuple[str, tuple[Flag, ...]], ...]
    checks_flagged: tuple[CheckRow, ...]
    checks_run: int
    notes: tuple[str, ...]


def kri_frame(access: Access) -> pd.DataFrame:
    """Every KRI per site of the reader's sites (`trialdesk.monitoring.kri.KRI_COLUMNS`)."""
    return compute_kris(monitoring_data(access))


def dashboard(access: Access) -> Dashboard:
    data = monitoring_data(access)
    kris = compute_kris(data)
    checks = run_checks(data.items, data.visits, data.sites)
    sites = tuple(sorted(str(site) for site in data.sites["site"]))
    panels = []
    for name, definition in KRIS.items():
        frame = kris[kris["kri"] == name].sort_values("site")
        rows = tuple(
            KriRow(
                str(row.site),
                _number(row.numerator),
                _number(row.denominator),
                _number(row.rate),
                _number(row.lower_95),
                _number(row.upper_95),
                _number(row.lower_997),
                _number(row.upper_997),
                _flag(str(row.flag), str(row.direction or "")),
                str(row.detail or ""),
            )
            for row in frame.itertuples()
        )
        overall = _number(frame["overall_rate"].iloc[0]) if len(frame) else None
        panels.append(
            KriPanel(
                name,
                str(KRI_LABELS.get(name, definition.label)),
                str(KRI_SHORT.get(name, name)),
                str(UNIT_LABELS.get(definition.unit, definition.unit)),
                overall,
                rows,
            )
        )
    by_site = {
        site: tuple(
            next((row.flag for row in panel.rows if row.site == site), _flag("no data"))
            for panel in panels
        )
        for site in sites
    }
    flagged = checks[checks["flag"].isin(["watch", "signal"])].sort_values(
        ["p_adjusted", "site", "check", "item"]
    )
    check_rows = tuple(
        CheckRow(
            str(row.site),
            str(row.check),
            str(CHECK_LABELS.get(row.check, row.check)),
            str(row.item or ""),
            int(row.n),
            _number(row.statistic),
            _number(row.expected),
            _number(row.p_adjusted),
            _flag(str(row.flag)),
            str(row.detail or ""),
        )
        for row in flagged.itertuples()
    )
    return Dashboard(
        sites,
        tuple(panels),
        tuple(by_site.items()),
        check_rows,
        len(checks),
        tuple(data.notes),
    )
