"""Central statistical checks on small fixed data sets whose statistics are computed by hand
below; a fabricating site (low variance, digit preference) among fair ones is flagged and the
fair ones are not."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trialdesk.monitoring.holidays import easter_sunday, holidays, is_weekend_or_holiday
from trialdesk.monitoring.statistical_checks import (
    CHECK_COLUMNS,
    adjust,
    digit_preference,
    identical_patterns,
    low_variance,
    repeated_values,
    run_checks,
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


def test_low_variance_ratio_and_f_test_by_hand() -> None:
    # One visit, 10 subjects a site. A: 9, 11, 9, 11, ... (mean 10, residuals -+1):
    # SS 10 over 9 df; B: 0, 20, ... (mean 10, residuals -+10): SS 1000 over 9 df.
    a = [("A", f"a{i}", "V1", 9 + 2 * (i % 2), "hr") for i in range(10)]
    b = [("B", f"b{i}", "V1", 20 * (i % 2), "hr") for i in range(10)]
    result = low_variance(items(a + b))
    # ratio (10/9) / (1000/9) = 0.01; F test with (10 - 1, 10 - 1) subjects' df
    assert one(result, "A")["statistic"] == pytest.approx(0.01)
    assert one(result, "A")["p_value"] == pytest.approx(stats.f.cdf(0.01, 9, 9))
    assert one(result, "B")["statistic"] == pytest.approx(100)
    assert one(result, "A")["expected"] == 1.0
    # Benjamini-Hochberg over the two tests: the smaller p doubled (2 tests, rank 1) unless
    # the larger (rank 2, unchanged) is smaller
    adjusted = adjust(result).set_index("site")
    p_a, p_b = stats.f.cdf(0.01, 9, 9), stats.f.cdf(100, 9, 9)
    assert adjusted.at["A", "p_adjusted"] == pytest.approx(min(2 * p_a, p_b))
    assert adjusted.at["A", "flag"] == "signal" and adjusted.at["B", "flag"] == "ok"


def test_low_variance_takes_out_each_visits_mean() -> None:
    # A's values move by visit (10 at V1, 30 at V2) with residuals -+1; B the same shift
    # with residuals -+1: the ratio is 1, the shift does not count.
    rows = [
        (s, f"{s}{i}", v, base + (1 if i % 2 else -1), "hr")
        for s in "AB"
        for i in range(10)
        for v, base in (("V1", 10), ("V2", 30))
    ]
    result = low_variance(items(rows))
    assert one(result, "A")["statistic"] == pytest.approx(1.0)


def test_repeated_values_by_hand() -> None:
    # A: 3 subjects x 3 visits, each subject the same value throughout: 6 of 6 pairs repeat.
    # B: 3 subjects x 3 visits, one repeated pair: 1 of 6.
    a = [("A", f"a{i}", f"V{v}", 70 + i, "weight") for i in range(3) for v in (1, 2, 3)]
    b_values = {("b0", 1): 70, ("b0", 2): 70, ("b0", 3): 71, ("b1", 1): 80, ("b1", 2): 81}
    b_values |= {("b1", 3): 82, ("b2", 1): 90, ("b2", 2): 91, ("b2", 3): 92}
    b = [("B", s, f"V{v}", value, "weight") for (s, v), value in b_values.items()]
    result = repeated_values(items(a + b))
    # A against B's share 1/6: P(X >= 6 | n = 6, p = 1/6) = (1/6)^6 = 2.1433e-5
    assert one(result, "A")["statistic"] == 1.0
    assert one(result, "A")["expected"] == pytest.approx(1 / 6)
    assert one(result, "A")["p_value"] == pytest.approx((1 / 6) ** 6)
    # B against A's share 1: P(X >= 1 | n = 6, p = 1) = 1
    assert one(result, "B")["p_value"] == pytest.approx(1.0)
    assert one(result, "B")["n"] == 6


def test_holidays_by_hand() -> None:
    # Easter Sunday: 2024-03-31, 2025-04-20, 2026-04-05 (church calendars)
    assert [easter_sunday(y) for y in (2024, 2025, 2026)] == [
        dt.date(2024, 3, 31),
        dt.date(2025, 4, 20),
        dt.date(2026, 4, 5),
    ]
    danish_2025 = {
        dt.date(2025, m, d)
        for m, d in [
            (1, 1),
            (4, 17),  # Maundy Thursday
            (4, 18),  # Good Friday
            (4, 20),
            (4, 21),  # Easter Monday
            (5, 29),  # Ascension
            (6, 5),  # Constitution Day
            (6, 8),
            (6, 9),  # Whit Monday
            (12, 24),
            (12, 25),
            (12, 26),
            (12, 31),
        ]
    }
    assert holidays("Denmark", 2025) == danish_2025  # no Great Prayer Day since 2024
    assert dt.date(2023, 5, 5) in holidays("Denmark", 2023)  # store bededag 2023
    assert holidays("China", 2024) == {
        dt.date(2024, 1, 1),
        dt.date(2024, 5, 1),
        dt.date(2024, 10, 1),
        dt.date(2024, 10, 2),
        dt.date(2024, 10, 3),
    }
    assert is_weekend_or_holiday(dt.date(2025, 3, 1), "")  # a Saturday, any country
    assert not is_weekend_or_holiday(dt.date(2024, 12, 25), "China")


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
    # A against B's 1/4: P(X >= 3 | 4, 1/4) = 4 (1/4)^3 (3/4) + (1/4)^4 = 0.05078125
    assert one(result, "A")["statistic"] == 0.75
    assert one(result, "A")["p_value"] == pytest.approx(0.05078125)
    # B against A's 3/4: P(X >= 1 | 4, 3/4) = 1 - (1/4)^4 = 0.99609375
    assert one(result, "B")["p_value"] == pytest.approx(0.99609375)
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
    # A against B's 1/4: P(X >= 2 | 3, 1/4) = 3 (1/4)^2 (3/4) + (1/4)^3 = 10/64 = 0.15625
    assert one(result, "A")["statistic"] == pytest.approx(2 / 3)
    assert one(result, "A")["n"] == 3
    assert one(result, "A")["p_value"] == pytest.approx(0.15625)
    assert one(result, "A")["item"] == "koos"
    # B against A's 2/3: P(X >= 1 | 4, 2/3) = 1 - (1/3)^4 = 80/81
    assert one(result, "B")["p_value"] == pytest.approx(80 / 81)


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
