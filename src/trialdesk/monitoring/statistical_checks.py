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
- ``low_variance`` (site x item): the spread of each subject's values around the site's
  mean at each visit, the site's subjects against the other sites' subjects; one-sided
  Wilcoxon-Mann-Whitney test. Measured quantities only (at least 20 distinct values across
  sites): an ordinal score or a count with few levels has no spread to compare (a site whose
  MOAKS grade is 0 throughout has a spread of 0 by chance), and the rank test, unlike the F
  test of variances, holds for skewed values (labs, durations). See `low_variance`.
- ``repeated_values`` (site x item): consecutive visits of a subject with the very same
  value, counted per subject; the site's total against its exact permutation distribution
  (`subset_sum_tail`: as many subjects drawn at random from all the sites' subjects of the
  item). The pooled subjects carry the chance of a repeat at the item's resolution and
  range (a 0-4 item repeats often, a lab value to 0.1 g/L rarely), and no other sites' share
  is taken as a known rate, so one chance repeat against none elsewhere is no signal.
- ``weekend_visits`` (site): done visits dated on a Saturday, Sunday or public holiday of
  the site's country, counted per subject (a subject's visits fall on the weekday of its
  day 0), against the permutation distribution as for repeats. Holidays:
  `trialdesk.monitoring.holidays` (Denmark complete; China from the State Council's notices
  for 2019-2026, statutory days for 2027-2031).
