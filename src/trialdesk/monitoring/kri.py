"""Key risk indicators (KRIs) per site, each with funnel-plot limits and a flag.

Plain data in, plain data out: the frames of `MonitoringData` (the store builds them in
`trialdesk.store.monitoring_data`; the benchmark and the tests build them by hand), one row
per site and KRI out. Nothing here knows arms: the frames have no arm column and the KRIs are
computed over all of a site's subjects (ICH E6(R3) central monitoring is blinded).

The KRIs (numerator / denominator, model, the sides flagged):

============================  =====================================  ==========  ======
kri                           numerator / denominator                model       sides
============================  =====================================  ==========  ======
``ae_rate``                   AEs / patient-years                    poisson     both
``sae_rate``                  SAEs / patient-years                   poisson     both
``deviation_rate``            deviations that stand / patient-years  poisson     both
``query_rate``                queries opened / forms entered         poisson     high
``screen_failure_rate``       screen failures / subjects screened    binomial    both
``data_entry_lag``            forms entered > 10 days after the      binomial    high
                              visit / forms entered
``missed_visit_rate``         visits missed / visits due             binomial    high
``withdrawal_rate``           subjects withdrawn / randomized        binomial    high
============================  =====================================  ==========  ======

Both sides where too few is a sign too: too few AEs or deviations is under-reporting, too
few screen failures a screening log kept selectively. A low query or missed-visit rate is
good news, not a risk. The data-entry lag KRI is the gsm "data entry lag" KRI (share of forms
entered more than 10 days after the visit); the median lag per site is in ``detail``.

Patient-time: a subject counts from day 0 (randomization/first treatment) to the earliest
of withdrawal, end of follow-up and the data's "as of" date; the store computes it
(``subjects.patient_years``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trialdesk.monitoring.funnel import Model, Sides, funnel_table

#: Columns of the frame `compute_kris` returns (one row per site and KRI).
KRI_COLUMNS = [
    "site",  # site code
    "kri",  # KRI name (KRIS keys)
    "label",  # English label, e.g. "AE rate per patient-year"
    "numerator",  # count (float for patient-time sums)
    "denominator",  # patients, visits, forms or patient-years
    "unit",  # what the denominator counts: "patient-years", "subjects", "visits", "forms"
    "rate",  # numerator / denominator (NaN when the denominator is 0)
    "overall_rate",  # all sites' numerators / all sites' denominators
    "lower_95",
    "upper_95",
    "lower_997",
    "upper_997",
    "z",  # (rate - overall) / se under the overall rate
    "flag",  # ok / watch / signal / no data
    "direction",  # high / low / ""
    "detail",  # extra words (e.g. the median data-entry lag), "" when none
]

#: Data-entry lag: a form entered more than this many days after its visit is late.
LATE_ENTRY_DAYS = 10


@dataclass(frozen=True)
class Kri:
    """One key risk indicator's definition."""

    name: str
    label: str
    unit: str
    model: Model
    sides: Sides


KRIS: dict[str, Kri] = {
    kri.name: kri
    for kri in (
        Kri("ae_rate", "AE rate per patient-year", "patient-years", "poisson", "both"),
        Kri("sae_rate", "SAE rate per patient-year", "patient-years", "poisson", "both"),
        Kri(
            "deviation_rate",
            "Protocol deviations per patient-year",
            "patient-years",
            "poisson",
            "both",
        ),
        Kri("query_rate", "Queries per form entered", "forms", "poisson", "high"),
        Kri(
            "screen_failure_rate",
            "Screen failures per subject screened",
            "subjects",
            "binomial",
            "both",
        ),
        Kri(
            "data_entry_lag",
            f"Forms entered more than {LATE_ENTRY_DAYS} days after the visit",
            "forms",
            "binomial",
            "high",
        ),
        Kri("missed_visit_rate", "Visits missed per visit due", "visits", "binomial", "high"),
        Kri(
            "withdrawal_rate", "Withdrawals per subject randomized", "subjects", "binomial", "high"
        ),
    )
}


@dataclass
class MonitoringData:
    """A study's (or one reader's sites') data for central monitoring, as plain frames.

    Every frame has a ``site`` column (the site code) and, except ``sites``, a ``subject``
    column (the subject code). No frame has an arm. Dates are ``datetime.date`` or pandas
    timestamps; the frames may be empty but have their columns.

    - ``sites``: site, name, country (e.g. "Denmark", "China"; "" when unknown).
    - ``subjects``: subject, site, screened_on, screen_failed (bool), randomized (bool),
      withdrawn (bool), patient_years (float, 0 when not randomized).
    - ``visits``: subject, site, visit, target_date, actual_date (None unless done),
      status ("done", "missed", "scheduled"), due (bool: done, missed, or its window closed
      before the as-of date).
    - ``adverse_events``: subject, site, number, onset_date, serious (bool).
    - ``deviations``: subject, site, kind, detected_on (only deviations that stand).
    - ``queries``: subject, site, number, origin ("manual", "rule"), status, opened_at.
    - ``entries``: subject, site, visit, form, visit_date, entered_on (date of the form's
      first entry, from the audit trail), lag_days (int: entered_on - visit_date).
    - ``items``: subject, site, visit, form, item, value (float), text (the value as entered,
      for terminal digits), date (the visit's date). Numeric items only.
    """

    sites: pd.DataFrame
    subjects: pd.DataFrame
    visits: pd.DataFrame
    adverse_events: pd.DataFrame
    deviations: pd.DataFrame
    queries: pd.DataFrame
    entries: pd.DataFrame
    items: pd.DataFrame
    as_of: object = None
    notes: list[str] = field(default_factory=list)


