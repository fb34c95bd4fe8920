"""Funnel limits and flags against values computed by hand (normal approximation:
Spiegelhalter 2005, gsm's Analyze_NormalApprox)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trialdesk.monitoring.funnel import (
    Z_95,
    Z_997,
    funnel_table,
    limits,
    overdispersion,
)


def test_the_levels_are_the_published_normal_quantiles() -> None:
    # Two-sided 95%: the 0.975 quantile 1.959964; 99.7%: the 0.9985 quantile 2.967738.
    assert abs(Z_95 - 1.959964) < 1e-6
    assert abs(Z_997 - 2.967738) < 1e-6


def test_binomial_limits_z_and_flags_by_hand() -> None:
    sites = pd.DataFrame(
        {
            "site": ["A", "B", "C", "D"],
            "numerator": [10, 30, 20, 0],
            "denominator": [100, 100, 200, 0],
        }
    )
    table = funnel_table(sites, "binomial").set_index("site")
    # overall 60 / 400 = 0.15; at n = 100: se = sqrt(0.15 * 0.85 / 100) = 0.0357071
    se = math.sqrt(0.15 * 0.85 / 100)
    assert se == pytest.approx(0.0357071, abs=1e-7)
    assert table["overall_rate"].tolist()[:3] == [0.15, 0.15, 0.15]
    # 95%: 0.15 -+ 1.959964 * 0.0357071 = 0.15 -+ 0.069985
    assert table.at["A", "lower_95"] == pytest.approx(0.080015, abs=1e-6)
    assert table.at["A", "upper_95"] == pytest.approx(0.219985, abs=1e-6)
    # 99.7%: 0.15 -+ 2.967738 * 0.0357071 = 0.15 -+ 0.105969
    assert table.at["A", "lower_997"] == pytest.approx(0.044031, abs=1e-6)
    assert table.at["A", "upper_997"] == pytest.approx(0.255969, abs=1e-6)
    # A: (0.10 - 0.15) / 0.0357071 = -1.40028, inside
    assert table.at["A", "z"] == pytest.approx(-1.40028, abs=1e-5)
    assert (table.at["A", "flag"], table.at["A", "direction"]) == ("ok", "")
    # B: (0.30 - 0.15) / 0.0357071 = 4.20084, outside 99.7% above
    assert table.at["B", "z"] == pytest.approx(4.20084, abs=1e-5)
    assert (table.at["B", "flag"], table.at["B", "direction"]) == ("signal", "high")
    # C: n = 200, se = sqrt(0.1275 / 200) = 0.0252488; (0.10 - 0.15) / se = -1.98030:
    # outside 95% (1.959964), inside 99.7%, below
    assert table.at["C", "z"] == pytest.approx(-1.98030, abs=1e-5)
    assert table.at["C", "lower_95"] == pytest.approx(0.15 - 1.959964 * 0.0252488, abs=1e-6)
    assert (table.at["C", "flag"], table.at["C", "direction"]) == ("watch", "low")
    # D: no subjects, nothing to judge
    assert table.at["D", "flag"] == "no data"
    assert math.isnan(table.at["D", "rate"]) and math.isnan(table.at["D", "upper_95"])


def test_poisson_limits_cut_at_zero_by_hand() -> None:
    sites = pd.DataFrame(
        {"site": ["A", "B", "C"], "numerator": [3, 12, 0], "denominator": [10.0, 20.0, 10.0]}
    )
    table = funnel_table(sites, "poisson").set_index("site")
    # overall 15 / 40 = 0.375 per patient-year; at t = 10: se = sqrt(0.375 / 10) = 0.193649
    assert table.at["A", "overall_rate"] == 0.375
    # lower 95%: 0.375 - 1.959964 * 0.193649 = -0.004545, cut at 0; upper 0.754545
    assert table.at["A", "lower_95"] == 0.0
    assert table.at["A", "upper_95"] == pytest.approx(0.754545, abs=1e-6)
    assert table.at["A", "upper_997"] == pytest.approx(0.375 + 2.967738 * 0.193649, abs=1e-6)
    assert table.at["A", "z"] == pytest.approx(-0.387298, abs=1e-6)  # (0.3 - 0.375) / 0.193649
    # C: no event in 10 patient-years: z = -0.375 / 0.193649 = -1.93649, just inside 95%
    assert table.at["C", "z"] == pytest.approx(-1.93649, abs=1e-5)
    assert table.at["C", "flag"] == "ok"
    # B: t = 20, se = sqrt(0.375 / 20) = 0.136931; (0.6 - 0.375) / se = 1.64317
    assert table.at["B", "z"] == pytest.approx(1.64317, abs=1e-5)


def test_one_sided_kri_flags_only_its_side() -> None:
    sites = pd.DataFrame(
        {"site": ["A", "B", "C"], "numerator": [0, 30, 15], "denominator": [100, 100, 100]}
    )
    # overall 45 / 300 = 0.15; se 0.0357071; A: z = -4.2008, B: z = 4.2008
    both = funnel_table(sites, "binomial", "both").set_index("site")
    high = funnel_table(sites, "binomial", "high").set_index("site")
    assert both.at["A", "flag"] == "signal" and both.at["A", "direction"] == "low"
    assert high.at["A", "flag"] == "ok" and high.at["A", "direction"] == ""
    assert high.at["B", "flag"] == "signal" and high.at["B", "direction"] == "high"


def test_no_event_anywhere_has_no_limits() -> None:
    sites = pd.DataFrame({"site": ["A", "B"], "numerator": [0, 0], "denominator": [5.0, 7.0]})
    table = funnel_table(sites, "poisson")
    assert table["flag"].tolist() == ["no data", "no data"]
    assert table["rate"].tolist() == [0.0, 0.0]


def test_limits_narrow_with_the_denominator() -> None:
    bounds = limits(0.2, np.array([25, 100, 400]), "binomial")
    # se = sqrt(0.16 / n): 0.08, 0.04, 0.02; upper 95% = 0.2 + 1.959964 se
    assert bounds.upper_95 == pytest.approx([0.356797, 0.278399, 0.239199], abs=1e-6)
    # lower 99.7% = 0.2 - 2.967738 se: -0.037419 (cut at 0), 0.081290, 0.140645
    assert bounds.lower_997 == pytest.approx([0.0, 0.081290, 0.140645], abs=1e-6)


def test_overdispersion_by_hand() -> None:
    # z = 0..4: numpy's 10th and 90th percentiles 0.4 and 3.6; winsorized 0.4, 1, 2, 3, 3.6;
    # squares 0.16 + 1 + 4 + 9 + 12.96 = 27.12; phi = 27.12 / 5 = 5.424
    assert overdispersion(np.array([0.0, 1, 2, 3, 4])) == pytest.approx(5.424)
    assert overdispersion(np.array([0.1, -0.2, 0.3])) == 1.0  # no under-dispersion
    sites = pd.DataFrame(
        {"site": list("ABCDE"), "numerator": [10, 30, 20, 12, 28], "denominator": [100] * 5}
    )
    plain = funnel_table(sites, "binomial")
    adjusted = funnel_table(sites, "binomial", adjust_overdispersion=True)
    phi = overdispersion(plain["z"].to_numpy())
    assert adjusted["phi"].iloc[0] == pytest.approx(phi)
    assert adjusted["z"].to_numpy() == pytest.approx(plain["z"].to_numpy() / math.sqrt(phi))
