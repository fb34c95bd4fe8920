"""Central statistical checks of measured items: each site against the other sites.

Plain data in (the ``items``, ``visits`` and ``sites`` frames of
`trialdesk.monitoring.kri.MonitoringData`), one row per test out. The checks look for what
fabricated or carelessly copied data leave behind (Buyse et al., "The role of biostatistics in
the prevention, detection and treatment of fraud in clinical trials", Statistics in Medicine
1999; Venet et al., "A statistical approach to central monitoring of data quality in clinical
trials", Clinical Trials 2012):

- ``digit_preference`` (site x item): the terminal digits of the values as entered, site
  against the other sites pooled, chi-square test of homogeneity (2 x 10 table). Only items
  whose values span at least 20 units of their last digit (a 0-4 score has no digit to
  prefer) and sites with at least 20 values.
- ``low_variance`` (site x item): residuals from each (site, visit) mean, the site's variance
  over the other sites' pooled residual variance; one-sided F test (lower tail). Sites with at
  least 10 values.
- ``repeated_values`` (site x item): the share of a subject's consecutive visits with the
  very same value, site against the other sites' share; one-sided binomial test (upper tail).
- ``weekend_visits`` (site): the share of done visits dated on a Saturday, Sunday or public
  holiday of the site's country, against the other sites' share; binomial test (upper tail).
  Holidays: `trialdesk.monitoring.holidays` (Denmark complete; China partial: fixed-date
  holidays only).
- ``identical_patterns`` (site x form): form records (one subject's whole answer vector of
  a form with at least 5 numeric items) identical to another subject's at the same site,
  against the other sites' share; binomial test (upper tail).

Multiple testing: within each check, the p-values of all its tests (sites x items) are
adjusted by Benjamini-Hochberg (false discovery rate); the flag is read from the adjusted
p-value: ``"signal"`` below 0.003, ``"watch"`` below 0.05, else ``"ok"`` (the funnel's
99.7% and 95% levels). A test that cannot run (too few values, no other site) is left out,
so a study with one site has no statistical checks (said in the report).
"""

from __future__ import annotations

import pandas as pd

#: Columns of the frame `run_checks` returns (one row per test).
CHECK_COLUMNS = [
    "site",  # site code
    "check",  # digit_preference, low_variance, repeated_values, weekend_visits,
    # identical_patterns
    "item",  # the item ("form.item"), the form, or "" for a site-level check
    "n",  # values (or visits, or records) tested at the site
    "statistic",  # chi-square, variance ratio, or the site's share
    "expected",  # what the other sites give: their share, or 1 for a variance ratio
    "p_value",
    "p_adjusted",  # Benjamini-Hochberg within the check
    "flag",  # ok / watch / signal
    "detail",  # English words for the report
]

CHECKS = (
    "digit_preference",
    "low_variance",
    "repeated_values",
    "weekend_visits",
    "identical_patterns",
)

SIGNAL_P = 0.003
WATCH_P = 0.05


def digit_preference(items: pd.DataFrame) -> pd.DataFrame:
    """Terminal digit test per site and item (unadjusted p; columns `CHECK_COLUMNS`)."""
    raise NotImplementedError


def low_variance(items: pd.DataFrame) -> pd.DataFrame:
    """Variance ratio F test per site and item (lower tail)."""
    raise NotImplementedError


def repeated_values(items: pd.DataFrame) -> pd.DataFrame:
    """Share of consecutive visits with an identical value per site and item."""
    raise NotImplementedError


def weekend_visits(visits: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    """Share of done visits on weekends or holidays of the site's country per site."""
    raise NotImplementedError


def identical_patterns(items: pd.DataFrame) -> pd.DataFrame:
    """Share of form records whose whole answer vector another subject at the site has."""
    raise NotImplementedError


def adjust(results: pd.DataFrame) -> pd.DataFrame:
    """Benjamini-Hochberg within each check, and the flags."""
    raise NotImplementedError


def run_checks(items: pd.DataFrame, visits: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    """All checks, adjusted and flagged (columns `CHECK_COLUMNS`)."""
    raise NotImplementedError
