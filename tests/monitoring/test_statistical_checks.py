"""Central statistical checks on small fixed data sets whose statistics are computed by hand
below; a fabricating site (low variance, digit preference) among fair ones is flagged and the
fair ones are not."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trialdesk.monitoring.statistical_checks import (
    CHECK_COLUMNS,
    adjust,
    digit_preference,
    identical_patterns,
    low_variance,
    repeated_values,
    run_checks,
    subset_sum_tail,
    weekend_visits,
)

D = dt.date(2025, 3, 3)


def items(rows: list[tuple[str, str, str, float, str]], form: str = "vitals") -> pd.DataFrame:
    """(site, subject, visit, value, item) rows of one form; text is the value as entered."""
    frame = pd.DataFrame(rows, columns=["site", "subject", "visit", "value", "item"])
    frame["form"] = form
    frame["text"] = [f"{v:g}" for v in frame["value"]]
    frame["date"] = [D + dt.timedelta(days=int(v[1:])) for v in frame["visit"]]
    return frame


def one(result: pd.DataFrame, site: str) -> pd.Series:
    return result[result["site"] == site].iloc[0]


def test_digit_preference_chi_square_by_hand() -> None:
    # A: 20 values all ending in 0 (100, 110, ..., 290); B: 100..119, each digit twice.
    a = [("A", f"a{i}", "V1", 100 + 10 * i, "sbp") for i in range(20)]
    b = [("B", f"b{i}", "V1", 100 + i, "sbp") for i in range(20)]
    result = digit_preference(items(a + b))
    # 2 x 10 table: A (20, 0 x 9), B (2 x 10); digit totals 22, 2 x 9; 20 values each, so
    # every expected count is half the digit's total: 11 for 0, 1 for the others.
    # chi2 = 2 (20 - 11)^2 / 11 + 9 [(0 - 1)^2 + (2 - 1)^2] = 162/11 + 18 = 360/11, df 9
    assert one(result, "A")["statistic"] == pytest.approx(360 / 11)
    assert one(result, "A")["expected"] == 9
    assert one(result, "A")["p_value"] == pytest.approx(stats.chi2.sf(360 / 11, 9))
    assert one(result, "B")["statistic"] == pytest.approx(360 / 11)  # the same table
    assert one(result, "A")["item"] == "vitals.sbp" and one(result, "A")["n"] == 20
    assert "last digit 0 in 100% of 20 values" in one(result, "A")["detail"]


def test_digit_preference_skips_scales_without_digits_to_prefer() -> None:
    # a 0-4 score: 5 distinct values, fewer than 20
    rows = [(s, f"{s}{i}", "V1", i % 5, "q1") for s in "AB" for i in range(40)]
    assert digit_preference(items(rows)).empty


def test_low_variance_rank_test_by_hand() -> None:
    # One visit, 10 subjects a site, every value distinct (20 across sites, the least a
    # measured item needs), exact in binary. A: 50 -+ (1 + j/8), B: 50 -+ (10 + j), j = 0..4:
    # site means exactly 50, every subject of A nearer it than every subject of B.
    a = [("A", f"a{j}{s}", "V1", 50 + s * (1 + j / 8), "hr") for j in range(5) for s in (1, -1)]
    b = [("B", f"b{j}{s}", "V1", 50 + s * (10 + j), "hr") for j in range(5) for s in (1, -1)]
    result = low_variance(items(a + b))
    # Spreads |value - 50| x sqrt(10/9): A's take ranks 1..10 in 5 ties of 2, B's 11..20
    # likewise. U of A = rank sum 55 - 10 x 11 / 2 = 0; the ties, sum (t^3 - t) = 10 x 6 =
    # 60, give sd = sqrt(10 x 10 / 12 x (21 - 60 / (20 x 19))); z = (0 - 50 + 0.5) / sd.
    sd = (100 / 12 * (21 - 60 / 380)) ** 0.5
    assert one(result, "A")["p_value"] == pytest.approx(stats.norm.cdf(-49.5 / sd))
    assert one(result, "A")["p_value"] == pytest.approx(8.6e-5, rel=0.01)
    assert one(result, "B")["p_value"] == pytest.approx(stats.norm.cdf((100 - 50 + 0.5) / sd))
    # median spreads 1.25 and 12 (the sqrt(10/9) cancels)
    assert one(result, "A")["statistic"] == pytest.approx(1.25 / 12)
    assert one(result, "A")["expected"] == 1.0 and one(result, "A")["n"] == 10
    adjusted = adjust(result).set_index("site")
    assert adjusted.at["A", "flag"] == "signal" and adjusted.at["B", "flag"] == "ok"


def test_low_variance_skips_scores_with_few_levels() -> None:
    # A 0-3 grade (MOAKS): site A all 0, a spread of exactly 0, the other sites 0-3. The item
    # has 4 distinct values, not the 20 a measured quantity has: no test (the F test gave
    # p = 0 and a signal).
    rows = [("A", f"a{i}", v, 0, "cartilage") for i in range(20) for v in ("V1", "V2")]
    rows += [
        (s, f"{s}{i}", v, (i + j) % 4, "cartilage")
        for s in "BC"
        for i in range(20)
        for j, v in enumerate(("V1", "V2"))
    ]
    assert low_variance(items(rows, form="moaks")).empty


def test_low_variance_takes_out_each_visits_mean() -> None:
    # A's and B's values move by visit (10 at V1, 30 at V2) with the same residuals at both
    # sites: the same spreads, the shift does not count (ratio 1, U = n1 n2 / 2, p > 0.5).
    rows = [
        (s, f"{s}{i}", v, base + (-1) ** i * (1 + i / 10), "hr")
        for s in "AB"
        for i in range(10)
        for v, base in (("V1", 10), ("V2", 30))
    ]
    result = low_variance(items(rows))
    assert one(result, "A")["statistic"] == pytest.approx(1.0)
    assert one(result, "A")["p_value"] > 0.5


def test_low_variance_does_not_flag_right_skewed_values_at_fair_sites() -> None:
    # 8 fair sites of 20 subjects, a lognormal lab value (sigma 0.8, as ALT or a duration in
    # months is skewed): a few large values at some sites made the F test signal the sites
    # without one (ALT: p = 1e-5 at a fair site). Over 10 seeds no site signals.
    for seed in range(10):
        rng = np.random.default_rng(seed)
        rows = [
            (f"S{s}", f"S{s}-{i}", v, round(float(level * rng.lognormal(0, 0.05)), 1), "alt")
            for s in range(8)
            for i, level in enumerate(rng.lognormal(3, 0.8, 20))
            for v in ("V1", "V2", "V3")
        ]
        result = adjust(low_variance(items(rows, form="labs")))
        assert len(result) == 8 and not (result["flag"] == "signal").any(), seed


def test_repeated_values_by_hand() -> None:
    # A: 3 subjects x 3 visits, each subject the same value throughout: 2 of 2 pairs repeat,
    # 6 of 6. B: 3 subjects x 3 visits, one repeated pair: 1 of 6 (b0 1, b1 0, b2 0).
    a = [("A", f"a{i}", f"V{v}", 70 + i, "weight") for i in range(3) for v in (1, 2, 3)]
    b_values = {("b0", 1): 70, ("b0", 2): 70, ("b0", 3): 71, ("b1", 1): 80, ("b1", 2): 81}
    b_values |= {("b1", 3): 82, ("b2", 1): 90, ("b2", 2): 91, ("b2", 3): 92}
    b = [("B", s, f"V{v}", value, "weight") for (s, v), value in b_values.items()]
    result = repeated_values(items(a + b))
    # Subjects' repeats 2, 2, 2, 1, 0, 0; A's 3 subjects drawn at random from the 6 reach a
    # sum of 6 only as the three 2s: 1 of C(6, 3) = 20 subsets, p = 0.05.
    assert one(result, "A")["statistic"] == 1.0
    assert one(result, "A")["expected"] == pytest.approx(1 / 6)
    assert one(result, "A")["p_value"] == pytest.approx(1 / 20)
    # B's 1: every 3 of the 6 sum to at least 1 (only two subjects have 0)
    assert one(result, "B")["p_value"] == pytest.approx(1.0)
    assert one(result, "B")["n"] == 6


def test_one_chance_repeat_against_none_at_the_other_sites_is_no_signal() -> None:
    # A lab value to 0.1 g/L varies by a few g/L between visits: A's 20 subjects have no
    # repeat in 40 pairs, B's 20 one (B0, V1 to V2). The binomial test against A's share 0
    # gave p = 0 (a signal); the chance that B0 is among B's 20 of the 40 subjects is 1/2.
    rows = [
        (s, f"{s}{i}", f"V{v}", 40 + i + v / 10, "albumin")
        for s in "AB"
        for i in range(20)
        for v in (1, 2, 3)
    ]
    rows = [r if r[1:3] != ("B0", "V2") else ("B", "B0", "V2", 40.1, "albumin") for r in rows]
    result = repeated_values(items(rows, form="labs"))
    assert one(result, "B")["statistic"] == pytest.approx(1 / 40)
    assert one(result, "B")["expected"] == 0.0
    assert one(result, "B")["p_value"] == pytest.approx(0.5)
    assert one(result, "A")["p_value"] == pytest.approx(1.0)


def test_subset_sum_tail_against_every_subset() -> None:
    # The exact permutation tail against the enumeration of all subsets (and Fisher's
    # one-sided test when every value is 0 or 1: hypergeometric upper tail).
    rng = np.random.default_rng(3)
    for _ in range(50):
        values = rng.integers(0, 4, int(rng.integers(3, 10))) * (rng.random(1) < 0.8)
        k = int(rng.integers(1, len(values)))
        sums = np.array([sum(c) for c in itertools.combinations(values.tolist(), k)])
        s = int(rng.integers(0, sums.max() + 2))
        got = subset_sum_tail(values, np.array([k]), np.array([s]))[0]
        assert got == pytest.approx(np.mean(sums >= s), abs=1e-12)
    binary = np.array([1] * 4 + [0] * 8)
    got = subset_sum_tail(binary, np.array([5]), np.array([3]))[0]
    assert got == pytest.approx(stats.hypergeom.sf(2, 12, 4, 5))


def test_weekend_and_holiday_visits_by_hand() -> None:
    # A (Denmark): Christmas Day (Wed), Saturday 28 Dec, Monday 30 Dec, Good Friday 2025:
    # 3 of 4. B (China): National Day 1 Oct (Tue), 8 Oct (Tue), 25 Dec (Wed), 18 Apr (Fri):
    # 1 of 4.
    dates = {
        "A": ["2024-12-25", "2024-12-28", "2024-12-30", "2025-04-18"],
        "B": ["2024-10-01", "2024-10-08", "2024-12-25", "2025-04-18"],
    }
    visits = pd.DataFrame(
        [
            {
                "subject": f"{s}{i}",
                "site": s,
                "visit": "V1",
                "target_date": None,
                "actual_date": dt.date.fromisoformat(day),
                "status": "done",
                "due": True,
            }
            for s, days in dates.items()
            for i, day in enumerate(days)
        ]
        + [
            {
                "subject": "A9",
                "site": "A",
                "visit": "V2",
                "target_date": None,
                "actual_date": None,
                "status": "missed",
                "due": True,
            }
        ]
    )
    sites = pd.DataFrame({"site": ["A", "B"], "name": "", "country": ["Denmark", "China"]})
    result = weekend_visits(visits, sites)
    # One visit a subject: hits 1, 1, 0, 1 at A and 1, 0, 0, 0 at B (4 of 8 subjects). A's 4
    # drawn from the 8 reach 3 with 3 of the 4 hits and 1 of the 4 others, or all 4 hits:
    # (C(4,3) C(4,1) + 1) / C(8,4) = 17/70.
    assert one(result, "A")["statistic"] == 0.75
    assert one(result, "A")["expected"] == 0.25
    assert one(result, "A")["p_value"] == pytest.approx(17 / 70)
    # B's 1: every 4 but the 4 without a hit, 1 - 1/70
    assert one(result, "B")["p_value"] == pytest.approx(69 / 70)
    assert one(result, "B")["n"] == 4  # the missed visit is not a visit date


def test_identical_answer_patterns_by_hand() -> None:
    # A form of 5 items. A: a0, a1 and a2 answer 1 2 3 4 0; a3 answers 4 throughout (the
    # ceiling: left out). a1 and a2 repeat a0 (a smaller code): 2 of 3 subjects. B: b0 and b1
    # answer 0 1 2 3 4, b2 and b3 differ: b1 repeats b0, 1 of 4.
    answers = {
        ("A", "a0"): [1, 2, 3, 4, 0],
        ("A", "a1"): [1, 2, 3, 4, 0],
        ("A", "a2"): [1, 2, 3, 4, 0],
        ("A", "a3"): [4, 4, 4, 4, 4],
        ("B", "b0"): [0, 1, 2, 3, 4],
        ("B", "b1"): [0, 1, 2, 3, 4],
        ("B", "b2"): [0, 0, 2, 3, 4],
        ("B", "b3"): [1, 1, 2, 3, 4],
    }
    rows = [
        (site, subject, "V1", value, f"q{k + 1}")
        for (site, subject), vector in answers.items()
        for k, value in enumerate(vector)
    ]
    result = identical_patterns(items(rows, form="koos"))
    # Subjects with a record: a0-a2 (hits 0, 1, 1) and b0-b3 (0, 1, 0, 0), 3 hits of 7. A's
    # 3 drawn from the 7 reach 2 with 2 hits and 1 other, or the 3 hits:
    # (C(3,2) C(4,1) + 1) / C(7,3) = 13/35.
    assert one(result, "A")["statistic"] == pytest.approx(2 / 3)
    assert one(result, "A")["n"] == 3
    assert one(result, "A")["p_value"] == pytest.approx(13 / 35)
    assert one(result, "A")["item"] == "koos"
    # B's 1: every 4 of the 7 but the 4 without a hit, 1 - 1/35
    assert one(result, "B")["p_value"] == pytest.approx(34 / 35)


def test_the_same_answers_at_two_sites_are_no_pattern() -> None:
    rows = [(s, f"{s}0", "V1", k, f"q{k + 1}") for s in "AB" for k in range(5)]
    rows += [(s, f"{s}1", "V1", 4 - k, f"q{k + 1}") for s in "AB" for k in range(5)]
    result = identical_patterns(items(rows, form="koos"))
    assert result["statistic"].tolist() == [0.0, 0.0]


def test_benjamini_hochberg_by_hand() -> None:
    # p 0.01, 0.04, 0.03, 0.2: sorted 0.01 0.03 0.04 0.2; p * 4 / rank = 0.04, 0.06, 0.0533,
    # 0.2; the running minimum from the top: 0.04, 0.0533, 0.0533, 0.2
    results = pd.DataFrame(
        {"site": list("ABCD"), "check": "low_variance", "p_value": [0.01, 0.04, 0.03, 0.2]}
    ).reindex(columns=CHECK_COLUMNS)
    adjusted = adjust(results)
    assert adjusted["p_adjusted"].tolist() == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert adjusted["flag"].tolist() == ["watch", "ok", "ok", "ok"]


def trial(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """8 sites x 25 subjects x 4 visits of systolic pressure (mmHg, whole numbers), heart rate
    and weight (one decimal); site S0 fabricates its pressures: 130 +- 3 rounded to 0 or 5."""
    rng = np.random.default_rng(seed)
    rows = []
    for site in range(8):
        for subject in range(25):
            level = rng.normal(0, 1, 3)
            for visit in range(1, 5):
                sbp = 135 + 14 * level[0] + rng.normal(0, 9)
                if site == 0:
                    sbp = 5 * round((130 + rng.normal(0, 3)) / 5)
                values = {"sbp": round(sbp), "hr": round(72 + 9 * level[1] + rng.normal(0, 6))}
                values["weight"] = round(80 + 12 * level[2] + rng.normal(0, 1.5), 1)
                for item, value in values.items():
                    rows.append((f"S{site}", f"S{site}-{subject}", f"V{visit}", value, item))
    frame = items(rows)
    frame["date"] = pd.Timestamp(D) + pd.to_timedelta(rng.integers(0, 300, len(frame)), unit="D")
    visits = frame.drop_duplicates(["subject", "visit"]).assign(
        actual_date=lambda f: f["date"], status="done", due=True, target_date=None
    )
    sites = pd.DataFrame({"site": [f"S{i}" for i in range(8)], "name": "", "country": "Denmark"})
    return frame, visits, sites


def test_a_fabricating_site_is_flagged_and_fair_sites_are_not() -> None:
    result = run_checks(*trial(seed=5))
    assert list(result.columns) == CHECK_COLUMNS
    flagged = result[result["flag"] == "signal"]
    found = set(zip(flagged["site"], flagged["check"], flagged["item"], strict=True))
    assert ("S0", "digit_preference", "vitals.sbp") in found
    assert ("S0", "low_variance", "vitals.sbp") in found
    assert {site for site, _, _ in found} == {"S0"}
    fair = result[result["site"] != "S0"]
    assert set(fair["flag"]) <= {"ok", "watch"}
    assert (fair["flag"] == "watch").sum() <= 0.05 * len(fair) + 1


def test_no_values_no_tests() -> None:
    empty_items = pd.DataFrame(
        columns=["subject", "site", "visit", "form", "item", "value", "text", "date"]
    )
    empty_visits = pd.DataFrame(
        columns=["subject", "site", "visit", "target_date", "actual_date", "status", "due"]
    )
    sites = pd.DataFrame({"site": ["A", "B"], "name": "", "country": ["Denmark", "China"]})
    result = run_checks(empty_items, empty_visits, sites)
    assert result.empty and list(result.columns) == CHECK_COLUMNS
