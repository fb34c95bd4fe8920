"""Central statistical checks of measured items: each site against the other sites.

Plain data in (the ``items``, ``visits`` and ``sites`` frames of
`trialdesk.monitoring.kri.MonitoringData`), one row per test out. The checks look for what
fabricated or carelessly copied data leave behind (Buyse et al., "The role of biostatistics in
the prevention, detection and treatment of fraud in clinical trials", Statistics in Medicine
1999; Venet et al., "A statistical approach to central monitoring of data quality in clinical
trials", Clinical Trials 2012):

- ``digit_preference`` (site x item): the terminal digits of the values as entered (each
  subject's distinct values once), site against the other sites pooled, chi-square test of
  homogeneity (2 x 10 table). Only items with at least 20 distinct values across sites (a
  0-4 score has no digit to prefer) and sites with at least 20 such values.
- ``low_variance`` (site x item): residuals from each (site, visit) mean, the site's variance
  over the other sites' pooled residual variance; one-sided F test (lower tail). Sites with at
  least 10 values.
- ``repeated_values`` (site x item): the share of a subject's consecutive visits with the
  very same value, site against the other sites' share; one-sided binomial test (upper tail).
- ``weekend_visits`` (site): the share of done visits dated on a Saturday, Sunday or public
  holiday of the site's country, against the other sites' share; binomial test (upper tail).
  Holidays: `trialdesk.monitoring.holidays` (Denmark complete; China partial: fixed-date
  holidays only).
- ``identical_patterns`` (site x form): subjects with a form record (a whole answer vector
  of a form with at least 5 numeric items, not one value throughout) identical to that of a
  subject with a smaller code at the same site, against the other sites' share; binomial
  test (upper tail).

Multiple testing: within each check, the p-values of all its tests (sites x items) are
adjusted by Benjamini-Hochberg (false discovery rate); the flag is read from the adjusted
p-value: ``"signal"`` below 0.003, ``"watch"`` below 0.05, else ``"ok"`` (the funnel's
99.7% and 95% levels). A test that cannot run (too few values, no other site) is left out,
so a study with one site has no statistical checks (said in the report).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from trialdesk.monitoring.holidays import is_weekend_or_holiday

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

#: Digit preference: only items with this many distinct values across sites, and sites with
#: this many values of the item.
DIGIT_MIN_DISTINCT = 20
DIGIT_MIN_VALUES = 20
#: Low variance: sites with this many values of the item.
VARIANCE_MIN_VALUES = 10
#: Identical answer patterns: forms with this many numeric items in a record.
PATTERN_MIN_ITEMS = 5


def _frame(rows: dict[str, object], check: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["check"] = check
    frame["p_adjusted"] = np.nan
    frame["flag"] = ""
    return frame.reindex(columns=CHECK_COLUMNS)


def _item_key(items: pd.DataFrame) -> pd.Series:
    """``form.item`` of each row (the ``key`` column when `run_checks` made it already)."""
    if "key" in items.columns:
        return items["key"]
    return items["form"].astype(str) + "." + items["item"].astype(str)


def _codes(column: pd.Series) -> np.ndarray:
    """Integer codes of a column's values (equal values, equal codes): sorts and compares
    fast where strings would not."""
    return pd.factorize(column, use_na_sentinel=False)[0]


def _share_against_others(
    hits: pd.DataFrame, group: list[str], check: str, what: str
) -> pd.DataFrame:
    """Binomial test (upper tail) of each site's share of hits against the other sites'.

    `hits` has the `group` columns (``site`` first, then the tested thing), and ``hit``
    (bool), one row per unit tested. The other sites' share is their hits over their units
    (within the same tested thing); a site alone in its thing is not tested.
    """
    if hits.empty:
        return _frame({}, check)
    per = hits.groupby(group, observed=True)["hit"].agg(["sum", "size"]).reset_index()
    rest = group[1:]
    if rest:
        totals = per.groupby(rest)[["sum", "size"]].transform("sum")
        sites_in = per.groupby(rest)["site"].transform("size")
    else:
        totals = per[["sum", "size"]].sum().to_frame().T.loc[[0] * len(per)].reset_index(drop=True)
        sites_in = pd.Series(len(per), index=per.index)
    k, n = per["sum"].to_numpy(float), per["size"].to_numpy(float)
    others_k = totals["sum"].to_numpy(float) - k
    others_n = totals["size"].to_numpy(float) - n
    keep = (sites_in.to_numpy() > 1) & (others_n > 0)
    p0 = np.divide(others_k, others_n, out=np.zeros_like(k), where=others_n > 0)
    share = np.divide(k, n, out=np.zeros_like(k), where=n > 0)
    p = stats.binom.sf(k - 1, n, p0)
    item = per[rest[0]].astype(str) if rest else pd.Series("", index=per.index)
    detail = [
        f"{int(a)} of {int(b)} {what} ({x:.1%}; other sites {y:.1%})"
        for a, b, x, y in zip(k, n, share, p0, strict=True)
    ]
    rows = {
        "site": per["site"],
        "item": item,
        "n": n.astype(int),
        "statistic": share,
        "expected": p0,
        "p_value": p,
        "detail": detail,
    }
    return _frame(rows, check)[keep].reset_index(drop=True)


def terminal_digit(text: pd.Series) -> pd.Series:
    """The last digit of each value as entered (-1 when it does not end in a digit)."""
    codes, uniques = pd.factorize(text.astype(str), use_na_sentinel=False)
    last = pd.Series(uniques, dtype=object).astype(str).str[-1:]
    digits = pd.to_numeric(last.where(last.str.isdigit()), errors="coerce").fillna(-1)
    return pd.Series(digits.astype(int).to_numpy()[codes], index=text.index)


def digit_preference(items: pd.DataFrame) -> pd.DataFrame:
    """Terminal digit test per site and item (unadjusted p; columns `CHECK_COLUMNS`).

    Chi-square test of homogeneity of the 2 x 10 table (this site's digit counts, the other
    sites' digit counts), degrees of freedom (digits seen - 1); the statistic is the
    chi-square, ``expected`` its degrees of freedom. A subject's value counts once however
    often it is repeated: a stable measure (the same at every visit) would otherwise count
    one digit many times, and fair sites would signal (repeats are `repeated_values`' to
    judge).
    """
    frame = pd.DataFrame(
        {
            "site": items["site"],
            "subject": items["subject"],
            "key": _item_key(items),
            "value": items["value"],
            "text": items["text"],
            "digit": terminal_digit(items["text"]),
        }
    )
    frame = frame[frame["digit"] >= 0].drop_duplicates(["site", "subject", "key", "text"])
    distinct = frame.groupby("key")["value"].nunique()
    frame = frame[frame["key"].isin(distinct.index[distinct >= DIGIT_MIN_DISTINCT])]
    if frame.empty:
        return _frame({}, "digit_preference")
    table = frame.groupby(["key", "site", "digit"]).size().unstack("digit", fill_value=0)
    table = table.reindex(columns=range(10), fill_value=0)
    site_counts = table.to_numpy(float)
    item_counts = table.groupby(level="key").transform("sum").to_numpy(float)
    other_counts = item_counts - site_counts
    n_site = site_counts.sum(axis=1, keepdims=True)
    n_other = other_counts.sum(axis=1, keepdims=True)
    total = n_site + n_other
    column = item_counts  # digit totals of the item (both rows of the 2 x 10 table)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected_site = n_site * column / total
        expected_other = n_other * column / total
        cells = np.where(
            column > 0,
            (site_counts - expected_site) ** 2 / expected_site
            + (other_counts - expected_other) ** 2 / expected_other,
            0.0,
        )
    chi2 = cells.sum(axis=1)
    df = (column > 0).sum(axis=1) - 1
    p = stats.chi2.sf(chi2, np.maximum(df, 1))
    keys = table.index.get_level_values("key")
    sites = table.index.get_level_values("site")
    top = site_counts.argmax(axis=1)
    share_top = site_counts.max(axis=1) / n_site[:, 0]
    others_top = np.divide(
        other_counts[np.arange(len(top)), top],
        n_other[:, 0],
        where=n_other[:, 0] > 0,
        out=np.zeros(len(top)),
    )
    detail = [
        f"last digit {d} in {a:.0%} of {int(n)} values (other sites {b:.0%})"
        for d, a, n, b in zip(top, share_top, n_site[:, 0], others_top, strict=True)
    ]
    rows = {
        "site": sites,
        "item": keys,
        "n": n_site[:, 0].astype(int),
        "statistic": chi2,
        "expected": df.astype(float),
        "p_value": p,
        "detail": detail,
    }
    keep = (n_site[:, 0] >= DIGIT_MIN_VALUES) & (n_other[:, 0] > 0) & (df >= 1)
    return _frame(rows, "digit_preference")[keep].reset_index(drop=True)


def low_variance(items: pd.DataFrame) -> pd.DataFrame:
    """Variance ratio F test per site and item (lower tail).

    Residuals are taken from each (site, visit, item) mean, so a site's level and the
    change over visits do not count. A site's residual variance is its sum of squares over
    (values - visits), the other sites' the same pooled; the statistic is the ratio (site
    over other sites), ``expected`` 1. The F test's degrees of freedom are counted in
    subjects (subjects - 1 at the site, the same summed over the other sites), not in values:
    a subject's repeated values are correlated, and counting each value as independent
    flags fair sites (a conservative choice when a subject's values vary a lot).
    """
    frame = items[["site", "subject", "visit", "value"]].assign(key=_item_key(items))
    frame = frame[np.isfinite(frame["value"].astype(float))]
    if frame.empty:
        return _frame({}, "low_variance")
    value = frame["value"].astype(float)
    mean = value.groupby([frame["site"], frame["visit"], frame["key"]]).transform("mean")
    frame = frame.assign(square=(value - mean) ** 2)
    cells = frame.groupby(["key", "site", "visit"], observed=True)["square"].agg(["sum", "size"])
    per = cells.groupby(level=["key", "site"]).agg(
        ss=("sum", "sum"), n=("size", "sum"), groups=("size", "size")
    )
    per["variance_df"] = per["n"] - per["groups"]
    people = frame.groupby(["key", "site"], observed=True)["subject"].nunique()
    per["df"] = (people.reindex(per.index) - 1).clip(lower=0)
    totals = per.groupby(level="key")[["ss", "variance_df", "df"]].transform("sum")
    ss_other = (totals["ss"] - per["ss"]).to_numpy(float)
    vdf_other = (totals["variance_df"] - per["variance_df"]).to_numpy(float)
    df_other = (totals["df"] - per["df"]).to_numpy(float)
    ss, vdf, df = (
        per["ss"].to_numpy(float),
        per["variance_df"].to_numpy(float),
        per["df"].to_numpy(float),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        site_var = np.where(vdf > 0, ss / np.where(vdf > 0, vdf, 1), np.nan)
        other_var = np.where(
            vdf_other > 0, ss_other / np.where(vdf_other > 0, vdf_other, 1), np.nan
        )
        ratio = site_var / other_var
    keep = (per["n"].to_numpy() >= VARIANCE_MIN_VALUES) & (df >= 1) & (df_other >= 1)
    keep &= (ss_other > 0) & (vdf >= 1)
    p = stats.f.cdf(ratio, np.maximum(df, 1), np.maximum(df_other, 1))
    detail = [
        f"residual SD {np.sqrt(a):.3g} vs {np.sqrt(b):.3g} at the other sites"
        for a, b in zip(np.nan_to_num(site_var), np.nan_to_num(other_var), strict=True)
    ]
    rows = {
        "site": per.index.get_level_values("site"),
        "item": per.index.get_level_values("key"),
        "n": per["n"].to_numpy(int),
        "statistic": ratio,
        "expected": 1.0,
        "p_value": p,
        "detail": detail,
    }
    return _frame(rows, "low_variance")[keep].reset_index(drop=True)


def repeated_values(items: pd.DataFrame) -> pd.DataFrame:
    """Share of consecutive visits with an identical value per site and item.

    A subject's values of an item in visit-date order; each pair of consecutive values is a
    unit, a hit when both are the same as entered.
    """
    if items.empty:
        return _frame({}, "repeated_values")
    frame = items.assign(key=_item_key(items))
    subject, key, text = _codes(frame["subject"]), _codes(frame["key"]), _codes(frame["text"])
    when = pd.to_datetime(frame["date"]).to_numpy("datetime64[D]").astype(np.int64)
    order = np.lexsort((_codes(frame["visit"]), when, key, subject))
    subject, key, text = subject[order], key[order], text[order]
    same_series = np.r_[False, (subject[1:] == subject[:-1]) & (key[1:] == key[:-1])]
    hit = np.r_[False, text[1:] == text[:-1]]
    chosen = order[same_series]
    pairs = frame[["site", "key"]].iloc[chosen].assign(hit=hit[same_series])
    return _share_against_others(
        pairs[["site", "key", "hit"]], ["site", "key"], "repeated_values", "consecutive pairs same"
    )


def weekend_visits(visits: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    """Share of done visits on weekends or holidays of the site's country per site."""
    done = visits[(visits["status"] == "done") & visits["actual_date"].notna()]
    if done.empty:
        return _frame({}, "weekend_visits")
    country = dict(
        zip(sites["site"].astype(str), sites["country"].fillna("").astype(str), strict=True)
    )
    dates = pd.to_datetime(done["actual_date"])
    weekend = dates.dt.day_of_week >= 5
    hit = weekend.to_numpy().copy()
    for site, rows in done.groupby("site").groups.items():
        place = country.get(str(site), "")
        if place:
            index = done.index.get_indexer(rows)
            days = dates.iloc[index].dt.date
            hit[index] = [is_weekend_or_holiday(day, place) for day in days]
    frame = pd.DataFrame({"site": done["site"].to_numpy(), "hit": hit})
    return _share_against_others(
        frame, ["site"], "weekend_visits", "visits on a weekend or holiday"
    )


def identical_patterns(items: pd.DataFrame) -> pd.DataFrame:
    """Share of subjects whose whole answer vector of a form another subject at the site has.

    A record is one subject's form at one visit; its answer vector is the set of (item,
    value as entered). Forms with at least `PATTERN_MIN_ITEMS` numeric items only, and not a
    vector with one value throughout (all 0 or all 4: the floor and ceiling of a scale, which
    fair sites see too). The unit is the subject, a hit when one of their records repeats
    the record of a subject with a smaller code at the site (so a pair of matching subjects
    counts once, not twice), since one subject's records are not independent and neither are
    the two of a pair. The vectors are compared by a 64-bit hash of the
    set (collisions: about 1 in 10^19 per pair). A large site has more chances of a chance
    repeat than a small one.
    """
    if items.empty:
        return _frame({}, "identical_patterns")
    pair = _codes(items["item"]).astype(np.uint64) << np.uint64(32)
    pair |= _codes(items["text"]).astype(np.uint64)
    hashed = pd.util.hash_array(pair)
    frame = items[["site", "subject", "visit", "form"]].assign(h=hashed, one=1, text=items["text"])
    records = frame.groupby(["site", "subject", "visit", "form"], observed=True).agg(
        h=("h", "sum"), items=("one", "sum"), values=("text", "nunique")
    )
    records = records[(records["items"] >= PATTERN_MIN_ITEMS) & (records["values"] > 1)]
    records = records.reset_index()
    if records.empty:
        return _frame({}, "identical_patterns")
    first = records.groupby(["site", "form", "h"])["subject"].transform("min")
    records["hit"] = (records["subject"] != first).to_numpy()
    subjects = records.groupby(["site", "form", "subject"], observed=True)["hit"].any()
    return _share_against_others(
        subjects.reset_index()[["site", "form", "hit"]],
        ["site", "form"],
        "identical_patterns",
        "subjects repeat an earlier subject's answers",
    )


def adjust(results: pd.DataFrame) -> pd.DataFrame:
    """Benjamini-Hochberg within each check, and the flags."""
    frame = results.copy()
    if frame.empty:
        return frame.reindex(columns=CHECK_COLUMNS)
    for _, rows in frame.groupby("check").groups.items():
        p = frame.loc[rows, "p_value"].to_numpy(float)
        frame.loc[rows, "p_adjusted"] = stats.false_discovery_control(np.clip(p, 0, 1))
    q = frame["p_adjusted"].to_numpy(float)
    frame["flag"] = np.where(q < SIGNAL_P, "signal", np.where(q < WATCH_P, "watch", "ok"))
    return frame


def run_checks(items: pd.DataFrame, visits: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    """All checks, adjusted and flagged (columns `CHECK_COLUMNS`)."""
    items = items.assign(key=_item_key(items))
    parts = [
        digit_preference(items),
        low_variance(items),
        repeated_values(items),
        weekend_visits(visits, sites),
        identical_patterns(items),
    ]
    parts = [part for part in parts if not part.empty]
    if not parts:
        return pd.DataFrame(columns=CHECK_COLUMNS)
    return adjust(pd.concat(parts, ignore_index=True))[CHECK_COLUMNS]