#: The columns of each frame of `MonitoringData` (`empty_data()` builds them).
FRAME_COLUMNS: dict[str, list[str]] = {
    "sites": ["site", "name", "country"],
    "subjects": [
        "subject",
        "site",
        "screened_on",
        "screen_failed",
        "randomized",
        "withdrawn",
        "patient_years",
    ],
    "visits": ["subject", "site", "visit", "target_date", "actual_date", "status", "due"],
    "adverse_events": ["subject", "site", "number", "onset_date", "serious"],
    "deviations": ["subject", "site", "kind", "detected_on"],
    "queries": ["subject", "site", "number", "origin", "status", "opened_at"],
    "entries": ["subject", "site", "visit", "form", "visit_date", "entered_on", "lag_days"],
    "items": ["subject", "site", "visit", "form", "item", "value", "text", "date"],
}


def empty_data(sites: pd.DataFrame | None = None) -> MonitoringData:
    """A `MonitoringData` of empty frames with their columns (``sites`` if given)."""
    frames = {name: pd.DataFrame(columns=columns) for name, columns in FRAME_COLUMNS.items()}
    if sites is not None:
        frames["sites"] = sites
    return MonitoringData(**frames)


def _per_site(frame: pd.DataFrame, sites: pd.Index, mask: object = None) -> pd.Series:
    """Rows per site (0 for a site without any), optionally of the rows where `mask`."""
    rows = frame if mask is None else frame[np.asarray(mask, dtype=bool)]
    return rows.groupby("site").size().reindex(sites, fill_value=0).astype(float)


def _sum_per_site(frame: pd.DataFrame, column: str, sites: pd.Index) -> pd.Series:
    return frame.groupby("site")[column].sum().reindex(sites, fill_value=0.0).astype(float)


def counts_per_site(data: MonitoringData) -> pd.DataFrame:
    """Numerator and denominator of every KRI per site (columns: site, kri, numerator,
    denominator, detail); every site of ``data.sites`` has a row for every KRI."""
    sites = pd.Index(data.sites["site"].astype(str).tolist(), name="site")
    subjects = data.subjects
    randomized = subjects[subjects["randomized"].astype(bool)]
    patient_years = _sum_per_site(randomized, "patient_years", sites)
    screened = _per_site(subjects, sites)
    forms = _per_site(data.entries, sites)
    lag = pd.to_numeric(data.entries["lag_days"], errors="coerce")
    due = data.visits[data.visits["due"].astype(bool)]
    serious = data.adverse_events["serious"].astype(bool)
    median_lag = data.entries.assign(lag=lag).groupby("site")["lag"].median().reindex(sites)
    lag_detail = pd.Series(
        [f"median lag {m:g} days" if pd.notna(m) else "" for m in median_lag], index=sites
    )
    counts = {
        "ae_rate": (_per_site(data.adverse_events, sites), patient_years),
        "sae_rate": (_per_site(data.adverse_events, sites, serious), patient_years),
        "deviation_rate": (_per_site(data.deviations, sites), patient_years),
        "query_rate": (_per_site(data.queries, sites), forms),
        "screen_failure_rate": (
            _per_site(subjects, sites, subjects["screen_failed"].astype(bool)),
            screened,
        ),
        "data_entry_lag": (_per_site(data.entries, sites, lag > LATE_ENTRY_DAYS), forms),
        "missed_visit_rate": (
            _per_site(due, sites, due["status"] == "missed"),
            _per_site(due, sites),
        ),
        "withdrawal_rate": (
            _per_site(randomized, sites, randomized["withdrawn"].astype(bool)),
            _per_site(randomized, sites),
        ),
    }
    rows = []
    for name, (numerator, denominator) in counts.items():
        detail = lag_detail if name == "data_entry_lag" else pd.Series("", index=sites)
        rows.append(
            pd.DataFrame(
                {
                    "site": sites,
                    "kri": name,
                    "numerator": numerator.to_numpy(),
                    "denominator": denominator.to_numpy(),
                    "detail": detail.to_numpy(),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def compute_kris(data: MonitoringData, adjust_overdispersion: bool = False) -> pd.DataFrame:
    """Every KRI per site with its funnel limits and flag (columns `KRI_COLUMNS`)."""
    counts = counts_per_site(data)
    tables = []
    for name, kri in KRIS.items():
        part = counts[counts["kri"] == name].reset_index(drop=True)
        table = funnel_table(part, kri.model, kri.sides, adjust_overdispersion)
        table["kri"] = name
        table["label"] = kri.label
        table["unit"] = kri.unit
        table["detail"] = part["detail"].to_numpy()
        tables.append(table)
    if not tables or counts.empty:
        return pd.DataFrame(columns=KRI_COLUMNS)
    return pd.concat(tables, ignore_index=True)[KRI_COLUMNS]