- ``identical_patterns`` (site x form): subjects with a form record (a whole answer vector
  of a form with at least 5 numeric items, not one value throughout) identical to that of a
  subject with a smaller code at the same site; the site's number of such subjects against
  the permutation distribution (here Fisher's exact test, one-sided).

Each test takes the subject as the unit, as Venet et al. 2012 and Kirkwood et al. ("Application
of methods for central statistical monitoring in clinical trials", Clinical Trials 2013) do
for their site-against-the-rest tests: a subject's values over visits are not independent,
and counting them as independent trials makes fair sites signal.

Multiple testing: within each check, the p-values of all its tests (sites x items) are
adjusted by Benjamini-Hochberg (false discovery rate); the flag is read from the adjusted
p-value: ``"signal"`` below 0.003, ``"watch"`` below 0.05, else ``"ok"`` (the funnel's
99.7% and 95% levels). A test that cannot run (too few values, no other site) is left out,
so a study with one site has no statistical checks (said in the report).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

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
#: Low variance: only items with this many distinct values across sites (measured
#: quantities, not scores with a few levels), and sites with this many values of the item and
#: this many subjects (the other sites together too).
VARIANCE_MIN_DISTINCT = 20
VARIANCE_MIN_VALUES = 10
VARIANCE_MIN_SUBJECTS = 5
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


def subset_sum_tail(values: np.ndarray, sizes: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """P(S >= observed) for S the sum of `values` over a random subset of `sizes` of them.

    The exact permutation distribution (the subjects allotted to the sites at random, each
    site keeping its number of subjects): the generalisation of Fisher's exact test to a count
    per subject, which is Fisher's one-sided test when every value is 0 or 1. `values` are
    non-negative integers (one per subject), `sizes` and `observed` one per site. Subjects of
    the same value are added a group at a time: after groups of M subjects in all, row k of
    the table is the distribution of the sum over a random k-subset of them, and a group of c
    subjects of value v takes a of its own with the hypergeometric probability
    C(c, a) C(M, k - a) / C(M + c, k). Sums at or above the largest observed one are kept in
    one column, so the table is (largest site + 1) x (largest observed sum + 1).
    """
    values = np.asarray(values, dtype=np.int64)
    sizes = np.asarray(sizes, dtype=np.int64)
    observed = np.asarray(observed, dtype=np.int64)
    if len(sizes) == 0:
        return np.zeros(0)
    width, depth = int(observed.max()) + 1, int(sizes.max()) + 1
    table = np.zeros((depth, width))
    table[0, 0] = 1.0
    seen = 0
    levels, counts = np.unique(values, return_counts=True)
    for level, count in zip(levels.tolist(), counts.tolist(), strict=True):
        grown = np.zeros_like(table)
        weights = _hypergeometric(seen, count, depth)
        for a in range(min(count, depth - 1) + 1):
            weight = weights[a, a:]
            moved = table[: depth - a]
            shift = a * level
            if shift:
                shifted = np.zeros_like(moved)
                if shift < width - 1:
                    shifted[:, shift : width - 1] = moved[:, : width - 1 - shift]
                shifted[:, width - 1] = moved[:, max(width - 1 - shift, 0) :].sum(axis=1)
                moved = shifted
            grown[a:] += weight[:, None] * moved
        table = grown
        seen += count
    tails = np.cumsum(table[:, ::-1], axis=1)[:, ::-1]
    return np.clip(tails[sizes, observed], 0.0, 1.0)


def _hypergeometric(seen: int, count: int, depth: int) -> np.ndarray:
    """[a, k]: the chance that a random k-subset of seen + count subjects takes a of the
    count, C(count, a) C(seen, k - a) / C(seen + count, k), 0 where impossible (k < depth)."""
    a = np.arange(depth)[:, None]
    k = np.arange(depth)[None, :]
    possible = (a <= count) & (k - a >= 0) & (k - a <= seen) & (k <= seen + count)

    def log_choose(n: np.ndarray | int, r: np.ndarray) -> np.ndarray:
        return special.gammaln(n + 1) - special.gammaln(r + 1) - special.gammaln(n - r + 1)

    with np.errstate(invalid="ignore"):
        logs = (
            log_choose(count, np.minimum(a, count))
            + log_choose(seen, np.clip(k - a, 0, seen))
            - log_choose(seen + count, np.minimum(k, seen + count))
        )
    return np.where(possible, np.exp(np.where(possible, logs, 0.0)), 0.0)


def _subjects_against_others(
    per_subject: pd.DataFrame, thing: str | None, check: str, what: str
) -> pd.DataFrame:
    """Each site's hits against the other sites', subjects as the unit (upper tail).

    `per_subject` has ``site``, the tested thing's column `thing` (none for a site-level
    check), ``subject``, ``hits`` (a non-negative count) and ``units`` (what the hits are out
    of), one row per subject and thing. A subject's units are not independent of each other
    (the same subject's values, visit days set from the same day 0), so they are not counted
    as binomial trials: the p-value is `subset_sum_tail`'s, the chance that the site's
    subjects, drawn at random from all the subjects of the thing, have at least as many hits.
    It needs no rate of the other sites taken as known: a rate of 0 there (no repeat seen in
    a few hundred values reported to 0.1) is what the pooled subjects show, not a certainty
    that makes one chance repeat a signal. A site alone in its thing is not tested.
    """
    if per_subject.empty:
        return _frame({}, check)
    group = ([thing] if thing else []) + ["site"]
    per = per_subject.groupby(group, observed=True, sort=True).agg(
        hits=("hits", "sum"), units=("units", "sum"), subjects=("subject", "size")
    )
    per = per.reset_index()
    if thing:
        # the things' positions in `per`'s (sorted) order, for its rows and the subjects'
        things, names = pd.factorize(per[thing], sort=False)
        subject_things = names.get_indexer(per_subject[thing])
    else:
        things = np.zeros(len(per), dtype=int)
        subject_things = np.zeros(len(per_subject), dtype=int)
    order = np.argsort(subject_things, kind="stable")
    hits_sorted, keys_sorted = per_subject["hits"].to_numpy(np.int64)[order], subject_things[order]
    starts = np.r_[0, np.flatnonzero(keys_sorted[1:] != keys_sorted[:-1]) + 1, len(order)]
    per_hits, per_subjects = per["hits"].to_numpy(np.int64), per["subjects"].to_numpy(np.int64)
    p = np.full(len(per), np.nan)
    sites_in = np.zeros(len(per), dtype=int)
    row_starts = np.r_[0, np.flatnonzero(things[1:] != things[:-1]) + 1, len(per)]
    for first, last, low, high in zip(
        starts[:-1], starts[1:], row_starts[:-1], row_starts[1:], strict=True
    ):
        sites_in[low:high] = high - low
        if high - low > 1:
            p[low:high] = subset_sum_tail(
                hits_sorted[first:last], per_subjects[low:high], per_hits[low:high]
            )
    per["p"] = p
    k, n = per["hits"].to_numpy(float), per["units"].to_numpy(float)
    if thing:
        totals = per.groupby(thing, observed=True)[["hits", "units"]].transform("sum")
    else:
        totals = pd.DataFrame({"hits": k.sum(), "units": n.sum()}, index=per.index)
    others_k = totals["hits"].to_numpy(float) - k
    others_n = totals["units"].to_numpy(float) - n
    p0 = np.divide(others_k, others_n, out=np.zeros_like(k), where=others_n > 0)
    share = np.divide(k, n, out=np.zeros_like(k), where=n > 0)
    detail = [
        f"{int(a)} of {int(b)} {what} ({x:.1%}; other sites {y:.1%})"
        for a, b, x, y in zip(k, n, share, p0, strict=True)
    ]
    rows = {
        "site": per["site"],
        "item": per[thing].astype(str) if thing else pd.Series("", index=per.index),
        "n": n.astype(int),
        "statistic": share,
        "expected": p0,
        "p_value": per["p"].to_numpy(float),
        "detail": detail,
    }
    keep = (others_n > 0) & (sites_in > 1)
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
    """Spread of each site's values against the other sites' per item (lower tail).

    For measured quantities only: items with at least `VARIANCE_MIN_DISTINCT` distinct values
    across sites (blood pressure, lengths, lab values, a 0-100 VAS). An ordinal score or a
    count with a few levels (a 0-3 MOAKS grade, a 0-4 WOMAC item, a KL grade) is left out:
    at a site of 20 subjects such an item is often 0 throughout, a spread of exactly 0 that
    says nothing about how the values were obtained, and a variance test on a handful of
    levels has no valid reference distribution.

    Residuals are taken from each (site, visit, item) mean, so a site's level and the change
    over visits do not count, and scaled by sqrt(m / (m - 1)) for a mean of m values, so
    that a small site's residuals are not smaller for its mean being nearer its values (a
    value alone at its site and visit has no residual). A subject's spread is the mean
    absolute residual of their values (Brown and Forsythe's absolute deviations, JASA 1974,
    rather than squares: a few large values, as right-skewed lab values and durations have,
    would otherwise dominate the other sites' variance and make every site without such a
    value look too tidy); the subject is the unit, as a subject's values over visits are not
    independent. The test is Wilcoxon-Mann-Whitney's, the site's subjects' spreads against
    the other sites' subjects' (normal approximation with ties and continuity correction),
    one-sided: the site's spreads lower. It is distribution-free: it asks only that under
    the null the subjects' spreads be exchangeable across sites, not that values be normal,
    which the F test of variances needs and right-skewed items do not give. The statistic
    is the site's median spread over the other sites' median (``expected`` 1). Sites with at
    least `VARIANCE_MIN_VALUES` values and `VARIANCE_MIN_SUBJECTS` subjects with a residual;
    an item whose other sites' residuals are all 0 is not tested.
    """
    frame = items[["site", "subject", "visit", "value"]].assign(key=_item_key(items))
    frame = frame[np.isfinite(frame["value"].astype(float))]
    distinct = frame.groupby("key")["value"].nunique()
    frame = frame[frame["key"].isin(distinct.index[distinct >= VARIANCE_MIN_DISTINCT])]
    if frame.empty:
        return _frame({}, "low_variance")
    value = frame["value"].astype(float)
    cell = value.groupby([frame["site"], frame["visit"], frame["key"]])
    size = cell.transform("size").to_numpy(float)
    scale = np.sqrt(np.divide(size, size - 1, out=np.zeros_like(size), where=size > 1))
    frame = frame.assign(spread=(value - cell.transform("mean")).abs().to_numpy() * scale)
    frame = frame[size > 1]
    subjects = frame.groupby(["key", "site", "subject"], observed=True).agg(
        spread=("spread", "mean"), values=("spread", "size")
    )
    subjects = subjects.reset_index()
    if subjects.empty:
        return _frame({}, "low_variance")
    # Mann-Whitney U of each site against the rest of its item, from one ranking per item.
    subjects["rank"] = subjects.groupby("key")["spread"].rank(method="average")
    per = subjects.groupby(["key", "site"], observed=True).agg(
        rank_sum=("rank", "sum"),
        n1=("rank", "size"),
        values=("values", "sum"),
        median=("spread", "median"),
    )
    per = per.reset_index()
    total = subjects.groupby("key")["rank"].size()
    ties = subjects.groupby(["key", "spread"]).size()
    tie_term = (ties**3 - ties).groupby(level="key").sum()
    n_all = per["key"].map(total).to_numpy(float)
    tie_sum = per["key"].map(tie_term).to_numpy(float)
    n1 = per["n1"].to_numpy(float)
    n2 = n_all - n1
    u = per["rank_sum"].to_numpy(float) - n1 * (n1 + 1) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(
            n1 * n2 / 12 * ((n_all + 1) - tie_sum / np.where(n_all > 1, n_all * (n_all - 1), 1))
        )
        z = (u - n1 * n2 / 2 + 0.5) / sd
    p = stats.norm.cdf(z)
    others_median = np.full(len(per), np.nan)
    others_positive = np.zeros(len(per), dtype=bool)
    position = {pair: i for i, pair in enumerate(zip(per["key"], per["site"], strict=True))}
    for key, rows in subjects.groupby("key", observed=True):
        spread, site = rows["spread"].to_numpy(float), rows["site"].to_numpy()
        for code in np.unique(site):
            rest = spread[site != code]
            i = position[(key, code)]
            others_median[i] = np.median(rest) if len(rest) else np.nan
            others_positive[i] = bool((rest > 0).any())
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = per["median"].to_numpy(float) / others_median
    detail = [
        f"median spread per subject {a:.3g} vs {b:.3g} at the other sites"
        for a, b in zip(per["median"], np.nan_to_num(others_median), strict=True)
    ]
    keep = (per["values"].to_numpy() >= VARIANCE_MIN_VALUES) & (n1 >= VARIANCE_MIN_SUBJECTS)
    keep &= (n2 >= VARIANCE_MIN_SUBJECTS) & others_positive & (sd > 0)
    rows = {
        "site": per["site"],
        "item": per["key"],
        "n": per["values"].to_numpy(int),
        "statistic": ratio,
        "expected": 1.0,
        "p_value": p,
        "detail": detail,
    }
    return _frame(rows, "low_variance")[keep].reset_index(drop=True)


def repeated_values(items: pd.DataFrame) -> pd.DataFrame:
    """Share of consecutive visits with an identical value per site and item.

    A subject's values of an item in visit-date order; each pair of consecutive values is a
    unit, a hit when both are the same as entered. For every item with values at two visits
    or more: what an item's values repeat by chance depends on its resolution and the
    within-subject change (a 0-4 score repeats at most visits, a lab to 0.1 g/L rarely), so
    the site is compared with the subjects of all sites on the same item, a subject's hits
    counted together (`_subjects_against_others`), not with a fixed rate. Constant items (a
    site's ULN entered at every visit) repeat everywhere and give p = 1.
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
    pairs = frame[["site", "key", "subject"]].iloc[chosen].assign(hits=hit[same_series], units=1)
    per_subject = pairs.groupby(["site", "key", "subject"], observed=True, as_index=False)[
        ["hits", "units"]
    ].sum()
    return _subjects_against_others(per_subject, "key", "repeated_values", "consecutive pairs same")


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
    frame = pd.DataFrame(
        {"site": done["site"].to_numpy(), "subject": done["subject"].to_numpy(), "hits": hit}
    )
    per_subject = (
        frame.assign(units=1).groupby(["site", "subject"], as_index=False)[["hits", "units"]].sum()
    )
    return _subjects_against_others(
        per_subject, None, "weekend_visits", "visits on a weekend or holiday"
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
    repeat than a small one, so the permutation test (`_subjects_against_others`), which
    takes a subject's hit as the subject's own, leans towards the largest sites; for forms
    whose vectors rarely match by chance (the demo's: no well-behaved site signalled in 20
    seeded trials) that lean is small.
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
    per_subject = subjects.reset_index().rename(columns={"hit": "hits"}).assign(units=1)
    return _subjects_against_others(
        per_subject, "form", "identical_patterns", "subjects repeat an earlier subject's answers"
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
